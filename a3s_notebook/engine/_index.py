"""Listing stored sessions from their logs' first lines, without restoring them.

A restore replays a whole log (seconds and gigabytes for a long session); a listing needs
only who each session is: the ``session_created`` line (format 1: the ``header`` record),
which the store writes first, and the file's size and modification time. The header says
how the session was created: a later rename or model switch is in the log's later lines,
which a listing does not read (a session open in this process is listed from memory).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a3s_notebook.engine.store import FileSessionStore, SessionStore

__all__ = ["SessionInfo", "read_header", "stored_session_infos"]

_CHUNK = 1 << 16
_MAX_SCAN = 1 << 22
"""Bytes read at most to find the header line (it is the first line the store writes)."""


@dataclass(frozen=True)
class SessionInfo:
    """What a listing shows of a stored session (see :meth:`SessionManager.stored_sessions`)."""

    id: str
    name: str
    """The session's name as created (its id when it was created without one)."""
    model: str
    created_at: float | None
    """Unix time of creation (None when the header does not say)."""
    modified: float | None
    """Unix time the log last changed (None for a store without files)."""
    size: int | None
    """Bytes of the log (None for a store without files)."""
    workspace: str | None
    parent_id: str | None
    open: bool = False
    """True when the session is restored in this manager (its live values are listed)."""


def _info(session_id: str, record: dict[str, Any]) -> SessionInfo | None:
    if record.get("type") != "session_created" and record.get("kind") != "header":
        return None
    config = record.get("config")
    config = config if isinstance(config, dict) else {}
    created = record.get("created_at")
    name = config.get("name")
    model = record.get("model")
    workspace = config.get("workspace")
    parent = config.get("parent_id")
    return SessionInfo(
        id=session_id,
        name=name if isinstance(name, str) and name else session_id,
        model=model if isinstance(model, str) else "",
        created_at=float(created) if isinstance(created, (int, float)) else None,
        modified=None,
        size=None,
        workspace=workspace if isinstance(workspace, str) else None,
        parent_id=parent if isinstance(parent, str) else None,
    )


def read_header(path: str | Path, session_id: str | None = None) -> SessionInfo | None:
    """The session a log holds, from its first readable line; None when it has none.

    Reads only the start of the file (a damaged first line is skipped, as a restore skips
    it); never raises for the file's content.
    """
    path = Path(path)
    sid = session_id or path.stem
    try:
        info = os.stat(path)
        with open(path, "rb") as fh:
            buffer = b""
            scanned = 0
            while scanned < _MAX_SCAN:
                chunk = fh.read(_CHUNK)
                scanned += len(chunk)
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if not chunk:
                    lines.append(buffer)
                for raw in lines:
                    try:
                        record = json.loads(raw)
                    except (ValueError, RecursionError):
                        continue  # a torn or garbage line: the restore skips it too
                    if isinstance(record, dict):
                        found = _info(sid, record)
                        if found is not None:
                            return SessionInfo(
                                **{
                                    **found.__dict__,
                                    "modified": info.st_mtime,
                                    "size": info.st_size,
                                }
                            )
                if not chunk:
                    return None
    except OSError:
        return None
    return None


def stored_session_infos(store: SessionStore) -> list[SessionInfo]:
    """Every stored session the store lists, from its header (sessions without one are left
    out: a restore could not open them either)."""
    out: list[SessionInfo] = []
    for sid in store.list():
        if isinstance(store, FileSessionStore):
            found = read_header(store.path(sid), sid)
        else:  # a store without files: its records are at hand
            records = store.load(sid) or []
            first = next((r for r in records if _info(sid, r) is not None), None)
            found = None if first is None else _info(sid, first)
        if found is not None:
            out.append(found)
    return out
