"""Benchmark 4: 16 read-only tool calls in one response, each waiting 100 ms.

The tool is named ``grep``, so the engine sends it to the Query lane, where allowed
read-only calls run side by side up to the lane's concurrency. Wall time of the whole
prompt (two scripted LLM calls and the 16 tool calls) with the Query lane at 16, at its
default (4), and at 1 (one by one: the baseline, through the same engine).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from _common import WORK_DIR, Row, emit, parse_args, row

from a3s_notebook.engine import (
    PermissionPolicy,
    SessionConfig,
    SessionManager,
    SessionQueueConfig,
)
from a3s_notebook.engine.tools import ToolContext, ToolResult
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn

BENCH = "4 parallel"
CALLS = 16
WAIT = 0.1
TARGET = 14.0
"""16x is the ceiling; two LLM calls and the engine's own work take a little."""


class SlowQuery:
    """A read-only tool that waits (named ``grep``: the Query lane)."""

    name = "grep"
    description = "Wait, then answer."
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"pattern": {"type": "string"}},
    }

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Wait ``WAIT`` seconds; count how many run at once."""
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(WAIT)
        self.running -= 1
        return ToolResult(name=self.name, output=f"found {args['pattern']}")


async def one_run(concurrency: int | None, folder: Path) -> tuple[float, int]:
    """Wall seconds of the prompt and the peak number of tools running at once."""
    calls = [{"name": "grep", "args": {"pattern": f"p{i}"}} for i in range(CALLS)]
    llm = ScriptedClient(turns=[ScriptedTurn(tool_calls=calls), ScriptedTurn(text="done")])
    queue = None if concurrency is None else SessionQueueConfig(query_max_concurrency=concurrency)
    manager = SessionManager(folder)
    session = manager.create_session(
        SessionConfig(
            workspace=str(folder / "ws"),
            permission_policy=PermissionPolicy(allow=["grep"]),
            queue_config=queue,
        ),
        llm=llm,
    )
    tool = SlowQuery()
    session.tools.register(tool)
    start = time.perf_counter()
    result = await session.send_async("search")
    elapsed = time.perf_counter() - start
    if result.tool_calls_count != CALLS:
        raise RuntimeError(f"expected {CALLS} tool calls, got {result.tool_calls_count}")
    return elapsed, tool.peak


def measure(concurrency: int | None, repeat: int) -> tuple[float, int]:
    """Best wall time over ``repeat`` runs, and the peak concurrency seen."""
    best, peak = float("inf"), 0
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix="parallel-", dir=WORK_DIR))
        try:
            elapsed, seen = asyncio.run(one_run(concurrency, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        best, peak = min(best, elapsed), max(peak, seen)
    return best, peak


def main() -> None:
    """Measure and print the rows."""
    args = parse_args(__doc__ or "")
    repeat = 1 if args.quick else 3
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    measure(CALLS, 1)  # warm-up
    sequential, _ = measure(1, repeat)
    parallel, peak16 = measure(CALLS, repeat)
    default, peak4 = measure(None, repeat)
    rows: list[Row] = [
        row(
            BENCH,
            f"{CALLS} x {WAIT * 1000:.0f} ms tools, Query lane at {CALLS} vs one by one",
            parallel,
            "s",
            baseline=sequential,
            ratio=sequential / parallel,
            target=f">= {TARGET:g}x (close to {CALLS}x)",
            met=sequential / parallel >= TARGET,
            note=f"peak {peak16} tools at once",
        ),
        row(
            BENCH,
            f"{CALLS} x {WAIT * 1000:.0f} ms tools, Query lane at its default vs one by one",
            default,
            "s",
            baseline=sequential,
            ratio=sequential / default,
            note=f"default query_max_concurrency; peak {peak4} tools at once",
        ),
    ]
    emit(rows)


if __name__ == "__main__":
    sys.exit(main())
