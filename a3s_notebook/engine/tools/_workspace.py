"""Workspace boundary: every path a file tool touches must stay inside the session's workspace.

The check resolves the joined path (symlinks included, ``strict=False`` so that files which do
not exist yet are covered) and compares it with the canonical workspace. Resolving first and
comparing second is what catches ``a/../../x`` and a symlink inside the workspace that points
outside, including a new file written *through* such a symlink.

Limits: the check and the later open are two steps, so a component swapped for a symlink in
between (a race only a concurrent process could win) is not caught. The tools open the resolved
path, never the path as given, which narrows that window to components created in between.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "WorkspaceViolation",
    "canonical_workspace",
    "hard_link_count",
    "is_inside",
    "relative_display",
    "resolve_in_workspace",
]


class WorkspaceViolation(ValueError):
    """A tool path that resolves outside the workspace.

    The message is the spec's text:
    ``Workspace boundary violation: tool '<t>' path '<p>' escapes workspace '<w>'``.
    """

    def __init__(self, tool: str, path: str, workspace: Path) -> None:
        self.tool = tool
        self.path = path
        self.workspace = workspace
        super().__init__(
            f"Workspace boundary violation: tool '{tool}' path '{path}' "
            f"escapes workspace '{workspace}'"
        )


def canonical_workspace(workspace: Path) -> Path:
    """The workspace with symlinks and ``..`` resolved, as used for every comparison."""
    return Path(os.path.realpath(workspace))


def is_inside(root: Path, candidate: Path) -> bool:
    """True when ``candidate`` (already resolved) is ``root`` or below it."""
    return candidate == root or candidate.is_relative_to(root)


def resolve_in_workspace(workspace: Path, path: str, tool: str) -> Path:
    """Resolve ``path`` against ``workspace`` and return it if it stays inside.

    Relative paths are taken from the workspace; absolute paths are allowed when they land
    inside it. Raises :class:`WorkspaceViolation` otherwise (``path`` is quoted as given).
    """
    root = canonical_workspace(workspace)
    if "\0" in path:
        # os.path.realpath would raise a bare ValueError; report it as the boundary error so
        # callers have one failure type to handle.
        raise WorkspaceViolation(tool, path, root)
    # realpath (not Path.resolve) because its strict=False behaviour is the same on 3.10-3.13:
    # existing components are resolved through symlinks, the missing tail is normalised.
    resolved = Path(os.path.realpath(root / path))
    if not is_inside(root, resolved):
        raise WorkspaceViolation(tool, path, root)
    return resolved


def relative_display(root: Path, resolved: Path) -> str:
    """``resolved`` relative to ``root`` in POSIX form (``.`` for the root itself)."""
    rel = resolved.relative_to(root)
    return rel.as_posix() if rel.parts else "."


def hard_link_count(path: Path) -> int:
    """How many hard links the file at ``path`` has (symlinks followed); 0 when it is missing.

    Above one, the same file is reachable under another name, possibly outside the
    workspace, so writing it could change a file the workspace check never saw. A directory
    counts as 1: its link count counts subdirectories, and directories cannot be hard-linked.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    if stat.S_ISDIR(info.st_mode):
        return 1
    return info.st_nlink
