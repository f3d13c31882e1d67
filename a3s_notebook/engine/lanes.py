"""The lane-based priority queue (spec section 4).

Four lanes, each with its own concurrency limit: Control (priority 0), Query (1),
Execute (2) and Generate (3); a lower number is a higher priority. When slots free up,
waiting commands are dispatched highest priority first, then in arrival order.

The queue holds no asyncio object across calls: its waiters are created in the loop
that awaits them, so one session can be driven from a script (a fresh loop per call)
and from a Jupyter kernel (the kernel's loop) alike.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["LaneQueue", "LaneStatus", "QueueStats", "SessionLane", "SessionQueueConfig"]

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


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    lane: SessionLane = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class LaneQueue:
    """Per-lane concurrency limits with priority dispatch.

    ``await queue.run(lane, fn)`` waits for a slot in ``lane``, runs ``fn()`` and frees
    the slot. Waiters are dispatched in (priority, arrival) order.
    """

    def __init__(self, config: SessionQueueConfig | None = None, *, session_id: str = "") -> None:
        self.config = config or SessionQueueConfig()
        self.session_id = session_id
        self._active = dict.fromkeys(SessionLane, 0)
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count(1)
        self._task_ids = itertools.count(1)
        self.completed = dict.fromkeys(SessionLane, 0)

    def next_task_id(self) -> str:
        """Task ids are ``<session_id>-<counter>``, the counter starting at 1."""
        return f"{self.session_id}-{next(self._task_ids)}"

    async def run(self, lane: SessionLane, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` in ``lane`` once a slot is free; honours ``default_timeout_ms``."""
        await self._acquire(lane)
        try:
            timeout = self.config.default_timeout_ms
            if timeout is None:
                return await fn()
            return await asyncio.wait_for(fn(), timeout / 1000)
        finally:
            self._release(lane)

    async def _acquire(self, lane: SessionLane) -> None:
        if self._active[lane] < self.config.limit(lane) and not any(
            w.lane is lane for w in self._waiting
        ):
            self._active[lane] += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(lane.priority(), next(self._seq), lane, fut)
        self._waiting.append(waiter)
        self._waiting.sort()
        try:
            await fut
        except BaseException:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            elif fut.done() and not fut.cancelled():
                # the slot was handed to us while we were being cancelled: give it back
                self._release(lane)
            raise

    def _release(self, lane: SessionLane) -> None:
        self._active[lane] -= 1
        self.completed[lane] += 1
        self._dispatch()

    def _dispatch(self) -> None:
        for waiter in list(self._waiting):
            if self._active[waiter.lane] >= self.config.limit(waiter.lane):
                continue
            self._waiting.remove(waiter)
            if waiter.future.done():
                continue
            self._active[waiter.lane] += 1
            waiter.future.set_result(None)

    def stats(self) -> QueueStats:
        """Pending and active counts per lane."""
        lanes = {}
        for lane in SessionLane:
            pending = sum(1 for w in self._waiting if w.lane is lane)
            lanes[lane.value] = LaneStatus(
                lane=lane,
                pending=pending,
                active=self._active[lane],
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
