"""Read gate: which workspace paths the read-family tools (read, grep, glob, ls) may touch.

The session hands the tools a ``can_read`` callback (``ToolContext.can_read``) that answers for
one workspace-relative POSIX path. :class:`ReadGate` applies it the way a deny must hold:

- a path is readable only when it *and every directory above it* are, so a rule naming a
  directory (``Read(secrets)``) also keeps out everything inside it, whatever the rule's
  own matching does for descendants;
- both the path as written (normalised: ``./``, ``..``, duplicate slashes, absolute paths
  inside the workspace) and the path it resolves to (symlinks followed) are checked, so a
  link ``notes -> .env`` does not open ``.env``.

Answers are cached for the gate's life (one tool call), so a recursive search asks about
each directory once. The callback is called from worker threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["DENIED_REASON", "ReadGate"]

DENIED_REASON = "protected or denied by a Read rule"
"""Why a path was refused or left out; part of every such message."""


def _relative(prefix: str, path: str) -> str | None:
    """``path`` (normalised, absolute) relative to the directory ``prefix`` (ending in "/")."""
    if path == prefix.rstrip("/") or path + "/" == prefix:
        return "."
    if path.startswith(prefix):
        return path[len(prefix) :]
    return None


class ReadGate:
    """Applies ``can_read`` to paths under ``root`` (the canonical workspace)."""

    def __init__(
        self,
        root: Path,
        can_read: Callable[[str], bool] | None,
        workspace: Path | None = None,
    ) -> None:
        self._can_read = can_read
        self._root = str(root)
        # The workspace as the caller spelled it (it may go through a symlink); absolute paths
        # written with that spelling are inside too.
        spelled = os.path.normpath(os.path.abspath(workspace)) if workspace is not None else None
        self._prefixes = [_with_slash(self._root)]
        if spelled is not None and spelled != self._root:
            self._prefixes.append(_with_slash(spelled))
        self._cache: dict[str, bool] = {}

    @property
    def active(self) -> bool:
        """False when every path is readable (no callback)."""
        return self._can_read is not None

    def allows_rel(self, rel: str) -> bool:
        """Whether the workspace-relative POSIX path ``rel`` and all its parents are readable."""
        if self._can_read is None or rel in ("", "."):
            return True
        parts = rel.split("/")
        for end in range(1, len(parts) + 1):
            prefix = "/".join(parts[:end])
            known = self._cache.get(prefix)
            if known is None:
                known = bool(self._can_read(prefix))
                self._cache[prefix] = known
            if not known:
                return False
        return True

    def allows(self, path: str | os.PathLike[str], resolved: str | None = None) -> bool:
        """Whether ``path`` may be read or listed: as written and as resolved.

        ``path`` is absolute or relative to the canonical workspace; ``resolved`` is its
        ``os.path.realpath`` when the caller already has it. A path outside the workspace
        both ways has no workspace-relative name and is left to the boundary checks.
        """
        if self._can_read is None:
            return True
        lexical = os.path.normpath(os.path.join(self._root, os.fspath(path)))
        for name in self._names(lexical):
            if not self.allows_rel(name):
                return False
        real = resolved if resolved is not None else os.path.realpath(lexical)
        if real != lexical:
            for name in self._names(real):
                if not self.allows_rel(name):
                    return False
        return True

    def _names(self, absolute: str) -> list[str]:
        names = []
        for prefix in self._prefixes:
            rel = _relative(prefix, absolute)
            if rel is not None and rel not in names:
                names.append(rel)
        return names


def _with_slash(directory: str) -> str:
    return directory if directory.endswith("/") else directory + "/"
