"""Pieces shared by the built-in tools: limits, output truncation, argument reading, base class."""

from __future__ import annotations

import abc
from typing import Any

from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._workspace import WorkspaceViolation

__all__ = [
    "BINARY_SNIFF_BYTES",
    "MAX_LINE_LENGTH",
    "MAX_OUTPUT_SIZE",
    "MAX_READ_LINES",
    "SKIP_DIRS",
    "BuiltinTool",
    "ToolFailure",
    "get_bool",
    "get_int",
    "get_str",
    "looks_binary",
    "truncate_line",
    "truncate_output",
    "truncation_marker",
]

MAX_OUTPUT_SIZE = 100 * 1024
"""Largest tool output, in UTF-8 bytes, handed back to the model (100 KiB)."""

MAX_READ_LINES = 2000
"""Most lines ``read`` returns in one call."""

MAX_LINE_LENGTH = 2000
"""Characters kept of one line by ``read`` and ``grep``; the rest is cut."""

BINARY_SNIFF_BYTES = 8192
"""How much of a file is inspected for NUL bytes to decide it is binary (as git and grep do)."""

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
    }
)
"""Directory names ``grep`` never descends into and ``glob`` leaves out unless named."""

# Room kept for the truncation marker so that the truncated text *including* the marker fits in
# the limit; the marker is well under this even with 20-digit numbers.
_MARKER_RESERVE = 128


def truncation_marker(omitted: int, total: int) -> str:
    """The text put where output was cut."""
    return f"\n\n[output truncated: {omitted} of {total} bytes omitted]\n"


def truncate_output(text: str, limit: int = MAX_OUTPUT_SIZE) -> str:
    """Cut ``text`` so that its UTF-8 encoding, marker included, is at most ``limit`` bytes.

    The head is kept: for file listings, search hits and file contents the first part is the
    one the model asked about. Text within the limit is returned unchanged.
    """
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    keep = max(0, limit - _MARKER_RESERVE)
    # errors="ignore" drops a multi-byte character split by the cut instead of inventing one.
    head = data[:keep].decode("utf-8", errors="ignore")
    omitted = len(data) - len(head.encode("utf-8"))
    return head + truncation_marker(omitted, len(data))


def truncate_line(line: str) -> str:
    """Cut one line to :data:`MAX_LINE_LENGTH` characters, saying so."""
    if len(line) <= MAX_LINE_LENGTH:
        return line
    return line[:MAX_LINE_LENGTH] + "... [line truncated]"


def looks_binary(head: bytes) -> bool:
    """True when the first bytes of a file contain a NUL, the usual sign of a binary file."""
    return b"\0" in head[:BINARY_SNIFF_BYTES]


class ToolFailure(Exception):
    """An expected failure of a tool; its message becomes the error result's output."""


def _absent(args: dict[str, Any], name: str) -> bool:
    # Models often send null for optional arguments they do not use; treat it as "not given".
    return args.get(name) is None


def get_str(args: dict[str, Any], name: str, default: str | None = None) -> str:
    """A string argument; required when ``default`` is None."""
    if _absent(args, name):
        if default is None:
            raise ToolFailure(f"Missing required argument '{name}'")
        return default
    value = args[name]
    if not isinstance(value, str):
        raise ToolFailure(f"Argument '{name}' must be a string")
    return value


def get_int(args: dict[str, Any], name: str, default: int, minimum: int | None = None) -> int:
    """An integer argument (an integral float such as ``5.0`` is accepted, a bool is not)."""
    if _absent(args, name):
        return default
    value = args[name]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolFailure(f"Argument '{name}' must be an integer")
    if minimum is not None and value < minimum:
        raise ToolFailure(f"Argument '{name}' must be >= {minimum}, got {value}")
    return value


def get_bool(args: dict[str, Any], name: str, default: bool = False) -> bool:
    """A boolean argument."""
    if _absent(args, name):
        return default
    value = args[name]
    if not isinstance(value, bool):
        raise ToolFailure(f"Argument '{name}' must be a boolean")
    return value


class BuiltinTool(abc.ABC):
    """Base of the built-in tools: turns expected failures into error results.

    Subclasses implement :meth:`run` and raise :class:`ToolFailure` (or let a
    :class:`WorkspaceViolation` through) for anything the model should be told about. The
    schema is built per instance so that no two tools share a mutable dict.
    """

    name: str
    description: str
    parameters: dict[str, Any]

    def __init__(self, name: str, description: str, parameters: dict[str, Any]) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run the tool; expected failures come back as an error result (exit code 1)."""
        try:
            return await self.run(args, ctx)
        except (ToolFailure, WorkspaceViolation) as exc:
            return ToolResult.error(self.name, str(exc))

    @abc.abstractmethod
    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """The tool's work."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
