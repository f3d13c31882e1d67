"""The search tools: ``grep`` (regex search, ripgrep-style output) and ``glob``.

Both run in a thread of their own (:func:`run_stoppable`) that stops when the awaiting task
is cancelled, and both honour ``ToolContext.can_read`` (:class:`ReadGate`): a denied file is
not read, a denied directory is neither listed nor descended into, and the count of what was
left out ends the output.

``grep`` uses the ``regex`` module, not ``re``: each line is searched with a ``timeout`` and
``concurrent=True`` (the GIL is released while matching), so a backtracking pattern such as
``(a|aa)+$`` cannot freeze the event loop, and a line that takes longer than
:data:`GREP_LINE_TIMEOUT_S` ends the call with an error naming the pattern, file and line. The
whole call has a deadline, :data:`GREP_TIMEOUT_S`, after which the hits found so far are
returned with a note. The stop flag is checked per line, so after ``cancel()`` the thread ends
within one line's timeout.

A search call with a timeout costs a few microseconds, several times a plain ``re`` search of
a short line. When the pattern cannot depend on where a line starts or ends (no anchors, word
boundaries, lookarounds, backreferences: :func:`line_independent`), lines are first searched
in batches joined by newlines: a batch without a match has no matching line, and only batches
with a match are searched line by line.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from a3s_notebook.engine.tools._access import DENIED_REASON, ReadGate
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
from a3s_notebook.engine.tools._worker import check, run_stoppable
from a3s_notebook.engine.tools._workspace import (
    WorkspaceViolation,
    canonical_workspace,
    is_inside,
    relative_display,
    resolve_in_workspace,
)

__all__ = ["GREP_LINE_TIMEOUT_S", "GREP_TIMEOUT_S", "GlobTool", "GrepTool", "expand_braces"]

GREP_LINE_TIMEOUT_S = 1.0
"""Longest one regex search of one line may take before the pattern is called too slow. Also
the longest a cancelled grep's thread keeps running."""

GREP_TIMEOUT_S = 60.0
"""Deadline of one grep call; past it the hits found so far are returned with a note."""

# grep stops collecting below the output limit so that its own notes still fit after the hits.
_GREP_BUDGET = MAX_OUTPUT_SIZE - 512
_MAX_BRACE_EXPANSIONS = 256
# Batches of lines searched at once when the pattern allows it (see line_independent).
_BATCH_LINES = 512
_BATCH_BYTES = 256 * 1024
# A batch search that takes longer than this is abandoned (and batching with it, for the rest
# of the call): the lines are then searched one by one, each with the line timeout.
_BATCH_TIMEOUT_S = 0.05
_SLOW_PATTERN_HINT = (
    "Simplify it: remove nested quantifiers such as (a+)+ and overlapping alternatives such "
    "as (a|aa)+, anchor it, or search for a literal string."
)


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


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _regular_inside(root: Path, path: str) -> str | None:
    """The real path of ``path`` when it is a regular file inside the workspace, else None.

    Not a FIFO or device, which would block a read. realpath of every candidate, not only of
    links: a parent directory reached through a pattern such as "link/*" may itself be the
    symlink that leads outside.
    """
    try:
        real = os.path.realpath(path)
        if not is_inside(root, Path(real)):
            return None
        return real if stat.S_ISREG(os.stat(path).st_mode) else None
    except (OSError, ValueError):
        return None


def _denied_note(files: int, dirs: int = 0, *, verb: str = "skipped") -> str:
    """``[N files skipped, M directories not searched: protected or denied by a Read rule]``."""
    parts = []
    if files:
        parts.append(f"{_plural(files, 'file', 'files')} {verb}")
    if dirs:
        parts.append(f"{_plural(dirs, 'directory', 'directories')} not searched")
    return f"[{', '.join(parts)}: {DENIED_REASON}]" if parts else ""


def _refuse(action: str, given: str) -> ToolFailure:
    return ToolFailure(f"Refusing to {action} {given}: it is {DENIED_REASON}")


# ---------------------------------------------------------------------------------------- grep


def compile_pattern(pattern: str, ignore_case: bool) -> Any:
    """The compiled ``regex`` pattern, or a :class:`ToolFailure` that says what is wrong."""
    # imported here: a session that never greps does not pay for the import
    import regex  # type: ignore[import-untyped]  # the package ships no type information

    try:
        return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except regex.error as exc:
        reason = str(exc)
    except RecursionError:
        reason = "groups are nested too deeply"
    except (OverflowError, ValueError) as exc:
        reason = str(exc)
    raise ToolFailure(
        f"Invalid regex pattern '{pattern}': {reason}. (Python regular-expression syntax: "
        "escape a special character such as ( [ * + ? with a backslash to match it literally.)"
    )


# Parse-tree nodes whose match depends only on the text matched, never on what surrounds it.
_POSITION_FREE = frozenset(
    {"LITERAL", "NOT_LITERAL", "ANY", "IN", "BRANCH", "SUBPATTERN", "MAX_REPEAT", "MIN_REPEAT"}
)


_SET_WARNINGS = ("[[", "--", "&&", "~~", "||")


def _position_free(items: Any) -> bool:
    for op, value in items:
        name = getattr(op, "name", str(op))
        if name not in _POSITION_FREE:
            return False
        if name == "BRANCH" and not all(_position_free(branch) for branch in value[1]):
            return False
        if name == "SUBPATTERN" and not _position_free(value[3]):
            return False
        if name in ("MAX_REPEAT", "MIN_REPEAT") and not _position_free(value[2]):
            return False
    return True


def line_independent(pattern: str) -> bool:
    """True when a match inside a line is also a match inside any text containing that line.

    That holds for patterns built only from characters, classes, groups, alternation and
    repetition: no anchors (``^ $ \\A \\Z``), word boundaries, lookarounds, backreferences,
    conditionals, atomic groups or possessive repeats. Such a pattern that finds nothing in
    lines joined by newlines finds nothing in any of them. The pattern is read with the
    standard library's parser; anything it does not accept (``regex``-only syntax) counts as
    dependent, which only costs speed.
    """
    if "(?(" in pattern or ("[" in pattern and any(t in pattern for t in _SET_WARNINGS)):
        # Conditionals are position-bound anyway; these set spellings make the parser warn
        # (FutureWarning), and warnings cannot be silenced from a worker thread safely.
        return False
    try:
        parser = importlib.import_module("re._parser")
        return _position_free(parser.parse(pattern, 0))
    except Exception:  # not re syntax, or a parser this code does not know
        return False


class _FileScan:
    """The output of one file: hits, context lines and ``--`` separators, as ripgrep."""

    def __init__(self, rel: str, context: int) -> None:
        self.rel = rel
        self.context = context
        self.out: list[str] = []
        self.matches = 0
        self.before: deque[tuple[int, str]] = deque(maxlen=context)
        self.after_left = 0
        self.last_printed = 0

    def add(self, lineno: int, line: str, hit: bool) -> None:
        rel, out = self.rel, self.out
        if hit:
            self.matches += 1
            first = self.before[0][0] if self.before else lineno
            if self.context and self.last_printed and first > self.last_printed + 1:
                out.append("--")
            out.extend(f"{rel}-{n}-{truncate_line(text)}" for n, text in self.before)
            self.before.clear()
            out.append(f"{rel}:{lineno}:{truncate_line(line)}")
            self.last_printed = lineno
            self.after_left = self.context
        elif self.after_left:
            out.append(f"{rel}-{lineno}-{truncate_line(line)}")
            self.last_printed = lineno
            self.after_left -= 1
        elif self.context:
            self.before.append((lineno, line))

    def add_misses(self, batch: list[tuple[int, str]]) -> None:
        if self.context:  # without context a line that does not match leaves no trace
            for lineno, line in batch:
                self.add(lineno, line, False)


class _GrepRun:
    """One grep call, run in the worker thread; every counter lives here."""

    def __init__(
        self,
        root: Path,
        compiled: Any,
        context: int,
        gate: ReadGate,
        stop: threading.Event,
        line_timeout_s: float,
        timeout_s: float,
    ) -> None:
        self.root = root
        self.regex = compiled
        self.context = context
        self.gate = gate
        self.stop = stop
        self.line_timeout_s = line_timeout_s
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.timed_out = False
        self.skipped_files = 0
        self.skipped_dirs = 0
        self.batching = line_independent(compiled.pattern)
        self.batch_lines = _BATCH_LINES

    # -- which files

    def candidates(self, base: Path, patterns: list[str] | None) -> list[Path]:
        found: list[Path] = []
        # followlinks=False: a linked directory could lead outside the workspace or into a loop.
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            check(self.stop)
            if time.monotonic() > self.deadline:
                self.timed_out = True
                break
            dirnames[:] = [d for d in dirnames if self._enter(os.path.join(dirpath, d), d)]
            for filename in filenames:
                full = os.path.join(dirpath, filename)
                if patterns is not None:
                    rel = PurePosixPath(Path(full).relative_to(base)).as_posix()
                    if not _glob_matches(patterns, rel, filename):
                        continue
                real = _regular_inside(self.root, full)
                if real is None:
                    continue
                if not self.gate.allows(full, real):
                    self.skipped_files += 1
                    continue
                found.append(Path(full))
        return found

    def _enter(self, path: str, name: str) -> bool:
        if name in SKIP_DIRS:
            return False
        if self.gate.allows(path):
            return True
        if not os.path.islink(path):  # os.walk would not have descended into a link anyway
            self.skipped_dirs += 1
        return False

    # -- one file

    def _matches(self, line: str, rel: str, lineno: int) -> bool | None:
        """Whether ``line`` matches; None when the call's deadline has passed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return None
        budget = min(self.line_timeout_s, remaining)
        try:
            return self.regex.search(line, concurrent=True, timeout=budget) is not None
        except TimeoutError:
            check(self.stop)
            if budget < self.line_timeout_s:
                return None
            raise ToolFailure(
                f"Regex pattern '{self.regex.pattern}' is too slow: matching it against "
                f"{rel} line {lineno} took longer than {self.line_timeout_s:g} s "
                f"(catastrophic backtracking). {_SLOW_PATTERN_HINT}"
            ) from None

    def _batch_may_match(self, text: str) -> bool:
        """False when no line of the batch ``text`` can match; True when it may."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return True  # the line-by-line search notices the deadline
        budget = min(_BATCH_TIMEOUT_S, self.line_timeout_s, remaining)
        try:
            return self.regex.search(text, concurrent=True, timeout=budget) is not None
        except TimeoutError:
            check(self.stop)
            self.batching = False  # slow on batches: one line at a time from now on
            return True

    def _lines(self, batch: list[tuple[int, str]], scan: _FileScan) -> bool:
        """Search ``batch`` line by line into ``scan``; False when the deadline has passed."""
        for lineno, line in batch:
            check(self.stop)
            hit = self._matches(line, scan.rel, lineno)
            if hit is None:
                self.timed_out = True
                return False
            scan.add(lineno, line, hit)
        return True

    def _flush(self, batch: list[tuple[int, str]], scan: _FileScan) -> bool:
        if len(batch) > 1 and not self._batch_may_match("\n".join(line for _, line in batch)):
            scan.add_misses(batch)
            return True
        return self._lines(batch, scan)

    def search_file(self, path: Path, rel: str) -> tuple[list[str], int]:
        """Hit and context lines of one file in ripgrep's format, and the number of matches."""
        scan = _FileScan(rel, self.context)
        batch: list[tuple[int, str]] = []
        batch_bytes = 0
        with path.open("rb") as handle:
            if looks_binary(handle.read(BINARY_SNIFF_BYTES)):
                return [], 0
            handle.seek(0)
            for lineno, raw in enumerate(handle, start=1):
                check(self.stop)
                line = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r")
                if not self.batching:
                    if not self._lines([(lineno, line)], scan):
                        break
                    continue
                batch.append((lineno, line))
                batch_bytes += len(raw)
                if len(batch) >= self.batch_lines or batch_bytes >= _BATCH_BYTES:
                    if not self._flush(batch, scan):
                        break
                    batch, batch_bytes = [], 0
            else:
                if batch:
                    self._flush(batch, scan)
        return scan.out, scan.matches

    # -- the whole call

    def run(self, files: list[Path], name: str) -> ToolResult:
        ranked = sorted((relative_display(self.root, f), f) for f in files)
        lines: list[str] = []
        size = 0
        match_count = 0
        file_count = 0
        truncated = False
        searched = 0
        for rel, path in ranked:
            if self.timed_out:
                break
            try:
                hits, count = self.search_file(path, rel)
            except OSError:
                continue  # unreadable (permissions, vanished): skipped like ripgrep does
            finally:
                searched += 1
            if not count:
                continue
            if self.context and lines:
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
        metadata = {
            "matches": match_count,
            "files": file_count,
            "truncated": truncated,
            "skipped": self.skipped_files,
            "skipped_dirs": self.skipped_dirs,
            "timed_out": self.timed_out,
        }
        notes = [_denied_note(self.skipped_files, self.skipped_dirs)]
        if self.timed_out and not lines:
            return ToolResult(
                name=name,
                output="\n\n".join(
                    [
                        f"grep stopped after {self.timeout_s:g} s without a match for pattern: "
                        f"{self.regex.pattern} (searched {searched} of {len(ranked)} files). "
                        "Narrow the search with path or glob.",
                        *filter(None, notes),
                    ]
                ),
                exit_code=1,
                metadata=metadata,
            )
        if not lines:
            output = f"No matches found for pattern: {self.regex.pattern}"
        else:
            output = "\n".join(lines)
        if truncated:
            notes.append(
                f"[results truncated at {MAX_OUTPUT_SIZE // 1024} KiB; narrow the search "
                "with path, glob or a more specific pattern]"
            )
        if self.timed_out:
            notes.append(
                f"[search stopped after {self.timeout_s:g} s: results are incomplete; narrow "
                "it with path, glob or a more specific pattern]"
            )
        tail = "\n".join(note for note in notes if note)
        if tail:
            output += "\n\n" + tail
        return ToolResult(name=name, output=output, metadata=metadata)


class GrepTool(BuiltinTool):
    """``grep {pattern*, path, glob, context, -i}``: regex search, ``path:line:text`` output.

    Recursive from ``path`` (default the workspace), skipping VCS, virtualenv and cache
    directories, binary files and what ``ctx.can_read`` denies (counted in a note); files in
    path order; context lines use ``path-line-text`` and groups are separated by ``--`` as
    ripgrep does. Python regular-expression syntax (the ``regex`` module, compatible with
    ``re``). ``line_timeout_s`` and ``timeout_s`` bound one line's search and the whole call.
    """

    def __init__(
        self,
        line_timeout_s: float = GREP_LINE_TIMEOUT_S,
        timeout_s: float = GREP_TIMEOUT_S,
    ) -> None:
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
        if line_timeout_s <= 0 or timeout_s <= 0:
            raise ValueError("grep timeouts must be positive")
        self.line_timeout_s = line_timeout_s
        self.timeout_s = timeout_s

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Search, in a thread that stops when this task is cancelled."""
        pattern = get_str(args, "pattern")
        path = get_str(args, "path", ".")
        glob = get_str(args, "glob", "") or None
        context = get_int(args, "context", 0, minimum=0)
        ignore_case = get_bool(args, "-i", False)
        compiled = compile_pattern(pattern, ignore_case)

        def work(stop: threading.Event) -> ToolResult:
            return self._grep(ctx, compiled, path, glob, context, stop)

        return await run_stoppable(work, f"a3s-grep-{ctx.tool_id or 'call'}")

    def _grep(
        self,
        ctx: ToolContext,
        compiled: Any,
        given: str,
        glob: str | None,
        context: int,
        stop: threading.Event,
    ) -> ToolResult:
        root = canonical_workspace(ctx.workspace)
        gate = ReadGate(root, ctx.can_read, ctx.workspace)
        run = _GrepRun(root, compiled, context, gate, stop, self.line_timeout_s, self.timeout_s)
        base = resolve_in_workspace(ctx.workspace, given, self.name)
        if (base.is_file() or base.is_dir()) and not gate.allows(given, str(base)):
            raise _refuse("search", given)
        if base.is_file():
            # An explicitly named file is searched whatever the glob says, as in ripgrep.
            files = [base]
        elif base.is_dir():
            patterns = expand_braces(glob) if glob else None
            files = run.candidates(base, patterns)
        else:
            raise ToolFailure(f"Path not found: {given}")
        return run.run(files, self.name)


# ---------------------------------------------------------------------------------------- glob

_MAGIC = frozenset("*?[")


class _GlobWalk:
    """``Path.glob`` semantics (Python 3.11) with pruning: a directory that is skipped, leads
    outside the workspace or is denied by ``can_read`` is never listed.

    ``*`` and ``?`` match within one name (dot files included), ``**`` as a whole component
    matches any number of directories without following directory symlinks.
    """

    def __init__(
        self,
        root: Path,
        gate: ReadGate,
        stop: threading.Event,
        named_skips: set[str],
    ) -> None:
        self.root = root
        self.gate = gate
        self.stop = stop
        self.named_skips = named_skips
        self.denied: set[str] = set()

    def select(self, directory: str, parts: tuple[str, ...]) -> Iterator[str]:
        check(self.stop)
        if not parts:
            yield directory
            return
        part, rest = parts[0], parts[1:]
        if part == "":  # a trailing "/": directories only, as Path.glob
            if os.path.isdir(directory):
                yield directory
        elif part == "**":
            while rest[:1] == ("**",):
                rest = rest[1:]
            for sub in self._tree(directory):
                yield from self.select(sub, rest)
        elif _MAGIC.intersection(part):
            for entry in self._scan(directory):
                if not fnmatchcase(entry.name, part):
                    continue
                if not rest:
                    yield entry.path
                elif self._is_dir(entry) and self._enter(entry.path, entry.name):
                    yield from self.select(entry.path, rest)
        else:
            child = os.path.join(directory, part)
            if not rest:
                if os.path.lexists(child):
                    yield child
            elif os.path.isdir(child) and self._enter(child, part):
                yield from self.select(child, rest)

    def _tree(self, top: str) -> Iterator[str]:
        """``top`` and every directory below it that may be entered (no symlinks)."""
        stack = [top]
        while stack:
            check(self.stop)
            directory = stack.pop()
            yield directory
            for entry in self._scan(directory):
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir and self._enter(entry.path, entry.name):
                    stack.append(entry.path)

    @staticmethod
    def _scan(directory: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as entries:
                return sorted(entries, key=lambda entry: entry.name)
        except OSError:
            return []

    @staticmethod
    def _is_dir(entry: os.DirEntry[str]) -> bool:
        try:
            return entry.is_dir()
        except OSError:
            return False

    def _enter(self, path: str, name: str) -> bool:
        if name in SKIP_DIRS and name not in self.named_skips:
            return False
        real = os.path.realpath(path)
        if not is_inside(self.root, Path(real)):
            return False  # matches there would be left out anyway; do not even list it
        if not self.gate.allows(path, real):
            self.denied.add(path)
            return False
        return True


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
        """List the matching files, in a thread that stops when this task is cancelled."""
        pattern = get_str(args, "pattern")
        path = get_str(args, "path", ".")
        if not pattern.strip():
            raise ToolFailure("Argument 'pattern' must not be empty")

        def work(stop: threading.Event) -> ToolResult:
            return self._glob(ctx, pattern, path, stop)

        return await run_stoppable(work, f"a3s-glob-{ctx.tool_id or 'call'}")

    def _glob(
        self, ctx: ToolContext, pattern: str, given: str, stop: threading.Event
    ) -> ToolResult:
        root = canonical_workspace(ctx.workspace)
        gate = ReadGate(root, ctx.can_read, ctx.workspace)
        base = resolve_in_workspace(ctx.workspace, given, self.name)
        relative = self._relative_pattern(root, pattern)
        if relative is None:
            raise WorkspaceViolation(self.name, pattern, root)
        if relative != pattern:
            base = root
        elif base.is_dir() and not gate.allows(given, str(base)):
            raise _refuse("list", given)
        if not base.is_dir():
            raise ToolFailure(f"Directory not found: {given}")
        found: set[str] = set()
        denied: set[str] = set()
        denied_dirs: set[str] = set()
        for variant in expand_braces(relative):
            parts = PurePosixPath(variant).parts + (("",) if variant.endswith("/") else ())
            if any("**" in part and part != "**" for part in parts):
                raise ToolFailure(
                    f"Invalid glob pattern '{pattern}': '**' can only be an entire path component"
                )
            named_skips = {part for part in parts if part in SKIP_DIRS}
            walk = _GlobWalk(root, gate, stop, named_skips)
            for match in walk.select(str(base), parts):
                inner = PurePosixPath(os.path.relpath(match, base)).parts
                if any(part in SKIP_DIRS and part not in named_skips for part in inner[:-1]):
                    continue
                real = _regular_inside(root, match)
                if real is None:
                    continue
                display = relative_display(root, Path(match))
                if gate.allows(match, real):
                    found.add(display)
                else:
                    denied.add(display)
            denied_dirs.update(walk.denied)
        note = _denied_note(len(denied), len(denied_dirs), verb="left out")
        metadata = {"count": len(found), "skipped": len(denied), "skipped_dirs": len(denied_dirs)}
        if not found:
            output = f"No files found matching pattern: {pattern}"
        else:
            output = "\n".join(sorted(found))
        if note:
            output += "\n\n" + note
        return ToolResult(name=self.name, output=output, metadata=metadata)

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
