"""Listing stored sessions without restoring them.

A restore replays a whole log (seconds and gigabytes for a long session); a listing needs
only who each session is: the ``session_created`` line (format 1: the ``header`` record),
which the store writes first, the file's size and modification time, and the later
``config_changed`` / ``model_changed`` lines (a title, a rename, a model switch).

Those later lines are found by a byte search, never by parsing the log: an event type
appears unescaped only as a ``type`` value, so ``"config_changed"`` in a chunk marks a
line to parse. What a scan found is kept in ``<folder>/.a3s/index/<id>.json`` with the
offset it reached; the log is append-only, so the next listing reads only what was
appended since (a log that shrank or was replaced is scanned again from the start). The
index is derived: it can be deleted at any time, and a folder where it cannot be written
is listed all the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from a3s_notebook.engine.store import FileSessionStore, SessionStore

__all__ = ["SessionInfo", "index_path", "read_header", "read_info", "stored_session_infos"]

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
    title: str | None = None
    """Its short title (generated after the first answer, or set), if it has one."""


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


INDEX_DIR = Path(".a3s") / "index"
"""Where a listing keeps what it read of each log, relative to the folder of logs."""
_INDEX_VERSION = 1
_CHANGES = (b'"config_changed"', b'"model_changed"')
_TAIL = 32
"""Bytes before the scanned offset kept to check that the log was only appended to."""


def _apply(info: SessionInfo, record: dict[str, Any]) -> SessionInfo:
    kind = record.get("type")
    if kind == "model_changed":
        model = record.get("model")
        return replace(info, model=model) if isinstance(model, str) and model else info
    config = record.get("config")
    if kind != "config_changed" or not isinstance(config, dict):
        return info
    name, title, workspace = config.get("name"), config.get("title"), config.get("workspace")
    return replace(
        info,
        name=name if isinstance(name, str) and name else info.id,
        title=title if isinstance(title, str) and title else None,
        workspace=workspace if isinstance(workspace, str) else info.workspace,
    )


def _scan(path: Path, start: int, info: SessionInfo) -> tuple[int, SessionInfo]:
    """``info`` with the changes logged after ``start``, and the offset of the end of the
    last whole line read (a torn last line is left for the next listing)."""
    offset, carry = start, b""
    with open(path, "rb") as fh:
        fh.seek(start)
        while chunk := fh.read(1 << 20):
            data = carry + chunk
            end = data.rfind(b"\n") + 1
            whole, carry = data[:end], data[end:]
            starts = sorted(
                {
                    whole.rfind(b"\n", 0, hit) + 1
                    for needle in _CHANGES
                    for hit in _hits(whole, needle)
                }
            )
            for begin in starts:
                try:
                    record = json.loads(whole[begin : whole.index(b"\n", begin)])
                except (ValueError, RecursionError):
                    continue  # a garbage line: a restore skips it too
                if isinstance(record, dict):
                    info = _apply(info, record)
            offset += end
    return offset, info


def _hits(data: bytes, needle: bytes) -> list[int]:
    out, at = [], data.find(needle)
    while at != -1:
        out.append(at)
        at = data.find(needle, at + len(needle))
    return out


def _tail_at(path: Path, offset: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, offset - _TAIL))
        return fh.read(min(offset, _TAIL))


def index_path(log: Path) -> Path:
    """Where a listing keeps what it read of ``log``."""
    return log.parent / INDEX_DIR / f"{log.stem}.json"


def read_info(path: str | Path, session_id: str | None = None) -> SessionInfo | None:
    """The session a log holds as it is now (its header and later title, name and model
    changes), reading only what was appended since the last listing; None without a
    header. Never raises for the file's content."""
    path = Path(path)
    header = read_header(path, session_id)
    if header is None:
        return None
    index = index_path(path)
    info, start = header, 0
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        doc = json.loads(index.read_text(encoding="utf-8"))
        offset = int(doc["offset"])
        check = bytes.fromhex(doc["tail"])
        same = doc["version"] == _INDEX_VERSION and doc["created_at"] == header.created_at
        if same and offset <= (header.size or 0) and _tail_at(path, offset) == check:
            fields = {k: doc[k] for k in ("name", "model", "title", "workspace")}
            info, start = replace(header, **fields), offset
    try:
        offset, info = _scan(path, start, info)
        tail = _tail_at(path, offset)
    except OSError:
        return info
    if offset != start:
        doc = {
            "version": _INDEX_VERSION,
            "created_at": header.created_at,
            "offset": offset,
            "tail": tail.hex(),
            "name": info.name,
            "model": info.model,
            "title": info.title,
            "workspace": info.workspace,
        }
        _write_index(index, json.dumps(doc))
    return info


def _write_index(index: Path, text: str) -> None:
    tmp = index.with_name(f".{index.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:  # renamed into place: another process listing at once reads a whole file
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, index)
    except OSError:
        pass  # a read-only folder is listed all the same, from a full scan each time
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def stored_session_infos(store: SessionStore) -> list[SessionInfo]:
    """Every stored session the store lists, as it is now (sessions without a header are
    left out: a restore could not open them either)."""
    out: list[SessionInfo] = []
    for sid in store.list():
        if isinstance(store, FileSessionStore):
            found = read_info(store.path(sid), sid)
        else:  # a store without files: its records are at hand
            records = store.load(sid) or []
            first = next((r for r in records if _info(sid, r) is not None), None)
            found = None if first is None else _info(sid, first)
            for record in records:
                found = found and _apply(found, record)
        if found is not None:
            out.append(found)
    return out
