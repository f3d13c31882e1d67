"""Never hang: sync calls from any thread and loop, lanes shared across loops, timeouts.

No test sleeps to synchronise: threads meet on ``threading.Event``/``Barrier``, loops on
``asyncio.Event``, and time is a fake clock the test advances. ``join(timeout=...)``
appears only as a guard, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from a3s_notebook.engine import SessionQueueConfig
from a3s_notebook.engine._sync import iterate_sync, run_sync
from a3s_notebook.engine.errors import CommandTimeoutError, SyncDeadlockError
from a3s_notebook.engine.lanes import LaneQueue, SessionLane

GUARD = 60  # seconds: only ever reached when something hangs


@pytest.fixture
def home_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop running in its own thread, like a kernel's loop seen from a worker thread."""
    loop = asyncio.new_event_loop()
    running = threading.Event()
    loop.call_soon(running.set)
    thread = threading.Thread(target=loop.run_forever, name="home-loop", daemon=True)
    thread.start()
    assert running.wait(GUARD)
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(GUARD)
    assert not thread.is_alive()
    loop.close()


def in_threads(n: int, target: Callable[[int], Any]) -> list[Any]:
    """Run ``target(i)`` in n threads that start together; results (or errors) by index."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GUARD)
    assert not any(t.is_alive() for t in threads), "a thread never returned"
    return results


# --- run_sync / iterate_sync ------------------------------------------------------------


def test_two_threads_share_one_lock_on_the_home_loop(home_loop: asyncio.AbstractEventLoop) -> None:
    lock = asyncio.Lock()  # both coroutines need it, so both must run on one loop
    gate = asyncio.Event()
    arrived: list[int] = []
    loops: set[int] = set()

    async def work(i: int) -> int:
        loops.add(id(asyncio.get_running_loop()))
        arrived.append(i)
        if len(arrived) == 2:
            gate.set()
        async with lock:  # the second one waits here, on the first one's loop
            await gate.wait()
        return i

    results = in_threads(2, lambda i: run_sync(lambda: work(i), home_loop=home_loop))
    assert results == [0, 1]
    assert loops == {id(home_loop)}


def test_a_sync_call_on_the_home_loops_own_thread_raises_at_once(
    home_loop: asyncio.AbstractEventLoop,
) -> None:
    made: list[str] = []

    async def never() -> None:  # pragma: no cover - must not even be created
        made.append("coroutine")

    def factory() -> Any:
        made.append("factory")
        return never()

    async def on_the_loop() -> list[str]:
        errors = []
        for call in (
            lambda: run_sync(factory, home_loop=home_loop, name="send"),
            lambda: iterate_sync(factory, home_loop=home_loop, name="stream"),  # no next()
            lambda: run_sync(factory, home_loop=home_loop),
        ):
            try:
                call()
            except SyncDeadlockError as exc:
                errors.append(str(exc))
        return errors

    errors = asyncio.run_coroutine_threadsafe(on_the_loop(), home_loop).result(GUARD)
    assert made == []
    assert len(errors) == 3
    assert "send() was made on the thread of the event loop" in errors[0]
    assert "`await send_async(...)`" in errors[0]
    assert "`await stream_async(...)`" in errors[1]
    assert "await the ..._async() variant" in errors[2]
    assert issubclass(SyncDeadlockError, RuntimeError)


async def test_a_sync_call_inside_the_running_loop_it_needs_raises() -> None:
    # a Jupyter cell calling send() while a background run lives on the kernel's loop
    loop = asyncio.get_running_loop()
    with pytest.raises(SyncDeadlockError, match=r"Use `await send_async\(\.\.\.\)`"):
        run_sync(lambda: asyncio.sleep(0), home_loop=loop, name="send")
    # with no home loop (the session is idle) the old behaviour stays: a worker thread
    assert run_sync(lambda: asyncio.sleep(0, result="ok")) == "ok"


def test_a_home_loop_that_is_not_running_is_not_needed() -> None:
    idle = asyncio.new_event_loop()
    try:
        assert run_sync(lambda: asyncio.sleep(0, result=1), home_loop=idle) == 1
        assert list(iterate_sync(lambda: _count(3), home_loop=idle)) == [0, 1, 2]
    finally:
        idle.close()
    closed = asyncio.new_event_loop()
    closed.close()
    assert run_sync(lambda: asyncio.sleep(0, result=2), home_loop=closed) == 2


async def _count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i
        await asyncio.sleep(0)


def test_results_errors_and_streams_from_the_home_loop(
    home_loop: asyncio.AbstractEventLoop,
) -> None:
    async def boom() -> None:
        raise ValueError("from the loop")

    with pytest.raises(ValueError, match="from the loop"):
        run_sync(boom, home_loop=home_loop)
    assert list(iterate_sync(lambda: _count(4), home_loop=home_loop)) == [0, 1, 2, 3]

    async def broken() -> AsyncIterator[int]:
        yield 1
        raise KeyError("mid-stream")

    got = []
    with pytest.raises(KeyError, match="mid-stream"):
        for item in iterate_sync(broken, home_loop=home_loop):
            got.append(item)
    assert got == [1]


def test_stopping_a_stream_early_cleans_up_on_the_home_loop(
    home_loop: asyncio.AbstractEventLoop,
) -> None:
    cleaned = threading.Event()
    forever = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            yield 1
            await forever.wait()  # never set: only a cancel ends this
            yield 2  # pragma: no cover
        finally:
            cleaned.set()

    stream = iterate_sync(endless, home_loop=home_loop)
    assert next(stream) == 1
    stream.close()  # returns once the producer's cleanup ran
    assert cleaned.is_set()


def test_threads_calling_sync_on_fresh_loops_share_one_lane_queue() -> None:
    # no home loop: each thread runs its own fresh loop; the lane still hands over
    q = LaneQueue(SessionQueueConfig(generate_max_concurrency=1))
    inside = 0
    peak = 0
    guard = threading.Lock()

    async def job(i: int) -> int:
        nonlocal inside, peak
        with guard:
            inside += 1
            peak = max(peak, inside)
        await asyncio.sleep(0)
        with guard:
            inside -= 1
        return i

    results = in_threads(4, lambda i: run_sync(lambda: q.run(SessionLane.GENERATE, lambda: job(i))))
    assert results == [0, 1, 2, 3]
    assert peak == 1
    assert q.stats().total_active == 0 and q.stats().total_pending == 0


# --- lanes across loops and threads --------------------------------------------------------


def test_a_waiter_on_another_loop_is_woken_on_its_own_thread() -> None:
    q = LaneQueue(SessionQueueConfig(generate_max_concurrency=1))
    holding = threading.Event()
    b_waiting = threading.Event()
    release_a = threading.Event()
    woke_on: list[str] = []

    async def a_holds() -> None:
        async def hold() -> None:
            holding.set()
            await asyncio.get_running_loop().run_in_executor(None, release_a.wait)

        await q.run(SessionLane.GENERATE, hold)

    async def b_waits() -> None:
        async def mine() -> None:
            woke_on.append(threading.current_thread().name)

        fut = asyncio.ensure_future(q.run(SessionLane.GENERATE, mine))
        await asyncio.sleep(0)  # one step: the waiter is registered
        b_waiting.set()
        await fut

    a = threading.Thread(target=asyncio.run, args=(a_holds(),), name="A")
    a.start()
    assert holding.wait(GUARD)
    b = threading.Thread(target=asyncio.run, args=(b_waits(),), name="B")
    b.start()
    assert b_waiting.wait(GUARD)
    assert q.stats().lanes["Generate"].pending == 1
    release_a.set()  # A frees the slot from its thread; B's loop must wake
    a.join(GUARD)
    b.join(GUARD)
    assert not a.is_alive() and not b.is_alive()
    assert woke_on == ["B"]
    assert q.stats().lanes["Generate"].active == 0


async def test_cancelled_while_waiting_and_while_running_both_free_the_lane() -> None:
    q = LaneQueue(SessionQueueConfig(generate_max_concurrency=1))
    started = asyncio.Event()
    never = asyncio.Event()

    async def hang() -> None:
        started.set()
        await never.wait()

    running = asyncio.ensure_future(q.run(SessionLane.GENERATE, hang))
    await started.wait()
    waiting = asyncio.ensure_future(q.run(SessionLane.GENERATE, hang))
    await asyncio.sleep(0)
    assert q.stats().lanes["Generate"].pending == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert q.stats().lanes["Generate"].pending == 0
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    stats = q.stats().lanes["Generate"]
    assert (stats.active, stats.pending) == (0, 0)

    async def quick() -> str:
        return "free"

    assert await q.run(SessionLane.GENERATE, quick) == "free"


async def test_a_command_that_raises_frees_its_slot() -> None:
    q = LaneQueue(SessionQueueConfig(execute_max_concurrency=1))

    async def bad() -> None:
        raise RuntimeError("tool failed")

    for _ in range(3):
        with pytest.raises(RuntimeError, match="tool failed"):
            await q.run(SessionLane.EXECUTE, bad)
    assert q.stats().lanes["Execute"].active == 0


async def test_a_slot_granted_during_cancellation_is_given_back() -> None:
    q = LaneQueue(SessionQueueConfig(generate_max_concurrency=1))
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    first = asyncio.ensure_future(q.run(SessionLane.GENERATE, hold))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(q.run(SessionLane.GENERATE, hold))
    await asyncio.sleep(0)
    gate.set()
    await first  # the slot is now handed to `second` (its wake-up is queued) ...
    second.cancel()  # ... and it is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await second
    assert q.stats().lanes["Generate"].active == 0


def test_a_run_whose_loop_was_closed_gives_its_slot_back() -> None:
    q = LaneQueue(SessionQueueConfig(generate_max_concurrency=1))
    dead = asyncio.new_event_loop()
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    holder = dead.create_task(q.run(SessionLane.GENERATE, hang))
    dead.run_until_complete(started.wait())
    waiter = dead.create_task(q.run(SessionLane.GENERATE, hang))
    dead.run_until_complete(asyncio.sleep(0))
    assert q.stats().lanes["Generate"].pending == 1
    dead.close()  # no cleanup ran: both tasks are stuck on a closed loop
    stats = q.stats().lanes["Generate"]
    assert (stats.active, stats.pending) == (0, 0)

    async def quick() -> str:
        return "ran"

    assert asyncio.run(q.run(SessionLane.GENERATE, quick)) == "ran"
    del holder, waiter


# --- timeouts per command, on a fake clock -----------------------------------------------


class FakeClock:
    """Time that moves only when the test says so: ``sleep`` and ``call_later`` on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(callback)
        heapq.heappush(self._timers, (self.now + delay, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.call_later(seconds, lambda: fut.done() or fut.set_result(None))
        await fut

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._timers and self._timers[0][0] <= self.now + 1e-9:
            _, _, timer = heapq.heappop(self._timers)
            timer.fire()

    async def drive(self, task: asyncio.Future[Any], step: float = 0.05) -> None:
        """Let the loop settle, move time a step, repeat until ``task`` is done."""
        while not task.done():
            for _ in range(20):
                await asyncio.sleep(0)
            if not task.done():
                self.advance(step)


class _Timer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self._callback = None

    def fire(self) -> None:
        if self._callback is not None:
            self._callback()


def timed_queue(timeout_ms: int | None, clock: FakeClock, **limits: int) -> LaneQueue:
    config = SessionQueueConfig(default_timeout_ms=timeout_ms, **limits)
    return LaneQueue(config, call_later=clock.call_later)


async def test_the_timeout_applies_to_each_command_not_the_run() -> None:
    clock = FakeClock()
    q = timed_queue(400, clock)
    done: list[float] = []

    async def command() -> None:
        await clock.sleep(0.2)
        done.append(clock.now)

    async def run() -> None:
        # a whole run: a slot with no timeout, a human who takes 5 s, three commands
        async with q.slot(SessionLane.GENERATE):
            await clock.sleep(5.0)  # waiting for approval is not a command
            for _ in range(3):
                await q.run(SessionLane.EXECUTE, command)

    task = asyncio.ensure_future(run())
    await clock.drive(task)
    await task
    assert len(done) == 3 and clock.now > 0.4 + 5.0  # far past 400 ms in all


async def test_a_command_past_its_limit_raises_a_clear_timeout() -> None:
    clock = FakeClock()
    q = timed_queue(400, clock)
    cleaned: list[str] = []

    async def slow() -> None:
        try:
            await clock.sleep(1.0)
        finally:
            cleaned.append("cleanup ran")

    task = asyncio.ensure_future(q.run(SessionLane.EXECUTE, slow))
    await clock.drive(task)
    with pytest.raises(CommandTimeoutError) as exc:
        await task
    assert isinstance(exc.value, TimeoutError)
    assert exc.value.lane == "Execute" and exc.value.timeout_ms == 400
    assert "Execute lane" in str(exc.value) and "400 ms" in str(exc.value)
    assert "default_timeout_ms" in str(exc.value)
    assert cleaned == ["cleanup ran"]
    assert q.stats().lanes["Execute"].active == 0
    assert clock.now == pytest.approx(0.4)  # stopped at the limit, not at 1 s


async def test_waiting_for_a_slot_does_not_count_against_the_timeout() -> None:
    clock = FakeClock()
    q = timed_queue(400, clock, execute_max_concurrency=1)

    async def command() -> str:
        await clock.sleep(0.3)
        return "ok"

    tasks = [asyncio.ensure_future(q.run(SessionLane.EXECUTE, command)) for _ in range(3)]
    both = asyncio.ensure_future(asyncio.gather(*tasks))
    await clock.drive(both)
    assert await both == ["ok", "ok", "ok"]  # the third waited 0.6 s, then ran 0.3 s
    assert clock.now >= 0.9


async def test_timed_inside_a_held_slot_and_an_outside_cancel_stays_a_cancel() -> None:
    clock = FakeClock()
    q = timed_queue(400, clock, generate_max_concurrency=1)

    async def llm_call() -> str:
        await clock.sleep(0.1)
        return "answer"

    async with q.slot(SessionLane.GENERATE):
        call = asyncio.ensure_future(q.timed(SessionLane.GENERATE, llm_call))
        await clock.drive(call)
        assert await call == "answer"  # timed() takes no second Generate slot

    async def hang() -> None:
        await clock.sleep(10)

    task = asyncio.ensure_future(q.run(SessionLane.EXECUTE, hang))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()  # a user's cancel, not the timer: it stays a CancelledError
    with pytest.raises(asyncio.CancelledError):
        await task
    assert q.stats().total_active == 0


async def test_no_timeout_when_none() -> None:
    clock = FakeClock()
    q = timed_queue(None, clock)

    async def long() -> str:
        await clock.sleep(100.0)
        return "done"

    task = asyncio.ensure_future(q.run(SessionLane.QUERY, long))
    await clock.drive(task, step=10.0)
    assert await task == "done"
