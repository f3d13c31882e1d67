"""Session stores: append-only JSONL files (the default) and memory.

One file per session, ``<dir>/<session_id>.jsonl``. The first line is a header record
with the config; every later line is one durable record (a message, a usage row, a
state change, a task update, a confirmation decision, ...). Appending costs the same at
message 10 and at message 10,000. Files are rewritten only atomically (temp file +
fsync + rename), when compaction or clear replaces the history.

A torn last line (a crash in the middle of a write) is skipped with a warning; any
other undecodable line is skipped with a warning naming the file and line, and every
other record is kept.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Protocol

from a3s_notebook.engine.config import validate_session_id
from a3s_notebook.engine.errors import StoreError

__all__ = [
    "FORMAT_VERSION",
    "FileSessionStore",
    "MemorySessionStore",
    "SessionFileWarning",
    "SessionStore",
    "read_records",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SECRET_KEYS = frozenset({"api_key", "apikey", "api-key", "authorization", "x-api-key"})


class SessionFileWarning(UserWarning):
    """A session file had a line that could not be read; the rest was kept."""


class SessionStore(Protocol):
    """Where session records go."""

    backend_name: str

    def append(self, session_id: str, record: dict[str, Any]) -> None:
        """Append one record."""
        ...

    def rewrite(self, session_id: str, records: list[dict[str, Any]]) -> None:
        """Replace all records atomically."""
        ...

    def load(self, session_id: str) -> list[dict[str, Any]] | None:
        """All readable records, or None if the session is not stored."""
        ...

    def delete(self, session_id: str) -> None:
        """Remove a session; missing is fine."""
        ...

    def list(self) -> list[str]:
        """Stored session ids."""
        ...

    def exists(self, session_id: str) -> bool:
        """Whether a session is stored."""
        ...

    def rename(self, session_id: str, new_id: str) -> None:
        """Store a session's records under another id (its header id is updated)."""
        ...


def _scrub(value: Any) -> Any:
    # defence in depth: whatever a caller puts in a record, no key reaches the disk
    if isinstance(value, dict):
        return {
            k: ("[redacted]" if str(k).lower() in _SECRET_KEYS else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(_scrub(record), ensure_ascii=False, separators=(",", ":"))


class MemorySessionStore:
    """Records kept in this process only."""

    backend_name = "memory"

    def __init__(self) -> None:
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def append(self, session_id: str, record: dict[str, Any]) -> None:
        """Append one record (a JSON round trip, so the copy is independent)."""
        with self._lock:
            self._records.setdefault(session_id, []).append(json.loads(_dumps(record)))

    def rewrite(self, session_id: str, records: list[dict[str, Any]]) -> None:
        """Replace all records."""
        with self._lock:
            self._records[session_id] = [json.loads(_dumps(r)) for r in records]

    def load(self, session_id: str) -> list[dict[str, Any]] | None:
        """A copy of the records."""
        with self._lock:
            recs = self._records.get(session_id)
            return None if recs is None else [dict(r) for r in recs]

    def delete(self, session_id: str) -> None:
        """Forget a session."""
        with self._lock:
            self._records.pop(session_id, None)

    def list(self) -> list[str]:
        """Session ids, sorted."""
        with self._lock:
            return sorted(self._records)

    def exists(self, session_id: str) -> bool:
        """Whether the session has records."""
        with self._lock:
            return session_id in self._records

    def rename(self, session_id: str, new_id: str) -> None:
        """Move a session's records to another id."""
        _rename(self, session_id, new_id)


def _rename(store: SessionStore, session_id: str, new_id: str) -> None:
    records = store.load(session_id)
    if records is None:
        return
    for rec in records:
        if rec.get("kind") == "header":
            rec["id"] = new_id
    store.rewrite(new_id, records)
    store.delete(session_id)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Read a session JSONL file, skipping (with a warning) lines that do not decode."""
    records: list[dict[str, Any]] = []
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn_tail = not data.endswith(b"\n") and data != b""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("a record must be a JSON object")
        except ValueError as exc:
            last = number == len(lines) and torn_tail
            what = "torn last line (an interrupted write)" if last else "unreadable line"
            warnings.warn(
                f"{path}: skipped {what} {number}: {exc}. Every other record was kept.",
                SessionFileWarning,
                stacklevel=2,
            )
            continue
        records.append(rec)
    return records


class FileSessionStore:
    """One append-only JSONL file per session under ``directory``."""

    backend_name = "file"

    def __init__(self, directory: str | Path = ".a3s/sessions") -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the session folder {self.directory}: {exc}. Pass a writable "
                "folder, e.g. SessionManager(store='.a3s/sessions')"
            ) from exc
        self._lock = threading.Lock()
        self._checked: set[str] = set()

    def path(self, session_id: str) -> Path:
        """The file of a session (the id is validated, so it cannot leave the folder)."""
        return self.directory / f"{validate_session_id(session_id)}.jsonl"

    def append(self, session_id: str, record: dict[str, Any]) -> None:
        """Append one line; a torn tail left by a crash is closed off first."""
        line = _dumps(record) + "\n"
        path = self.path(session_id)
        with self._lock:
            prefix = ""
            if session_id not in self._checked:
                # a crash may have left a partial last line: start ours on a new line
                if path.exists() and path.stat().st_size > 0:
                    with path.open("rb") as fh:
                        fh.seek(-1, os.SEEK_END)
                        if fh.read(1) != b"\n":
                            prefix = "\n"
                self._checked.add(session_id)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(prefix + line)

    def rewrite(self, session_id: str, records: list[dict[str, Any]]) -> None:
        """Write all records to a temp file, fsync it, and rename it over the old file."""
        path = self.path(session_id)
        tmp = path.with_name(f"{path.name}.{time.time_ns()}.{os.getpid()}.tmp")
        with self._lock:
            try:
                with tmp.open("w", encoding="utf-8") as fh:
                    for rec in records:
                        fh.write(_dumps(rec) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
            self._checked.add(session_id)

    def load(self, session_id: str) -> list[dict[str, Any]] | None:
        """The readable records of a session, or None if it has no file."""
        path = self.path(session_id)
        if not path.exists():
            return None
        # the file may have been cut or edited since our last append: check its tail again
        self._checked.discard(session_id)
        return read_records(path)

    def delete(self, session_id: str) -> None:
        """Remove a session's file; missing is fine."""
        with self._lock:
            self.path(session_id).unlink(missing_ok=True)
            self._checked.discard(session_id)

    def list(self) -> list[str]:
        """Stored session ids (file stems), sorted."""
        return sorted(p.stem for p in self.directory.glob("*.jsonl"))

    def exists(self, session_id: str) -> bool:
        """Whether the session has a file."""
        return self.path(session_id).exists()

    def rename(self, session_id: str, new_id: str) -> None:
        """Keep a session under another id: the new file is written atomically first."""
        _rename(self, session_id, new_id)

    def health_check(self) -> None:
        """Write and remove a probe file; raises StoreError if the folder is not writable."""
        probe = self.directory / ".health_check"
        try:
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"session folder {self.directory} is not writable: {exc}") from exc
