"""What every benchmark module shares: the result row, the output protocol, small helpers.

Each ``bench_*.py`` module is a script that the runner (``bench/run.py``) starts in a
fresh process. It measures, then prints its rows as one JSON line starting with
:data:`MARKER` on stdout; anything else it prints is ignored by the runner. This module
imports only the standard library, because the pydantic-ai baseline imports it from the
baseline venv, where a3s_notebook is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "MARKER",
    "WORK_DIR",
    "Row",
    "emit",
    "median_time",
    "parse_args",
    "peak_rss_mb",
    "row",
    "run_marked",
]

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / "_work"
"""Scratch space for generated data (git-ignored; reused between runs where it is safe)."""

MARKER = "BENCH-ROWS "
"""Prefix of the one stdout line that carries a module's rows as JSON."""

Row = dict[str, Any]


def row(
    bench: str,
    figure: str,
    value: float | None,
    unit: str,
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> Row:
    """One line of the results table.

    ``ratio`` is always "how many times better than the baseline" (baseline / ours for
    times and bytes), so a bigger ratio is better everywhere. ``met`` is None when the
    row has no target of its own (context for another row).
    """
    return {
        "bench": bench,
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
    }


def emit(rows: list[Row]) -> None:
    """Print the rows for the runner (one marked JSON line)."""
    sys.stdout.write(MARKER + json.dumps(rows) + "\n")
    sys.stdout.flush()


def parse_args(description: str) -> argparse.Namespace:
    """``--quick``: smaller sizes, for checking that a module runs (figures not comparable)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--baseline-python",
        default=os.environ.get("BENCH_BASELINE_PYTHON", ""),
        help="interpreter of the baseline venv (modules that compare against one)",
    )
    return parser.parse_args()


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_marked(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None) -> Any:
    """Run a command and return the JSON of its marked stdout line.

    Raises RuntimeError with the tail of stderr when it fails or prints no marked line,
    so the runner can show why a figure is missing.
    """
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise RuntimeError(f"{' '.join(cmd[:3])} exited {proc.returncode}: " + " | ".join(tail))
