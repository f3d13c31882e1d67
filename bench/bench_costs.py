"""Benchmark 6: cost analysis over session logs written by the product's own store.

Two folders, each of 1,000,000 LLM calls: 1,000 long sessions of 1,000 calls, and 10,000
short ones of 100 (``--quick``: 100 x 1,000 and 1,000 x 100). Every file is made of the
lines of a real session run through ``SessionManager`` (``bench/_sessions.py``: messages,
tool calls, context and usage events interleaved as the store writes them; about nine
lines per call), repeated with new ids, times, models and token counts, and checked with
the engine's own reader. The data is kept in ``bench/_work`` and reused while its
manifest matches.

Each reader runs in a fresh child process (its peak RSS is its own):

- ``load_sessions``: today's loader (orjson per line, every frame);
- DuckDB ``read_json`` with explicit columns over the logs, giving the same calls frame;
- the ledger (``load_calls``): cold (every Parquet file built from its log) and warm;
- the cost by model and by day: pandas on the frame, and SQL (``query``) on the ledger.

The warm ledger and ``query()`` take a second or less: each runs three times and the
median is the figure (the peak RSS is the highest of the three).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import MARKER, WORK_DIR, Row, emit, parse_args, peak_rss_mb, row

BENCH = "6 cost analysis"
FRAME_TARGET = 2.0
"""Seconds for the calls frame of 1M calls."""
REPORT_TARGET = 1.0
"""Seconds for the cost by model and by day."""
MEMORY_TARGET_MB = 1024.0
FORMAT = 2
"""Bump when the generator changes, so old data is regenerated."""

_DUCKDB_RECORD = (
    "STRUCT(session_id VARCHAR, turn BIGINT, model VARCHAR, provider VARCHAR, "
    "prompt_tokens BIGINT, completion_tokens BIGINT, total_tokens BIGINT, "
    "cache_read_tokens BIGINT, cache_write_tokens BIGINT, reasoning_tokens BIGINT, "
    "cost_usd DOUBLE, latency_ms DOUBLE, ttft_ms DOUBLE, timestamp VARCHAR, "
    "tool_names VARCHAR[], provenance STRUCT(execution_count BIGINT, cell_id VARCHAR), "
    "estimated BOOLEAN, purpose VARCHAR)"
)
_REPORTS_SQL = (
    "SELECT model, count(*) AS calls, sum(input_tokens) AS input_tokens, "
    "sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd, "
    "count(*) - count(cost_usd) AS unpriced_calls FROM calls GROUP BY model",
    "SELECT CAST(timestamp AS DATE) AS date, count(*) AS calls, "
    "sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd, "
    "count(*) - count(cost_usd) AS unpriced_calls FROM calls GROUP BY 1 ORDER BY 1",
)


def _json_select(folder: Path) -> str:
    """DuckDB over the logs: the usage lines' records, in the calls frame's columns."""
    columns = {"type": "VARCHAR", "record": _DUCKDB_RECORD}
    return (
        "SELECT regexp_extract(filename, '([^/]+)\\.jsonl$', 1) AS session_id, "
        "r.turn, CAST(r.timestamp AS TIMESTAMPTZ) AS timestamp, r.model, r.provider, "
        "r.prompt_tokens AS input_tokens, r.completion_tokens AS output_tokens, "
        "r.cache_read_tokens, r.cache_write_tokens, r.reasoning_tokens, r.total_tokens, "
        "r.cost_usd, r.latency_ms, r.ttft_ms, to_json(r.tool_names) AS tool_names, "
        "r.estimated, r.provenance.execution_count AS cell, r.provenance.cell_id AS cell_id, "
        "coalesce(r.purpose, 'generate') AS purpose "
        f"FROM (SELECT filename, record AS r FROM read_json('{folder}/*.jsonl', "
        f"format = 'newline_delimited', columns = {columns!r}, filename = true, "
        "ignore_errors = true) WHERE type = 'usage_recorded')"
    )


def measure(kind: str, folder: Path) -> dict[str, Any]:
    """In the child: one reader, timed, with the process's peak RSS."""
    import a3s_notebook.analysis as analysis  # imports are not part of the figures
    from a3s_notebook.analysis import cost_by_day, cost_by_model
    from a3s_notebook.analysis.ledger import _typed, connect

    connect().close()  # DuckDB's own import, outside the timings
    rss_before = peak_rss_mb()
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if kind == "load_sessions":
        frame = analysis.load_sessions(folder).calls
    elif kind == "duckdb_json":
        con = connect()
        frame = _typed(con.execute(_json_select(folder)).df())
        con.close()
    elif kind in ("ledger_cold", "ledger_warm"):
        frame = analysis.load_calls(folder)
    elif kind == "sql_reports":
        frame = None
        t = time.perf_counter()
        out["rows"] = sum(len(analysis.query(sql, folder=folder)) for sql in _REPORTS_SQL)
        out["report"] = time.perf_counter() - t
    elif kind == "json_sql_reports":  # the same reports by DuckDB straight over the logs
        frame = None
        con = connect()
        con.execute(f"CREATE VIEW calls AS {_json_select(folder)}")
        out["rows"] = sum(len(con.execute(sql).df()) for sql in _REPORTS_SQL)
        con.close()
        out["report"] = time.perf_counter() - t0
    else:
        raise SystemExit(f"unknown reader {kind}")
    out["frame"] = time.perf_counter() - t0
    if frame is not None:
        out["calls"] = len(frame)
        t = time.perf_counter()
        by_model, by_day = cost_by_model(frame), cost_by_day(frame)
        out["report"] = time.perf_counter() - t
        out["rows"] = len(by_model) + len(by_day)
    out.update(rss_before=rss_before, peak_rss=peak_rss_mb())
    return out


def _child(kind: str, folder: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(folder)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} failed: {proc.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    return result


_REPEAT = {"ledger_warm": 3, "sql_reports": 3}
"""The short readers run three times (each in a fresh process): their median is the figure,
so that one busy moment of a shared machine does not make the row."""


def _measured(kind: str, folder: Path) -> dict[str, Any]:
    runs = [_child(kind, folder) for _ in range(_REPEAT.get(kind, 1))]
    out = dict(runs[0])
    for key in ("frame", "report"):
        if key in out:
            out[key] = statistics.median(run[key] for run in runs)
    out["peak_rss"] = max(run["peak_rss"] for run in runs)
    return out


def _data(name: str, files: int, per_file: int) -> tuple[Path, dict[str, Any]]:
    """The folder of logs, generated through the store unless an earlier run left it."""
    from _sessions import generate

    folder = WORK_DIR / name
    manifest = {"format": FORMAT, "files": files, "calls_per_file": per_file}
    stamp = WORK_DIR / f"{name}.manifest.json"
    made: dict[str, Any] = {}
    if stamp.exists():
        made = json.loads(stamp.read_text())
    if made.get("manifest") != manifest or not folder.is_dir():
        made = {"manifest": manifest, **generate(folder, WORK_DIR, files, per_file)}
        stamp.write_text(json.dumps(made))
        made["fresh"] = True
    return folder, made


def _rows(label: str, folder: Path, made: dict[str, Any]) -> list[Row]:
    calls = made["manifest"]["files"] * made["manifest"]["calls_per_file"]
    shutil.rmtree(folder / ".a3s", ignore_errors=True)  # the cold ledger is built here
    r = {
        kind: _measured(kind, folder)
        for kind in (
            "load_sessions",
            "duckdb_json",
            "json_sql_reports",
            "ledger_cold",
            "ledger_warm",
            "sql_reports",
        )
    }
    for kind in ("load_sessions", "duckdb_json", "ledger_cold", "ledger_warm"):
        if r[kind]["calls"] != calls:
            raise RuntimeError(f"{kind} found {r[kind]['calls']} calls, expected {calls}")
    base = r["load_sessions"]
    data = (
        f"{label}: {made['manifest']['files']:,} files, {calls:,} calls, "
        f"{made['lines']:,} lines, {made['bytes'] / 2**30:.2f} GiB"
    )
    us = f"{base['frame'] / calls * 1e6:.1f} us/call today"
    out: list[Row] = [
        row(BENCH, f"calls frame, today's load_sessions ({data})", base["frame"], "s", note=us),
    ]

    def frame_row(kind: str, what: str, target: bool) -> Row:
        v = r[kind]["frame"]
        return row(
            BENCH,
            f"calls frame, {what} ({label})",
            v,
            "s",
            baseline=base["frame"],
            ratio=base["frame"] / v,
            target=f"<= {FRAME_TARGET:g} s" if target else "",
            met=(v <= FRAME_TARGET) if target else None,
            note=f"{v / calls * 1e6:.2f} us/call; peak RSS {r[kind]['peak_rss']:.0f} MiB",
        )

    out += [
        frame_row("duckdb_json", "DuckDB read_json over the logs", False),
        frame_row("ledger_cold", "ledger, cold (built from every log)", False),
        frame_row("ledger_warm", "ledger, warm (load_calls)", True),
    ]
    for kind, what in (
        ("load_sessions", "pandas on today's frame"),
        ("ledger_warm", "pandas on the ledger's frame"),
        ("json_sql_reports", "DuckDB SQL straight over the logs"),
        ("sql_reports", "query() on the ledger"),
    ):
        v = r[kind]["report"]
        out.append(
            row(
                BENCH,
                f"cost by model + by day, {what} ({label})",
                v,
                "s",
                baseline=base["report"],
                ratio=base["report"] / v,
                target=f"<= {REPORT_TARGET:g} s" if kind == "sql_reports" else "",
                met=(v <= REPORT_TARGET) if kind == "sql_reports" else None,
            )
        )
    for kind, what in (("load_sessions", "today's load_sessions"), ("ledger_warm", "ledger")):
        v = r[kind]["peak_rss"]
        out.append(
            row(
                BENCH,
                f"peak RSS, {what} ({label})",
                v,
                "MiB",
                baseline=base["peak_rss"],
                ratio=base["peak_rss"] / v,
                target=f"< {MEMORY_TARGET_MB:g} MiB" if kind == "ledger_warm" else "",
                met=(v < MEMORY_TARGET_MB) if kind == "ledger_warm" else None,
                note=f"{r[kind]['rss_before']:.0f} MiB after the imports",
            )
        )
    v = r["sql_reports"]["peak_rss"]
    out.append(row(BENCH, f"peak RSS, query() reports ({label})", v, "MiB"))
    return out


def main() -> None:
    """Generate (or reuse) the data, measure each reader in a child process, print rows."""
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        result = measure(sys.argv[2], Path(sys.argv[3]))
        sys.stdout.write(MARKER + json.dumps(result) + "\n")
        return
    args = parse_args(__doc__ or "")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    sizes = (
        [("long", "costs-long-quick", 100, 1_000), ("many", "costs-many-quick", 1_000, 100)]
        if args.quick
        else [("long", "costs-long", 1_000, 1_000), ("many", "costs-many", 10_000, 100)]
    )
    rows: list[Row] = []
    for label, name, files, per_file in sizes:
        folder, made = _data(name, files, per_file)
        rows += _rows(f"{label} sessions", folder, made)
    emit(rows)


if __name__ == "__main__":
    sys.exit(main())
