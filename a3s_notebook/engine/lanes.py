"""The lane-based priority queue (spec section 4).

Four lanes, each with its own concurrency limit: Control (priority 0), Query (1),
Execute (2) and Generate (3); a lower number is a higher priority. When slots free up,
waiting commands are dispatched highest priority first, then in arrival order.

The queue holds no asyncio object across calls: its waiters are created in the loop
that awaits them and woken on that loop (``call_soon_threadsafe``), and its counts are
guarded by a thread lock, so one session can be driven from a script (a fresh loop per
call), from a Jupyter kernel (the kernel's loop) and from several threads at once.

``default_timeout_ms`` bounds each command (the ``fn`` given to :meth:`LaneQueue.run`),
never the wait for a slot: a whole run that waits for a human holds a :meth:`slot`
(no timeout) and times each command inside it with :meth:`LaneQueue.timed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from a3s_notebook.engine.errors import CommandTimeoutError

__all__ = [
    "CallLater",
    "LaneQueue",
    "LaneStatus",
    "QueueStats",
    "SessionLane",
    "SessionQueueConfig",
]

T = TypeVar("T")

_QUERY_TOOLS = frozenset(
    {"read", "glob", "ls", "grep", "list_files", "search", "web_fetch", "web_search"}
)


class SessionLane(StrEnum):
    """A lane of the session queue. Serialized by variant name (``"Query"``)."""

    CONTROL = "Control"
    QUERY = "Query"
    EXECUTE = "Execute"
    GENERATE = "Generate"

    def priority(self) -> int:
        """0 for Control .. 3 for Generate; lower runs first."""
        return _PRIORITY[self]

    @classmethod
    def from_tool_name(cls, name: str) -> SessionLane:
        """Read-only tools go to Query; everything else (bash, write, edit, ...) to Execute."""
        return cls.QUERY if name.lower() in _QUERY_TOOLS else cls.EXECUTE

    @classmethod
    def parse(cls, value: str | SessionLane) -> SessionLane:
        """Parse a lane name case-insensitively (``"query"``, ``"Query"``)."""
        if isinstance(value, SessionLane):
            return value
        for lane in cls:
            if lane.value.lower() == str(value).strip().lower():
                return lane
        names = ", ".join(lane.value.lower() for lane in cls)
        raise ValueError(f"unknown lane {value!r}: use one of {names}")


_PRIORITY = {
    SessionLane.CONTROL: 0,
    SessionLane.QUERY: 1,
    SessionLane.EXECUTE: 2,
    SessionLane.GENERATE: 3,
}


class SessionQueueConfig(BaseModel):
    """Queue settings. One set of defaults whatever the construction path (quirk 6 fixed)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    control_max_concurrency: int = Field(default=2, ge=1, alias="controlMaxConcurrency")
    query_max_concurrency: int = Field(default=4, ge=1, alias="queryMaxConcurrency")
    execute_max_concurrency: int = Field(default=2, ge=1, alias="executeMaxConcurrency")
    generate_max_concurrency: int = Field(default=1, ge=1, alias="generateMaxConcurrency")
    default_timeout_ms: int | None = Field(default=None, alias="defaultTimeoutMs")

    def limit(self, lane: SessionLane) -> int:
        """The concurrency limit of one lane."""
        return {
            SessionLane.CONTROL: self.control_max_concurrency,
            SessionLane.QUERY: self.query_max_concurrency,
            SessionLane.EXECUTE: self.execute_max_concurrency,
            SessionLane.GENERATE: self.generate_max_concurrency,
        }[lane]

    @field_validator("default_timeout_ms")
    @classmethod
    def _timeout(cls, v: int | None) -> int | None:
        if v is not None and v <= 0:
            raise ValueError("must be a positive number of milliseconds, or None for no timeout")
        return v


class LaneStatus(BaseModel):
    """One lane's load."""

    lane: SessionLane
    pending: int
    active: int
    max_concurrency: int
    handler_mode: str = "Internal"


class QueueStats(BaseModel):
    """The whole queue's load, keyed by lane name."""

    total_pending: int
    total_active: int
    external_pending: int = 0
    lanes: dict[str, LaneStatus]


class Cancellable(Protocol):
    """What a timer returns: something that can be cancelled (``asyncio.TimerHandle``)."""

    def cancel(self) -> None:
        """Stop the timer."""
        ...


CallLater = Callable[[float, Callable[[], None]], Cancellable]
"""``call_later(seconds, callback)``: the timer behind command timeouts. The default is
the running loop's ``call_later``; tests inject a fake clock."""


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    lane: SessionLane = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)
    token: int | None = field(default=None, compare=False)  # set when granted a slot


def _wake(future: asyncio.Future[None]) -> None:
    # runs on the waiter's own loop
    if not future.done():
        future.set_result(None)


class LaneQueue:
    """Per-lane concurrency limits with priority dispatch, safe across loops and threads.

    ``await queue.run(lane, fn)`` waits for a slot in ``lane``, runs ``fn()`` (bounded by
    ``default_timeout_ms``) and frees the slot. Waiters are dispatched in (priority,
    arrival) order, each woken on its own loop. A slot is always given back: when the
    command returns, raises or is cancelled, and when the loop it ran on is closed
    (reclaimed at the next queue operation).
    """

    def __init__(
        self,
        config: SessionQueueConfig | None = None,
        *,
        session_id: str = "",
        call_later: CallLater | None = None,
    ) -> None:
        self.config = config or SessionQueueConfig()
        self.session_id = session_id
        self._call_later = call_later
        self._lock = threading.Lock()
        # token -> the loop of the command holding that slot
        self._holders: dict[SessionLane, dict[int, asyncio.AbstractEventLoop]] = {
            lane: {} for lane in SessionLane
        }
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count(1)
        self._tokens = itertools.count(1)
        self._task_ids = itertools.count(1)
        self.completed = dict.fromkeys(SessionLane, 0)

    def next_task_id(self) -> str:
        """Task ids are ``<session_id>-<counter>``, the counter starting at 1."""
        return f"{self.session_id}-{next(self._task_ids)}"

    async def run(self, lane: SessionLane, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` in ``lane`` once a slot is free.

        ``default_timeout_ms`` bounds ``fn`` itself (not the wait for a slot): past it,
        :class:`CommandTimeoutError` names the lane and the limit.
        """
        async with self.slot(lane):
            return await self.timed(lane, fn)

    @contextlib.asynccontextmanager
    async def slot(self, lane: SessionLane) -> AsyncIterator[None]:
        """Hold a slot of ``lane`` for the block, with no timeout.

        For work that includes waiting for a human (a whole run in the Generate lane):
        time a command inside it with :meth:`timed`.
        """
        token = await self._acquire(lane)
        try:
            yield
        finally:
            self._release(lane, token)

    async def timed(
        self, lane: SessionLane, fn: Callable[[], Awaitable[T]], *, timeout_ms: int | None = None
    ) -> T:
        """Await ``fn()`` bounded by ``timeout_ms`` (default: ``default_timeout_ms``).

        Takes no slot (for a command inside a :meth:`slot` already held). Past the
        limit ``fn`` is cancelled and :class:`CommandTimeoutError` is raised.
        """
        limit = timeout_ms if timeout_ms is not None else self.config.default_timeout_ms
        if limit is None:
            return await fn()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio always runs coroutines in a task
            return await fn()
        fired = False

        def expire() -> None:
            nonlocal fired
            if not task.done():
                fired = True
                task.cancel()

        call_later = self._call_later or asyncio.get_running_loop().call_later
        timer = call_later(limit / 1000, expire)
        try:
            result = await fn()
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise CommandTimeoutError(
                    f"a command in the {lane.value} lane ran longer than its limit of "
                    f"{limit} ms (SessionQueueConfig.default_timeout_ms) and was stopped. "
                    "Raise the limit, or set it to None for no limit.",
                    lane=lane.value,
                    timeout_ms=limit,
                ) from None
            raise
        finally:
            timer.cancel()
        if fired:
            task.uncancel()  # fn swallowed our cancellation and finished anyway
        return result

    # --- slots -----------------------------------------------------------------------

    def _free(self, lane: SessionLane) -> bool:
        return len(self._holders[lane]) < self.config.limit(lane)

    def _grant(self, lane: SessionLane, loop: asyncio.AbstractEventLoop) -> int:
        token = next(self._tokens)
        self._holders[lane][token] = loop
        return token

    def _reap(self) -> None:
        """Give back slots and drop waiters whose loop was closed (they can never run)."""
        for lane, holders in self._holders.items():
            for token in [t for t, loop in holders.items() if loop.is_closed()]:
                del holders[token]
                self.completed[lane] += 1
        self._waiting = [w for w in self._waiting if not w.loop.is_closed()]

    async def _acquire(self, lane: SessionLane) -> int:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._reap()
            if self._free(lane) and not any(w.lane is lane for w in self._waiting):
                return self._grant(lane, loop)
            waiter = _Waiter(lane.priority(), next(self._seq), lane, loop, loop.create_future())
            self._waiting.append(waiter)
            self._waiting.sort()
            self._dispatch()  # a reaped slot may be free for someone ahead of us
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                elif waiter.token is not None:
                    # the slot was handed to us while we were being cancelled: give it back
                    self._give_back(lane, waiter.token)
            raise
        assert waiter.token is not None
        return waiter.token

    def _release(self, lane: SessionLane, token: int) -> None:
        with self._lock:
            self._give_back(lane, token)

    def _give_back(self, lane: SessionLane, token: int) -> None:
        # the caller holds self._lock
        if self._holders[lane].pop(token, None) is not None:
            self.completed[lane] += 1
        self._reap()
        self._dispatch()

    def _dispatch(self) -> None:
        # the caller holds self._lock; each waiter is woken on its own loop
        for waiter in list(self._waiting):
            if not self._free(waiter.lane):
                continue
            self._waiting.remove(waiter)
            if waiter.future.done():
                continue
            waiter.token = self._grant(waiter.lane, waiter.loop)
            try:
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
            except RuntimeError:
                # its loop closed in between: it will never run, so the slot goes on
                del self._holders[waiter.lane][waiter.token]
                waiter.token = None

    def stats(self) -> QueueStats:
        """Pending and active counts per lane."""
        with self._lock:
            self._reap()
            self._dispatch()
            lanes = {}
            for lane in SessionLane:
                pending = sum(1 for w in self._waiting if w.lane is lane)
                lanes[lane.value] = LaneStatus(
                    lane=lane,
                    pending=pending,
                    active=len(self._holders[lane]),
                    max_concurrency=self.config.limit(lane),
                )
        return QueueStats(
            total_pending=sum(s.pending for s in lanes.values()),
            total_active=sum(s.active for s in lanes.values()),
            lanes=lanes,
        )

    async def run_batch(
        self, lane: SessionLane, fns: list[Callable[[], Awaitable[T]]]
    ) -> list[T | BaseException]:
        """Run several commands in one lane; results (or exceptions) keep submission order."""
        results: list[Any] = await asyncio.gather(
            *(self.run(lane, fn) for fn in fns), return_exceptions=True
        )
        return results
