"""Blocking tool work in a thread of its own that stops when the awaiting task goes away.

``asyncio.to_thread`` cannot stop its function: cancelling the awaiting task leaves the thread
running to the end (a long search would keep a core busy after ``cancel()``). Here the work
gets a :class:`threading.Event` that is set as soon as the awaiting task finishes for any
reason, cancellation included; the work checks it between steps and raises :class:`Stopped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Stopped", "run_stoppable"]

T = TypeVar("T")


class Stopped(Exception):
    """Raised inside the work when its stop flag is set; nobody waits for the result."""


def check(stop: threading.Event) -> None:
    """Raise :class:`Stopped` when ``stop`` is set."""
    if stop.is_set():
        raise Stopped


async def run_stoppable(work: Callable[[threading.Event], T], name: str) -> T:
    """Run ``work(stop)`` in a new daemon thread called ``name`` and await its result.

    When the awaiting task is cancelled (or the loop goes away), ``stop`` is set and the
    cancellation propagates at once; the thread ends at the work's next check.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    stop = threading.Event()
    context = contextvars.copy_context()

    def settle_result(result: T) -> None:
        if not future.done():  # done means cancelled: the result is not wanted
            future.set_result(result)

    def settle_error(error: BaseException) -> None:
        if not future.done():
            future.set_exception(error)

    def deliver(callback: Callable[[], object]) -> None:
        # The loop may be closed when an abandoned worker finishes: then nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback)

    def target() -> None:
        try:
            result = context.run(work, stop)
        except Stopped:
            deliver(future.cancel)  # stop is set only once nobody waits: a no-op then
        except BaseException as exc:  # every outcome must reach the awaiting task
            deliver(functools.partial(settle_error, exc))
        else:
            deliver(functools.partial(settle_result, result))

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        return await future
    finally:
        stop.set()
