"""The Markdown export: approval times, cut text that says so, folded long arguments."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from a3s_notebook import export_session

from .conftest import turn


async def test_an_export_shows_approval_times_cuts_with_ellipses_and_folds_task_lists(
    make_session: Any, workspace: Path
) -> None:
    todos = [{"id": str(i), "content": f"step {i}", "status": "pending"} for i in range(8)]
    long_output = "line\n" * 1000
    session = make_session(
        [
            turn("", ("todo_write", {"todos": todos})),
            turn("", ("write", {"file_path": "a|b.txt", "content": long_output})),
            turn("", ("read", {"file_path": "a|b.txt"})),
            turn("done"),
        ],
        allow=["todo_write", "read"],
    )

    def decide(event: Any) -> None:
        if event.type == "confirmation_required":
            asyncio.get_running_loop().call_soon(lambda: session.confirm(event.tool_id, True, None))

    session.subscribe(decide)
    await session.send_async("plan and write")
    md = export_session(session, workspace / "x.md").read_text()
    # the task list is folded, with its size in the summary
    assert "<details><summary>arguments (8 tasks)</summary>" in md
    # the long result is cut, saying how much was left out
    assert re.search(r"\n… \(\d,\d{3} more characters\)\n", md)
    # the approval row says when it was asked and decided, and escapes the table's pipes
    row = next(line for line in md.splitlines() if line.startswith("| `write`"))
    assert "a\\|b.txt" in row and "approved by user" in row
    assert re.search(r"\| \d\d:\d\d:\d\d → \d\d:\d\d:\d\d \(\d+\.\d s\) \|", row), row
    assert row.count("|") - row.count("\\|") == 5  # four cells
