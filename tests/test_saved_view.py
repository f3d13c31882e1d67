"""What a saved notebook shows of a ``%%ask`` cell without a kernel (GitHub, nbviewer,
exports): its SessionView's text form and widget state hold the agent's work.

A real kernel runs the notebook (nbclient); a cell before ``%%ask`` approves the ``write``
the way a click on the card does (``session.confirm``). The notebook is saved to a file
and read back, then converted with nbconvert.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter, MarkdownExporter

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
PROMPT = "Look at my workspace and write notes"
ANSWER = "I listed the workspace and wrote my notes to `notes.md`."


class SnapshotClient(NotebookClient):
    """Keeps a copy of the cell's outputs each time a display is rewritten in place: what
    a save at that moment (say, while the approval card waits) would write."""

    snapshots: list[list[Any]]

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        result = super().process_message(msg, cell, cell_index)
        if msg["msg_type"] == "update_display_data":
            self.snapshots.append(copy.deepcopy(cell.outputs))
        return result


def run_ask_notebook(tmp_path: Path) -> tuple[nbformat.NotebookNode, SnapshotClient, Path]:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "data.csv").write_text("city,temp_c\nOslo,4\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(c)
        for c in [
            "%load_ext a3s_notebook\n"
            "%config A3sMagics.sessions_dir = 'sessions'\n"
            "%a3s_session new t --model scripted/demo --workspace ws --timeout 60",
            # the user's click, once the card is shown: the same call the card makes
            "import asyncio\n"
            "s = get_ipython().magics_manager.registry['A3sMagics'].current\n"
            "def approve(e):\n"
            "    if e.type == 'confirmation_required':\n"
            "        asyncio.get_running_loop().call_soon(s.confirm, e.tool_id, True)\n"
            "_ = s.subscribe(approve)",
            f"%%ask\n{PROMPT}",
        ]
    ]
    client = SnapshotClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.snapshots = []
    client.execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4), client, ws


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[nbformat.NotebookNode, SnapshotClient, Path]:
    """The notebook, run once for the module, saved and read back."""
    return run_ask_notebook(tmp_path_factory.mktemp("saved"))


def view_output(outputs: list[Any]) -> Any:
    (view,) = [o for o in outputs if o.output_type == "display_data" and VIEW in o.data]
    return view


def test_a_saved_notebook_shows_the_agents_work_without_a_kernel(
    saved: tuple[nbformat.NotebookNode, SnapshotClient, Path],
) -> None:
    nb, client, ws = saved
    assert (ws / "notes.md").exists()
    view = view_output(nb.cells[2].outputs)

    # the text saved next to the widget: transcript, tool calls, the decision, the cost
    for mime in ("text/markdown", "text/plain"):
        text = view.data[mime]
        assert "No events yet" not in text
        assert f"**You:** {PROMPT}" in text
        assert "`ls` ." in text
        assert "`write` notes.md: approved by user" in text
        assert ANSWER in text
        assert "run finished · 5 LLM calls" in text
        assert "cost no price (scripted)" in text
        assert "· done" in text.splitlines()[0]  # the header's state

    # saved while the card waited: the work so far and the pending approval
    pending = [view_output(s).data["text/markdown"] for s in client.snapshots]
    waiting = [t for t in pending if "needs approval" in t]
    assert waiting, f"no rewrite while the approval waited: {pending}"
    first = waiting[0]
    assert "No events yet" not in first
    assert "`ls` ." in first
    assert "`write` notes.md needs approval" in first
    assert ANSWER not in first

    # the widget state saved with the notebook holds the final rows and the decided card
    state = nb.metadata["widgets"][STATE]["state"]
    stream = [m["state"] for m in state.values() if "rows" in m["state"]]
    assert len(stream) == 1
    rows = json.dumps(stream[0]["rows"] + stream[0]["archive"])
    assert ANSWER.replace("`", "\\u0060") in rows or ANSWER in rows
    cards = [m["state"]["cards"] for m in state.values() if "cards" in m["state"]]
    assert [(c["tool_name"], c["status"]) for c in cards[0]] == [("write", "approved")]


def test_exports_show_the_agents_work(
    saved: tuple[nbformat.NotebookNode, SnapshotClient, Path],
) -> None:
    nb = copy.deepcopy(saved[0])
    markdown, _ = MarkdownExporter().from_notebook_node(nb)
    assert "`write` notes.md: approved by user" in markdown
    assert ANSWER in markdown
    assert "No events yet" not in markdown

    # JupyterLab saves no widget state by default: an HTML export (nbviewer) then shows
    # the Markdown form
    del nb.metadata["widgets"]
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "approved by user" in html
    assert "I listed the workspace and wrote my notes to" in html
    assert "run finished · 5 LLM calls" in html
