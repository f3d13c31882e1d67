"""The built-in tools: read, write, edit, patch, bash, grep, glob, ls, web_fetch and todo_write
(spec section 11; ``patch`` and ``web_fetch`` live in their own modules).

File work runs in a worker thread (``asyncio.to_thread``) so that a large read or search does
not stall the event loop that also drives the notebook front end. ``read`` and ``ls`` honour
``ToolContext.can_read``; ``write`` and ``edit`` refuse a file with more than one hard link
(another name for it may be outside the workspace) and check that on the very file they then
write, through one open file descriptor. Every tool keeps its state in
locals, so one instance can serve many concurrent calls.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from a3s_notebook.engine.tasks import Task, TaskStatus
from a3s_notebook.engine.tools._access import DENIED_REASON, ReadGate
from a3s_notebook.engine.tools._base import Tool, ToolContext, ToolResult
from a3s_notebook.engine.tools._bash import BashTool
from a3s_notebook.engine.tools._common import (
    BINARY_SNIFF_BYTES,
    MAX_READ_LINES,
    BuiltinTool,
    ToolFailure,
    get_bool,
    get_int,
    get_str,
    looks_binary,
    truncate_line,
)
from a3s_notebook.engine.tools._search import GlobTool, GrepTool
from a3s_notebook.engine.tools._workspace import canonical_workspace, resolve_in_workspace

__all__ = [
    "BashTool",
    "EditTool",
    "GlobTool",
    "GrepTool",
    "LsTool",
    "ReadTool",
    "TodoWriteTool",
    "WriteTool",
    "builtin_tools",
]


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _file_error(action: str, display: str, exc: OSError) -> ToolFailure:
    reason = exc.strerror or str(exc)
    return ToolFailure(f"Failed to {action} {display}: {reason}")


def _gate(ctx: ToolContext) -> ReadGate:
    return ReadGate(canonical_workspace(ctx.workspace), ctx.can_read, ctx.workspace)


def _refuse_read(action: str, display: str) -> ToolFailure:
    return ToolFailure(f"Refusing to {action} {display}: it is {DENIED_REASON}")


# O_NOFOLLOW: the path is already resolved, so a symlink here was swapped in since the check.
# O_NONBLOCK: opening a FIFO must fail or return at once, never wait for a reader.
_UPDATE_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open_for_update(path: Path, display: str, *, create: bool) -> tuple[BinaryIO, bool]:
    """Open a regular file with a single link for reading and rewriting; (handle, existed).

    The checks are made on the open descriptor (``fstat``), so the file written is the file
    checked. A missing file is created when ``create`` is true (parents included), else it is
    reported as not found.
    """
    existed = True
    try:
        fd = os.open(path, _UPDATE_FLAGS)
    except FileNotFoundError:
        if not create:
            raise ToolFailure(f"File not found: {display}") from None
        existed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, _UPDATE_FLAGS | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise _file_error("write", display, exc) from None
    except IsADirectoryError:
        raise ToolFailure(f"Path is a directory, not a file: {display}") from None
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ELOOP):
            raise ToolFailure(f"Not a regular file: {display}") from None
        raise _file_error("write", display, exc) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ToolFailure(f"Path is a directory, not a file: {display}")
        if not stat.S_ISREG(info.st_mode):
            raise ToolFailure(f"Not a regular file: {display}")
        if info.st_nlink > 1:
            raise ToolFailure(
                f"refusing to write {display}: it has {info.st_nlink} hard links, one of which "
                "may lead outside the workspace"
            )
        return os.fdopen(fd, "r+b"), existed
    except BaseException:
        os.close(fd)
        raise


def _rewrite(handle: BinaryIO, data: bytes, display: str) -> None:
    """Replace the whole content of the open file with ``data``."""
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(data)
        handle.flush()
    except OSError as exc:
        raise _file_error("write", display, exc) from None


# ---------------------------------------------------------------------------------------- read


class ReadTool(BuiltinTool):
    """``read {file_path*, offset, limit}``: a text file with ``cat -n`` style line numbers."""

    def __init__(self) -> None:
        super().__init__(
            "read",
            "Read a text file from the workspace. Returns lines numbered like `cat -n`. "
            "Use offset (0-based line) and limit "
            f"(at most {MAX_READ_LINES} lines) for large files.",
            _schema(
                {
                    "file_path": {
                        "type": "string",
                        "description": "Path of the file, relative to the workspace or absolute.",
                    },
                    "offset": {
                        "type": "integer",
                        "description": "0-based line to start from. Default 0.",
                    },
                    "limit": {
                        "type": "integer",
                        "description": f"Number of lines to read. Default and maximum "
                        f"{MAX_READ_LINES}.",
                    },
                },
                ["file_path"],
            ),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Read the requested window of the file."""
        file_path = get_str(args, "file_path")
        offset = get_int(args, "offset", 0, minimum=0)
        limit = min(get_int(args, "limit", MAX_READ_LINES, minimum=1), MAX_READ_LINES)
        return await asyncio.to_thread(self._read, ctx, file_path, offset, limit)

    def _read(self, ctx: ToolContext, file_path: str, offset: int, limit: int) -> ToolResult:
        path = resolve_in_workspace(ctx.workspace, file_path, self.name)
        if not _gate(ctx).allows(file_path, str(path)):
            raise _refuse_read("read", file_path)
        if path.is_dir():
            raise ToolFailure(f"Path is a directory, not a file: {file_path} (use ls to list it)")
        if path.exists() and not path.is_file():
            # A FIFO or device would block the worker thread forever on open or read.
            raise ToolFailure(f"Not a regular file: {file_path}")
        lines: list[str] = []
        total = 0
        try:
            with path.open("rb") as handle:
                if looks_binary(handle.read(BINARY_SNIFF_BYTES)):
                    raise ToolFailure(f"Cannot read binary file: {file_path}")
                handle.seek(0)
                # Stream line by line: a multi-gigabyte log must not be loaded to show 2000 lines.
                for raw in handle:
                    if offset <= total < offset + limit:
                        text = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r")
                        lines.append(f"{total + 1:>6}\t{truncate_line(text)}")
                    total += 1
        except FileNotFoundError:
            raise ToolFailure(f"File not found: {file_path}") from None
        except OSError as exc:
            raise _file_error("read", file_path, exc) from None
        if total == 0:
            return ToolResult(name=self.name, output="(empty file)", metadata={"total_lines": 0})
        if offset >= total:
            return ToolResult(
                name=self.name,
                output=f"(offset {offset} is past the end of the file: {total} lines)",
                metadata={"total_lines": total},
            )
        output = "\n".join(lines)
        shown_end = offset + len(lines)
        if shown_end < total:
            output += (
                f"\n\n[showing lines {offset + 1}-{shown_end} of {total}; "
                f"use offset={shown_end} to read more]"
            )
        return ToolResult(name=self.name, output=output, metadata={"total_lines": total})


# --------------------------------------------------------------------------------------- write


class WriteTool(BuiltinTool):
    """``write {file_path*, content*}``: create or overwrite a file, creating parent directories.

    ``metadata["old_content"]`` (None for a new file) and ``metadata["new_content"]`` let an
    approval view show a diff. An existing file with more than one hard link is refused.
    """

    def __init__(self) -> None:
        super().__init__(
            "write",
            "Write a file in the workspace, replacing it if it exists. Parent directories are "
            "created as needed.",
            _schema(
                {
                    "file_path": {
                        "type": "string",
                        "description": "Path of the file, relative to the workspace or absolute.",
                    },
                    "content": {"type": "string", "description": "The complete new content."},
                },
                ["file_path", "content"],
            ),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Write the file."""
        file_path = get_str(args, "file_path")
        content = get_str(args, "content")
        return await asyncio.to_thread(self._write, ctx.workspace, file_path, content)

    def _write(self, workspace: Path, file_path: str, content: str) -> ToolResult:
        path = resolve_in_workspace(workspace, file_path, self.name)
        data = content.encode("utf-8")
        handle, existed = _open_for_update(path, file_path, create=True)
        with handle:
            old: str | None = None
            if existed:
                try:
                    # Shown in a diff only: undecodable bytes become U+FFFD, the write goes on.
                    old = handle.read().decode("utf-8", errors="replace")
                except OSError as exc:
                    raise _file_error("read", file_path, exc) from None
            # Bytes, not text mode: the model's line endings are written as given.
            _rewrite(handle, data, file_path)
        return ToolResult(
            name=self.name,
            output=f"Wrote {len(data)} bytes to {file_path}",
            metadata={"file_path": str(path), "old_content": old, "new_content": content},
        )


# ---------------------------------------------------------------------------------------- edit


class EditTool(BuiltinTool):
    """``edit {file_path*, old_string*, new_string*, replace_all}``: exact string replacement.

    ``old_string`` must occur exactly once unless ``replace_all`` is true, so that an edit never
    lands somewhere the model did not mean. A file with more than one hard link is refused.
    """

    def __init__(self) -> None:
        super().__init__(
            "edit",
            "Replace an exact string in a file. old_string must match exactly once (include "
            "surrounding lines to make it unique) unless replace_all is true.",
            _schema(
                {
                    "file_path": {
                        "type": "string",
                        "description": "Path of the file, relative to the workspace or absolute.",
                    },
                    "old_string": {"type": "string", "description": "Exact text to replace."},
                    "new_string": {"type": "string", "description": "Replacement text."},
                    "replace_all": {
                        "type": "boolean",
                        "description": "Replace every occurrence. Default false.",
                    },
                },
                ["file_path", "old_string", "new_string"],
            ),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Apply the replacement."""
        file_path = get_str(args, "file_path")
        old_string = get_str(args, "old_string")
        new_string = get_str(args, "new_string")
        replace_all = get_bool(args, "replace_all", False)
        if old_string == "":
            raise ToolFailure("old_string must not be empty")
        if old_string == new_string:
            raise ToolFailure("old_string and new_string are identical; nothing to change")
        return await asyncio.to_thread(
            self._edit, ctx.workspace, file_path, old_string, new_string, replace_all
        )

    def _edit(
        self, workspace: Path, file_path: str, old: str, new: str, replace_all: bool
    ) -> ToolResult:
        path = resolve_in_workspace(workspace, file_path, self.name)
        handle, _existed = _open_for_update(path, file_path, create=False)
        with handle:
            return self._apply(handle, file_path, str(path), old, new, replace_all)

    def _apply(
        self,
        handle: BinaryIO,
        file_path: str,
        resolved: str,
        old: str,
        new: str,
        replace_all: bool,
    ) -> ToolResult:
        try:
            data = handle.read()
        except OSError as exc:
            raise _file_error("read", file_path, exc) from None
        if looks_binary(data):
            raise ToolFailure(f"Cannot edit binary file: {file_path}")
        try:
            # Strict decoding: a lossy round trip would silently corrupt the untouched bytes.
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolFailure(f"Cannot edit {file_path}: it is not valid UTF-8 text") from None
        count = text.count(old)
        if count == 0:
            raise ToolFailure(f"old_string not found in {file_path}")
        if count > 1 and not replace_all:
            raise ToolFailure(
                f"old_string found {count} times in {file_path}; "
                "set replace_all or add context to make it unique"
            )
        updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        _rewrite(handle, updated.encode("utf-8"), file_path)
        noun = "occurrence" if count == 1 else "occurrences"
        return ToolResult(
            name=self.name,
            output=f"Edited {file_path}: replaced {count} {noun}",
            metadata={
                "file_path": resolved,
                "old_content": text,
                "new_content": updated,
                "replacements": count,
            },
        )


# ------------------------------------------------------------------------------------------ ls


class LsTool(BuiltinTool):
    """``ls {path}``: a directory's entries, sorted, directories with a trailing ``/``."""

    def __init__(self) -> None:
        super().__init__(
            "ls",
            "List a directory in the workspace. Directories end with '/'.",
            _schema(
                {
                    "path": {
                        "type": "string",
                        "description": "Directory to list, relative to the workspace. Default '.'.",
                    }
                },
                [],
            ),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """List the directory."""
        path = get_str(args, "path", ".")
        return await asyncio.to_thread(self._ls, ctx, path)

    def _ls(self, ctx: ToolContext, given: str) -> ToolResult:
        path = resolve_in_workspace(ctx.workspace, given, self.name)
        gate = _gate(ctx)
        if path.is_dir() and not gate.allows(given, str(path)):
            raise _refuse_read("list", given)
        try:
            children = list(path.iterdir())
        except FileNotFoundError:
            raise ToolFailure(f"Directory not found: {given}") from None
        except NotADirectoryError:
            raise ToolFailure(f"Not a directory: {given}") from None
        except OSError as exc:
            raise _file_error("list", given, exc) from None
        entries = []
        hidden = 0
        for child in children:
            if not gate.allows(child):
                hidden += 1
                continue
            try:
                is_dir = child.is_dir()
            except OSError:
                is_dir = False
            entries.append(child.name + ("/" if is_dir else ""))
        entries.sort()
        if entries:
            output = "\n".join(entries)
        else:
            output = "(no entries shown)" if hidden else "(empty directory)"
        if hidden:
            noun = "entry" if hidden == 1 else "entries"
            output += f"\n\n[{hidden} {noun} left out: {DENIED_REASON}]"
        return ToolResult(
            name=self.name, output=output, metadata={"count": len(entries), "skipped": hidden}
        )


# ---------------------------------------------------------------------------------- todo_write

# Summary order: what is happening now first, then what is left, then what is over.
_STATUS_WORDS: tuple[tuple[TaskStatus, str], ...] = (
    (TaskStatus.IN_PROGRESS, "in progress"),
    (TaskStatus.COMPLETED, "completed"),
    (TaskStatus.PENDING, "pending"),
    (TaskStatus.FAILED, "failed"),
    (TaskStatus.SKIPPED, "skipped"),
    (TaskStatus.CANCELLED, "cancelled"),
)


class TodoWriteTool(BuiltinTool):
    """``todo_write {todos*}``: replace the session's task list.

    Items are parsed leniently (``done`` means completed, unknown priorities mean medium, see
    :mod:`a3s_notebook.engine.tasks`); an item without an id or content is rejected with its
    index, and nothing is stored.
    """

    def __init__(self) -> None:
        super().__init__(
            "todo_write",
            "Replace your task list. Send the complete list each time; keep one task "
            "in_progress while working on it and mark tasks completed when done.",
            _schema(
                {
                    "todos": {
                        "type": "array",
                        "description": "The complete task list.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "content": {"type": "string"},
                                "status": {
                                    "type": "string",
                                    "enum": [s.value for s in TaskStatus],
                                },
                                "priority": {"type": "string", "enum": ["high", "medium", "low"]},
                            },
                            "required": ["id", "content"],
                        },
                    }
                },
                ["todos"],
            ),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Validate the list and hand it to the session."""
        raw = args.get("todos")
        if not isinstance(raw, list):
            raise ToolFailure("Argument 'todos' must be an array")
        tasks = [_parse_todo(index, item) for index, item in enumerate(raw)]
        seen: dict[str, int] = {}
        for index, task in enumerate(tasks):
            if task.id in seen:
                raise ToolFailure(
                    f"Invalid todo at index {index}: field 'id' duplicates the id "
                    f"'{task.id}' of index {seen[task.id]}"
                )
            seen[task.id] = index
        if ctx.set_tasks is not None:
            ctx.set_tasks(tasks)
        return ToolResult(
            name=self.name,
            output=_summary(tasks),
            metadata={"tasks": [task.model_dump(mode="json") for task in tasks]},
        )


def _parse_todo(index: int, item: object) -> Task:
    if not isinstance(item, dict):
        raise ToolFailure(f"Invalid todo at index {index}: expected an object")
    # Task's id validator stringifies anything, so null or a nested value would become an id
    # like "None"; only strings and integers are ids.
    raw_id = item.get("id")
    if raw_id is None:
        raise ToolFailure(f"Invalid todo at index {index}: field 'id' is required")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise ToolFailure(f"Invalid todo at index {index}: field 'id' must be a string")
    try:
        task = Task.model_validate(item)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "?"
        raise ToolFailure(
            f"Invalid todo at index {index}: field '{field}': {first['msg']}"
        ) from None
    if not task.content.strip():
        raise ToolFailure(f"Invalid todo at index {index}: field 'content' must not be empty")
    if not task.id.strip():
        raise ToolFailure(f"Invalid todo at index {index}: field 'id' must not be empty")
    return task


def _summary(tasks: list[Task]) -> str:
    counts = Counter(task.status for task in tasks)
    noun = "task" if len(tasks) == 1 else "tasks"
    parts = [f"{counts[status]} {word}" for status, word in _STATUS_WORDS if counts[status]]
    suffix = f" ({', '.join(parts)})" if parts else ""
    return f"Updated {len(tasks)} {noun}{suffix}"


def builtin_tools() -> list[Tool]:
    """Fresh instances of the 10 built-in tools, in the reference's registration order.

    ``web_search`` is not among them: it needs a search backend the user names
    (``SessionConfig.web_search``), and the session registers it then.
    """
    # imported here: patch builds on this module's file helpers (a top-level import would
    # be circular)
    from a3s_notebook.engine.tools._patch import PatchTool
    from a3s_notebook.engine.tools._web import WebFetchTool

    return [
        ReadTool(),
        WriteTool(),
        EditTool(),
        PatchTool(),
        BashTool(),
        GrepTool(),
        GlobTool(),
        LsTool(),
        WebFetchTool(),
        TodoWriteTool(),
    ]
