"""Built-in tools, the workspace boundary and the tool registry (spec section 11)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine.tasks import Task, TaskPriority, TaskStatus
from a3s_notebook.engine.tools import (
    DEFAULT_BASH_TIMEOUT_MS,
    MAX_LINE_LENGTH,
    MAX_OUTPUT_SIZE,
    MAX_READ_LINES,
    BashTool,
    EditTool,
    GlobTool,
    GrepTool,
    LsTool,
    ReadTool,
    TodoWriteTool,
    Tool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    WorkspaceViolation,
    WriteTool,
    default_registry,
    resolve_in_workspace,
    truncate_output,
)
from a3s_notebook.llm.types import ToolDefinition

# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace holding a secret."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text("TOP SECRET\n")
    return directory


@pytest.fixture
def ctx(ws: Path) -> ToolContext:
    return ToolContext(workspace=ws)


def violation(tool: str, path: str, ws: Path) -> str:
    return (
        f"Workspace boundary violation: tool '{tool}' path '{path}' "
        f"escapes workspace '{ws.resolve()}'"
    )


def process_gone(pid: int, wait_s: float = 3.0) -> bool:
    """True once ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


async def wait_for_file(path: Path, wait_s: float = 5.0) -> str:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


# ---------------------------------------------------------------------------------------- read


async def test_read_numbers_lines_like_cat_n(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("one\ntwo\n")
    result = await ReadTool().execute({"file_path": "f.txt"}, ctx)
    assert result.exit_code == 0
    assert result.name == "read"
    assert result.output == "     1\tone\n     2\ttwo"


async def test_read_offset_and_limit(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("".join(f"line{i}\n" for i in range(1, 11)))
    result = await ReadTool().execute({"file_path": "f.txt", "offset": 2, "limit": 3}, ctx)
    lines = result.output.splitlines()
    assert lines[:3] == ["     3\tline3", "     4\tline4", "     5\tline5"]
    assert "of 10" in result.output and "offset=5" in result.output
    assert result.metadata["total_lines"] == 10


async def test_read_caps_at_max_read_lines(ws: Path, ctx: ToolContext) -> None:
    (ws / "big.txt").write_text("x\n" * 2500)
    result = await ReadTool().execute({"file_path": "big.txt", "limit": 5000}, ctx)
    numbered = [line for line in result.output.splitlines() if "\t" in line]
    assert len(numbered) == MAX_READ_LINES == 2000
    assert "use offset=2000" in result.output


async def test_read_truncates_long_lines(ws: Path, ctx: ToolContext) -> None:
    (ws / "long.txt").write_text("a" * 5000 + "\nshort\n")
    result = await ReadTool().execute({"file_path": "long.txt"}, ctx)
    first, second = result.output.splitlines()
    shown = first.split("\t", 1)[1]
    assert MAX_LINE_LENGTH == 2000
    assert shown.startswith("a" * 2000) and not shown.startswith("a" * 2001)
    assert "truncated" in shown
    assert second == "     2\tshort"


async def test_read_errors(ws: Path, ctx: ToolContext) -> None:
    missing = await ReadTool().execute({"file_path": "nope.txt"}, ctx)
    assert missing.is_error and "nope.txt" in missing.output

    (ws / "blob.bin").write_bytes(b"\x89PNG\x00\x01\x02")
    binary = await ReadTool().execute({"file_path": "blob.bin"}, ctx)
    assert binary.is_error and "binary" in binary.output

    (ws / "dir").mkdir()
    directory = await ReadTool().execute({"file_path": "dir"}, ctx)
    assert directory.is_error and "directory" in directory.output

    bad_offset = await ReadTool().execute({"file_path": "blob.bin", "offset": -1}, ctx)
    assert bad_offset.is_error and "offset" in bad_offset.output


async def test_read_empty_file_and_offset_past_end(ws: Path, ctx: ToolContext) -> None:
    (ws / "empty.txt").write_text("")
    assert (await ReadTool().execute({"file_path": "empty.txt"}, ctx)).output == "(empty file)"
    (ws / "f.txt").write_text("a\n")
    past = await ReadTool().execute({"file_path": "f.txt", "offset": 9}, ctx)
    assert past.exit_code == 0 and "past the end" in past.output


async def test_read_crlf_and_invalid_utf8(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_bytes(b"a\r\nb\xff\n")
    result = await ReadTool().execute({"file_path": "f.txt"}, ctx)
    assert result.output == "     1\ta\n     2\tb\ufffd"


# --------------------------------------------------------------------------------------- write


async def test_write_creates_parents_and_reports_contents(ws: Path, ctx: ToolContext) -> None:
    result = await WriteTool().execute({"file_path": "a/b/c.txt", "content": "héllo"}, ctx)
    assert result.exit_code == 0
    assert result.output == "Wrote 6 bytes to a/b/c.txt"
    assert (ws / "a/b/c.txt").read_text() == "héllo"
    assert result.metadata["old_content"] is None
    assert result.metadata["new_content"] == "héllo"

    again = await WriteTool().execute({"file_path": "a/b/c.txt", "content": "bye"}, ctx)
    assert again.metadata["old_content"] == "héllo"
    assert again.metadata["new_content"] == "bye"
    assert (ws / "a/b/c.txt").read_text() == "bye"


async def test_write_keeps_line_endings_and_rejects_directories(ws: Path, ctx: ToolContext) -> None:
    await WriteTool().execute({"file_path": "crlf.txt", "content": "a\r\nb\r\n"}, ctx)
    assert (ws / "crlf.txt").read_bytes() == b"a\r\nb\r\n"
    (ws / "d").mkdir()
    result = await WriteTool().execute({"file_path": "d", "content": "x"}, ctx)
    assert result.is_error and "directory" in result.output


# ---------------------------------------------------------------------------------------- edit


async def test_edit_unique_match(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.py").write_text("x = 1\ny = 2\n")
    args = {"file_path": "f.py", "old_string": "y = 2", "new_string": "y = 3"}
    result = await EditTool().execute(args, ctx)
    assert result.exit_code == 0
    assert "replaced 1 occurrence" in result.output
    assert (ws / "f.py").read_text() == "x = 1\ny = 3\n"
    assert result.metadata["old_content"] == "x = 1\ny = 2\n"
    assert result.metadata["new_content"] == "x = 1\ny = 3\n"


async def test_edit_not_found(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.py").write_text("x = 1\n")
    args = {"file_path": "f.py", "old_string": "nothing", "new_string": "y"}
    result = await EditTool().execute(args, ctx)
    assert result.is_error and "not found" in result.output
    assert (ws / "f.py").read_text() == "x = 1\n"


async def test_edit_multiple_matches_need_replace_all(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.py").write_text("a a a\n")
    args: dict[str, Any] = {"file_path": "f.py", "old_string": "a", "new_string": "b"}
    result = await EditTool().execute(args, ctx)
    assert result.is_error
    assert "found 3 times" in result.output
    assert "set replace_all or add context to make it unique" in result.output
    assert (ws / "f.py").read_text() == "a a a\n"

    result = await EditTool().execute({**args, "replace_all": True}, ctx)
    assert result.exit_code == 0 and "replaced 3 occurrences" in result.output
    assert (ws / "f.py").read_text() == "b b b\n"


async def test_edit_other_errors(ws: Path, ctx: ToolContext) -> None:
    missing = await EditTool().execute(
        {"file_path": "nope.py", "old_string": "a", "new_string": "b"}, ctx
    )
    assert missing.is_error and "nope.py" in missing.output
    (ws / "f.py").write_text("a\n")
    empty = await EditTool().execute(
        {"file_path": "f.py", "old_string": "", "new_string": "b"}, ctx
    )
    assert empty.is_error and "empty" in empty.output
    (ws / "latin1.txt").write_bytes(b"caf\xe9\n")
    undecodable = await EditTool().execute(
        {"file_path": "latin1.txt", "old_string": "caf", "new_string": "tea"}, ctx
    )
    assert undecodable.is_error and "UTF-8" in undecodable.output
    assert (ws / "latin1.txt").read_bytes() == b"caf\xe9\n"


# ---------------------------------------------------------------------------------------- bash


async def test_bash_streams_output_chunks(ws: Path) -> None:
    chunks: list[str] = []
    ctx = ToolContext(workspace=ws, emit_output=chunks.append)
    result = await BashTool().execute(
        {"command": "echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three"}, ctx
    )
    assert result.exit_code == 0
    assert result.output == "one\ntwo\nthree\n"
    assert "".join(chunks) == result.output
    assert len(chunks) >= 2  # arrived as it was printed, not in one piece at the end
    assert result.metadata["exit_code"] == 0


async def test_bash_runs_in_workspace(ws: Path, ctx: ToolContext) -> None:
    result = await BashTool().execute({"command": "pwd"}, ctx)
    assert result.output.strip() == str(ws.resolve())


async def test_bash_nonzero_exit(ctx: ToolContext) -> None:
    result = await BashTool().execute({"command": "echo oops; exit 3"}, ctx)
    assert result.exit_code == 1
    assert result.metadata["exit_code"] == 3
    assert result.output == "oops\n[exit code 3]"


async def test_bash_timeout_kills_process_group(ws: Path, ctx: ToolContext) -> None:
    started = time.monotonic()
    result = await BashTool().execute(
        {"command": "echo before; sleep 5 & echo $! > pid.txt; wait", "timeout": 200}, ctx
    )
    assert time.monotonic() - started < 3
    assert result.is_error
    assert result.output.startswith("Command timed out after 200 ms")
    assert "before" in result.output
    assert result.metadata["timed_out"] is True
    assert process_gone(int((ws / "pid.txt").read_text()))


async def test_bash_cancellation_kills_process(ws: Path, ctx: ToolContext) -> None:
    task = asyncio.create_task(
        BashTool().execute({"command": "sleep 30 & echo $! > pid.txt; wait"}, ctx)
    )
    pid = int(await wait_for_file(ws / "pid.txt"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert process_gone(pid)


async def test_bash_does_not_wait_for_background_processes(ws: Path, ctx: ToolContext) -> None:
    started = time.monotonic()
    result = await BashTool().execute(
        {"command": "sleep 30 & echo $! > pid.txt; echo started"}, ctx
    )
    assert time.monotonic() - started < 5
    assert result.exit_code == 0 and result.output == "started\n"
    assert process_gone(int((ws / "pid.txt").read_text()))


async def test_bash_multibyte_split_across_reads(ws: Path) -> None:
    chunks: list[str] = []
    ctx = ToolContext(workspace=ws, emit_output=chunks.append)
    result = await BashTool().execute(
        {"command": r"printf '\xc3'; sleep 0.1; printf '\xa9\n'; printf 'bad \xff\n'"}, ctx
    )
    assert result.output == "é\nbad \ufffd\n"
    assert "".join(chunks) == result.output


async def test_bash_large_output_is_truncated_keeping_head_and_tail(ws: Path) -> None:
    chunks: list[str] = []
    ctx = ToolContext(workspace=ws, emit_output=chunks.append)
    command = "echo FIRST; head -c 300000 /dev/zero | tr '\\0' a; echo; echo LAST"
    result = await BashTool().execute({"command": command}, ctx)
    assert result.exit_code == 0
    assert len(result.output.encode()) <= MAX_OUTPUT_SIZE
    assert result.output.startswith("FIRST\n")
    assert result.output.rstrip().endswith("LAST")
    assert "output truncated" in result.output
    assert len("".join(chunks).encode()) <= MAX_OUTPUT_SIZE + 100  # streaming stops too


async def test_bash_failing_listener_still_kills_command(ws: Path) -> None:
    def broken(_text: str) -> None:
        raise RuntimeError("listener broke")

    ctx = ToolContext(workspace=ws, emit_output=broken)
    started = time.monotonic()
    result = await default_registry().execute(
        "bash", {"command": "echo $$ > pid.txt; echo hi; sleep 30"}, ctx
    )
    assert time.monotonic() - started < 5
    assert result.output == "Tool execution error: listener broke"
    assert process_gone(int((ws / "pid.txt").read_text()))


def test_bash_default_timeout() -> None:
    assert DEFAULT_BASH_TIMEOUT_MS == 120_000
    assert "timeout" in BashTool().parameters["properties"]


# ---------------------------------------------------------------------------------------- grep


@pytest.fixture
def tree(ws: Path) -> Path:
    (ws / "src").mkdir()
    (ws / "src/b.py").write_text("import os\nprint('Hello')\n")
    (ws / "src/a.py").write_text("x = 1\n# hello there\ny = 2\n")
    (ws / "notes.md").write_text("hello from markdown\n")
    for skipped in (".git", ".venv", "node_modules", "__pycache__"):
        (ws / skipped).mkdir()
        (ws / skipped / "hidden.py").write_text("hello hidden\n")
    (ws / "data.bin").write_bytes(b"hello\x00binary")
    return ws


async def test_grep_basic_sorted_ripgrep_format(tree: Path, ctx: ToolContext) -> None:
    result = await GrepTool().execute({"pattern": "hello"}, ctx)
    assert result.exit_code == 0
    assert result.output == "notes.md:1:hello from markdown\nsrc/a.py:2:# hello there"


async def test_grep_glob_filter_and_case_insensitive(tree: Path, ctx: ToolContext) -> None:
    result = await GrepTool().execute({"pattern": "hello", "glob": "*.py", "-i": True}, ctx)
    assert result.output == "src/a.py:2:# hello there\nsrc/b.py:2:print('Hello')"
    braces = await GrepTool().execute({"pattern": "hello", "glob": "*.{md,txt}"}, ctx)
    assert braces.output == "notes.md:1:hello from markdown"
    nested = await GrepTool().execute({"pattern": "x", "glob": "src/**/*.py"}, ctx)
    assert nested.output == "src/a.py:1:x = 1"


async def test_grep_context_lines(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("a\nb\nHIT\nc\nd\ne\nf\nHIT\ng\n")
    result = await GrepTool().execute({"pattern": "HIT", "context": 1}, ctx)
    assert result.output.splitlines() == [
        "f.txt-2-b",
        "f.txt:3:HIT",
        "f.txt-4-c",
        "--",
        "f.txt-7-f",
        "f.txt:8:HIT",
        "f.txt-9-g",
    ]


async def test_grep_path_and_errors(tree: Path, ctx: ToolContext) -> None:
    one_file = await GrepTool().execute({"pattern": "import", "path": "src/b.py"}, ctx)
    assert one_file.output == "src/b.py:1:import os"

    none = await GrepTool().execute({"pattern": "zzz_nothing"}, ctx)
    assert none.exit_code == 0 and none.output.startswith("No matches found")

    bad = await GrepTool().execute({"pattern": "("}, ctx)
    assert bad.is_error and "Invalid regex pattern '('" in bad.output

    missing = await GrepTool().execute({"pattern": "x", "path": "nowhere"}, ctx)
    assert missing.is_error and "nowhere" in missing.output


# ---------------------------------------------------------------------------------- glob & ls


async def test_glob(tree: Path, ctx: ToolContext) -> None:
    result = await GlobTool().execute({"pattern": "**/*.py"}, ctx)
    assert result.output == "src/a.py\nsrc/b.py"
    in_dir = await GlobTool().execute({"pattern": "*.py", "path": "src"}, ctx)
    assert in_dir.output == "src/a.py\nsrc/b.py"
    named = await GlobTool().execute({"pattern": ".venv/*.py"}, ctx)
    assert named.output == ".venv/hidden.py"
    none = await GlobTool().execute({"pattern": "*.rs"}, ctx)
    assert none.exit_code == 0 and none.output.startswith("No files found")


async def test_glob_refuses_patterns_leaving_the_workspace(
    ws: Path, outside: Path, ctx: ToolContext
) -> None:
    result = await GlobTool().execute({"pattern": "../*"}, ctx)
    assert result.is_error and result.output == violation("glob", "../*", ws)
    absolute = await GlobTool().execute({"pattern": f"{outside}/*"}, ctx)
    assert absolute.is_error
    (ws / "link").symlink_to(outside, target_is_directory=True)
    through_link = await GlobTool().execute({"pattern": "link/*"}, ctx)
    assert "secret" not in through_link.output


async def test_ls(ws: Path, ctx: ToolContext) -> None:
    (ws / "b.txt").write_text("")
    (ws / "a").mkdir()
    (ws / ".hidden").write_text("")
    result = await LsTool().execute({}, ctx)
    assert result.output == ".hidden\na/\nb.txt"
    empty = await LsTool().execute({"path": "a"}, ctx)
    assert empty.exit_code == 0 and "empty" in empty.output
    missing = await LsTool().execute({"path": "zz"}, ctx)
    assert missing.is_error and "zz" in missing.output


# ---------------------------------------------------------------------------------- todo_write


async def test_todo_write_sets_parsed_tasks(ws: Path) -> None:
    received: list[list[Task]] = []
    ctx = ToolContext(workspace=ws, set_tasks=received.append)
    todos = [
        {"id": "1", "content": "plan", "status": "done", "priority": "high"},
        {"id": 2, "content": "code", "status": "in_progress"},
        {"id": "3", "content": "test", "status": "pending", "priority": "low"},
    ]
    result = await TodoWriteTool().execute({"todos": todos}, ctx)
    assert result.exit_code == 0
    assert result.output == "Updated 3 tasks (1 in progress, 1 completed, 1 pending)"
    (tasks,) = received
    assert [t.id for t in tasks] == ["1", "2", "3"]
    assert [t.status for t in tasks] == [
        TaskStatus.COMPLETED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.PENDING,
    ]
    assert tasks[0].priority is TaskPriority.HIGH and tasks[1].priority is TaskPriority.MEDIUM
    assert result.metadata["tasks"][0]["status"] == "completed"


async def test_todo_write_rejects_bad_items(ws: Path) -> None:
    received: list[list[Task]] = []
    ctx = ToolContext(workspace=ws, set_tasks=received.append)
    tool = TodoWriteTool()
    no_content = await tool.execute({"todos": [{"id": "1", "content": "a"}, {"id": "2"}]}, ctx)
    assert no_content.is_error
    assert "index 1" in no_content.output and "content" in no_content.output
    not_object = await tool.execute({"todos": ["just text"]}, ctx)
    assert not_object.is_error and "index 0" in not_object.output
    null_id = await tool.execute({"todos": [{"id": None, "content": "a"}]}, ctx)
    assert null_id.is_error and "'id'" in null_id.output
    duplicate = await tool.execute(
        {"todos": [{"id": "1", "content": "a"}, {"id": "1", "content": "b"}]}, ctx
    )
    assert duplicate.is_error and "index 1" in duplicate.output
    assert received == []


async def test_todo_write_without_session_and_empty_list(ctx: ToolContext) -> None:
    result = await TodoWriteTool().execute({"todos": [{"id": "1", "content": "x"}]}, ctx)
    assert result.output == "Updated 1 task (1 pending)"
    cleared = await TodoWriteTool().execute({"todos": []}, ctx)
    assert cleared.output == "Updated 0 tasks"


# ---------------------------------------------------------------------------- workspace boundary


ESCAPES = ["../secret.txt", "a/../../secret.txt", "/etc/passwd"]


@pytest.mark.parametrize("path", ESCAPES)
@pytest.mark.parametrize(
    ("tool", "args"),
    [
        (ReadTool(), {}),
        (WriteTool(), {"content": "pwned"}),
        (EditTool(), {"old_string": "a", "new_string": "b"}),
    ],
    ids=["read", "write", "edit"],
)
async def test_file_tools_refuse_escapes(
    ws: Path, outside: Path, ctx: ToolContext, tool: Tool, args: dict[str, Any], path: str
) -> None:
    result = await tool.execute({"file_path": path, **args}, ctx)
    assert result.is_error
    assert result.output == violation(tool.name, path, ws)


@pytest.mark.parametrize("path", ["..", "a/../..", "/etc"])
@pytest.mark.parametrize(
    ("tool", "args"),
    [(LsTool(), {}), (GrepTool(), {"pattern": "x"}), (GlobTool(), {"pattern": "*"})],
    ids=["ls", "grep", "glob"],
)
async def test_directory_tools_refuse_escapes(
    ws: Path, ctx: ToolContext, tool: Tool, args: dict[str, Any], path: str
) -> None:
    result = await tool.execute({"path": path, **args}, ctx)
    assert result.output == violation(tool.name, path, ws)


async def test_symlink_to_outside_is_refused(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "link").symlink_to(outside, target_is_directory=True)

    read = await ReadTool().execute({"file_path": "link/secret.txt"}, ctx)
    assert read.output == violation("read", "link/secret.txt", ws)

    write = await WriteTool().execute({"file_path": "link/new.txt", "content": "x"}, ctx)
    assert write.output == violation("write", "link/new.txt", ws)
    assert not (outside / "new.txt").exists()

    deeper = await WriteTool().execute({"file_path": "link/sub/new.txt", "content": "x"}, ctx)
    assert deeper.is_error and not (outside / "sub").exists()

    listing = await LsTool().execute({"path": "link"}, ctx)
    assert listing.output == violation("ls", "link", ws)

    grep_link = await GrepTool().execute({"pattern": "SECRET", "path": "link"}, ctx)
    assert grep_link.output == violation("grep", "link", ws)


async def test_symlinked_file_to_outside_is_not_searched(
    ws: Path, outside: Path, ctx: ToolContext
) -> None:
    (ws / "innocent.txt").symlink_to(outside / "secret.txt")
    (ws / "dirlink").symlink_to(outside, target_is_directory=True)
    result = await GrepTool().execute({"pattern": "SECRET"}, ctx)
    assert "TOP SECRET" not in result.output
    read = await ReadTool().execute({"file_path": "innocent.txt"}, ctx)
    assert read.is_error and "Workspace boundary violation" in read.output


async def test_absolute_and_internal_paths_are_allowed(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("hi\n")
    (ws / "sub").mkdir()
    absolute = await ReadTool().execute({"file_path": str(ws / "f.txt")}, ctx)
    assert absolute.output == "     1\thi"
    dotted = await ReadTool().execute({"file_path": "sub/../f.txt"}, ctx)
    assert dotted.output == "     1\thi"
    (ws / "inlink").symlink_to(ws / "sub", target_is_directory=True)
    inside_link = await WriteTool().execute({"file_path": "inlink/x.txt", "content": "y"}, ctx)
    assert inside_link.exit_code == 0 and (ws / "sub/x.txt").read_text() == "y"


def test_resolve_in_workspace(tmp_path: Path, ws: Path) -> None:
    assert resolve_in_workspace(ws, "a/b.txt", "read") == ws.resolve() / "a/b.txt"
    assert resolve_in_workspace(ws, ".", "ls") == ws.resolve()
    with pytest.raises(WorkspaceViolation) as info:
        resolve_in_workspace(ws, "../x", "read")
    assert isinstance(info.value, ValueError)
    assert (info.value.tool, info.value.path) == ("read", "../x")
    # The message names the canonical workspace even when the session was given a symlink.
    alias = tmp_path / "alias"
    alias.symlink_to(ws, target_is_directory=True)
    assert resolve_in_workspace(alias, "f", "read") == ws.resolve() / "f"
    with pytest.raises(WorkspaceViolation, match=f"escapes workspace '{ws.resolve()}'"):
        resolve_in_workspace(alias, "../x", "read")
    with pytest.raises(WorkspaceViolation):
        resolve_in_workspace(ws, "a\0b", "read")


async def test_bash_is_not_path_checked(ws: Path, outside: Path, ctx: ToolContext) -> None:
    result = await BashTool().execute({"command": f"cat {outside}/secret.txt"}, ctx)
    assert result.output == "TOP SECRET\n"


# ---------------------------------------------------------------------------------- truncation


def test_truncate_output() -> None:
    assert MAX_OUTPUT_SIZE == 102400
    assert truncate_output("short") == "short"
    exact = "a" * MAX_OUTPUT_SIZE
    assert truncate_output(exact) == exact
    cut = truncate_output("é" * MAX_OUTPUT_SIZE)  # 2 bytes each: 200 KiB
    assert len(cut.encode()) <= MAX_OUTPUT_SIZE
    assert cut.startswith("éé") and "\ufffd" not in cut
    omitted = 2 * MAX_OUTPUT_SIZE - len(cut.split("\n\n[output")[0].encode())
    assert f"[output truncated: {omitted} of {2 * MAX_OUTPUT_SIZE} bytes omitted]" in cut


async def test_registry_truncates_long_output(ws: Path, ctx: ToolContext) -> None:
    (ws / "wide.txt").write_text(("y" * 150 + "\n") * 1500)  # ~226 KB of numbered lines
    result = await default_registry().execute("read", {"file_path": "wide.txt"}, ctx)
    assert result.exit_code == 0
    assert len(result.output.encode()) <= MAX_OUTPUT_SIZE
    assert "output truncated" in result.output
    assert result.output.startswith("     1\t")


async def test_grep_stops_at_output_limit(ws: Path, ctx: ToolContext) -> None:
    (ws / "many.txt").write_text("match this line please\n" * 10000)
    result = await GrepTool().execute({"pattern": "match"}, ctx)
    assert len(result.output.encode()) <= MAX_OUTPUT_SIZE
    assert "results truncated" in result.output and result.metadata["truncated"] is True


# ------------------------------------------------------------------------------------ registry


class _Boom:
    name = "boom"
    description = "raises"
    parameters: dict[str, Any] = {"type": "object", "properties": {}}

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raise RuntimeError("boom went wrong")


class _Echo:
    """Returns its arguments, to see what the registry passes on."""

    name = "Echo"
    description = "echo"
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "ratio": {"type": "number"},
            "tags": {"type": ["array", "null"]},
            "text": {"type": "string"},
        },
        "required": ["text"],
    }

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult(name="whatever", output=repr(sorted(args.items())))


def test_default_registry_contents() -> None:
    registry = default_registry()
    names = [
        "read",
        "write",
        "edit",
        "patch",
        "bash",
        "grep",
        "glob",
        "ls",
        "web_fetch",
        "todo_write",
    ]
    assert registry.names() == names
    assert len(registry) == 10
    definitions = registry.definitions()
    assert all(isinstance(d, ToolDefinition) for d in definitions)
    assert [d.name for d in definitions] == names
    read = definitions[0]
    assert read.parameters["required"] == ["file_path"]
    assert set(read.parameters["properties"]) == {"file_path", "offset", "limit"}
    for name in names:
        tool = registry.get(name)
        assert isinstance(tool, Tool)
        assert tool.description and tool.__doc__
    assert registry.get("READ") is registry.get("read")
    assert "Bash" in registry and registry.get("missing") is None
    # Each registry gets its own instances, so schemas are never shared between sessions.
    assert default_registry().get("read") is not registry.get("read")


async def test_registry_unknown_tool(ctx: ToolContext) -> None:
    result = await default_registry().execute("nope", {}, ctx)
    assert result.exit_code == 1
    assert result.output == (
        "Unknown tool: nope. Available tools: bash, edit, glob, grep, ls, patch, read, todo_write, "
        "web_fetch, write"
    )


async def test_registry_argument_checks(ctx: ToolContext) -> None:
    registry = default_registry()
    missing = await registry.execute("read", {}, ctx)
    assert missing.is_error
    assert missing.output == "Tool 'read' is missing required argument 'file_path'"
    null = await registry.execute("write", {"file_path": "x", "content": None}, ctx)
    assert null.output == "Tool 'write' is missing required argument 'content'"
    wrong = await registry.execute("read", {"file_path": 5}, ctx)
    assert wrong.output == "Tool 'read' argument 'file_path' must be of type string, got integer"
    boolean = await registry.execute("read", {"file_path": "x", "limit": True}, ctx)
    assert boolean.output == "Tool 'read' argument 'limit' must be of type integer, got boolean"
    not_object = await registry.execute("read", ["x"], ctx)  # type: ignore[arg-type]
    assert not_object.is_error and "JSON object" in not_object.output


async def test_registry_passes_cleaned_arguments(ctx: ToolContext) -> None:
    registry = ToolRegistry([_Echo()])
    result = await registry.execute(
        "echo", {"text": "t", "n": 3.0, "ratio": 1, "tags": None, "extra": None}, ctx
    )
    assert result.exit_code == 0
    assert result.name == "Echo"  # the registry names the result after the tool
    assert result.output == "[('n', 3.0), ('ratio', 1), ('text', 't')]"
    fractional = await registry.execute("echo", {"text": "t", "n": 2.5}, ctx)
    assert fractional.output.endswith("must be of type integer, got number")


async def test_registry_reports_tool_exceptions(ctx: ToolContext) -> None:
    registry = ToolRegistry()
    registry.register(_Boom())
    result = await registry.execute("boom", {}, ctx)
    assert result.exit_code == 1
    assert result.output == "Tool execution error: boom went wrong"


async def test_registry_register_replaces_and_unregisters() -> None:
    registry = default_registry()
    replacement = ReadTool()
    registry.register(replacement)
    assert registry.get("read") is replacement and len(registry) == 10
    assert registry.unregister("READ") and not registry.unregister("read")
    assert "read" not in registry.names()


async def test_tools_run_concurrently(ws: Path, ctx: ToolContext) -> None:
    for i in range(5):
        (ws / f"f{i}.txt").write_text(f"content {i}\n")
    registry = default_registry()
    calls = [registry.execute("read", {"file_path": f"f{i}.txt"}, ctx) for i in range(5)]
    calls.append(registry.execute("bash", {"command": "sleep 0.1; echo done"}, ctx))
    calls.append(registry.execute("grep", {"pattern": "content 3"}, ctx))
    results = await asyncio.gather(*calls)
    assert [r.output for r in results[:5]] == [f"     1\tcontent {i}" for i in range(5)]
    assert results[5].output == "done\n"
    assert results[6].output == "f3.txt:1:content 3"


async def test_bash_leaves_redirected_background_processes_alone(
    ws: Path, ctx: ToolContext
) -> None:
    result = await BashTool().execute(
        {"command": "sleep 30 > /dev/null 2>&1 & echo $! > pid.txt; echo ok"}, ctx
    )
    assert result.output == "ok\n"
    pid = int((ws / "pid.txt").read_text())
    try:
        assert not process_gone(pid, wait_s=0.2)
    finally:
        os.kill(pid, 9)


async def test_fifo_is_neither_read_nor_searched(ws: Path, ctx: ToolContext) -> None:
    os.mkfifo(ws / "pipe")
    (ws / "f.txt").write_text("needle\n")
    read = await asyncio.wait_for(ReadTool().execute({"file_path": "pipe"}, ctx), 5)
    assert read.is_error and "regular file" in read.output
    grep = await asyncio.wait_for(GrepTool().execute({"pattern": "needle"}, ctx), 5)
    assert grep.output == "f.txt:1:needle"
