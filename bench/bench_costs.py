"""Benchmark 6: cost analysis over 1,000 session files holding 1,000,000 LLM calls.

The files are written directly in the store's format (a header line, then one
``{"kind": "usage", "ts": ..., "record": <LlmCostRecord as JSON>}`` line per call), from
a template made by dumping a real ``LlmCostRecord``, so the fields follow the code. They
are kept in ``bench/_work/costs`` and reused while their manifest matches.

The measurement runs in a fresh child process, so that its peak memory is that of the
analysis alone (plus the interpreter and pandas): ``load_sessions(folder)``, then
``cost_by_model`` and ``cost_by_day`` on the calls frame.
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import MARKER, WORK_DIR, Row, emit, parse_args, peak_rss_mb, row

BENCH = "6 cost analysis"
TIME_TARGET = 5.0
"""Seconds for load + both groupings: "a few seconds"."""
MEMORY_TARGET_MB = 2048.0
FORMAT = 1
"""Bump when the generator changes, so old data is regenerated."""

# (provider, model, USD per 1k tokens or None for a model without a price)
MODELS = [
    ("openai", "openai/gpt-4o-mini", 0.0003),
    ("openai", "openai/gpt-4o", 0.005),
    ("anthropic", "anthropic/claude-sonnet-4", 0.006),
    ("anthropic", "anthropic/claude-haiku-4", 0.001),
    ("local", "local/llama-3-8b", None),
]
TOOLS = [[], ["read"], ["grep", "read"], ["bash"], ["write"]]
DAYS = 30
T0 = 1_760_000_000.0  # a fixed start (October 2025), so the day buckets do not drift


def generate(folder: Path, files: int, rows_per_file: int) -> float:
    """Write the session files; returns the seconds it took."""
    import orjson

    from a3s_notebook.engine import LlmCostRecord, SessionConfig

    start = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    template = LlmCostRecord(
        provider="openai", model="openai/gpt-4o-mini", tool_names=["read"]
    ).model_dump(mode="json")
    config = SessionConfig(workspace="/bench/ws").to_dict()
    rng = random.Random(42)  # the same data on every machine
    span = DAYS * 86_400
    for f in range(files):
        sid = f"bench{f:05d}"
        header = {
            "kind": "header",
            "format": 1,
            "id": sid,
            "created_at": T0,
            "model": MODELS[f % len(MODELS)][1],
            "llm_config": None,
            "config": config,
        }
        lines = [orjson.dumps(header)]
        for turn in range(1, rows_per_file + 1):
            provider, model, price = MODELS[rng.randrange(len(MODELS))]
            prompt = rng.randrange(200, 20_000)
            completion = rng.randrange(10, 2_000)
            ts = T0 + rng.random() * span
            record = dict(template)
            record.update(
                session_id=sid,
                turn=turn,
                model=model,
                provider=provider,
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                cache_read_tokens=prompt // 2 if turn % 3 == 0 else 0,
                cost_usd=None if price is None else (prompt + completion) * price / 1000,
                latency_ms=rng.uniform(200, 5_000),
                ttft_ms=rng.uniform(50, 800),
                timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + "Z",
                tool_names=TOOLS[turn % len(TOOLS)],
                provenance={"execution_count": turn % 50, "cell_id": f"c{turn % 50}"},
            )
            lines.append(orjson.dumps({"kind": "usage", "ts": ts, "record": record}))
        (folder / f"{sid}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return time.perf_counter() - start


def measure(folder: Path) -> None:
    """In the child: time the analysis and report peak memory."""
    import a3s_notebook  # noqa: F401  (the package's import cost is not part of the figure)
    from a3s_notebook import load_sessions
    from a3s_notebook.analysis import cost_by_day, cost_by_model

    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    frames = load_sessions(folder)
    t1 = time.perf_counter()
    by_model = cost_by_model(frames.calls)
    by_day = cost_by_day(frames.calls)
    t2 = time.perf_counter()
    result = {
        "load": t1 - t0,
        "group": t2 - t1,
        "calls": len(frames.calls),
        "sessions": len(frames.sessions),
        "models": len(by_model),
        "days": len(by_day),
        "rss_before": rss_before,
        "peak_rss": peak_rss_mb(),
    }
    # user vs system CPU: system time here is mostly the kernel handing out fresh pages
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(user_s=usage.ru_utime, sys_s=usage.ru_stime)
    # a floor, after the figures above so it cannot colour them: read and parse every
    # line, keeping nothing (what any per-line JSON reader pays in Python)
    import orjson

    del frames, by_model, by_day
    t3 = time.perf_counter()
    for path in sorted(folder.glob("*.jsonl")):
        for raw in path.read_bytes().split(b"\n"):
            if raw:
                orjson.loads(raw)
    result["parse_only"] = time.perf_counter() - t3
    sys.stdout.write(MARKER + json.dumps(result) + "\n")


def main() -> None:
    """Generate (or reuse) the data, measure it in a child process, print the rows."""
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(Path(sys.argv[2]))
        return
    args = parse_args(__doc__ or "")
    files, per_file = (100, 1_000) if args.quick else (1_000, 1_000)
    folder = WORK_DIR / ("costs-quick" if args.quick else "costs")
    manifest = {"format": FORMAT, "files": files, "rows_per_file": per_file}
    stamp = folder / "manifest.json"
    generated: float | None = None
    if not stamp.exists() or json.loads(stamp.read_text()) != manifest:
        generated = generate(folder, files, per_file)
        stamp.write_text(json.dumps(manifest))
    size_mb = sum(p.stat().st_size for p in folder.glob("*.jsonl")) / 2**20

    proc = subprocess.run(
        [sys.executable, __file__, "--measure", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"measurement failed: {proc.stderr.strip()[-500:]}")
    r = json.loads(lines[-1][len(MARKER) :])
    if r["calls"] != files * per_file:
        raise RuntimeError(f"load_sessions found {r['calls']} calls, expected {files * per_file}")
    total = r["load"] + r["group"]
    calls = r["calls"]
    per_call = (r["peak_rss"] - r["rss_before"]) * 2**20 / calls
    slow = (
        f"{total / TIME_TARGET:.1f}x the target. Reading and parsing the lines alone, keeping "
        f"nothing, takes {r['parse_only']:.1f} s ({r['parse_only'] / calls * 1e6:.1f} us a line); "
        f"the rest is the Python loop that takes each record's fields (one tuple per call) "
        f"and building the typed pandas columns (system CPU {r['sys_s']:.1f} s: the kernel "
        "handing out fresh pages)"
    )
    big = (
        f"{r['peak_rss'] / MEMORY_TARGET_MB:.2f}x the target: {per_call:.0f} B per call. "
        "load_sessions keeps one tuple of about 20 fields per call until the typed "
        "columns are built"
    )
    data = f"{files:,} files, {files * per_file:,} calls, {size_mb:.0f} MiB of JSONL"
    made = (
        f"generated in {generated:.1f} s" if generated is not None else "reused from an earlier run"
    )
    rows: list[Row] = [
        row(
            BENCH,
            f"load_sessions ({data})",
            r["load"],
            "s",
            note=f"{made}; child process CPU: {r['user_s']:.1f} s user, {r['sys_s']:.1f} s system",
        ),
        row(
            BENCH,
            "cost_by_model + cost_by_day on the calls frame",
            r["group"],
            "s",
            note=f"{r['models']} models, {r['days']} days",
        ),
        row(
            BENCH,
            "load + groupings, total",
            total,
            "s",
            target=f"a few seconds (<= {TIME_TARGET:g} s)",
            met=total <= TIME_TARGET,
            note=slow if total > TIME_TARGET else "",
        ),
        row(
            BENCH,
            "peak memory of the analysis process",
            r["peak_rss"],
            "MiB",
            target=f"< {MEMORY_TARGET_MB:g} MiB",
            met=r["peak_rss"] < MEMORY_TARGET_MB,
            note=f"peak RSS; {r['rss_before']:.0f} MiB after the imports, before loading"
            + ("; " + big if r["peak_rss"] >= MEMORY_TARGET_MB else ""),
        ),
    ]
    emit(rows)


if __name__ == "__main__":
    sys.exit(main())
