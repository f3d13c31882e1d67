"""Agent memory (engine-spec section 9): items, stores, relevance and the memory API.

A :class:`MemoryItem` is one thing worth remembering (a fact, a pattern that worked, a
failure to avoid). Stores keep items: :class:`InMemoryMemoryStore` (gone with the
process) and :class:`FileMemoryStore` (one JSON item per line, by default
``<workspace>/.a3s/memories/memories.jsonl``, shared by every session on that workspace).
:class:`AgentMemory` is the API a session exposes: ``remember``, ``recall``, ``search``,
``clear``, each reported as an event (``memory_stored``, ``memory_recalled``,
``memories_searched``, ``memory_cleared``).

Relevance at time *t* is ``importance * 0.7 + exp(-age_days / 30) * 0.3`` (the spec's
weights, see :class:`RelevanceConfig`). Search matches on the *words* of the query
(quirk 5 fixed): an item matches when its content or tags contain one of the query's
words (three letters or more, common English words left out); matches are ordered by
relevance, then by how many query words they contain.

The file store is safe from any thread and across processes on one folder: every
operation holds an OS lock on ``<file>.lock`` (``flock``) for its duration and reads the
file again when another writer changed it. Adding an item appends one line; deleting,
clearing and recording an access rewrite the file atomically (temp file + fsync +
rename). A line that is not a valid item (a torn write, a hand edit gone wrong) is
skipped with a :class:`MemoryFileWarning` and written back unchanged on every rewrite,
so nothing a reader could not parse is ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import sys
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine.errors import StoreError
from a3s_notebook.engine.events import (
    AgentEvent,
    MemoriesSearched,
    MemoryCleared,
    MemoryRecalled,
    MemoryStored,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MEMORY_FILE",
    "AgentMemory",
    "FileMemoryStore",
    "InMemoryMemoryStore",
    "MemoryFileWarning",
    "MemoryItem",
    "MemoryStats",
    "MemoryStore",
    "MemoryType",
    "RelevanceConfig",
    "query_words",
]

logger = logging.getLogger(__name__)

MEMORY_FILE = Path(".a3s") / "memories" / "memories.jsonl"
"""Where a workspace's file store lives, relative to the workspace."""

_SECONDS_PER_DAY = 86_400.0
_LOCK_TIMEOUT_S = 10.0

Clock = Callable[[], float]
"""Unix seconds now (``time.time``; tests pass a fixed clock)."""


class MemoryType(StrEnum):
    """What kind of memory an item is (serialized in snake_case)."""

    EPISODIC = "episodic"
    """Something that happened (a run, a failure)."""
    SEMANTIC = "semantic"
    """A fact or a preference."""
    PROCEDURAL = "procedural"
    """How to do something (a pattern that worked)."""
    WORKING = "working"
    """Scratch notes for the task at hand."""


@dataclass(frozen=True)
class RelevanceConfig:
    """The relevance formula's constants (the spec's defaults)."""

    decay_days: float = 30.0
    """e-folding time of the recency term, in days."""
    importance_weight: float = 0.7
    recency_weight: float = 0.3


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class MemoryItem(BaseModel):
    """One remembered thing.

    ``importance`` is 0..1 (default 0.5; values outside are clamped, as the spec's builder
    does); ``timestamp`` is when it was stored (UTC); ``access_count`` and
    ``last_accessed`` grow each time a recall returns it.
    """

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    content: str
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    importance: float = 0.5
    tags: list[str] = Field(default_factory=list)
    memory_type: MemoryType = MemoryType.EPISODIC
    metadata: dict[str, str] = Field(default_factory=dict)
    access_count: int = 0
    last_accessed: datetime | None = None
    _lower: str = PrivateAttr(default="")

    def model_post_init(self, context: Any, /) -> None:
        """Keep a lower-cased copy of the content for matching (not serialized)."""
        self._lower = self.content.lower()

    @field_validator("importance", mode="before")
    @classmethod
    def _importance(cls, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ValueError("must be a number between 0 and 1 (e.g. 0.8 for important)")
        return min(1.0, max(0.0, float(v)))

    @field_validator("content")
    @classmethod
    def _content(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty: say what to remember")
        return v

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [v]  # a single tag given as a string is a common slip
        return v

    def relevance(self, now: float, config: RelevanceConfig | None = None) -> float:
        """``importance * 0.7 + exp(-age_days / 30) * 0.3`` at Unix time ``now``."""
        cfg = config or RelevanceConfig()
        age_days = max(0.0, now - self.timestamp.timestamp()) / _SECONDS_PER_DAY
        recency = math.exp(-age_days / cfg.decay_days) if cfg.decay_days > 0 else 0.0
        return self.importance * cfg.importance_weight + recency * cfg.recency_weight

    def searchable(self) -> str:
        """The lower-cased text a search matches against (content and tags)."""
        return self._lower + "\n" + " ".join(self.tags).lower()

    def record_access(self, now: float) -> None:
        """Count one more recall, at Unix time ``now``."""
        self.access_count += 1
        self.last_accessed = _utc(now)


# words too common to say anything about what a memory is about
_STOPWORD_TEXT = (
    "the and for are but not you all any can had her was one our out has his how its may "
    "new now old see two who did get let put say she too use with that this from they will "
    "would there their what when which about into your than them then these those been "
    "were have does some could should shall also just over only very such each other more "
    "most much many here where while why please tell give show make like want need know"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_words(query: str) -> list[str]:
    """The words of ``query`` a search matches on: lower-cased, three letters or more,
    common English words left out, each once, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if len(word) >= 3 and word not in _STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


@dataclass(frozen=True)
class MemoryStats:
    """How many items each tier holds."""

    long_term_count: int
    short_term_count: int
    working_count: int


@runtime_checkable
class MemoryStore(Protocol):
    """Where memory items are kept (the spec's MemoryStore interface)."""

    def store(self, item: MemoryItem) -> None:
        """Add ``item`` (an item with the same id is replaced)."""

    def retrieve(self, memory_id: str) -> MemoryItem | None:
        """The item with this id, or None."""

    def search(self, query: str, limit: int = 10) -> list[MemoryItem]:
        """Items matching the words of ``query``, most relevant first."""

    def search_by_tags(self, tags: Sequence[str], limit: int = 10) -> list[MemoryItem]:
        """Items sharing a tag with ``tags``, most relevant first."""

    def get_recent(self, limit: int = 10) -> list[MemoryItem]:
        """The newest items first."""

    def get_important(self, threshold: float = 0.7, limit: int = 10) -> list[MemoryItem]:
        """Items with importance >= ``threshold``, most important first."""

    def all(self) -> list[MemoryItem]:
        """Every item, in the order they were stored."""

    def record_access(self, memory_ids: Sequence[str]) -> None:
        """Count one recall of each of these items (now)."""

    def delete(self, memory_id: str) -> bool:
        """Remove one item; True if it was there."""

    def clear(self) -> int:
        """Remove every item; how many were removed."""

    def count(self) -> int:
        """How many items there are."""


class _Queries:
    """The store queries, over whatever list of items a store has."""

    relevance_config: RelevanceConfig
    _clock: Clock

    def _items(self) -> list[MemoryItem]:
        raise NotImplementedError

    def _ranked(self, items: Iterable[MemoryItem], limit: int) -> list[MemoryItem]:
        now = self._clock()
        cfg = self.relevance_config
        ordered = sorted(items, key=lambda i: i.relevance(now, cfg), reverse=True)
        return ordered[: max(0, limit)]

    def retrieve(self, memory_id: str) -> MemoryItem | None:
        """The item with this id, or None."""
        return next((i for i in self._items() if i.id == memory_id), None)

    def search(self, query: str, limit: int = 10) -> list[MemoryItem]:
        """Items whose content or tags contain a word of ``query``, most relevant first
        (ties: more query words matched first)."""
        words = query_words(query)
        if not words:
            return []
        now = self._clock()
        cfg = self.relevance_config
        hits: list[tuple[float, int, int, MemoryItem]] = []
        for n, item in enumerate(self._items()):
            text = item.searchable()
            matched = sum(1 for w in words if w in text)
            if matched:
                hits.append((item.relevance(now, cfg), matched, -n, item))
        hits.sort(key=lambda h: (h[0], h[1], h[2]), reverse=True)
        return [h[3] for h in hits[: max(0, limit)]]

    def search_by_tags(self, tags: Sequence[str], limit: int = 10) -> list[MemoryItem]:
        """Items sharing a tag (case-insensitive) with ``tags``, most relevant first."""
        wanted = {t.lower() for t in tags}
        return self._ranked(
            (i for i in self._items() if wanted & {t.lower() for t in i.tags}), limit
        )

    def get_recent(self, limit: int = 10) -> list[MemoryItem]:
        """The newest items first."""
        items = sorted(self._items(), key=lambda i: i.timestamp, reverse=True)
        return items[: max(0, limit)]

    def get_important(self, threshold: float = 0.7, limit: int = 10) -> list[MemoryItem]:
        """Items with importance >= ``threshold``, most important first."""
        items = [i for i in self._items() if i.importance >= threshold]
        items.sort(key=lambda i: i.importance, reverse=True)
        return items[: max(0, limit)]

    def all(self) -> list[MemoryItem]:
        """Every item, in the order they were stored."""
        return list(self._items())

    def count(self) -> int:
        """How many items there are."""
        return len(self._items())


class InMemoryMemoryStore(_Queries):
    """Items in a list, for this process only. Safe from any thread."""

    def __init__(
        self, *, clock: Clock = time.time, relevance: RelevanceConfig | None = None
    ) -> None:
        self._clock = clock
        self.relevance_config = relevance or RelevanceConfig()
        self._list: list[MemoryItem] = []
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"InMemoryMemoryStore({len(self._list)} items)"

    def _items(self) -> list[MemoryItem]:
        with self._lock:
            return [i.model_copy() for i in self._list]

    def store(self, item: MemoryItem) -> None:
        """Add ``item`` (an item with the same id is replaced)."""
        with self._lock:
            self._list = [i for i in self._list if i.id != item.id] + [item.model_copy()]

    def record_access(self, memory_ids: Sequence[str]) -> None:
        """Count one recall of each of these items (now)."""
        now = self._clock()
        with self._lock:
            for item in self._list:
                if item.id in memory_ids:
                    item.record_access(now)

    def delete(self, memory_id: str) -> bool:
        """Remove one item; True if it was there."""
        with self._lock:
            before = len(self._list)
            self._list = [i for i in self._list if i.id != memory_id]
            return len(self._list) < before

    def clear(self) -> int:
        """Remove every item; how many were removed."""
        with self._lock:
            n = len(self._list)
            self._list = []
            return n


class MemoryFileWarning(UserWarning):
    """A line of a memory file could not be read; it was skipped (and is kept on disk)."""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import errno
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK):
                return False
            raise
        return True


# an entry of the file: a parsed item, or the raw bytes of a line that is not one
_Entry = MemoryItem | bytes


class FileMemoryStore(_Queries):
    """Items in a JSONL file, one item per line; safe across threads and processes.

    ``path`` is the file (its folders are made). Every call holds an OS lock on
    ``<path>.lock`` while it reads or writes, so two processes (two kernels) on one
    workspace never lose each other's items; a lock held longer than ``lock_timeout``
    seconds raises :class:`StoreError`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock = time.time,
        relevance: RelevanceConfig | None = None,
        lock_timeout: float = _LOCK_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self.relevance_config = relevance or RelevanceConfig()
        self.lock_timeout = lock_timeout
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.RLock()
        self._entries: list[_Entry] = []
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) last read
        self._warned: set[bytes] = set()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the memory folder {self.path.parent}: {exc}. Pass a "
                "writable workspace, or use memory='memory' (kept in this process only)."
            ) from exc
        if self.path.is_dir():
            raise StoreError(f"the memory file {self.path} is a folder: remove or rename it")

    def __repr__(self) -> str:
        return f"FileMemoryStore({str(self.path)!r})"

    # --- the lock and the file ---------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(
                    f"cannot open the memory lock {self._lock_path}: {exc}. Pass a writable "
                    "workspace."
                ) from exc
            try:
                deadline = time.monotonic() + self.lock_timeout
                while not self._take(fd):
                    if time.monotonic() > deadline:
                        raise StoreError(
                            f"the memory file {self.path} stayed locked by another process "
                            f"for {self.lock_timeout:g} s; try again, or close the other kernel"
                        )
                    time.sleep(0.005)  # another process holds it for one short operation
                yield
            finally:
                os.close(fd)  # closing lets go of the lock

    def _take(self, fd: int) -> bool:
        try:
            return _try_lock(fd)
        except OSError as exc:
            # a file system without locks (some network mounts): go on, but say so
            logger.warning("%s cannot be locked (%s): writers are not excluded", self.path, exc)
            return True

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load(self) -> list[_Entry]:
        """The file's entries (read again only when the file changed); hold the lock."""
        sig = self._signature()
        if sig == self._seen:
            return self._entries
        entries: list[_Entry] = []
        if sig is not None:
            try:
                data = self.path.read_bytes()
            except OSError as exc:
                raise StoreError(f"cannot read the memory file {self.path}: {exc}") from exc
            for number, line in enumerate(data.split(b"\n"), start=1):
                if not line.strip():
                    continue
                item = self._parse(line, number)
                entries.append(item if item is not None else line)
        self._entries, self._seen = entries, sig
        return entries

    def _parse(self, line: bytes, number: int) -> MemoryItem | None:
        try:
            data = json.loads(line.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return MemoryItem.model_validate(data)
        except (ValueError, ValidationError, RecursionError) as exc:
            if line not in self._warned:
                self._warned.add(line)
                problem = str(exc).splitlines()[0][:200]
                warnings.warn(
                    f"{self.path}: line {number} is not a memory item ({problem}); skipped, "
                    "and kept in the file as it is",
                    MemoryFileWarning,
                    stacklevel=4,
                )
            return None

    @staticmethod
    def _line(item: MemoryItem) -> bytes:
        return (item.model_dump_json() + "\n").encode("utf-8")

    def _append(self, item: MemoryItem) -> None:
        line = self._line(item)
        with open(self.path, "ab") as fh:
            start = fh.tell()
            if start:
                # a torn last line (a crash mid-write) must not swallow this item
                with open(self.path, "rb") as rd:
                    rd.seek(start - 1)
                    if rd.read(1) != b"\n":
                        line = b"\n" + line
            try:
                fh.write(line)
                fh.flush()
            except OSError as exc:
                with contextlib.suppress(OSError):
                    fh.truncate(start)
                raise StoreError(f"cannot write the memory file {self.path}: {exc}") from exc
        self._entries.append(item)
        self._seen = self._signature()

    def _rewrite(self, entries: list[_Entry]) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                for entry in entries:
                    fh.write(self._line(entry) if isinstance(entry, MemoryItem) else entry + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"cannot write the memory file {self.path}: {exc}") from exc
        self._entries, self._seen = entries, self._signature()

    # --- the store ---------------------------------------------------------------------

    def _items(self) -> list[MemoryItem]:
        with self._locked():
            return [e.model_copy() for e in self._load() if isinstance(e, MemoryItem)]

    def store(self, item: MemoryItem) -> None:
        """Add ``item`` (one appended line; an item with the same id is replaced)."""
        with self._locked():
            entries = self._load()
            if any(isinstance(e, MemoryItem) and e.id == item.id for e in entries):
                kept = [e for e in entries if not (isinstance(e, MemoryItem) and e.id == item.id)]
                self._rewrite([*kept, item.model_copy()])
            else:
                self._append(item.model_copy())

    def record_access(self, memory_ids: Sequence[str]) -> None:
        """Count one recall of each of these items (now)."""
        if not memory_ids:
            return
        now = self._clock()
        with self._locked():
            entries = [e.model_copy() if isinstance(e, MemoryItem) else e for e in self._load()]
            for e in entries:
                if isinstance(e, MemoryItem) and e.id in memory_ids:
                    e.record_access(now)
            self._rewrite(entries)

    def delete(self, memory_id: str) -> bool:
        """Remove one item; True if it was there."""
        with self._locked():
            entries = self._load()
            kept = [e for e in entries if not (isinstance(e, MemoryItem) and e.id == memory_id)]
            if len(kept) == len(entries):
                return False
            self._rewrite(kept)
            return True

    def clear(self) -> int:
        """Remove every item (lines that are not items stay); how many were removed."""
        with self._locked():
            entries = self._load()
            kept: list[_Entry] = [e for e in entries if not isinstance(e, MemoryItem)]
            removed = len(entries) - len(kept)
            if removed:
                self._rewrite(kept)
            return removed


class AgentMemory:
    """The memory API of a session: a long-term store plus short-term and working tiers.

    ``emit`` receives the memory events (the session passes its own emitter, so they are
    in the session's log and event stream). The long-term tier is the store; the
    short-term tier holds the last 100 items remembered in this process; the working
    tier at most 10 items (the most relevant are kept).
    """

    MAX_SHORT_TERM = 100
    MAX_WORKING = 10

    def __init__(
        self,
        store: MemoryStore,
        *,
        emit: Callable[[AgentEvent], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self._emit = emit or (lambda _event: None)
        self._clock: Clock = clock or getattr(store, "_clock", None) or time.time
        self._short: deque[MemoryItem] = deque(maxlen=self.MAX_SHORT_TERM)
        self._working: list[MemoryItem] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AgentMemory({self.store!r})"

    # --- remember --------------------------------------------------------------------

    def item(
        self,
        content: str,
        *,
        importance: float = 0.5,
        tags: Sequence[str] = (),
        memory_type: MemoryType | str = MemoryType.EPISODIC,
        metadata: dict[str, str] | None = None,
    ) -> MemoryItem:
        """A new item stamped with this memory's clock (not stored yet)."""
        try:
            kind = MemoryType(memory_type)
        except ValueError:
            kinds = ", ".join(t.value for t in MemoryType)
            raise ValueError(f"memory_type {memory_type!r} is not one of: {kinds}") from None
        try:
            return MemoryItem(
                content=content,
                importance=importance,
                tags=list(tags) if not isinstance(tags, str) else [tags],
                memory_type=kind,
                metadata=dict(metadata or {}),
                timestamp=_utc(self._clock()),
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "item"
            raise ValueError(f"memory {field}: {first['msg']}") from None

    def store_item(self, item: MemoryItem) -> MemoryItem:
        """Keep a ready item (long-term and short-term) and emit ``memory_stored``."""
        self.store.store(item)
        self._stored(item)
        return item

    def _stored(self, item: MemoryItem) -> None:
        with self._lock:
            self._short.append(item)
        self._emit(
            MemoryStored(
                memory_id=item.id,
                memory_type=item.memory_type.value,
                importance=item.importance,
                tags=list(item.tags),
                content=item.content,
            )
        )

    def remember(self, content: str, **options: Any) -> MemoryItem:
        """Store ``content``; options as :meth:`item` (``importance``, ``tags``,
        ``memory_type``, ``metadata``). Returns the stored item."""
        return self.store_item(self.item(content, **options))

    async def remember_async(self, content: str, **options: Any) -> MemoryItem:
        """:meth:`remember` with the file I/O in a worker thread (the event is emitted on
        the caller's thread, like every other event of a run)."""
        return await self.store_item_async(self.item(content, **options))

    async def store_item_async(self, item: MemoryItem) -> MemoryItem:
        """:meth:`store_item` with the file I/O in a worker thread."""
        await asyncio.to_thread(self.store.store, item)
        self._stored(item)
        return item

    def success_item(self, prompt: str, tools: Sequence[str], result: str) -> MemoryItem:
        """The item for a run that worked (procedural, importance 0.8, tags
        success+pattern)."""
        return self.item(
            f"Success: {prompt}\nTools: {', '.join(tools)}\nResult: {result}",
            importance=0.8,
            tags=["success", "pattern"],
            memory_type=MemoryType.PROCEDURAL,
            metadata={"prompt": prompt, "tools": ",".join(tools)},
        )

    def remember_success(self, prompt: str, tools: Sequence[str], result: str) -> MemoryItem:
        """Remember a run that worked (see :meth:`success_item`)."""
        return self.store_item(self.success_item(prompt, tools, result))

    def remember_failure(self, prompt: str, error: str, tools: Sequence[str]) -> MemoryItem:
        """Remember a run that failed (episodic, importance 0.9, tags failure+avoid)."""
        return self.remember(
            f"Failure: {prompt}\nError: {error}\nAttempted tools: {', '.join(tools)}",
            importance=0.9,
            tags=["failure", "avoid"],
            memory_type=MemoryType.EPISODIC,
            metadata={"prompt": prompt, "error": error},
        )

    # --- recall and search -----------------------------------------------------------

    def relevance(self, item: MemoryItem) -> float:
        """The item's relevance now."""
        cfg = getattr(self.store, "relevance_config", None)
        return item.relevance(self._clock(), cfg)

    def find(self, query: str, limit: int = 5) -> list[MemoryItem]:
        """The items ``recall`` would return, without recording or reporting anything."""
        return self.store.search(query, limit)

    def recall(self, query: str, limit: int = 5) -> list[MemoryItem]:
        """The memories most relevant to ``query`` (matched on its words), most relevant
        first; each is counted as accessed and reported as ``memory_recalled``."""
        items = self.find(query, limit)
        self.store.record_access([i.id for i in items])
        self._recalled(items)
        return items

    async def recall_async(self, query: str, limit: int = 5) -> list[MemoryItem]:
        """:meth:`recall` with the file I/O in a worker thread."""
        items = await asyncio.to_thread(self.find, query, limit)
        if items:
            await asyncio.to_thread(self.store.record_access, [i.id for i in items])
        self._recalled(items)
        return items

    def _recalled(self, items: Sequence[MemoryItem]) -> None:
        for item in items:
            self._emit(
                MemoryRecalled(
                    memory_id=item.id, content=item.content, relevance=self.relevance(item)
                )
            )

    def search(
        self,
        query: str | None = None,
        *,
        tags: Sequence[str] = (),
        limit: int = 10,
        min_importance: float | None = None,
    ) -> list[MemoryItem]:
        """Memories matching the words of ``query`` and/or sharing a tag with ``tags``
        (neither: the most relevant of all), at least ``min_importance`` important,
        most relevant first; reported as ``memories_searched``."""
        tags = [tags] if isinstance(tags, str) else list(tags)
        pool = 1_000_000  # filter first, then cut to the limit
        if query and query.strip():
            items = self.store.search(query, pool)
            if tags:
                wanted = {t.lower() for t in tags}
                items = [i for i in items if wanted & {t.lower() for t in i.tags}]
        elif tags:
            items = self.store.search_by_tags(tags, pool)
        else:
            now = self._clock()
            cfg = getattr(self.store, "relevance_config", None)
            items = sorted(self.store.all(), key=lambda i: i.relevance(now, cfg), reverse=True)
        if min_importance is not None:
            items = [i for i in items if i.importance >= min_importance]
        items = items[: max(0, limit)]
        self._emit(MemoriesSearched(query=query, tags=tags, result_count=len(items)))
        return items

    def recent(self, limit: int = 10) -> list[MemoryItem]:
        """The newest memories first."""
        return self.store.get_recent(limit)

    def delete(self, memory_id: str) -> bool:
        """Forget one memory; True if it was there."""
        with self._lock:
            self._short = deque((i for i in self._short if i.id != memory_id), self.MAX_SHORT_TERM)
            self._working = [i for i in self._working if i.id != memory_id]
        return self.store.delete(memory_id)

    # --- tiers -----------------------------------------------------------------------

    def add_working(self, item: MemoryItem) -> None:
        """Put an item in the working tier (past 10, the most relevant are kept)."""
        with self._lock:
            self._working.append(item)
            if len(self._working) > self.MAX_WORKING:
                self._working.sort(key=self.relevance, reverse=True)
                del self._working[self.MAX_WORKING :]

    def working(self) -> list[MemoryItem]:
        """The working tier."""
        with self._lock:
            return list(self._working)

    def short_term(self) -> list[MemoryItem]:
        """The items remembered in this process, oldest first (the last 100)."""
        with self._lock:
            return list(self._short)

    def clear(
        self, *, long_term: bool = True, short_term: bool = True, working: bool = True
    ) -> int:
        """Empty the chosen tiers (all by default), one ``memory_cleared`` event each;
        returns how many long-term items were removed."""
        removed = 0
        if long_term:
            removed = self.store.clear()
            self._emit(MemoryCleared(tier="long_term", count=removed))
        if short_term:
            with self._lock:
                n = len(self._short)
                self._short.clear()
            self._emit(MemoryCleared(tier="short_term", count=n))
        if working:
            with self._lock:
                n = len(self._working)
                self._working.clear()
            self._emit(MemoryCleared(tier="working", count=n))
        return removed

    def stats(self) -> MemoryStats:
        """How many items each tier holds."""
        with self._lock:
            short, work = len(self._short), len(self._working)
        return MemoryStats(self.store.count(), short, work)

    def frame(self, query: str | None = None, limit: int = 1000) -> pd.DataFrame:
        """The memories as a DataFrame, most relevant first (only those matching the
        words of ``query`` when given): id, content, type, importance, relevance, tags,
        created, last accessed, access count."""
        import pandas as pd

        now = self._clock()
        cfg = getattr(self.store, "relevance_config", None)
        items = self.store.search(query, limit) if query else self.store.all()
        rows = [
            {
                "id": i.id,
                "content": i.content,
                "type": i.memory_type.value,
                "importance": i.importance,
                "relevance": round(i.relevance(now, cfg), 4),
                "tags": ", ".join(i.tags),
                "created": i.timestamp,
                "last_accessed": i.last_accessed,
                "access_count": i.access_count,
            }
            for i in items
        ]
        columns = [
            "id",
            "content",
            "type",
            "importance",
            "relevance",
            "tags",
            "created",
            "last_accessed",
            "access_count",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        if not query:
            frame = frame.sort_values("relevance", ascending=False, kind="stable")
        return frame.reset_index(drop=True).head(limit)
