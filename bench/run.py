"""Run every benchmark, print one table, and write it to ``bench/RESULTS.md``.

Usage (``make bench`` sets everything up and runs the first form)::

    python bench/run.py                 # every benchmark; writes bench/RESULTS.md
    python bench/run.py --quick         # small sizes, a smoke run; prints only
    python bench/run.py --only 3,4      # some benchmarks; prints only
    python bench/run.py --baseline-requirements   # what the baseline venv installs

Each benchmark is a ``bench_*.py`` script started in its own process (so that imports,
memory and the event loop of one cannot colour another), with this interpreter: the
project's ``.venv``. The baselines that need heavy packages (pydantic-ai,
jupyter-ai-magics) run in ``bench/.venv-baseline``, a separate venv made by
``make bench``, so the project's venv stays clean. Generated data goes to
``bench/_work/``. Both are git-ignored.

Benchmarks print figures; tests never assert timings. A row's "met?" says whether it
reached the issue's target; rows without a target give context to the others.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _common import MARKER, WORK_DIR, Row, row  # noqa: E402  (needs the path above)

BASELINE_VENV = BENCH_DIR / ".venv-baseline"
BASELINE_PYTHON = BASELINE_VENV / "bin" / "python"
RESULTS = BENCH_DIR / "RESULTS.md"
MODULE_TIMEOUT = 600
MODULE_TIMEOUTS = {"6": 3600}
"""Benchmarks that need longer (6 reads 2 x 2.6 GiB of logs with six readers)."""

MODULES = [
    ("1", "streaming to the front end", "bench_streaming.py"),
    ("2", "persistence", "bench_persistence.py"),
    ("3", "engine overhead per tool round", "bench_engine.py"),
    ("4", "parallel read-only tools", "bench_parallel.py"),
    ("5", "start-up", "bench_startup.py"),
    ("6", "cost analysis", "bench_costs.py"),
    ("7", "the live path", "bench_view.py"),
    ("8", "the page keeps up", "bench_page.py"),
]

MAIN_PACKAGES = [
    "a3s-notebook",
    "pydantic",
    "ipython",
    "anywidget",
    "ipywidgets",
    "pandas",
    "orjson",
]
BASELINE_PACKAGES = ["pydantic-ai-slim", "jupyter-ai-magics", "pydantic", "ipython"]


# --- set-up helpers ------------------------------------------------------------------------


def baseline_requirements() -> list[str]:
    """The baseline venv's packages: pyproject's ``bench`` extra, plus our IPython version.

    The same IPython on both sides, so that ``%load_ext`` is compared on equal terms.
    """
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extra = list(data["project"]["optional-dependencies"]["bench"])
    try:
        extra.append(f"ipython=={importlib.metadata.version('ipython')}")
    except importlib.metadata.PackageNotFoundError:
        extra.append("ipython")
    return extra


def versions(python: str, names: list[str]) -> dict[str, str]:
    """Installed versions of ``names`` in the interpreter ``python`` (another venv too)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        f"for n in {names!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
        "out['python'] = sys.version.split()[0]\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    try:
        result: dict[str, str] = json.loads(proc.stdout)
    except ValueError:
        return {n: "unknown" for n in names}
    return result


def machine() -> dict[str, str]:
    """CPU model, cores, memory and OS of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": platform.platform(),
    }


# --- running --------------------------------------------------------------------------------


def run_module(number: str, title: str, script: str, quick: bool, baseline: str) -> dict[str, Any]:
    """Run one benchmark script; its rows, or one row that says why it failed."""
    cmd = [sys.executable, str(BENCH_DIR / script)]
    if quick:
        cmd.append("--quick")
    if baseline:
        cmd += ["--baseline-python", baseline]
    load = os.getloadavg()[0]
    timeout = MODULE_TIMEOUTS.get(number, MODULE_TIMEOUT)
    start = time.perf_counter()
    print(f"[bench] {number} {title} ...", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
        out, err, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired:
        out, err, code = "", f"timed out after {timeout} s", -1
    seconds = time.perf_counter() - start
    rows: list[Row] = []
    for line in out.splitlines():
        if line.startswith(MARKER):
            rows = json.loads(line[len(MARKER) :])
    if code != 0 or not rows:
        tail = " | ".join(err.strip().splitlines()[-4:]) or f"exit code {code}"
        rows = [row(f"{number} {title}", "FAILED", None, "", met=False, note=tail)]
    print(f"[bench] {number} done in {seconds:.1f} s", file=sys.stderr, flush=True)
    return {"number": number, "title": title, "rows": rows, "seconds": seconds, "load": load}


# --- formatting -----------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "") -> str:
    """A figure with about three significant digits and its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("msgs", "msg/s") and float(value).is_integer():
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def met_text(met: bool | None) -> str:
    """The "met?" cell."""
    return {True: "yes", False: "NO", None: ""}[met]


def table_cells(rows: list[Row]) -> list[list[str]]:
    """One list of cells per row (the note is kept apart, as a footnote)."""
    cells = []
    for i, r in enumerate(rows, start=1):
        unit = r.get("unit", "")
        cells.append(
            [
                str(i),
                r["bench"],
                r["figure"],
                fmt(r["value"], unit),
                fmt(r.get("baseline"), unit),
                f"{r['ratio']:,.1f}x" if r.get("ratio") is not None else "",
                r.get("target", ""),
                met_text(r.get("met")),
            ]
        )
    return cells


HEADER = ["#", "benchmark", "figure", "value", "baseline", "ratio", "target", "met?"]


def text_table(rows: list[Row]) -> str:
    """The table for a terminal (notes below it)."""
    cells = [HEADER, *table_cells(rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = []
    for k, c in enumerate(cells):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(c, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{i}] {r['note']}" for i, r in enumerate(rows, start=1) if r.get("note")]
    return "\n".join(lines + (["", "Notes:", *notes] if notes else []))


def md_escape(text: str) -> str:
    """A table cell for Markdown."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: dict[str, Any]) -> str:
    """RESULTS.md."""
    rows: list[Row] = report["rows"]
    m, v, b = report["machine"], report["versions"], report["baseline_versions"]
    out = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python bench/run.py`) on {report['date']}; the whole run "
        f"took {report['seconds']:.0f} s. Benchmarks print figures; tests never assert timings. "
        '"ratio" is how many times better than the baseline measured in the same run '
        "(baseline / ours for times and bytes). Rows without a target give context.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores",
        f"- Memory: {m['ram']}",
        f"- OS: {m['os']}",
        f"- Python: {v.get('python', '?')}",
        "",
        "## Versions",
        "",
        "- project venv (`.venv`): "
        + ", ".join(f"{k} {val}" for k, val in v.items() if k != "python"),
        "- baseline venv (`bench/.venv-baseline`): "
        + (", ".join(f"{k} {val}" for k, val in b.items() if k != "python") or "not present"),
        "",
        "## Results",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    out += ["| " + " | ".join(md_escape(c) for c in cells) + " |" for cells in table_cells(rows)]
    notes = [(i, r["note"]) for i, r in enumerate(rows, start=1) if r.get("note")]
    if notes:
        # "[n]" rather than a numbered list: Markdown renumbers those from 1
        out += ["", "### Notes", ""] + [f"- [{i}] {md_escape(n)}" for i, n in notes]
    missed = [(i, r) for i, r in enumerate(rows, start=1) if r.get("met") is False]
    out += ["", "## Targets missed", ""]
    if missed:
        for i, r in missed:
            got = fmt(r["value"], r["unit"])
            if r.get("ratio") is not None:
                base = fmt(r["baseline"], r["unit"])
                got += f" ({r['ratio']:.1f}x better than the baseline's {base})"
            out.append(
                f"- [{i}] {r['bench']}, {md_escape(r['figure'])}: {got} against "
                f"{md_escape(r['target'])}. {md_escape(r.get('note') or '')}".rstrip()
            )
    else:
        out.append("None.")
    out += [
        "",
        "## Run",
        "",
        "| benchmark | seconds | load average at start |",
        "|---|---|---|",
    ]
    out += [
        f"| {mod['number']} {mod['title']} | {mod['seconds']:.1f} | {mod['load']:.2f} |"
        for mod in report["modules"]
    ]
    out += [
        "",
        "The machine is shared: a load average well above 0 at the start of a benchmark means "
        "other work ran beside it, and its times are pessimistic.",
        "",
    ]
    return "\n".join(out)


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    """Parse the options, run, print, write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="small sizes; prints only")
    parser.add_argument("--only", default="", help="comma-separated benchmark numbers")
    parser.add_argument(
        "--baseline-requirements",
        action="store_true",
        help="print the baseline venv's requirements and exit",
    )
    args = parser.parse_args()
    if args.baseline_requirements:
        print(" ".join(baseline_requirements()))
        return 0

    started = time.perf_counter()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    baseline = str(BASELINE_PYTHON) if BASELINE_PYTHON.exists() else ""
    if not baseline:
        print(
            "[bench] no bench/.venv-baseline: baselines are skipped (make bench creates it)",
            file=sys.stderr,
        )
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    modules = []
    for number, title, script in MODULES:
        if only and number not in only:
            continue
        modules.append(run_module(number, title, script, args.quick, baseline))
    rows = [r for mod in modules for r in mod["rows"]]
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(sys.executable, MAIN_PACKAGES),
        "baseline_versions": versions(baseline, BASELINE_PACKAGES) if baseline else {},
        "rows": rows,
        "modules": modules,
        "seconds": time.perf_counter() - started,
    }
    print()
    print(text_table(rows))
    print(f"\nTotal: {report['seconds']:.0f} s.")
    if args.quick or only:
        print("(--quick / --only: bench/RESULTS.md left as it was)")
    else:
        RESULTS.write_text(markdown(report))
        print(f"Written to {RESULTS.relative_to(ROOT)}.")
    # a missed target is a figure, not a failure; only a benchmark that broke fails the run
    return 1 if any(r["figure"] == "FAILED" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
