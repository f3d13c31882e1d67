"""Coalescing of streamed text: many tiny deltas become at most ~20 messages a second.

A model streams a token every few milliseconds; sending each one as a widget message
would flood the front end. :class:`DeltaCoalescer` sends the first delta at once (so the
first token shows without delay), then batches whatever arrives within ``interval``
seconds into one message that carries only the new text. Boundaries (a tool starts, a
turn ends) call :meth:`DeltaCoalescer.flush` so nothing waits behind them.

The clock and the timer are injectable so that tests can run thousands of deltas in
simulated time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DeltaCoalescer", "LatestValues", "Part", "Scheduler", "default_scheduler"]

Part = dict[str, Any]
"""``{"seg": <segment id>, "field": "text" | "reasoning" | "output", "text": <new text>}``"""

Scheduler = Callable[[float, Callable[[], None]], Callable[[], None]]
"""``schedule(delay_seconds, callback) -> cancel``"""


def default_scheduler(delay: float, callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` after ``delay`` seconds; return a function that cancels it.

    On the event loop of the calling thread when one runs (the kernel's loop during
    ``await session.send_async(...)``; the worker loop of a sync ``session.send()``),
    otherwise on a daemon ``threading.Timer`` (events from a plain thread).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        handle = loop.call_later(delay, callback)
        return handle.cancel
    timer = threading.Timer(delay, callback)
    timer.daemon = True
    timer.start()
    return timer.cancel


class _Throttled:
    """The timing both share: what is queued goes out at once when ``interval`` has passed
    since the last send, else once, by one timer, when it has. Subclasses keep what waits
    and send it in :meth:`_drain_locked`."""

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float],
        schedule: Scheduler,
        lock: threading.RLock | None = None,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._schedule = schedule
        self._lock = lock if lock is not None else threading.RLock()
        self._last = float("-inf")
        self._cancel: Callable[[], None] | None = None
        self._token = 0

    def _queued_locked(self) -> None:
        if self._cancel is not None:
            return  # a send is already scheduled; it will carry this too
        wait = self._last + self.interval - self._clock()
        if wait <= 0:
            self._drain_locked()
        else:
            self._token += 1
            token = self._token
            self._cancel = self._schedule(wait, lambda: self._on_timer(token))

    def flush(self) -> None:
        """Send what waits now (at a boundary) and cancel the pending timer."""
        with self._lock:
            if self._cancel is not None:
                cancel, self._cancel = self._cancel, None
                cancel()
            self._drain_locked()

    def _on_timer(self, token: int) -> None:
        with self._lock:
            if token != self._token or self._cancel is None:
                return  # a timer that was cancelled while it was already firing
            self._cancel = None
            self._drain_locked()

    def _drain_locked(self) -> None:
        raise NotImplementedError


class DeltaCoalescer(_Throttled):
    """Batch text deltas by segment and field; send at most one batch per ``interval``.

    Args:
        send: called with the list of parts of one batch (consecutive deltas of the same
            segment and field are joined into one part).
        interval: the minimum time between two timed sends, in seconds.
        clock: monotonic seconds (injectable for tests).
        schedule: the timer (injectable for tests); see :data:`Scheduler`.

    Thread-safe: deltas may come from the kernel's thread, a worker thread, or a timer.
    """

    def __init__(
        self,
        send: Callable[[list[Part]], None],
        *,
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        schedule: Scheduler = default_scheduler,
    ) -> None:
        super().__init__(interval, clock, schedule)
        self._send = send
        self._parts: list[tuple[str, str, list[str]]] = []
        self.messages_sent = 0

    def add(self, seg: str, field: str, text: str) -> None:
        """Queue new text for ``field`` of segment ``seg``."""
        if not text:
            return
        with self._lock:
            last = self._parts[-1] if self._parts else None
            if last is not None and last[0] == seg and last[1] == field:
                last[2].append(text)
            else:
                self._parts.append((seg, field, [text]))
            self._queued_locked()

    @property
    def pending(self) -> bool:
        """Whether text waits to be sent."""
        with self._lock:
            return bool(self._parts)

    def _drain_locked(self) -> None:
        if not self._parts:
            return
        batch = [{"seg": s, "field": f, "text": "".join(chunks)} for s, f, chunks in self._parts]
        self._parts = []
        self._last = self._clock()
        self.messages_sent += 1
        self._send(batch)


class LatestValues(_Throttled):
    """Keep only the latest value per name; apply them at most once per ``interval``.

    The first value after a quiet ``interval`` is applied at once (a slow run shows every
    change as it happens); later ones within the interval wait for one timed apply that
    carries the latest of each. At engine speed a status or a panel then syncs about 20
    times a second instead of at every event. Same clock and timer as
    :class:`DeltaCoalescer`; thread-safe. ``lock`` is the owner's lock when ``apply``
    takes it too (one lock for both, so a timer thread cannot take them in the other
    order).
    """

    def __init__(
        self,
        apply: Callable[[dict[str, Any]], None],
        *,
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        schedule: Scheduler = default_scheduler,
        lock: threading.RLock | None = None,
    ) -> None:
        super().__init__(interval, clock, schedule, lock)
        self._apply = apply
        self._values: dict[str, Any] = {}

    def put(self, name: str, value: Any) -> None:
        """Set ``name`` to ``value``, now or at the next timed apply."""
        with self._lock:
            self._values[name] = value
            self._queued_locked()

    def peek(self, name: str, default: Any) -> Any:
        """The value waiting for ``name``, else ``default``."""
        with self._lock:
            return self._values.get(name, default)

    def _drain_locked(self) -> None:
        if not self._values:
            return
        values, self._values = self._values, {}
        self._last = self._clock()
        self._apply(values)
