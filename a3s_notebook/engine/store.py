"""Session stores: append-only JSONL files (the default) and memory.

One file per session, ``<dir>/<session_id>.jsonl``. The first line is a header record
with the config; every later line is one durable record (a message, a usage row, a
state change, a task update, a confirmation decision, ...). Appending costs the same at
message 10 and at message 10,000. Files are rewritten only atomically (temp file +
fsync + rename), when compaction or clear replaces the history.

Concurrency: one writer per session file. A writer holds an OS lock on
``<id>.jsonl.lock`` beside the file (``fcntl.flock``; the lock file names the holder's
pid). :meth:`FileSessionStore.open_for_writing` takes it for as long as a session is
open; an append, rewrite, delete or archive made without it takes it for that one call.
Another process, or another store object in this process, gets a
:class:`~a3s_notebook.engine.errors.SessionLockedError` at once (no waiting) naming the
holder's pid. Readers take no lock and change nothing on disk.

The lock is on a separate file, not on the session file itself, because an atomic
rewrite replaces the session file (a new inode): a lock held on the old inode would no
longer exclude anyone. The lock file is removed when its holder lets go (while still
holding it, so a contender that opened the old file notices and retries).

Durability: every append goes to the OS in one call per line (it survives a crash of the
process or kernel); ``fsync_appends=True`` also survives a power cut, at a cost per line.
A failed append (disk full, ...) truncates the file back to where it was, so the file
always ends on a line boundary and the next record is whole; a failed first line leaves
no file at all. A torn last line left by a crash is closed off by the next append (it
starts on a fresh line) and skipped by readers.

Readers survive any input: a line that is not JSON, not UTF-8, not an object, or nested
too deep is skipped with a :class:`SessionFileWarning` naming the file and line; a folder,
an unreadable or an empty file gives a warning and no records. Every other record is kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import stat
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from a3s_notebook.engine.config import MAX_SESSION_ID_LENGTH, validate_session_id
from a3s_notebook.engine.errors import SessionLockedError, SessionNotFoundError, StoreError

__all__ = [
    "FORMAT_VERSION",
    "FileSessionStore",
    "LockingSessionStore",
    "MemorySessionStore",
    "Opener",
    "SessionFileWarning",
    "SessionStore",
    "archive_ids",
    "read_records",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
_SECRET_KEYS = frozenset({"api_key", "apikey", "api-key", "authorization", "x-api-key"})

Opener = Callable[[Path, str], IO[bytes]]
"""Opens a session file: ``opener(path, mode)`` with mode ``"rb"`` (read), ``"a+b"``
(append; the store also reads the last byte) or ``"xb"`` (create a new file). The
default is ``open(path, mode, buffering=0)``. Inject one to simulate faults (a disk that
fills up part way through a write, an unreadable file, a read-only folder)."""


def _default_opener(path: Path, mode: str) -> IO[bytes]:
    # unbuffered: each write is one system call, so a failure is seen where it happens
    return open(path, mode, buffering=0)


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


@runtime_checkable
class LockingSessionStore(SessionStore, Protocol):
    """A store with one writer per session and archives (both built-in stores are).

    ``isinstance(store, LockingSessionStore)`` tells a custom store without them apart.
    """

    def open_for_writing(self, session_id: str) -> None:
        """Become the session's one writer until :meth:`close` (counted, re-entrant)."""
        ...

    def close(self, session_id: str) -> None:
        """Stop being the session's writer; closing a session not open is fine."""
        ...

    def archive(self, session_id: str) -> str:
        """Copy a session under a new unique id (never overwriting); return that id."""
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


def _encode(record: dict[str, Any]) -> bytes:
    """One record as one UTF-8 JSON line (ending in a newline), keys scrubbed."""
    try:
        clean = _scrub(record)
        text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        kind = record.get("kind", record.get("type")) if isinstance(record, dict) else None
        raise StoreError(
            f"a {kind!r} record cannot be written as JSON ({type(exc).__name__}: {exc}); "
            "nothing was written"
        ) from None
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate (e.g. from undecodable tool output): escape it, keep the line
        return (json.dumps(clean, ensure_ascii=True, separators=(",", ":")) + "\n").encode()


def _dumps(record: dict[str, Any]) -> str:
    return _encode(record).decode("utf-8").rstrip("\n")


def archive_ids(session_id: str, now: float) -> Iterator[str]:
    """Candidate archive ids for a session, first choice first.

    ``<id>-<YYYYmmdd-HHMMSS>`` (local time), then ``-2``, ``-3``, ... and finally random
    suffixes; the id part is shortened when needed to keep within the id length limit.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    numbered = (f"-{n}" for n in range(2, 100))
    random = (f"-{secrets.token_hex(4)}" for _ in range(20))
    for suffix in ("", *numbered, *random):
        tail = f"-{stamp}{suffix}"
        candidate = session_id[: MAX_SESSION_ID_LENGTH - len(tail)] + tail
        yield validate_session_id(candidate)


class MemorySessionStore:
    """Records kept in this process only."""

    backend_name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def append(self, session_id: str, record: dict[str, Any]) -> None:
        """Append one record (a JSON round trip, so the copy is independent)."""
        copy = json.loads(_encode(record))
        with self._lock:
            self._records.setdefault(session_id, []).append(copy)

    def rewrite(self, session_id: str, records: list[dict[str, Any]]) -> None:
        """Replace all records."""
        copies = [json.loads(_encode(r)) for r in records]
        with self._lock:
            self._records[session_id] = copies

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

    def open_for_writing(self, session_id: str) -> None:
        """Nothing to lock in memory (one process)."""
        validate_session_id(session_id)

    def close(self, session_id: str) -> None:
        """Nothing to release."""

    def archive(self, session_id: str) -> str:
        """Copy a session's records under a new unique id; return that id."""
        with self._lock:
            recs = self._records.get(session_id)
            if recs is None:
                raise SessionNotFoundError(f"Session not found: {session_id}")
            for new_id in archive_ids(session_id, self._clock()):
                if new_id not in self._records:
                    self._records[new_id] = [json.loads(json.dumps(r)) for r in recs]
                    return new_id
        raise StoreError(f"no free archive id for session {session_id!r}")


def _rename(store: SessionStore, session_id: str, new_id: str) -> None:
    records = store.load(session_id)
    if records is None:
        return
    for rec in records:
        if rec.get("kind") == "header":  # format 1
            rec["id"] = new_id
        elif rec.get("type") == "session_created" and "session_id" in rec:  # the event log
            rec["session_id"] = new_id
    store.rewrite(new_id, records)
    store.delete(session_id)


# --- reading ----------------------------------------------------------------------------


def _warn(message: str) -> None:
    warnings.warn(message, SessionFileWarning, stacklevel=3)


def read_records(path: str | Path, *, opener: Opener | None = None) -> list[dict[str, Any]]:
    """Read a session JSONL file, skipping (with a warning) whatever does not decode.

    Never raises for the file's content or kind and never writes: a folder, a special
    file, an unreadable or an empty file gives a warning and ``[]``; a line that is not
    UTF-8, not JSON, not a JSON object or nested too deep is skipped with a warning that
    names the file and line.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        _warn(f"{path}: skipped the file: it cannot be read ({exc})")
        return []
    if stat.S_ISDIR(info.st_mode):
        _warn(f"{path}: skipped: it is a folder, not a session file")
        return []
    if not stat.S_ISREG(info.st_mode):
        _warn(f"{path}: skipped: it is not a regular file")
        return []
    try:
        with (opener or _default_opener)(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        _warn(f"{path}: skipped the file: it cannot be read ({exc})")
        return []
    if not data:
        _warn(f"{path}: skipped: the file is empty")
        return []
    records: list[dict[str, Any]] = []
    lines = data.split(b"\n")
    torn_tail = not data.endswith(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        problem: str
        try:
            rec = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problem = f"not valid UTF-8 ({exc})"
        except RecursionError:
            problem = "nested too deep to read"
        except ValueError as exc:
            problem = str(exc)
        else:
            if isinstance(rec, dict):
                records.append(rec)
                continue
            problem = f"a record must be a JSON object, got {type(rec).__name__}"
        last = number == len(lines) and torn_tail
        what = "torn last line (an interrupted write)" if last else "unreadable line"
        _warn(f"{path}: skipped {what} {number}: {problem}. Every other record was kept.")
    return records


# --- the writer lock --------------------------------------------------------------------

_LOCK_OFFSET = 4096  # Windows locks this byte, so the pid at the start stays readable

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import errno
    import fcntl

    _CONTENDED = frozenset({errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK})

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _CONTENDED:
                return False
            raise
        return True


def _read_holder(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        head = os.read(fd, 512)
        pid = json.loads(head.decode("utf-8")).get("pid")
    except (OSError, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None


class _WriterLock:
    """An exclusive, non-blocking OS lock on ``<id>.jsonl.lock`` naming its holder."""

    def __init__(self, path: Path, session_id: str, data_path: Path) -> None:
        self.path = path
        self.session_id = session_id
        self.data_path = data_path
        self._fd: int | None = None
        self._owner = 0  # the pid that took the lock (a forked child must not remove it)

    def acquire(self) -> None:
        for _ in range(64):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(
                    f"cannot write in the session folder {self.path.parent}: creating the "
                    f"lock file {self.path.name} failed ({exc}). Pass a writable folder."
                ) from exc
            try:
                if not self._lock(fd):
                    raise self._locked_error(_read_holder(fd))
                # the holder before us may have removed the file as it let go: if so we
                # locked a file nobody else sees; try again on the live one
                try:
                    live = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    live = False
                if not live:
                    os.close(fd)
                    fd = -1
                    continue
                info = {"pid": os.getpid(), "host": socket.gethostname()}
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, (json.dumps(info) + "\n").encode())
            except BaseException:
                if fd >= 0:
                    os.close(fd)
                raise
            self._fd = fd
            self._owner = os.getpid()
            return
        raise StoreError(f"could not take the lock {self.path}: it keeps being replaced")

    def _lock(self, fd: int) -> bool:
        try:
            return _try_lock(fd)
        except OSError as exc:
            # a file system without locks (some network mounts): write, but say so
            logger.warning(
                "session %s: %s cannot be locked (%s); one writer per file is not enforced",
                self.session_id,
                self.path,
                exc,
            )
            return True

    def _locked_error(self, pid: int | None) -> SessionLockedError:
        if pid == os.getpid():
            who = f"another session store in this process (pid {pid})"
        elif pid is not None:
            who = f"another process (pid {pid})"
        else:
            who = "another process (pid unknown)"
        return SessionLockedError(
            f"session {self.session_id!r} is open for writing by {who}: a session file "
            f"({self.data_path}) has one writer at a time. Close the session there (or shut "
            "that kernel down), open it read-only, or use another session id.",
            session_id=self.session_id,
            pid=pid,
            path=str(self.data_path),
        )

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform != "win32" and self._owner == os.getpid():
            # removed while still held: a contender that opened it sees it is gone
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(fd)  # closing lets go of the lock


@dataclass
class _Writer:
    lock: _WriterLock
    count: int
    wrote: bool = False
    """Whether a line was appended while this writer was open."""


def _release_all(writers: dict[str, _Writer]) -> None:
    held = list(writers.values())
    writers.clear()
    for writer in held:
        writer.lock.release()


def _write_all(fh: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = fh.write(view)
        if not n:
            raise OSError(f"the write made no progress ({len(view)} bytes left)")
        view = view[n:]


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FileSessionStore:
    """One append-only JSONL file per session under ``directory``, one writer per file.

    ``opener`` replaces ``open()`` for session files (fault injection in tests; see
    :data:`Opener`); ``clock`` gives the time used in archive names; ``fsync_appends``
    makes every append durable across a power cut (slower).
    """

    backend_name = "file"

    def __init__(
        self,
        directory: str | Path = ".a3s/sessions",
        *,
        opener: Opener | None = None,
        clock: Callable[[], float] = time.time,
        fsync_appends: bool = False,
    ) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the session folder {self.directory}: {exc}. Pass a writable "
                "folder, e.g. SessionManager(store='.a3s/sessions')"
            ) from exc
        if not self.directory.is_dir():
            raise StoreError(f"the session folder {self.directory} is not a folder")
        self._opener: Opener = opener or _default_opener
        self._clock = clock
        self._fsync_appends = fsync_appends
        self._lock = threading.RLock()
        self._writers: dict[str, _Writer] = {}
        self._healthy = False
        # a store dropped (or a process ending) without close() still lets go of its locks
        weakref.finalize(self, _release_all, self._writers)

    def __repr__(self) -> str:
        return f"FileSessionStore({str(self.directory)!r}, writing={sorted(self._writers)})"

    def path(self, session_id: str) -> Path:
        """The file of a session (the id is validated, so it cannot leave the folder)."""
        return self.directory / f"{validate_session_id(session_id)}.jsonl"

    def lock_path(self, session_id: str) -> Path:
        """The lock file of a session's writer (present only while it is held)."""
        return self.directory / f"{validate_session_id(session_id)}.jsonl.lock"

    # --- one writer per file -----------------------------------------------------------

    def open_for_writing(self, session_id: str) -> None:
        """Become the session's one writer until :meth:`close`.

        Raises :class:`SessionLockedError` at once if another process or store holds it,
        and :class:`StoreError` if nothing can be written here (a read-only folder, a
        folder where the file should be). Re-entrant: each call needs one ``close``.
        """
        path = self.path(session_id)
        with self._lock:
            writer = self._writers.get(session_id)
            if writer is not None:
                writer.count += 1
                return
            if path.is_dir():
                raise StoreError(f"cannot write session {session_id!r}: {path} is a folder")
            self._check_writable()
            lock = _WriterLock(self.lock_path(session_id), session_id, path)
            lock.acquire()
            self._writers[session_id] = _Writer(lock, 1)

    def close(self, session_id: str) -> None:
        """Stop being the session's writer (after as many closes as opens)."""
        with self._lock:
            writer = self._writers.get(session_id)
            if writer is None:
                return
            writer.count -= 1
            if writer.count <= 0:
                del self._writers[session_id]
                try:
                    if writer.wrote:
                        # the listing's index brought up to date while nothing else
                        # writes: a folder of closed sessions lists without scanning a log
                        from a3s_notebook.engine._index import read_info

                        read_info(self.path(session_id), session_id)
                finally:
                    writer.lock.release()

    def close_all(self) -> None:
        """Let go of every session this store writes."""
        with self._lock:
            _release_all(self._writers)

    def is_open_for_writing(self, session_id: str) -> bool:
        """Whether this store is the session's writer now."""
        with self._lock:
            return session_id in self._writers

    @contextlib.contextmanager
    def writer(self, session_id: str) -> Iterator[None]:
        """``with store.writer(id):`` -- :meth:`open_for_writing` then :meth:`close`."""
        self.open_for_writing(session_id)
        try:
            yield
        finally:
            self.close(session_id)

    @contextlib.contextmanager
    def _writing(self, session_id: str) -> Iterator[None]:
        # the caller holds self._lock; without an open writer, lock for this call only
        if session_id in self._writers:
            yield
            return
        lock = _WriterLock(self.lock_path(session_id), session_id, self.path(session_id))
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    # --- writing -----------------------------------------------------------------------

    def append(self, session_id: str, record: dict[str, Any]) -> None:
        """Append one line. On failure the file is cut back to where it was."""
        data = _encode(record)
        path = self.path(session_id)
        with self._lock, self._writing(session_id):
            self._append_bytes(path, data)
            if (writer := self._writers.get(session_id)) is not None:
                writer.wrote = True

    def _append_bytes(self, path: Path, data: bytes) -> None:
        # the caller holds the writer lock, so nobody else creates the file in between
        existed = os.path.lexists(path)
        try:
            fh = self._opener(path, "a+b")
        except IsADirectoryError as exc:
            raise StoreError(f"cannot append to {path}: it is a folder") from exc
        except OSError as exc:
            raise StoreError(f"cannot write the session file {path}: {exc}") from exc
        try:
            with fh:
                self._append_to(fh, path, data)
        except BaseException:
            if not existed:
                # this append made the file (a session's first line) and wrote nothing:
                # leave no empty file behind, or the id would look taken and its file
                # unreadable (removed once closed, for Windows)
                with contextlib.suppress(OSError):
                    if os.path.getsize(path) == 0:
                        path.unlink()
            raise

    def _append_to(self, fh: IO[bytes], path: Path, data: bytes) -> None:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        prefix = b""
        if size:
            # a crash may have left a partial last line: start ours on a new line
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                prefix = b"\n"
        try:
            _write_all(fh, prefix + data)
            if self._fsync_appends:
                os.fsync(fd)
        except BaseException as exc:
            # never leave half a line: the file ends where it ended before
            try:
                os.ftruncate(fd, size)
            except OSError as cut:
                logger.warning("%s: could not cut back a failed write: %s", path, cut)
            if isinstance(exc, OSError):
                raise StoreError(
                    f"could not append to {path}: {exc}. The file was left as it was "
                    "(ending on a whole line)."
                ) from exc
            raise

    def rewrite(self, session_id: str, records: list[dict[str, Any]]) -> None:
        """Write all records to a temp file, fsync it, and rename it over the old file."""
        data = b"".join(_encode(r) for r in records)
        path = self.path(session_id)
        with self._lock, self._writing(session_id):
            self._replace(path, data)

    def _temp_beside(self, path: Path) -> Path:
        return path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")

    def _write_temp(self, path: Path, data: bytes) -> Path:
        tmp = self._temp_beside(path)
        try:
            with self._opener(tmp, "xb") as fh:
                _write_all(fh, data)
                os.fsync(fh.fileno())
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):
                raise StoreError(f"could not write {path}: {exc}. Nothing was changed.") from exc
            raise
        return tmp

    def _replace(self, path: Path, data: bytes) -> None:
        tmp = self._write_temp(path, data)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreError(f"could not replace {path}: {exc}. Nothing was changed.") from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        _fsync_dir(path.parent)

    def delete(self, session_id: str) -> None:
        """Remove a session's file; missing is fine."""
        path = self.path(session_id)
        with self._lock, self._writing(session_id):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StoreError(f"could not delete {path}: {exc}") from exc
            from a3s_notebook.engine._index import index_path

            with contextlib.suppress(OSError):  # derived: a stale one would be rebuilt anyway
                index_path(path).unlink(missing_ok=True)

    def rename(self, session_id: str, new_id: str) -> None:
        """Keep a session under another id: the new file is written atomically first.

        Records are re-serialised (the header id changes); :meth:`archive` keeps bytes.
        """
        with self._lock:
            _rename(self, session_id, new_id)

    def archive(self, session_id: str) -> str:
        """Copy the session's file byte for byte under a new unique id; return that id.

        The id is ``<id>-<YYYYmmdd-HHMMSS>`` (then ``-2``, ``-3``, ...): an existing file
        is never overwritten, and lines that do not parse are copied as they are. The
        original stays (delete it if the archive replaces it).
        """
        src = self.path(session_id)
        with self._lock, self._writing(session_id):
            try:
                with self._opener(src, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                raise SessionNotFoundError(f"Session not found: {session_id}") from None
            except OSError as exc:
                raise StoreError(f"could not read {src} to archive it: {exc}") from exc
            for new_id in archive_ids(session_id, self._clock()):
                dest = self.path(new_id)
                if os.path.lexists(dest):
                    continue
                try:
                    with self._writing(new_id):
                        if self._publish(dest, data):
                            return new_id
                except SessionLockedError:
                    continue
        raise StoreError(f"no free archive id for session {session_id!r}")

    def _publish(self, dest: Path, data: bytes) -> bool:
        """Create ``dest`` with ``data`` whole, never overwriting; False if it exists."""
        tmp = self._write_temp(dest, data)
        try:
            try:
                os.link(tmp, dest)  # atomic, and fails if dest exists
            except FileExistsError:
                return False
            except OSError:
                # no hard links here: exclusive create, then write
                try:
                    with self._opener(dest, "xb") as fh:
                        _write_all(fh, data)
                        os.fsync(fh.fileno())
                except FileExistsError:
                    return False
                except OSError as exc:
                    with contextlib.suppress(OSError):
                        dest.unlink()
                    raise StoreError(f"could not write the archive {dest}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        _fsync_dir(dest.parent)
        return True

    # --- reading -----------------------------------------------------------------------

    def load(self, session_id: str) -> list[dict[str, Any]] | None:
        """The readable records of a session, or None if it has no file. Takes no lock."""
        path = self.path(session_id)
        if not os.path.lexists(path):
            return None
        return read_records(path, opener=self._opener)

    def list(self) -> list[str]:
        """Stored session ids (file stems), sorted."""
        ids = []
        for p in self.directory.glob("*.jsonl"):
            try:
                ids.append(validate_session_id(p.stem))
            except ValueError:
                continue  # not a file this store wrote
        return sorted(ids)

    def exists(self, session_id: str) -> bool:
        """Whether the session has a file."""
        return os.path.lexists(self.path(session_id))

    # --- health ------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if not self._healthy:
            self.health_check()

    def health_check(self) -> None:
        """Write, fsync and remove a probe file; StoreError if the folder is not writable."""
        probe = self.directory / f".health_check.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            with self._opener(probe, "xb") as fh:
                _write_all(fh, b"ok\n")
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(
                f"the session folder {self.directory} is not writable ({exc}): sessions "
                "there could not be saved. Pass a writable folder, or store='memory'."
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        self._healthy = True
