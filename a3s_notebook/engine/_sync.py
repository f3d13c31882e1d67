"""Sync entry points that work with and without a running event loop.

With no loop running in this thread (a script, terminal IPython), a coroutine runs on a
fresh loop here. Inside a running loop (a Jupyter kernel), it runs on a fresh loop in a
worker thread, so nothing ever says "event loop is already running" and no loop is
patched. The engine keeps no asyncio object across calls, so any loop may drive it.

A Ctrl-C / kernel interrupt while waiting cancels the work cleanly in either case.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

__all__ = ["iterate_sync", "loop_is_running", "run_sync"]

T = TypeVar("T")


def loop_is_running() -> bool:
    """Whether an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Worker(threading.Thread):
    """Runs one coroutine on its own loop; can be cancelled from another thread."""

    def __init__(self, factory: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(name="a3s-sync", daemon=True)
        self._factory = factory
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Future[Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self._started = threading.Event()

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            self.task = asyncio.ensure_future(self._factory(), loop=loop)
            self._started.set()
            self.result = loop.run_until_complete(self.task)
        except BaseException as exc:
            self.error = exc
        finally:
            self._started.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def cancel(self) -> None:
        self._started.wait()
        loop, task = self.loop, self.task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the loop closed in between: nothing left to cancel


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run ``factory()`` to completion from sync code, whatever loop is running."""
    if not loop_is_running():

        async def main() -> T:
            return await factory()

        return asyncio.run(main())
    worker = _Worker(factory)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except BaseException:
        # KeyboardInterrupt in a kernel: stop the run, wait for its cleanup, re-raise
        worker.cancel()
        worker.join()
        raise
    if worker.error is not None:
        raise worker.error
    return worker.result  # type: ignore[no-any-return]


_DONE = object()


def iterate_sync(factory: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Iterate an async iterator from sync code, in a worker thread with its own loop."""
    items: queue.Queue[Any] = queue.Queue()

    async def pump() -> None:
        try:
            async for item in factory():
                items.put(item)
        finally:
            items.put(_DONE)

    worker = _Worker(pump)
    worker.start()
    try:
        while True:
            try:
                item = items.get(timeout=0.1)
            except queue.Empty:
                if not worker.is_alive() and items.empty():
                    break
                continue
            if item is _DONE:
                break
            yield item
    except BaseException:
        worker.cancel()
        worker.join()
        raise
    finally:
        if worker.is_alive():
            worker.cancel()
        worker.join()
    if worker.error is not None and not isinstance(worker.error, asyncio.CancelledError):
        raise worker.error
