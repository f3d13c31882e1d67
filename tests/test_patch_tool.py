"""The ``patch`` tool: unified diffs applied to real files, all or nothing, inside the workspace."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a3s_notebook.engine._diff import DiffError, apply_hunks, parse_diff, patch_targets
from a3s_notebook.engine.events import AgentEvent, ConfirmationRequired, ToolEnd
from a3s_notebook.engine.permissions import PermissionDecision, PermissionPolicy, suggest_rule
from a3s_notebook.engine.tools import ToolContext, default_registry
from a3s_notebook.engine.tools._patch import PatchTool

from .conftest import turn

ONE = """--- a/notes.md
+++ b/notes.md
@@ -1,3 +1,3 @@
 alpha
-beta
+BETA
 gamma
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.md").write_text("alpha\nbeta\ngamma\n")
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("x = 1\ny = 2\n")
    return root


async def run(ws: Path, **args: Any) -> Any:
    return await PatchTool().execute(args, ToolContext(workspace=ws))


async def test_one_file_by_headers(ws: Path) -> None:
    result = await run(ws, diff=ONE)
    assert not result.is_error, result.output
    assert (ws / "notes.md").read_text() == "alpha\nBETA\ngamma\n"
    assert result.output == "Patched 1 file: notes.md (+1 -1)"
    assert result.metadata["old_content"] == "alpha\nbeta\ngamma\n"
    assert result.metadata["new_content"] == "alpha\nBETA\ngamma\n"


async def test_file_path_without_headers_and_hunk_at_an_offset(ws: Path) -> None:
    (ws / "notes.md").write_text("intro\nmore\nalpha\nbeta\ngamma\n")
    diff = "@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n"
    result = await run(ws, diff=diff, file_path="notes.md")
    assert not result.is_error, result.output
    assert (ws / "notes.md").read_text() == "intro\nmore\nalpha\nBETA\ngamma\n"


async def test_several_files_create_and_delete(ws: Path) -> None:
    (ws / "old.txt").write_text("bye\n")
    diff = (
        ONE
        + "--- a/src/a.py\n+++ b/src/a.py\n@@ -1,2 +1,3 @@\n x = 1\n+z = 3\n y = 2\n"
        + "--- /dev/null\n+++ b/new/dir/c.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n"
        + "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    )
    assert patch_targets(diff) == ["notes.md", "src/a.py", "new/dir/c.txt", "old.txt"]
    result = await run(ws, diff=diff)
    assert not result.is_error, result.output
    assert (ws / "src/a.py").read_text() == "x = 1\nz = 3\ny = 2\n"
    assert (ws / "new/dir/c.txt").read_text() == "one\ntwo\n"
    assert not (ws / "old.txt").exists()
    assert "new/dir/c.txt (created)" in result.output
    assert "old.txt (deleted)" in result.output
    assert len(result.metadata["files"]) == 4


async def test_a_hunk_that_does_not_apply_changes_nothing(ws: Path) -> None:
    diff = ONE + "--- a/src/a.py\n+++ b/src/a.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 999\n+y = 3\n"
    diff += "--- /dev/null\n+++ b/created.txt\n@@ -0,0 +1 @@\n+hi\n"
    result = await run(ws, diff=diff)
    assert result.is_error
    assert "does not apply to src/a.py" in result.output
    assert "no file changed" in result.output
    assert (ws / "notes.md").read_text() == "alpha\nbeta\ngamma\n"
    assert (ws / "src/a.py").read_text() == "x = 1\ny = 2\n"
    assert not (ws / "created.txt").exists()


async def test_creating_an_existing_file_or_deleting_only_part_is_refused(ws: Path) -> None:
    exists = "--- /dev/null\n+++ b/notes.md\n@@ -0,0 +1 @@\n+x\n"
    result = await run(ws, diff=exists)
    assert result.is_error and "already exists" in result.output
    partial = "--- a/notes.md\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-alpha\n"
    result = await run(ws, diff=partial)
    assert result.is_error and "does not remove all of its lines" in result.output
    assert (ws / "notes.md").read_text() == "alpha\nbeta\ngamma\n"


async def test_crlf_and_missing_final_newline_are_kept(ws: Path) -> None:
    (ws / "win.txt").write_bytes(b"a\r\nb\r\nc\r\n")
    diff = "--- a/win.txt\n+++ b/win.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
    assert not (await run(ws, diff=diff)).is_error
    assert (ws / "win.txt").read_bytes() == b"a\r\nB\r\nc\r\n"
    (ws / "tail.txt").write_text("a\nb")
    diff = (
        "--- a/tail.txt\n+++ b/tail.txt\n@@ -1,2 +1,2 @@\n a\n-b\n"
        "\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
    )
    result = await run(ws, diff=diff)
    assert not result.is_error, result.output
    assert (ws / "tail.txt").read_text() == "a\nc"


@pytest.mark.parametrize(
    ("diff", "message"),
    [
        ("", "the diff is empty"),
        ("just some words\n", "unexpected text"),
        ("--- a/x\n+++ b/x\n", "no hunk"),
        ("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n", "has no lines"),
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nstray words\n", "unexpected text"),
        ("--- a/x\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n", "renames are not supported"),
        ("diff --git a/x b/y\nrename from x\nrename to y\n", "renames, copies and binary"),
    ],
)
def test_malformed_diffs(diff: str, message: str) -> None:
    with pytest.raises(DiffError, match=message):
        parse_diff(diff)


@pytest.mark.parametrize(
    "header",
    [
        "@@ -1,3 +1,3 @@",
        "@@ -1,9 +1,9 @@",
        "@@ -1 +1 @@",
        "@@ -7,3 +7,3 @@ def f():",
        "@@ @@",
        "@@",
    ],
)
async def test_wrong_or_missing_line_counts_are_tolerated(ws: Path, header: str) -> None:
    # models often miscount; the lines themselves say what changes
    diff = f"--- a/notes.md\n+++ b/notes.md\n{header}\n alpha\n-beta\n+BETA\n gamma\n\n"
    result = await run(ws, diff=diff)
    assert not result.is_error, result.output
    assert (ws / "notes.md").read_text() == "alpha\nBETA\ngamma\n"


def test_hunks_apply_in_order_with_shifts() -> None:
    text = "".join(f"{i}\n" for i in range(1, 21))
    diff = (
        "@@ -2,3 +2,4 @@\n 2\n+2.5\n 3\n 4\n"
        "@@ -10,3 +11,2 @@\n 10\n-11\n 12\n"
        "@@ -20 +20,2 @@\n 20\n+21\n"
    )
    (section,) = parse_diff(diff)
    out = apply_hunks(text, section, "f")
    assert out.splitlines() == [
        *map(str, range(1, 3)),
        "2.5",
        *map(str, range(3, 11)),
        *map(str, range(12, 22)),
    ]


# -- attacks: every path is checked like a write --------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["../outside.txt", "sub/../../outside.txt", "{outside}", "link_out/x.txt"],
)
async def test_paths_outside_the_workspace_are_refused(
    ws: Path, tmp_path: Path, target: str
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_text("keep\n")
    (ws / "link_out").symlink_to(tmp_path / "elsewhere")
    path = target.replace("{outside}", str(outside))
    diff = f"--- {path}\n+++ {path}\n@@ -1 +1 @@\n-keep\n+pwned\n"
    # listed first so the good file before it shows that nothing at all is written
    result = await run(ws, diff=ONE + diff)
    assert result.is_error
    assert "Workspace boundary violation: tool 'patch'" in result.output
    assert outside.read_text() == "keep\n"
    assert (tmp_path / "elsewhere" / "x.txt").read_text() == "keep\n"
    assert (ws / "notes.md").read_text() == "alpha\nbeta\ngamma\n"
    # the same through file_path
    result = await run(ws, diff="@@ -1 +1 @@\n-keep\n+pwned\n", file_path=path)
    assert result.is_error and outside.read_text() == "keep\n"


async def test_a_symlinked_file_pointing_out_is_refused(ws: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("keep\n")
    (ws / "innocent.txt").symlink_to(secret)
    result = await run(ws, diff="@@ -1 +1 @@\n-keep\n+pwned\n", file_path="innocent.txt")
    assert result.is_error and "Workspace boundary violation" in result.output
    assert secret.read_text() == "keep\n"


async def test_a_hard_link_is_refused(ws: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("keep\n")
    os.link(secret, ws / "linked.txt")
    result = await run(ws, diff="@@ -1 +1 @@\n-keep\n+pwned\n", file_path="linked.txt")
    assert result.is_error and "hard links" in result.output
    assert secret.read_text() == "keep\n"


@pytest.mark.parametrize("protected", [".env", ".git/config", "sub/.env.local", ".a3s/x.json"])
def test_protected_files_ask_even_when_edits_are_allowed(ws: Path, protected: str) -> None:
    policy = PermissionPolicy(allow=["Edit"])
    diff = ONE + f"--- a/{protected}\n+++ b/{protected}\n@@ -1 +1 @@\n-a\n+b\n"
    verdict = policy.evaluate("patch", {"diff": diff}, workspace=ws)
    assert verdict.decision is PermissionDecision.ASK
    assert verdict.rule is not None and verdict.rule.startswith("protected:")
    # the one-file form is judged on file_path
    one = policy.evaluate(
        "patch", {"diff": "@@ -1 +1 @@\n-a\n+b\n", "file_path": protected}, workspace=ws
    )
    assert one.decision is PermissionDecision.ASK


def test_every_file_must_be_allowed_and_one_deny_denies(ws: Path) -> None:
    diff = ONE + "--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    only_notes = PermissionPolicy(allow=["Edit(notes.md)"])
    assert only_notes.check("patch", {"diff": diff}, workspace=ws) is PermissionDecision.ASK
    both = PermissionPolicy(allow=["Edit(notes.md)", "Edit(src/**)"])
    verdict = both.evaluate("patch", {"diff": diff}, workspace=ws)
    assert verdict.decision is PermissionDecision.ALLOW
    assert verdict.rule == "Edit(notes.md), Edit(src/**)"
    deny_src = PermissionPolicy(allow=["Edit"], deny=["Write(src/**)"])
    assert deny_src.check("patch", {"diff": diff}, workspace=ws) is PermissionDecision.DENY
    # "always allow" offers the file's rule for a one-file patch, nothing for several
    assert suggest_rule("patch", {"diff": ONE}, workspace=ws) == "Edit(notes.md)"
    assert suggest_rule("patch", {"diff": diff}, workspace=ws) is None


async def test_through_a_session_a_protected_file_asks_and_others_apply(
    make_session: Any, workspace: Path
) -> None:
    (workspace / ".env").write_text("KEY=1\n")
    env_diff = "--- a/.env\n+++ b/.env\n@@ -1 +1 @@\n-KEY=1\n+KEY=2\n"
    hello_diff = "--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-hello world\n+hello patch\n"
    session = make_session(
        [
            turn("", ("patch", {"diff": hello_diff}), ("patch", {"diff": env_diff})),
            turn("done"),
        ],
        allow=["Edit"],
        timeout_ms=50,
    )
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    await session.send_async("patch them")
    assert (workspace / "hello.txt").read_text() == "hello patch\n"
    asked = [e for e in events if isinstance(e, ConfirmationRequired)]
    assert [e.tool_name for e in asked] == ["patch"]
    assert asked[0].args["diff"] == env_diff
    assert (workspace / ".env").read_text() == "KEY=1\n"  # nobody approved: timed out
    ends = [e for e in events if isinstance(e, ToolEnd)]
    assert ends[0].exit_code == 0 and ends[1].exit_code != 0


def test_patch_and_web_fetch_are_built_in() -> None:
    names = default_registry().names()
    assert "patch" in names and "web_fetch" in names and "web_search" not in names


def test_the_approval_card_shows_the_patched_file(ws: Path) -> None:
    from a3s_notebook.widgets._approvals import diff_for

    card = diff_for(ws, "patch", {"diff": ONE})
    assert card is not None
    assert card["kind"] == "edit" and card["path"] == "notes.md"
    assert card["old"] == "alpha\nbeta\ngamma\n" and card["new"] == "alpha\nBETA\ngamma\n"
    assert card["note"] is None
    several = ONE + "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+x\n"
    assert diff_for(ws, "patch", {"diff": several})["note"] == (
        "The patch also changes new.txt (not shown)."
    )
    created = diff_for(ws, "patch", {"diff": "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+x\n"})
    assert created is not None and created["new_file"] and created["new"] == "x\n"
    stale = diff_for(ws, "patch", {"diff": "@@ -1 +1 @@\n-nope\n+x\n", "file_path": "notes.md"})
    assert stale is not None and "does not apply" in stale["note"]
    assert diff_for(ws, "patch", {"diff": "garbage"}) is None
    outside = diff_for(ws, "patch", {"diff": "--- ../x\n+++ ../x\n@@ -1 +1 @@\n-a\n+b\n"})
    assert outside is None


_LINES = st.lists(st.sampled_from(["a", "b", "c", "", "  x", "def f():", "}"]), max_size=30)


@settings(max_examples=200, deadline=None)
@given(before=_LINES, after=_LINES, context=st.integers(0, 3))
def test_property_any_difflib_diff_applies(
    before: list[str], after: list[str], context: int
) -> None:
    old = "".join(line + "\n" for line in before)
    new = "".join(line + "\n" for line in after)
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), "a/f", "b/f", n=context
        )
    )
    if not diff:
        return
    (section,) = parse_diff(diff)
    assert apply_hunks(old, section, "f") == new
