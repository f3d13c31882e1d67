"""The search tools: ``grep`` (pure-Python regex search, ripgrep-style output) and ``glob``."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections import deque
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._common import (
    BINARY_SNIFF_BYTES,
    MAX_OUTPUT_SIZE,
    SKIP_DIRS,
    BuiltinTool,
    ToolFailure,
    get_bool,
    get_int,
    get_str,
    looks_binary,
    truncate_line,
)
from a3s_notebook.engine.tools._workspace import (
    WorkspaceViolation,
    canonical_workspace,
    is_inside,
    relative_display,
    resolve_in_workspace,
)

__all__ = ["GlobTool", "GrepTool", "expand_braces"]

# grep stops collecting below the output limit so that its own note still fits after the hits.
_GREP_BUDGET = MAX_OUTPUT_SIZE - 256
_MAX_BRACE_EXPANSIONS = 256


def expand_braces(pattern: str) -> list[str]:
    """Expand ``{a,b}`` alternatives (nesting allowed), e.g. ``*.{ts,tsx}``.

    Neither ``fnmatch`` nor ``Path.glob`` knows braces, but models write them because ripgrep
    and shells accept them. Expansion stops at a fixed number of alternatives.
    """
    results: list[str] = []
    todo = [pattern]
    while todo and len(results) < _MAX_BRACE_EXPANSIONS:
        current = todo.pop(0)
        match = re.search(r"\{([^{}]*,[^{}]*)\}", current)
        if match is None:
            if current not in results:
                results.append(current)
            continue
        head, tail = current[: match.start()], current[match.end() :]
        todo.extend(head + alt + tail for alt in match.group(1).split(","))
    return results


def _glob_matches(patterns: list[str], rel_to_base: str, name: str) -> bool:
    for pattern in patterns:
        if "/" in pattern:
            # fnmatch's '*' crosses '/', so "src/**/*.py" works except for zero directories,
            # which the variant without "**/" covers.
            if fnmatchcase(rel_to_base, pattern) or fnmatchcase(
                rel_to_base, pattern.replace("**/", "")
            ):
                return True
        elif fnmatchcase(name, pattern):
            return True
    return False


def _is_regular_inside(root: Path, path: str) -> bool:
    """A regular file (not a FIFO or device, which would block a read) that stays inside."""
    try:
        # realpath of every candidate, not only of links: a parent directory reached through
        # a pattern such as "link/*" may itself be the symlink that leads outside.
        if not is_inside(root, Path(os.path.realpath(path))):
            return False
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _candidate_files(root: Path, base: Path, patterns: list[str] | None) -> list[Path]:
    found: list[Path] = []
    # followlinks=False: a linked directory could lead outside the workspace or into a loop.
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for filename in filenames:
            full = os.path.join(dirpath, filename)
            if patterns is not None:
                rel = PurePosixPath(Path(full).relative_to(base)).as_posix()
                if not _glob_matches(patterns, rel, filename):
                    continue
            if _is_regular_inside(root, full):
                found.append(Path(full))
    return found


def _search_file(
    path: Path, rel: str, regex: re.Pattern[str], context: int
) -> tuple[list[str], int]:
    """Hit and context lines of one file in ripgrep's format, and the number of matching lines."""
    out: list[str] = []
    matches = 0
    before: deque[tuple[int, str]] = deque(maxlen=context)
    after_left = 0
    last_printed = 0
    with path.open("rb") as handle:
        if looks_binary(handle.read(BINARY_SNIFF_BYTES)):
            return [], 0
        handle.seek(0)
        for lineno, raw in enumerate(handle, start=1):
            line = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r")
            if regex.search(line):
                matches += 1
                first = before[0][0] if before else lineno
                if context and last_printed and first > last_printed + 1:
                    out.append("--")
                out.extend(f"{rel}-{n}-{truncate_line(text)}" for n, text in before)
                before.clear()
                out.append(f"{rel}:{lineno}:{truncate_line(line)}")
                last_printed = lineno
                after_left = context
            elif after_left:
                out.append(f"{rel}-{lineno}-{truncate_line(line)}")
                last_printed = lineno
                after_left -= 1
            elif context:
                before.append((lineno, line))
    return out, matches


class GrepTool(BuiltinTool):
    """``grep {pattern*, path, glob, context, -i}``: regex search, ``path:line:text`` output.

    Recursive from ``path`` (default the workspace), skipping VCS, virtualenv and cache
    directories and binary files; files in path order; context lines use ``path-line-text``
    and groups are separated by ``--`` as ripgrep does. Python's ``re`` syntax.
    """

    def __init__(self) -> None:
        super().__init__(
            "grep",
            "Search file contents with a regular expression (Python re syntax). Output lines "
            "look like path:line:text. Skips .git, virtualenvs, node_modules and binary files.",
            {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Regular expression."},
                    "path": {
                        "type": "string",
                        "description": "File or directory to search. Default: the workspace.",
                    },
                    "glob": {
                        "type": "string",
                        "description": "Only files matching this glob, e.g. '*.py' or "
                        "'*.{ts,tsx}'.",
                    },
                    "context": {
                        "type": "integer",
                        "description": "Lines of context before and after each match. Default 0.",
                    },
                    "-i": {"type": "boolean", "description": "Case-insensitive search."},
                },
                "required": ["pattern"],
            },
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Search."""
        pattern = get_str(args, "pattern")
        path = get_str(args, "path", ".")
        glob = get_str(args, "glob", "") or None
        context = get_int(args, "context", 0, minimum=0)
        ignore_case = get_bool(args, "-i", False)
        try:
            regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ToolFailure(f"Invalid regex pattern '{pattern}': {exc}") from None
        return await asyncio.to_thread(self._grep, ctx.workspace, regex, path, glob, context)

    def _grep(
        self,
        workspace: Path,
        regex: re.Pattern[str],
        given: str,
        glob: str | None,
        context: int,
    ) -> ToolResult:
        root = canonical_workspace(workspace)
        base = resolve_in_workspace(workspace, given, self.name)
        if base.is_file():
            # An explicitly named file is searched whatever the glob says, as in ripgrep.
            files = [base]
        elif base.is_dir():
            patterns = expand_braces(glob) if glob else None
            files = _candidate_files(root, base, patterns)
        else:
            raise ToolFailure(f"Path not found: {given}")
        ranked = sorted((relative_display(root, f), f) for f in files)
        lines: list[str] = []
        size = 0
        match_count = 0
        file_count = 0
        truncated = False
        for rel, path in ranked:
            try:
                hits, count = _search_file(path, rel, regex, context)
            except OSError:
                continue  # unreadable (permissions, vanished): skipped like ripgrep does
            if not count:
                continue
            if context and lines:
                hits = ["--", *hits]
            for hit in hits:
                size += len(hit.encode("utf-8")) + 1
                if size > _GREP_BUDGET:
                    truncated = True
                    break
                lines.append(hit)
            match_count += count
            file_count += 1
            if truncated:
                break
        metadata = {"matches": match_count, "files": file_count, "truncated": truncated}
        if not lines:
            return ToolResult(
                name=self.name,
                output=f"No matches found for pattern: {regex.pattern}",
                metadata=metadata,
            )
        output = "\n".join(lines)
        if truncated:
            output += (
                f"\n\n[results truncated at {MAX_OUTPUT_SIZE // 1024} KiB; narrow the search "
                "with path, glob or a more specific pattern]"
            )
        return ToolResult(name=self.name, output=output, metadata=metadata)


class GlobTool(BuiltinTool):
    """``glob {pattern*, path}``: files matching a glob, relative to the workspace, sorted.

    ``**`` matches any depth. Patterns with ``..`` or absolute patterns outside the workspace
    are refused, and matches that resolve outside it (through symlinks) are left out. Files
    under .git, virtualenv and cache directories are left out unless the pattern names them.
    """

    def __init__(self) -> None:
        super().__init__(
            "glob",
            "Find files by glob pattern, e.g. '**/*.py' or 'src/**/*.{ts,tsx}'. Returns paths "
            "relative to the workspace, sorted.",
            {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Glob pattern."},
                    "path": {
                        "type": "string",
                        "description": "Directory to search from. Default: the workspace.",
                    },
                },
                "required": ["pattern"],
            },
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """List the matching files."""
        pattern = get_str(args, "pattern")
        path = get_str(args, "path", ".")
        if not pattern.strip():
            raise ToolFailure("Argument 'pattern' must not be empty")
        return await asyncio.to_thread(self._glob, ctx.workspace, pattern, path)

    def _glob(self, workspace: Path, pattern: str, given: str) -> ToolResult:
        root = canonical_workspace(workspace)
        base = resolve_in_workspace(workspace, given, self.name)
        relative = self._relative_pattern(root, pattern)
        if relative is None:
            raise WorkspaceViolation(self.name, pattern, root)
        if relative != pattern:
            base = root
        if not base.is_dir():
            raise ToolFailure(f"Directory not found: {given}")
        found: set[str] = set()
        for variant in expand_braces(relative):
            named_skips = {part for part in PurePosixPath(variant).parts if part in SKIP_DIRS}
            try:
                matches = list(base.glob(variant))
            except ValueError as exc:
                raise ToolFailure(f"Invalid glob pattern '{pattern}': {exc}") from None
            for match in matches:
                inner = match.relative_to(base).parts
                if any(part in SKIP_DIRS and part not in named_skips for part in inner[:-1]):
                    continue
                if _is_regular_inside(root, str(match)):
                    found.add(relative_display(root, match))
        if not found:
            return ToolResult(
                name=self.name,
                output=f"No files found matching pattern: {pattern}",
                metadata={"count": 0},
            )
        return ToolResult(
            name=self.name, output="\n".join(sorted(found)), metadata={"count": len(found)}
        )

    @staticmethod
    def _relative_pattern(root: Path, pattern: str) -> str | None:
        """The pattern relative to the search base, or None when it could reach outside."""
        pure = PurePosixPath(pattern)
        if pure.is_absolute():
            # An absolute pattern is fine only below the workspace; it then searches from there.
            prefix = root.as_posix().rstrip("/") + "/"
            if not pattern.startswith(prefix):
                return None
            pattern = pattern[len(prefix) :]
            pure = PurePosixPath(pattern)
        if ".." in pure.parts:
            return None
        return pattern
