"""A notebook that runs N scripted tool rounds behind a Go button (browser test, bench 8).

The cell displays a Go button, a label the kernel writes, and a ``SessionView`` on a
session whose scripted model calls ``ls`` (allowed by a rule: nothing waits for
approval) once per round, then answers "done". A click on Go starts the run as a task;
when ``send_async`` returns, the label reads
``KERNEL <start> <end> <tool rows> <rows> <sha256 of the row ids joined by '|'>`` with
``time.time()`` before and after the run and the rows the kernel's EventStream holds, so
the page can be compared with the kernel, row for row.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat

GO = ".a3s-rounds-go"
CLOCK = ".a3s-rounds-clock"

SOURCE = """\
import asyncio, hashlib, pathlib, tempfile, time
import ipywidgets as widgets
from a3s_notebook.engine import PermissionPolicy, SessionConfig, SessionManager
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn
from a3s_notebook.widgets import SessionView

ROUNDS = {rounds}
root = pathlib.Path(tempfile.mkdtemp(prefix="a3s-rounds-"))
(root / "ws").mkdir()
(root / "ws" / "a.txt").write_text("a\\n")
turns = [
    ScriptedTurn(text=f"step {{i}}", tool_calls=[{{"name": "ls", "args": {{"path": "."}}}}])
    for i in range(ROUNDS)
]
session = SessionManager(root / "sessions").create_session(
    SessionConfig(
        workspace=str(root / "ws"),
        permission_policy=PermissionPolicy(allow=["ls"]),
        max_tool_rounds=ROUNDS + 5,
    ),
    llm=ScriptedClient(turns=[*turns, ScriptedTurn(text="done")]),
)
view = SessionView(session)
go = widgets.Button(description="Go")
go.add_class("a3s-rounds-go")
clock = widgets.Label("KERNEL waiting")
clock.add_class("a3s-rounds-clock")

async def run():
    start = time.time()
    await session.send_async("go")
    end = time.time()
    rows = view.events_widget.transcript()
    tools = sum(1 for r in rows if r.get("kind") == "tool")
    digest = hashlib.sha256("|".join(r["id"] for r in rows).encode()).hexdigest()
    clock.value = f"KERNEL {{start:.6f}} {{end:.6f}} {{tools}} {{len(rows)}} {{digest}}"

def on_go(_):
    go.disabled = True
    asyncio.ensure_future(run())

go.on_click(on_go)
display(go, clock, view)
"""


def rounds_notebook(folder: Path, rounds: int) -> Path:
    """Write the notebook for ``rounds`` tool rounds into ``folder``; its path."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SOURCE.format(rounds=rounds))]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / f"rounds_{rounds}.ipynb"
    nbformat.write(nb, path)
    return path


def ids_digest(ids: list[str]) -> str:
    """What the kernel writes for its row ids (to compare with the page's)."""
    return hashlib.sha256("|".join(ids).encode()).hexdigest()


def kernel_report(text: str) -> dict[str, float | int | str]:
    """Parse the label the kernel writes when the run ended."""
    word, start, end, tools, rows, digest = text.split()
    if word != "KERNEL":
        raise ValueError(f"not a kernel report: {text!r}")
    return {
        "start": float(start),
        "end": float(end),
        "tools": int(tools),
        "rows": int(rows),
        "digest": digest,
    }
