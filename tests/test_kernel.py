"""Behaviour in a real ipykernel: interrupts, and Run All with several %%ask cells."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager, start_new_kernel
from nbclient import NotebookClient


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[tuple[KernelManager, Any]]:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def collect(kc: Any, msg_id: str, timeout: float = 60) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"stream": [], "error": [], "result": []}
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out["stream"].append(content["text"])
        elif kind == "error":
            out["error"].append(f"{content['ename']}: {content['evalue']}")
        elif kind == "execute_result":
            out["result"].append(content["data"].get("text/plain", ""))
        elif kind == "status" and content["execution_state"] == "idle":
            return out


def run(kc: Any, code: str, timeout: float = 60) -> dict[str, list[str]]:
    out = collect(kc, kc.execute(code), timeout)
    assert not out["error"], out
    return out


def test_interrupt_cancels_the_run_cleanly(
    kernel: tuple[KernelManager, Any], tmp_path: Path
) -> None:
    km, kc = kernel
    run(
        kc,
        "%load_ext a3s_notebook\n"
        f"%config A3sMagics.sessions_dir = {str(tmp_path / 's')!r}\n"
        f"%config A3sMagics.default_workspace = {str(tmp_path / 'ws')!r}",
    )
    run(kc, "%a3s_session new k --model scripted/demo-fast --timeout 120")
    msg_id = kc.execute("%%ask --quiet\nwrite notes")
    run_state = "import a3s_notebook.magics as m\nmag = get_ipython().magics_manager.registry['A3sMagics']\n"
    # wait until the run is waiting for the approval of `write`
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            kc.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            pass
        if (tmp_path / "s" / "k.jsonl").exists() and '"confirmation_required"' in (
            tmp_path / "s" / "k.jsonl"
        ).read_text():
            break
    else:
        pytest.fail("the run never asked for approval")
    km.interrupt_kernel()
    out = collect(kc, msg_id, timeout=30)  # a run that ignored the interrupt times out here
    assert any("CancelledError" in e for e in out["error"])
    assert "interrupted" in "".join(out["stream"])
    state = run(
        kc,
        run_state + "s = mag.current\n"
        "print(s.state.value, len(s.pending_confirmations()), s.messages[-1].tool_results()[-1].content)",
    )
    text = "".join(state["stream"])
    assert text.startswith("Active 0 Tool 'write' was not run: the run was interrupted.")
    assert not (tmp_path / "ws" / "notes.md").exists()
    # the session is usable for the next %%ask
    run(kc, "%a3s_session allow write")
    again = run(kc, "%%ask --quiet\nagain")
    assert "Done." in "".join(again["result"])
    assert (tmp_path / "ws" / "notes.md").exists()


def test_run_all_with_several_ask_cells_and_analysis(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cells = [
        "%load_ext a3s_notebook\n"
        f"%config A3sMagics.sessions_dir = {str(tmp_path / 's')!r}\n"
        f"%config A3sMagics.default_workspace = {str(tmp_path / 'ws')!r}",
        "%a3s_session new first --model scripted/demo-fast\n%a3s_session allow write",
        "%%ask\nLook around and write notes",
        "first_answer = _\nassert first_answer.text.startswith('**Done.**')",
        "%a3s_session new second --model scripted/echo",
        "%%ask\nSummarise: {first_answer}",
        "assert 'Echo: Summarise: **Done.**' in _.text",
        "costs = get_ipython().magics_manager.registry['A3sMagics'].manager.costs()\n"
        "print(len(costs), sorted(costs['session_id'].unique()))",
    ]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    last = nb.cells[-1].outputs[0]["text"]
    assert last.strip() == "6 ['first', 'second']"
    assert (tmp_path / "ws" / "notes.md").exists()


def test_a_python_tool_figure_goes_to_its_row_not_below_the_cell(
    kernel: tuple[KernelManager, Any], tmp_path: Path
) -> None:
    """In a real kernel, what the agent's code displays (a matplotlib figure through the
    inline backend) is kept for the tool's row; the cell's output gets none of it."""
    _, kc = kernel
    setup = f"""
import asyncio
from a3s_notebook.engine import SessionManager, SessionConfig, PermissionPolicy
from a3s_notebook.engine.hitl import ConfirmationPolicy
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn
from a3s_notebook.notebook_tools import PythonTool
code = "import matplotlib.pyplot as plt\\nplt.plot([1, 2, 3])\\nplt.title('sales')"
manager = SessionManager({str(tmp_path / "s")!r})
session = manager.create_session(
    SessionConfig(workspace={str(tmp_path)!r}, permission_policy=PermissionPolicy.notebook(),
                  confirmation_policy=ConfirmationPolicy.enabled_policy().with_timeout(30_000)),
    llm=ScriptedClient([ScriptedTurn(tool_calls=[{{"id": "c1", "name": "python",
                                                   "args": {{"code": code}}}}]),
                        ScriptedTurn(text="plotted")]),
)
session.add_tool(PythonTool(lambda: get_ipython().user_ns, get_ipython()))
ends = []
def on(event):
    if event.type == "confirmation_required":
        asyncio.get_running_loop().call_soon(lambda: session.confirm(event.tool_id, True))
    if event.type == "tool_end":
        ends.append(event)
session.subscribe(on)
"""
    run(kc, "%matplotlib inline\n" + setup)
    msg_id = kc.execute("result = await session.send_async('plot the sales')")
    images: list[str] = []
    deadline = time.monotonic() + 60
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("display_data", "execute_result"):
            images += [k for k in msg["content"]["data"] if k.startswith("image/")]
        assert msg["msg_type"] != "error", msg["content"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    assert images == []
    out = run(
        kc,
        "print(ends[0].exit_code, [m['mime'] for m in ends[0].media or []], "
        "ends[0].media[0]['alt'][:12], result.text)",
    )
    assert "".join(out["stream"]).strip() == "0 ['image/png'] <Figure size plotted"
