"""The kernel-aware tools end to end: a scripted session calls them against a real IPython
shell and real .ipynb files."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from a3s_notebook.engine.events import AgentEvent, ConfirmationRequired, ToolEnd
from a3s_notebook.engine.lanes import SessionLane
from a3s_notebook.engine.tools import lane_of, needs_approval_of
from a3s_notebook.notebook_tools import (
    KERNEL_TOOL_NAMES,
    NotebookEditTool,
    NotebookReadTool,
    ProposeCellTool,
    PythonTool,
    notebook_tools,
)

from .conftest import turn


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    sh = InteractiveShell.instance()
    before = set(sh.user_ns)
    yield sh
    added = set(sh.user_ns) - before
    for name in added:
        sh.user_ns.pop(name, None)


def record(session: Any) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    return events


def tool_ends(events: list[AgentEvent]) -> list[ToolEnd]:
    return [e for e in events if isinstance(e, ToolEnd)]


def answer(session: Any, approve: bool) -> list[ConfirmationRequired]:
    asked: list[ConfirmationRequired] = []

    def on(event: AgentEvent) -> None:
        if isinstance(event, ConfirmationRequired):
            asked.append(event)
            asyncio.get_running_loop().call_soon(
                lambda: session.confirm(event.tool_id, approve, None if approve else "no")
            )

    session.subscribe(on)
    return asked


def add_all(session: Any, shell: InteractiveShell | None) -> list[Any]:
    ns: dict[str, Any] = shell.user_ns if shell is not None else {}
    tools = notebook_tools(lambda: ns, shell=shell)
    for t in tools:
        session.add_tool(t)
    return tools


# --- the set -----------------------------------------------------------------------------------


def test_the_set_declares_lanes_and_approval(make_session: Any) -> None:
    session = make_session([])
    add_all(session, None)
    assert [t for t in KERNEL_TOOL_NAMES if t in session.tools] == list(KERNEL_TOOL_NAMES)
    lanes = {n: lane_of(session.tools, n) for n in KERNEL_TOOL_NAMES}
    assert lanes == {
        "inspect": SessionLane.QUERY,
        "python": SessionLane.EXECUTE,
        "notebook_read": SessionLane.QUERY,
        "notebook_edit": SessionLane.EXECUTE,
        "propose_cell": SessionLane.QUERY,
    }
    assert needs_approval_of(session.tools, "python") is True
    assert needs_approval_of(session.tools, "inspect") is False
    assert needs_approval_of(session.tools, "propose_cell") is False
    assert needs_approval_of(session.tools, "notebook_edit") is None  # the rules decide
    names = {d.name for d in session.tools.definitions()}
    assert set(KERNEL_TOOL_NAMES) <= names


# --- inspect -----------------------------------------------------------------------------------


async def test_inspect_lists_variables_and_describes_a_dataframe(
    make_session: Any, shell: InteractiveShell
) -> None:
    shell.run_cell(
        "import os\n"
        "import pandas as pd\n"
        "sales = pd.DataFrame({'city': ['a', 'b', 'c'], 'amount': [1.5, 2.0, 3.25]})\n"
        "def scale(x: float, k: int = 2) -> float:\n"
        "    '''Scale x by k.'''\n"
        "    return x * k\n"
        "_hidden = 1\n"
        "items = list(range(10))\n"
        "class Sneaky:\n"
        "    def __len__(self):\n"
        "        raise RuntimeError('len was called')\n"
        "    def __repr__(self):\n"
        "        return 'S' * 100_000\n"
        "sneaky = Sneaky()\n",
        store_history=False,
    )
    session = make_session(
        [
            turn("", ("inspect", {})),
            turn("", ("inspect", {"name": "sales"})),
            turn("", ("inspect", {"name": "scale"})),
            turn("", ("inspect", {"name": "sneaky"})),
            turn("", ("inspect", {"name": "nope"})),
            turn("done"),
        ]
    )
    add_all(session, shell)
    events = record(session)
    asked = answer(session, False)
    await session.send_async("look")
    assert asked == []  # no approval under the default (ask) policy
    listing, frame, func, sneaky, missing = tool_ends(events)
    assert "DataFrame (3x2, " in listing.output and "- sales: pandas." in listing.output
    assert "- items: list (len 10)" in listing.output
    assert "- scale: function" in listing.output
    for hidden in ("_hidden", "os:", "pd:", "In:", "Out:", "get_ipython", "exit:", "open:"):
        assert hidden not in listing.output
    assert "shape: 3 rows x 2 columns" in frame.output
    assert "amount: float64" in frame.output and "\n  city: " in frame.output
    assert "memory:" in frame.output and "3.25" in frame.output
    assert "signature: scale(x: float, k: int = 2) -> float" in func.output
    assert "Scale x by k." in func.output
    assert "len was called" not in sneaky.output  # no __len__ of a user class
    assert len(sneaky.output) < 3_000 and "more characters" in sneaky.output
    assert missing.exit_code == 1 and "No variable 'nope'" in missing.output


# --- python ------------------------------------------------------------------------------------


async def test_python_asks_with_the_code_and_a_deny_runs_nothing(
    make_session: Any, shell: InteractiveShell
) -> None:
    code = "created_by_agent = 42"
    session = make_session([turn("", ("python", {"code": code})), turn("ok")])
    add_all(session, shell)
    asked = answer(session, False)
    events = record(session)
    await session.send_async("make a variable")
    assert [(a.tool_name, a.args) for a in asked] == [("python", {"code": code})]
    assert "created_by_agent" not in shell.user_ns
    assert tool_ends(events)[0].exit_code != 0


async def test_python_runs_in_the_user_namespace_once_approved(
    make_session: Any, shell: InteractiveShell
) -> None:
    shell.run_cell("base = 40", store_history=False)
    calls = [
        (
            "python",
            {
                "code": "import sys\nprint('hello')\nprint('warn', file=sys.stderr)\n"
                "total = base + 2\ntotal * 10"
            },
        ),
        ("python", {"code": "1 / 0"}),
        ("python", {"code": "def (:"}),
    ]
    session = make_session([turn("", c) for c in calls] + [turn("ok")], allow=["python"])
    add_all(session, shell)
    asked = answer(session, True)
    events = record(session)
    await session.send_async("compute")
    assert [a.args["code"] for a in asked] == [c[1]["code"] for c in calls]  # asks despite allow
    ok, div, syntax = tool_ends(events)
    assert ok.exit_code == 0
    assert "stdout:\nhello" in ok.output and "stderr:\nwarn" in ok.output
    assert "value (int):\n420" in ok.output
    assert shell.user_ns["total"] == 42  # the variable is the user's now
    assert div.exit_code == 1 and "ZeroDivisionError: division by zero" in div.output
    assert "\x1b[" not in div.output
    assert syntax.exit_code == 1 and "SyntaxError" in syntax.output
    # the code is in the event log through the call's arguments
    logged = [c.args for m in session.messages for c in m.tool_calls()]
    assert [a["code"] for a in logged] == [c[1]["code"] for c in calls]


async def test_python_without_a_shell_uses_exec(tmp_path: Path) -> None:
    from a3s_notebook.engine.tools import ToolContext

    ns: dict[str, Any] = {"n": 3}
    tool = PythonTool(lambda: ns)
    result = await tool.execute({"code": "m = n * 2\nprint('p')\nm + 1"}, ToolContext(tmp_path))
    assert result.exit_code == 0 and ns["m"] == 6
    assert "stdout:\np" in result.output and "value (int):\n7" in result.output
    bad = await tool.execute({"code": "raise ValueError('boom')"}, ToolContext(tmp_path))
    assert bad.exit_code == 1 and "ValueError: boom" in bad.output
    assert "notebook_tools.py" not in bad.output  # our own frames are dropped


async def test_python_timeout_interrupts_pure_python_code(tmp_path: Path) -> None:
    from a3s_notebook.engine.tools import ToolContext

    ns: dict[str, Any] = {}
    tool = PythonTool(lambda: ns, timeout=0.2)
    result = await tool.execute(
        {"code": "while True:\n    pass\nafter_loop = 1"}, ToolContext(tmp_path)
    )
    assert result.exit_code == 1 and "timed out after 0.2 s and was interrupted" in result.output
    assert "KeyboardInterrupt" in result.output and "after_loop" not in ns
    again = await tool.execute({"code": "x = 1"}, ToolContext(tmp_path))  # not left busy
    assert again.exit_code == 0 and ns["x"] == 1


async def test_a_cancelled_python_call_interrupts_the_code(tmp_path: Path) -> None:
    import threading

    from a3s_notebook.engine.tools import ToolContext

    started = threading.Event()
    ns: dict[str, Any] = {"started": started}
    tool = PythonTool(lambda: ns)
    task = asyncio.ensure_future(
        tool.execute(
            {"code": "started.set()\nwhile True:\n    pass\nafter_loop = 1"},
            ToolContext(tmp_path),
        )
    )
    await asyncio.to_thread(started.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the worker stops: the next call gets the tool (not "still running") once it has
    for _ in range(10_000):
        result = await tool.execute({"code": "y = 2"}, ToolContext(tmp_path))
        if result.exit_code == 0:
            break
        assert "still running" in result.output
        await asyncio.to_thread(lambda: None)
    assert ns.get("y") == 2 and "after_loop" not in ns


# --- notebook_read / notebook_edit -------------------------------------------------------------


def make_notebook(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title", id="intro"),
        nbformat.v4.new_code_cell(
            "x = 1\nprint(x)",
            id="load",
            execution_count=1,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")],
        ),
        nbformat.v4.new_code_cell(
            "x + 1",
            id="calc",
            execution_count=2,
            outputs=[
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "2"}, execution_count=2
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "plot()",
            id="plot",
            execution_count=3,
            outputs=[
                nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}),
                nbformat.v4.new_output(
                    "error", ename="NameError", evalue="name 'plot' is not defined", traceback=[]
                ),
            ],
            metadata={"tags": ["keep-me"]},
        ),
    ]
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return nb


def src(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def raw_block(cell: dict[str, Any]) -> str:
    """The cell's text as nbformat lays it out in the file (indent 1, sorted keys)."""
    text = json.dumps(cell, indent=1, sort_keys=True, ensure_ascii=False)
    return textwrap.indent(text, "  ")


def cells_json(path: Path) -> list[str]:
    return [json.dumps(c, sort_keys=True) for c in json.loads(path.read_text())["cells"]]


async def test_notebook_read_gives_ordered_cells_and_cuts_long_ones(
    make_session: Any, workspace: Path
) -> None:
    nb_path = workspace / "analysis.ipynb"
    nb = make_notebook(nb_path)
    nb.cells.append(nbformat.v4.new_code_cell("y = '" + "z" * 5_000 + "'", id="long"))
    nbformat.write(nb, str(nb_path))
    session = make_session(
        [
            turn("", ("notebook_read", {"file_path": "analysis.ipynb"})),
            turn("", ("notebook_read", {"file_path": "analysis.ipynb", "offset": 1, "limit": 1})),
            turn("", ("notebook_read", {"file_path": "../outside.ipynb"})),
            turn("done"),
        ],
        allow=["notebook_read"],
    )
    add_all(session, None)
    events = record(session)
    await session.send_async("read it")
    whole, one, outside = tool_ends(events)
    assert whole.output.startswith("analysis.ipynb: 5 cells (nbformat 4.")
    order = [whole.output.index(f"id={cid}") for cid in ("intro", "load", "calc", "plot", "long")]
    assert order == sorted(order)
    assert "--- cell 1 id=load [code] In[1]\nx = 1\nprint(x)\noutput:\n1" in whole.output
    assert "output:\n2" in whole.output
    assert "[image/png]" in whole.output and "NameError: name 'plot' is not defined" in whole.output
    assert "iVBORw0KGgo" not in whole.output
    assert "more characters" in whole.output and "z" * 2_500 not in whole.output
    assert "cell 1 id=load" in one.output and "id=calc" not in one.output
    assert "3 more cells (offset=2)" in one.output
    assert outside.exit_code == 1 and "Workspace boundary violation" in outside.output


async def test_notebook_read_without_a_file_reads_the_kernel_history(
    make_session: Any, shell: InteractiveShell
) -> None:
    ns = {"In": ["", "a = 1", "a + 1", "s = '" + "x" * 9000 + "'"], "Out": {2: 2}}
    session = make_session([turn("", ("notebook_read", {})), turn("done")], allow=["read"])
    session.add_tool(NotebookReadTool(lambda: ns))
    events = record(session)
    await session.send_async("history")
    (end,) = tool_ends(events)
    assert "kernel history: 3 inputs" in end.output
    assert "--- In[2]\na + 1\nOut[2]: 2" in end.output
    assert "more characters" in end.output
    empty = make_session([turn("", ("notebook_read", {})), turn("done")], allow=["read"])
    empty.add_tool(NotebookReadTool(dict))
    events = record(empty)
    await empty.send_async("history")
    assert tool_ends(events)[0].exit_code == 1


async def test_notebook_edit_changes_one_cell_and_keeps_the_rest_byte_for_byte(
    make_session: Any, workspace: Path
) -> None:
    nb_path = workspace / "analysis.ipynb"
    make_notebook(nb_path)
    original = cells_json(nb_path)
    before_text = nb_path.read_text()
    original_meta = json.loads(before_text)["metadata"]
    session = make_session(
        [
            turn(
                "",
                (
                    "notebook_edit",
                    {
                        "file_path": "analysis.ipynb",
                        "edit_mode": "replace",
                        "cell_id": "calc",
                        "new_source": "x + 2",
                    },
                ),
            ),
            turn("done"),
        ],
        allow=["notebook_edit"],
    )
    session.add_tool(NotebookEditTool())
    events = record(session)
    await session.send_async("edit")
    assert tool_ends(events)[0].exit_code == 0, tool_ends(events)[0].output
    after = cells_json(nb_path)
    assert after[:2] == original[:2] and after[3] == original[3]
    calc = json.loads(nb_path.read_text())["cells"][2]
    assert (calc["id"], src(calc), calc["outputs"], calc["execution_count"]) == (
        "calc",
        "x + 2",
        [],
        None,
    )
    assert json.loads(nb_path.read_text())["metadata"] == original_meta
    # the unchanged cells are the same bytes in the file, too
    before_cells = json.loads(before_text)["cells"]
    for cell in before_cells[:2] + before_cells[3:]:
        block = raw_block(cell)
        assert block in before_text and block in nb_path.read_text()


async def test_notebook_edit_inserts_and_deletes_by_index_and_id(
    make_session: Any, workspace: Path
) -> None:
    nb_path = workspace / "analysis.ipynb"
    make_notebook(nb_path)
    original = cells_json(nb_path)
    edits = [
        {
            "edit_mode": "insert",
            "cell_id": "load",
            "new_source": "## Notes",
            "cell_type": "markdown",
        },
        {"edit_mode": "insert", "index": 0, "new_source": "import pandas as pd"},
        {"edit_mode": "delete", "index": 5},
        {"edit_mode": "delete", "cell_id": "missing"},
        {"edit_mode": "replace", "index": 99, "new_source": "x"},
    ]
    session = make_session(
        [turn("", ("notebook_edit", {"file_path": "analysis.ipynb", **e})) for e in edits]
        + [turn("done")],
        allow=["notebook_edit"],
    )
    session.add_tool(NotebookEditTool())
    events = record(session)
    await session.send_async("edit")
    codes = [e.exit_code for e in tool_ends(events)]
    assert codes == [0, 0, 0, 1, 1]
    nb = json.loads(nb_path.read_text())
    assert [src(c) for c in nb["cells"]] == [
        "import pandas as pd",
        "# Title",
        "x = 1\nprint(x)",
        "## Notes",
        "x + 1",
    ]
    after = cells_json(nb_path)
    assert [after[1], after[2], after[4]] == original[:3]  # untouched cells kept whole
    assert len({c["id"] for c in nb["cells"]}) == 5
    nbformat.validate(nbformat.reads(nb_path.read_text(), as_version=4))


async def test_write_rules_cover_notebook_edit_and_the_workspace_is_enforced(
    make_session: Any, workspace: Path, tmp_path: Path
) -> None:
    nb_path = workspace / "analysis.ipynb"
    make_notebook(nb_path)
    before = nb_path.read_bytes()
    outside = tmp_path / "outside.ipynb"
    make_notebook(outside)
    outside_before = outside.read_bytes()
    edit = {"edit_mode": "delete", "index": 0}
    session = make_session(
        [
            turn("", ("notebook_edit", {"file_path": "analysis.ipynb", **edit})),
            turn("", ("notebook_edit", {"file_path": str(outside), **edit})),
            turn("done"),
        ],
        allow=["notebook_edit"],
        deny=["Write(*.ipynb)"],
    )
    session.add_tool(NotebookEditTool())
    events = record(session)
    await session.send_async("edit")
    assert all(e.exit_code != 0 for e in tool_ends(events))
    assert nb_path.read_bytes() == before and outside.read_bytes() == outside_before

    # without the deny rule the workspace boundary still refuses the outside file
    session2 = make_session(
        [turn("", ("notebook_edit", {"file_path": str(outside), **edit})), turn("done")],
        allow=["notebook_edit"],
    )
    session2.add_tool(NotebookEditTool())
    events = record(session2)
    await session2.send_async("edit")
    (end,) = tool_ends(events)
    assert end.exit_code == 1 and "Workspace boundary violation" in end.output
    assert outside.read_bytes() == outside_before


# --- propose_cell ------------------------------------------------------------------------------


async def test_propose_cell_reaches_set_next_input_and_runs_nothing(
    make_session: Any, shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposed: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        shell, "set_next_input", lambda text, replace=False: proposed.append((text, replace))
    )
    code = "proposed_var = sales.describe()"
    session = make_session([turn("", ("propose_cell", {"code": code})), turn("here you go")])
    tools = add_all(session, shell)
    asked = answer(session, False)
    await session.send_async("what next?")
    assert asked == []  # never asks: it runs nothing
    assert proposed == [(code, False)]
    assert "proposed_var" not in shell.user_ns
    propose = next(t for t in tools if isinstance(t, ProposeCellTool))
    assert propose.take_proposals() == [code] and propose.proposals == []


async def test_propose_cell_on_a_real_shell_fills_the_next_input(
    make_session: Any, shell: InteractiveShell
) -> None:
    session = make_session([turn("", ("propose_cell", {"code": "df.head()"})), turn("ok")])
    add_all(session, shell)
    await session.send_async("next?")
    assert shell.rl_next_input == "df.head()"
    shell.rl_next_input = None


# --- the magic ---------------------------------------------------------------------------------


def test_kernel_tools_magic_turns_the_tools_on_and_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "a3s_notebook")
    magics = sh.magics_manager.registry["A3sMagics"]
    magics._manager = None
    magics.current = None
    magics.sessions_dir = str(tmp_path / "sessions")
    magics.default_workspace = str(tmp_path / "ws")
    magics.default_model = "scripted/demo-fast"
    try:
        sh.run_line_magic("a3s_session", "new demo")
        sh.run_line_magic("a3s_session", "kernel-tools on")
        session = magics.current
        assert all(n in session.tools for n in KERNEL_TOOL_NAMES)
        sh.user_ns["frame_for_agent"] = pd.DataFrame({"a": [1, 2]})
        inspect_tool = session.tools.get("inspect")
        assert "frame_for_agent" in inspect_tool.namespace()
        sh.run_line_magic("a3s_session", "kernel-tools")
        assert "kernel tools in 'demo': inspect, python" in capsys.readouterr().out
        sh.run_line_magic("a3s_session", "kernel-tools off")
        assert not any(n in session.tools for n in KERNEL_TOOL_NAMES)
        sh.run_line_magic("a3s_session", "help")
        assert "kernel-tools [on|off]" in capsys.readouterr().out
    finally:
        sh.user_ns.pop("frame_for_agent", None)
        sh.run_line_magic("unload_ext", "a3s_notebook")


async def test_notebook_read_of_the_running_notebook_adds_its_saved_cells(tmp_path: Path) -> None:
    import nbformat

    from a3s_notebook.engine.tools import ToolContext

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('saved cell')")]
    path = tmp_path / "running.ipynb"
    nbformat.write(nb, path)
    # what Jupyter Server tells the kernel (JPY_SESSION_NAME, as IPython's __session__)
    ns = {"In": ["", "x = 1"], "Out": {}, "__session__": str(path)}
    tool = NotebookReadTool(lambda: ns)
    result = await tool.execute({}, ToolContext(tmp_path))
    assert "In[1]" in result.output and "saved cell" in result.output
    assert "saved file of the running notebook" in result.output
    # outside the workspace: named, not read
    inner = tmp_path / "ws"
    inner.mkdir()
    outside = await tool.execute({}, ToolContext(inner))
    assert "outside the workspace" in outside.output and "saved cell" not in outside.output


# --- rich output: what python displays shows in its row, not below the view ------------------

_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


async def test_python_figures_and_images_go_to_the_tool_row_and_the_log(
    make_session: Any, shell: InteractiveShell, tmp_path: Path
) -> None:
    from a3s_notebook.widgets import EventStream

    published: list[dict[str, Any]] = []
    original = shell.display_pub.publish

    def spy(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
        published.append(data)
        return original(data, metadata, *args, **kwargs)

    shell.display_pub.publish = spy  # what would reach the %%ask cell's output
    shell.user_ns["PNG"] = _PNG
    code = textwrap.dedent(
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from IPython.display import HTML, display
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("png")  # what the kernel's inline backend does
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        display(fig)
        plt.close(fig)
        display(HTML("<script>window.pwned = 1</script>"))
        class Picture:
            def _repr_png_(self):
                return PNG
            def __repr__(self):
                return "Picture()"
        Picture()
        """
    )
    session = make_session([turn("", ("python", {"code": code})), turn("done")])
    add_all(session, shell)
    answer(session, True)
    events = record(session)
    stream = EventStream(session)
    try:
        await session.send_async("plot it")
        (end,) = tool_ends(events)
        assert end.exit_code == 0, end.output
        assert end.media is not None
        assert [m["mime"] for m in end.media] == ["image/png", "image/png"], (
            end.output,
            [m["alt"] for m in end.media],
        )
        assert end.media[0]["alt"].startswith("<Figure size")
        assert end.media[1]["alt"] == "Picture()"
        assert end.media[1]["data"] == __import__("base64").b64encode(_PNG).decode()
        # the model is told what the user saw; the script is not an image and stays text
        assert "displayed to the user:" in end.output and "text/html" in end.output
        assert all("<script>" not in m["data"] for m in end.media)
        assert published == []  # nothing went below the view
        row = next(r for r in stream.transcript() if r["kind"] == "tool")
        assert row["media"] == end.media
        assert "2 images" in stream._markdown()
    finally:
        stream.close()
        del shell.display_pub.publish
    # the images are part of the log: a view attached later replays them
    logged = [e for _, e in session.log() if isinstance(e, ToolEnd)]
    assert logged[0].media == end.media
    again = EventStream(session)
    try:
        assert next(r for r in again.transcript() if r["kind"] == "tool")["media"] == end.media
    finally:
        again.close()


def test_media_checks_drop_what_is_not_a_clean_image() -> None:
    from a3s_notebook.engine.tools._media import (
        MAX_MEDIA,
        media_from_bundle,
        media_from_value,
        valid_media,
    )

    assert media_from_bundle({"text/html": "<b>x</b>", "text/plain": "x"}) is None
    assert media_from_bundle({"image/png": "not base64 !!"}) is None
    svg = media_from_bundle({"image/svg+xml": "<svg/>"})
    assert svg is not None and svg["data"] == "PHN2Zy8+"
    good = {"mime": "image/png", "data": "iVBORw0KGgo=", "alt": "a"}
    assert valid_media([good, {"mime": "text/html", "data": "PHM+"}, "junk"]) == [good]
    assert valid_media([{**good, "data": 'x" onerror="1'}]) is None
    assert valid_media([good] * 20) == [good] * MAX_MEDIA
    assert valid_media("nope") is None

    class Broken:
        def _repr_png_(self) -> bytes:
            raise RuntimeError("boom")

    assert media_from_value(Broken()) is None
