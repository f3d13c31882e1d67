"""Unified diffs: parse them into file sections and apply a section's hunks to a text.

Pure functions, no file access: the ``patch`` tool reads and writes, the permission policy
reads the target paths (:func:`patch_targets`) so that every file a patch touches is checked
like a ``write`` of that file.

Accepted input is what ``diff -u`` and ``git diff`` print: optional ``diff --git``/``index``/
mode lines, ``--- old`` / ``+++ new`` headers (``a/``, ``b/`` prefixes dropped when both carry
them, ``/dev/null`` for a created or deleted file, a tab and a timestamp after the name
ignored), ``@@ -l,s +l,s @@`` hunks and ``\\ No newline at end of file`` markers. Renames,
copies and binary patches are refused. A hunk must match its context and removed lines
exactly; it may land at another line than it says (the nearest exact match, as ``patch``
does with an offset), never with fuzz. Wrong line counts in a hunk header, or a header
without numbers (``@@ ... @@``), are tolerated: the hunk is then every diff line up to the
next header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "DEV_NULL",
    "DiffError",
    "FilePatch",
    "Hunk",
    "apply_hunks",
    "parse_diff",
    "patch_targets",
]

DEV_NULL = "/dev/null"

_HUNK = re.compile(r"^@@(?: -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@| .*@@|$)")
_NO_NEWLINE = "\\ No newline at end of file"
_IGNORED_PREFIXES = (
    "diff ",
    "index ",
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "similarity index ",
    "Only in ",
)
_REFUSED_PREFIXES = ("rename from ", "rename to ", "copy from ", "copy to ", "GIT binary patch")


class DiffError(ValueError):
    """The diff does not parse, or a hunk does not apply; the message says where."""


@dataclass
class Hunk:
    """One ``@@`` hunk: the old lines (context and removed) and the new ones."""

    old_start: int
    new_start: int
    header: str
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    old_eof_no_newline: bool = False
    new_eof_no_newline: bool = False


@dataclass
class FilePatch:
    """The hunks for one file; ``old_path``/``new_path`` as the headers name them."""

    old_path: str | None
    new_path: str | None
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def creates(self) -> bool:
        """The file does not exist before (``--- /dev/null``)."""
        return self.old_path == DEV_NULL

    @property
    def deletes(self) -> bool:
        """The file is removed (``+++ /dev/null``)."""
        return self.new_path == DEV_NULL

    @property
    def target(self) -> str | None:
        """The workspace path this section changes (None when the headers name none)."""
        if self.deletes:
            return self.old_path
        return self.new_path if self.new_path is not None else self.old_path


def _header_path(line: str) -> str:
    # "--- a/x.py\t2024-01-01 ..." -> "a/x.py"; a quoted git path keeps its text unquoted
    name = line[4:].split("\t", 1)[0].rstrip("\r")
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    return name.strip() if name.strip() == DEV_NULL else name


def _strip_git_prefixes(section: FilePatch) -> None:
    old, new = section.old_path, section.new_path
    olds = old is None or old == DEV_NULL or old.startswith("a/")
    news = new is None or new == DEV_NULL or new.startswith("b/")
    prefixed = (old or "").startswith("a/") or (new or "").startswith("b/")
    if olds and news and prefixed:
        if old is not None and old.startswith("a/"):
            section.old_path = old[2:]
        if new is not None and new.startswith("b/"):
            section.new_path = new[2:]


def parse_diff(diff: str) -> list[FilePatch]:
    """The file sections of a unified diff; raise :class:`DiffError` if it is malformed."""
    if not diff.strip():
        raise DiffError("the diff is empty")
    lines = diff.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    sections: list[FilePatch] = []
    current: FilePatch | None = None
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        if line.startswith(_REFUSED_PREFIXES):
            raise DiffError(
                f"line {i + 1}: renames, copies and binary patches are not supported "
                f"({line.split(' ', 1)[0]} ...); change each file in place"
            )
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            current = FilePatch(_header_path(line), _header_path(lines[i + 1].rstrip("\r")))
            _strip_git_prefixes(current)
            sections.append(current)
            i += 2
            continue
        match = _HUNK.match(line)
        if match:
            if current is None:
                current = FilePatch(None, None)
                sections.append(current)
            i = _read_hunk(lines, i, match, current)
            continue
        if line.startswith(_IGNORED_PREFIXES) or not line.strip():
            i += 1
            continue
        raise DiffError(
            f"line {i + 1}: unexpected text {line[:60]!r} (expected '--- ', '+++ ' or '@@ ')"
        )
    if not sections:
        raise DiffError("no '@@' hunk found; write the diff in unified format (diff -u)")
    for section in sections:
        if not section.hunks:
            raise DiffError(f"no hunk for {section.target or 'the file'}")
        old, new = section.old_path, section.new_path
        if old is not None and new is not None and DEV_NULL not in (old, new) and old != new:
            raise DiffError(
                f"the diff renames {old} to {new}; renames are not supported, "
                "change the file in place"
            )
    return sections


def _hunk_end(lines: list[str], start: int) -> int:
    """The index after the last line that can belong to the hunk whose header is at
    ``start``: up to the next hunk, file header or line that is not a diff line."""
    i = start + 1
    while i < len(lines):
        line = lines[i].rstrip("\r")
        if line.startswith(("@@", "diff ")) or (
            line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")
        ):
            break
        if line and line[0] not in " -+\\":
            break
        i += 1
    return i


def _take(
    lines: list[str], begin: int, end: int, header: str, counts: tuple[int, int] | None
) -> tuple[Hunk | None, int]:
    """Read hunk lines from ``begin``; with ``counts``, stop once both are reached (None
    when they are not reached before ``end``)."""
    hunk = Hunk(0, 0, header)
    last: str | None = None
    i = begin
    while i < end:
        if counts is not None and len(hunk.old) >= counts[0] and len(hunk.new) >= counts[1]:
            break
        text = lines[i].rstrip("\r")
        i += 1
        if text.startswith("\\"):
            _mark_no_newline(hunk, last)
            continue
        kind, body = (text[:1], text[1:]) if text else (" ", "")
        if kind in (" ", "-"):
            hunk.old.append(body)
        if kind in (" ", "+"):
            hunk.new.append(body)
        last = kind
    if counts is not None:
        if (len(hunk.old), len(hunk.new)) != counts:
            return None, i
        if i < end and lines[i].startswith("\\"):
            _mark_no_newline(hunk, last)
            i += 1
    return hunk, i


def _read_hunk(lines: list[str], start: int, match: re.Match[str], section: FilePatch) -> int:
    """Parse the hunk at ``start``. The header's line counts are used when they fit the
    lines that follow; models often get them wrong, so when they do not (or the header
    has no numbers, ``@@ ... @@``) the hunk is every diff line up to the next header,
    trailing blank lines left out."""
    header = lines[start].rstrip("\r")
    end = _hunk_end(lines, start)
    old_start = new_start = 1
    if match.group(1) is not None:
        old_start, new_start = int(match.group(1)), int(match.group(3))
        counts = (
            int(match.group(2)) if match.group(2) is not None else 1,
            int(match.group(4)) if match.group(4) is not None else 1,
        )
        hunk, stop = _take(lines, start + 1, end, header, counts)
        leftover = [line for line in lines[stop:end] if line.rstrip("\r")]
        if hunk is not None and not leftover:
            return _add(section, hunk, old_start, new_start, stop)
    while end > start + 1 and not lines[end - 1].rstrip("\r"):
        end -= 1
    hunk, stop = _take(lines, start + 1, end, header, None)
    assert hunk is not None
    if not hunk.old and not hunk.new:
        raise DiffError(f"hunk {header} has no lines")
    return _add(section, hunk, old_start, new_start, stop)


def _add(section: FilePatch, hunk: Hunk, old_start: int, new_start: int, stop: int) -> int:
    hunk.old_start, hunk.new_start = old_start, new_start
    section.hunks.append(hunk)
    return stop


def _mark_no_newline(hunk: Hunk, last: str | None) -> None:
    if last in (" ", "-"):
        hunk.old_eof_no_newline = True
    if last in (" ", "+"):
        hunk.new_eof_no_newline = True


def patch_targets(diff: str) -> list[str] | None:
    """The paths a diff changes, in order, or None when it does not parse or names none."""
    try:
        sections = parse_diff(diff)
    except DiffError:
        return None
    targets = [s.target for s in sections]
    if any(t is None for t in targets):
        return None
    return [t for t in targets if t is not None]


def _split(text: str) -> tuple[list[str], str, bool]:
    """(lines without ends, the line end to use for new lines, whether the text ends in one).

    The first line's end decides: a CRLF file gets CRLF lines, anything else LF."""
    first = text.find("\n")
    eol = "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"
    if text == "":
        return [], eol, True
    ends = text.endswith("\n")
    body = text[:-1] if ends else text
    lines = body.split("\n")
    if eol == "\r\n":
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines, eol, ends


def apply_hunks(text: str, section: FilePatch, display: str) -> str:
    """``text`` with every hunk of ``section`` applied; raise :class:`DiffError` if one does
    not match (the message names the file and the hunk).

    A hunk that reaches the end of the file decides whether the file ends with a newline
    (``\\ No newline at end of file`` after its last new line: no; otherwise: yes)."""
    lines, eol, ends = _split(text)
    shift = 0
    floor = 0
    for hunk in section.hunks:
        # a pure insertion ("-5,0") goes after line 5; other hunks start at their line
        orig = hunk.old_start - 1 if hunk.old else hunk.old_start
        orig = max(orig, 0)
        at = _find(lines, hunk.old, orig + shift, floor)
        if at is None:
            raise DiffError(
                f"hunk {hunk.header} does not apply to {display}: its context and removed lines "
                "are not in the file (read the file again and make a new diff)"
            )
        lines[at : at + len(hunk.old)] = hunk.new
        shift = at - orig + len(hunk.new) - len(hunk.old)
        floor = at + len(hunk.new)
        if floor == len(lines):
            ends = not hunk.new_eof_no_newline
    if not lines:
        return ""
    return eol.join(lines) + (eol if ends else "")


def _find(lines: list[str], old: list[str], wanted: int, floor: int) -> int | None:
    """The position nearest ``wanted`` (not before ``floor``) where ``old`` matches exactly."""
    last = len(lines) - len(old)
    if last < floor:
        return None
    wanted = min(max(wanted, floor), last)
    for distance in range(max(wanted - floor, last - wanted) + 1):
        for at in (wanted - distance, wanted + distance):
            if (
                floor <= at <= last
                and (not old or lines[at] == old[0])
                and lines[at : at + len(old)] == old
            ):
                return at
    return None
