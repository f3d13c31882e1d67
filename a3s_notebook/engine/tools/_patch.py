"""The ``patch`` tool: apply a unified diff to one or more workspace files, all or nothing.

Every file is resolved inside the workspace (``../`` and absolute paths outside it are
refused, symlinks resolved first), opened once and checked on that descriptor (a regular
file with a single hard link, valid UTF-8 text), and patched in memory. Only when every
hunk of every file applies are the files written; a failure while writing puts back what
was already written. The permission gate checks each file the diff names like a ``write``
of it (:func:`a3s_notebook.engine._diff.patch_targets`), so a protected file asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from a3s_notebook.engine._diff import DiffError, FilePatch, apply_hunks, parse_diff
from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._common import BuiltinTool, ToolFailure, get_str, looks_binary
from a3s_notebook.engine.tools._workspace import resolve_in_workspace
from a3s_notebook.engine.tools.builtin import _file_error, _open_for_update, _rewrite

__all__ = ["PatchTool"]


@dataclass
class _Plan:
    display: str
    path: Path
    section: FilePatch
    old: str
    new: str
    handle: BinaryIO | None = None
    done: bool = False


class PatchTool(BuiltinTool):
    """``patch {diff*, file_path}``: apply a unified diff (``diff -u`` / ``git diff`` format).

    With ``file_path`` the diff must change that one file (its headers may be left out);
    without it, the ``---``/``+++`` headers name the files (``a/``/``b/`` prefixes dropped,
    ``/dev/null`` to create or delete a file). Nothing changes unless every hunk applies.
    ``metadata["files"]`` lists each file's path, old and new content.
    """

    def __init__(self) -> None:
        super().__init__(
            "patch",
            "Apply a unified diff (the format of `diff -u` or `git diff`, with @@ hunks) to "
            "workspace files. Context and removed lines must match the file exactly. Give "
            "file_path to patch one file, or put ---/+++ headers in the diff for several. "
            "If any hunk does not apply, no file is changed.",
            {
                "type": "object",
                "properties": {
                    "diff": {"type": "string", "description": "The unified diff."},
                    "file_path": {
                        "type": "string",
                        "description": "The one file the diff changes (optional when the "
                        "diff has ---/+++ headers).",
                    },
                },
                "required": ["diff"],
            },
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Apply the diff."""
        diff = get_str(args, "diff")
        file_path = get_str(args, "file_path", "") or None
        return await asyncio.to_thread(self._patch, ctx.workspace, file_path, diff)

    def _patch(self, workspace: Path, file_path: str | None, diff: str) -> ToolResult:
        try:
            sections = parse_diff(diff)
        except DiffError as exc:
            raise ToolFailure(f"Invalid diff: {exc}") from None
        if file_path is not None and len(sections) != 1:
            raise ToolFailure(
                f"file_path is {file_path!r} but the diff changes {len(sections)} files; "
                "leave file_path out and name each file in ---/+++ headers"
            )
        plans: list[_Plan] = []
        try:
            for section in sections:
                display = file_path or section.target
                if display is None:
                    raise ToolFailure(
                        "the diff names no file: give file_path or start it with "
                        "'--- a/<path>' and '+++ b/<path>' lines"
                    )
                plans.append(self._prepare(workspace, display, section, plans))
            self._commit(plans)
        finally:
            for plan in plans:
                if plan.handle is not None:
                    plan.handle.close()
        return _result(self.name, plans)

    def _prepare(
        self, workspace: Path, display: str, section: FilePatch, earlier: list[_Plan]
    ) -> _Plan:
        path = resolve_in_workspace(workspace, display, self.name)
        if any(plan.path == path for plan in earlier):
            raise ToolFailure(f"the diff changes {display} twice; put all its hunks in one section")
        if section.creates:
            if os.path.lexists(path):
                raise ToolFailure(f"the diff creates {display}, but it already exists")
            plan = _Plan(display, path, section, "", "")
        else:
            handle, _existed = _open_for_update(path, display, create=False)
            plan = _Plan(display, path, section, "", "", handle=handle)
            try:
                data = handle.read()
            except OSError as exc:
                handle.close()
                raise _file_error("read", display, exc) from None
            if looks_binary(data):
                handle.close()
                raise ToolFailure(f"Cannot patch binary file: {display}")
            try:
                plan.old = data.decode("utf-8")
            except UnicodeDecodeError:
                handle.close()
                raise ToolFailure(f"Cannot patch {display}: it is not valid UTF-8 text") from None
        try:
            plan.new = apply_hunks(plan.old, section, display)
        except DiffError as exc:
            if plan.handle is not None:
                plan.handle.close()
            raise ToolFailure(f"Patch not applied, no file changed: {exc}") from None
        if section.deletes and plan.new:
            if plan.handle is not None:
                plan.handle.close()
            raise ToolFailure(
                f"the diff deletes {display} but does not remove all of its lines; no file changed"
            )
        return plan

    def _commit(self, plans: list[_Plan]) -> None:
        """Write every planned change; on a failure, undo the ones already made."""
        try:
            for plan in plans:
                if plan.section.creates:
                    handle, existed = _open_for_update(plan.path, plan.display, create=True)
                    plan.handle = handle
                    if existed:
                        raise ToolFailure(
                            f"{plan.display} appeared while patching; no file changed"
                        )
                    plan.done = True
                    _rewrite(handle, plan.new.encode("utf-8"), plan.display)
                elif plan.section.deletes:
                    _unlink_same(plan)
                    plan.done = True
                else:
                    assert plan.handle is not None
                    plan.done = True
                    _rewrite(plan.handle, plan.new.encode("utf-8"), plan.display)
        except BaseException:
            for plan in plans:
                if plan.done:
                    _undo(plan)
            raise


def _unlink_same(plan: _Plan) -> None:
    """Remove the file, after checking the path still names the file that was checked."""
    assert plan.handle is not None
    try:
        opened = os.fstat(plan.handle.fileno())
        now = os.lstat(plan.path)
    except OSError as exc:
        raise _file_error("delete", plan.display, exc) from None
    if (opened.st_dev, opened.st_ino) != (now.st_dev, now.st_ino):
        raise ToolFailure(f"{plan.display} changed while patching; no file changed")
    try:
        os.unlink(plan.path)
    except OSError as exc:
        raise _file_error("delete", plan.display, exc) from None


def _undo(plan: _Plan) -> None:
    """Best effort: put the file back as it was."""
    with contextlib.suppress(OSError, ToolFailure):
        if plan.section.creates:
            os.unlink(plan.path)
        elif plan.section.deletes:
            fd = os.open(plan.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
            with os.fdopen(fd, "wb") as handle:
                handle.write(plan.old.encode("utf-8"))
        elif plan.handle is not None:
            _rewrite(plan.handle, plan.old.encode("utf-8"), plan.display)


def _stat(old: str, new: str) -> str:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    # a cheap +/- count: lines of the new text not in the old one and the other way round
    old_set, new_set = set(old_lines), set(new_lines)
    added = sum(1 for line in new_lines if line not in old_set)
    removed = sum(1 for line in old_lines if line not in new_set)
    return f"+{added} -{removed}"


def _result(name: str, plans: list[_Plan]) -> ToolResult:
    parts = []
    for plan in plans:
        if plan.section.creates:
            parts.append(f"{plan.display} (created)")
        elif plan.section.deletes:
            parts.append(f"{plan.display} (deleted)")
        else:
            parts.append(f"{plan.display} ({_stat(plan.old, plan.new)})")
    noun = "file" if len(plans) == 1 else "files"
    files = [
        {
            "file_path": str(plan.path),
            "old_content": None if plan.section.creates else plan.old,
            "new_content": None if plan.section.deletes else plan.new,
        }
        for plan in plans
    ]
    metadata: dict[str, Any] = {"files": files}
    if len(files) == 1:
        metadata.update(files[0])
    return ToolResult(
        name=name, output=f"Patched {len(plans)} {noun}: {', '.join(parts)}", metadata=metadata
    )
