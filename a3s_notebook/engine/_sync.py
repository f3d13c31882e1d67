"""Sync entry points that work from any thread, with and without a running event loop.

Where a coroutine runs:

- ``home_loop`` given and running in another thread (the loop that holds the session's
  runs, its locks and its queue waiters): the coroutine is submitted to it with
  :func:`asyncio.run_coroutine_threadsafe` and this thread waits. Several threads may
  do this at once; the work shares that one loop.
- ``home_loop`` given and it is the loop running in *this* thread: waiting here would
  block the very loop the work needs, so :class:`SyncDeadlockError` is raised at once,
  before anything starts. Await the ``..._async()`` variant instead.
- otherwise (no ``home_loop``, or one that is not running): with no loop running in this
  thread (a script, terminal IPython) a fresh loop runs here; inside a running loop (a
  Jupyter cell) a fresh loop runs in a worker thread, so nothing ever says "event loop
  is already running" and no loop is patched.

A Ctrl-C / kernel interrupt while waiting cancels the work and waits for its cleanup.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from a3s_notebook.engine.errors import SyncDeadlockError

__all__ = ["iterate_sync", "loop_is_running", "run_sync"]

T = TypeVar("T")

_POLL = 0.1  # seconds between checks while waiting (keeps Ctrl-C responsive everywhere)


def loop_is_running() -> bool:
    """Whether an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _target(home_loop: asyncio.AbstractEventLoop | None, name: str | None) -> bool:
    """True to submit to ``home_loop``; raises if that would block it; False otherwise."""
    if home_loop is None or home_loop.is_closed() or not home_loop.is_running():
        return False
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if current is home_loop:
        call = f"{name}()" if name else "this sync call"
        fix = f"await {name}_async(...)" if name else "await the ..._async() variant"
        raise SyncDeadlockError(
            f"{call} was made on the thread of the event loop that runs this session's "
            "work, while that work is still going: waiting here would block the loop it "
            f"needs, for ever. Use `{fix}` instead (top-level await works in Jupyter)."
        )
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


class _Submitted:
    """One coroutine submitted to a loop running in another thread.

    Every step on the loop's side (start, cancel, finish) runs as a callback on that
    loop, so they never race; this thread waits on ``finished``.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, factory: Callable[[], Awaitable[Any]]
    ) -> None:
        self.loop = loop
        self.finished = threading.Event()
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False
        self._outcome: tuple[bool, Any] = (False, asyncio.CancelledError())
        try:
            loop.call_soon_threadsafe(self._start, factory)
        except RuntimeError as exc:  # closed in between
            raise RuntimeError(f"the session's event loop is closed: {exc}") from None

    def _start(self, factory: Callable[[], Awaitable[Any]]) -> None:
        if self._cancelled:
            self.finished.set()
            return

        async def main() -> Any:
            return await factory()

        self._task = self.loop.create_task(main())
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._outcome = (False, asyncio.CancelledError())
        elif task.exception() is not None:
            self._outcome = (False, task.exception())
        else:
            self._outcome = (True, task.result())
        self.finished.set()

    def _cancel_here(self) -> None:
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()

    def wait_done(self) -> bool:
        """Wait until the coroutine finished; False if its loop closed first."""
        while not self.finished.wait(_POLL):
            if self.loop.is_closed():
                return self.finished.is_set()
        return True

    def wait(self) -> Any:
        """The coroutine's result; raises its error. Ctrl-C cancels it and re-raises."""
        try:
            if not self.wait_done():
                raise RuntimeError("the session's event loop was closed before the call finished")
        except BaseException:
            self.cancel()
            raise
        ok, value = self._outcome
        if ok:
            return value
        raise value

    def cancel(self) -> None:
        """Cancel the coroutine and wait for its cleanup (while its loop lives)."""
        if self.finished.is_set():
            return
        try:
            self.loop.call_soon_threadsafe(self._cancel_here)
        except RuntimeError:
            return  # the loop is closed: nothing runs there any more
        self.wait_done()


def run_sync(
    factory: Callable[[], Awaitable[T]],
    *,
    home_loop: asyncio.AbstractEventLoop | None = None,
    name: str | None = None,
) -> T:
    """Run ``factory()`` to completion from sync code, from any thread.

    ``home_loop`` is the loop the work must run on (where the session's runs, locks and
    queue waiters live), or None when any loop will do. ``name`` names the call in the
    :class:`SyncDeadlockError` message (``"send"`` -> "use await send_async(...)").
    """
    if _target(home_loop, name):
        assert home_loop is not None
        return _Submitted(home_loop, factory).wait()  # type: ignore[no-any-return]
    if not loop_is_running():

        async def main() -> T:
            return await factory()

        return asyncio.run(main())
    worker = _Worker(factory)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(_POLL)
    except BaseException:
        # KeyboardInterrupt in a kernel: stop the run, wait for its cleanup, re-raise
        worker.cancel()
        worker.join()
        raise
    if worker.error is not None:
        raise worker.error
    return worker.result  # type: ignore[no-any-return]


_DONE = object()


def iterate_sync(
    factory: Callable[[], AsyncIterator[T]],
    *,
    home_loop: asyncio.AbstractEventLoop | None = None,
    name: str | None = None,
) -> Iterator[T]:
    """Iterate an async iterator from sync code, from any thread.

    Runs on ``home_loop`` when it is running in another thread, else on a fresh loop in
    a worker thread. Raises :class:`SyncDeadlockError` here, at the call (not at the
    first ``next()``), when ``home_loop`` is the loop running in this thread.
    """
    on_home = _target(home_loop, name)
    items: queue.Queue[Any] = queue.Queue()

    async def pump() -> None:
        try:
            async for item in factory():
                items.put(item)
        finally:
            items.put(_DONE)

    if on_home:
        assert home_loop is not None
        return _iterate_on_home(home_loop, pump, items)
    return _iterate_in_worker(pump, items)


def _iterate_on_home(
    loop: asyncio.AbstractEventLoop,
    pump: Callable[[], Awaitable[None]],
    items: queue.Queue[Any],
) -> Iterator[Any]:
    job = _Submitted(loop, pump)
    try:
        while True:
            try:
                item = items.get(timeout=_POLL)
            except queue.Empty:
                if job.finished.is_set() and items.empty():
                    break
                if loop.is_closed():
                    raise RuntimeError(
                        "the session's event loop was closed before the stream finished"
                    ) from None
                continue
            if item is _DONE:
                break
            yield item
    except BaseException:
        # the consumer stopped early (close, Ctrl-C) or the loop died: stop the producer
        job.cancel()
        raise
    job.wait_done()  # the producer is past its last item: collect how it ended
    ok, value = job._outcome
    if not ok and job.finished.is_set() and not isinstance(value, asyncio.CancelledError):
        raise value


def _iterate_in_worker(
    pump: Callable[[], Awaitable[None]], items: queue.Queue[Any]
) -> Iterator[Any]:
    worker = _Worker(pump)
    worker.start()
    try:
        while True:
            try:
                item = items.get(timeout=_POLL)
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
