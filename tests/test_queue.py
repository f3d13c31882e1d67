"""The lane queue's other parts (spec section 4): external handlers, retries, the
dead-letter queue, rate limits, alerts, metrics, start/stop; and session titles.

Time is injected everywhere (a fake clock, a sleep that only moves it, timers fired by
hand): no test sleeps or reads the wall clock.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import SessionConfig, SessionManager
from a3s_notebook.engine.errors import ConfigError, ExternalTaskError, QueueStoppedError
from a3s_notebook.engine.events import AgentEvent
from a3s_notebook.engine.lanes import (
    ExternalTask,
    ExternalTaskResult,
    LaneQueue,
    RetryPolicy,
    SessionLane,
    SessionQueueConfig,
    TaskHandlerMode,
)
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.widgets._event_stream import EventStream
from tests.conftest import turn
from tests.test_magics import ip, magics, run  # noqa: F401  (ip is a fixture)

EXECUTE = SessionLane.EXECUTE


class Clock:
    """Seconds that move only when ``sleep`` (or the test) moves them; timers by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.timers: list[tuple[float, Any]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds

    def call_later(self, delay: float, callback: Any) -> Any:
        entry = [delay, callback]
        self.timers.append((delay, entry))

        class Handle:
            def cancel(self) -> None:
                entry[1] = None

        return Handle()

    def fire_all(self) -> None:
        for _delay, entry in list(self.timers):
            if entry[1] is not None:
                entry[1]()


def queue_with(clock: Clock, events: list[Any], **config: Any) -> LaneQueue:
    q = LaneQueue(SessionQueueConfig(**config), session_id="s", emit=events.append)
    q.use_clock(clock=clock, sleep=clock.sleep, call_later=clock.call_later)
    return q


def of_type(events: list[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


# --- external handlers through a scripted session ---------------------------------------


def bash_session(make_session: Any, command: str = "touch made.txt", **config: Any) -> Any:
    turns = [turn("", ("bash", {"command": command})), "done"]
    return make_session(turns, allow=["bash"], **config)


def tool_end(session: Any) -> Any:
    return next(e for e in session.events() if e.type == "tool_end")


def test_an_execute_lane_handler_runs_the_bash_call_and_its_result_is_the_tools(
    make_session: Any, workspace: Path
) -> None:
    session = bash_session(make_session)
    seen: list[ExternalTask] = []

    def handler(task: ExternalTask) -> str:
        seen.append(task)
        return f"ran elsewhere: {task.payload['command']}"

    session.set_lane_handler("execute", handler)
    result = session.send("make a file")
    assert result.text == "done"
    (task,) = seen
    assert (task.command_type, task.payload, task.lane) == (
        "bash",
        {"command": "touch made.txt"},
        EXECUTE,
    )
    assert task.task_id == f"{session.id}-1" and task.timeout_ms == 60000
    assert not (workspace / "made.txt").exists()  # the command did not run here
    end = tool_end(session)
    assert (end.output, end.exit_code) == ("ran elsewhere: touch made.txt", 0)
    kinds = [e.type for e in session.events()]
    assert kinds.index("external_task_pending") < kinds.index("external_task_completed")
    assert session.lane_handler("Execute").mode is TaskHandlerMode.EXTERNAL
    assert session.queue_stats().lanes["Execute"].handler_mode == "External"


def test_an_async_handler_may_return_output_and_exit_code(make_session: Any) -> None:
    session = bash_session(make_session, command="false")

    async def handler(task: ExternalTask) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"output": "remote said no", "exit_code": 3}

    session.set_lane_handler(SessionLane.EXECUTE, handler)
    session.send("go")
    end = tool_end(session)
    assert (end.output, end.exit_code) == ("remote said no", 3)


def test_a_failing_handler_is_a_tool_error_the_model_reads(make_session: Any) -> None:
    session = bash_session(make_session)

    def handler(task: ExternalTask) -> str:
        raise ConnectionError("the runner is down")

    session.set_lane_handler("execute", handler)
    session.send("go")
    end = tool_end(session)
    assert end.exit_code == 1
    assert "failed: ConnectionError: the runner is down" in end.output
    completed = [e for e in session.events() if e.type == "external_task_completed"]
    assert [e.success for e in completed] == [False]


def test_completion_by_hand_from_another_thread(make_session: Any) -> None:
    session = bash_session(make_session)
    session.set_lane_handler("execute", mode="external", timeout_ms=30_000)
    seen: list[list[ExternalTask]] = []
    answers: list[bool] = []
    threads: list[threading.Thread] = []

    def complete(task_id: str) -> None:
        seen.append(session.pending_external_tasks())
        answers.append(session.complete_external_task(task_id, "done by hand"))
        answers.append(session.complete_external_task(task_id, "twice"))  # already done

    def on_event(event: AgentEvent) -> None:
        if event.type == "external_task_pending":
            t = threading.Thread(target=complete, args=(event.task_id,))  # type: ignore[union-attr]
            threads.append(t)
            t.start()

    session.subscribe(on_event)
    session.send("go")
    for t in threads:
        t.join()
    assert [t.command_type for t in seen[0]] == ["bash"]
    assert answers == [True, False]
    assert tool_end(session).output == "done by hand"
    assert session.pending_external_tasks() == []


async def test_completion_from_inside_the_running_loop(make_session: Any) -> None:
    session = bash_session(make_session)
    session.set_lane_handler("execute", mode="external")
    pending = asyncio.Event()
    session.subscribe(lambda e: pending.set() if e.type == "external_task_pending" else None)
    run = asyncio.ensure_future(session.send_async("go"))
    await pending.wait()
    (task,) = session.pending_external_tasks()
    assert session.queue_stats().external_pending == 1
    # a sync call inside the loop the command waits on: it must not block
    assert session.complete_external_task(task.task_id, ExternalTaskResult(result="from loop"))
    await run
    assert tool_end(session).output == "from loop"
    assert session.queue_stats().external_pending == 0


async def test_an_external_task_nobody_completes_times_out(make_session: Any) -> None:
    session = bash_session(make_session)
    clock = Clock()
    session.queue.use_clock(call_later=clock.call_later)
    session.set_lane_handler("execute", mode="external", timeout_ms=500)
    pending = asyncio.Event()
    session.subscribe(lambda e: pending.set() if e.type == "external_task_pending" else None)
    run = asyncio.ensure_future(session.send_async("go"))
    await pending.wait()
    (task,) = session.pending_external_tasks()
    assert [d for d, _ in clock.timers] == [0.5]
    clock.fire_all()
    await run
    end = tool_end(session)
    assert end.exit_code == 1 and "was not completed within 500 ms" in end.output
    assert session.pending_external_tasks() == []
    assert session.complete_external_task(task.task_id, "late") is False


async def test_a_cancelled_run_withdraws_its_external_task(make_session: Any) -> None:
    session = bash_session(make_session)
    session.set_lane_handler("execute", mode="external")
    pending = asyncio.Event()
    session.subscribe(lambda e: pending.set() if e.type == "external_task_pending" else None)
    run = asyncio.ensure_future(session.send_async("go"))
    await pending.wait()
    (task,) = session.pending_external_tasks()
    assert session.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert session.pending_external_tasks() == []
    assert session.complete_external_task(task.task_id, "too late") is False


def test_a_handler_may_complete_the_task_itself_and_return_none(make_session: Any) -> None:
    session = bash_session(make_session)

    def handler(task: ExternalTask) -> None:
        # e.g. it hands the task to a queue and a worker answers
        assert session.complete_external_task(task.task_id, "answered by a worker")

    session.set_lane_handler("execute", handler)
    session.send("go")
    assert tool_end(session).output == "answered by a worker"


def test_hybrid_runs_here_and_announces(make_session: Any, workspace: Path) -> None:
    session = bash_session(make_session)
    session.set_lane_handler("execute", mode="hybrid")
    session.send("go")
    assert (workspace / "made.txt").exists()
    kinds = [e.type for e in session.events()]
    assert "external_task_pending" in kinds and "external_task_completed" in kinds
    with pytest.raises(ValueError, match="only in mode 'external'"):
        session.set_lane_handler("execute", print, mode="hybrid")
    session.set_lane_handler("execute")  # back to normal
    assert session.lane_handler("execute").mode is TaskHandlerMode.INTERNAL


def test_lane_handlers_are_persisted_and_restored(tmp_path: Path, workspace: Path) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = manager.create_session(
        SessionConfig(workspace=str(workspace)), llm=ScriptedClient(["x"]), session_id="ext"
    )
    session.set_lane_handler("execute", lambda t: "x", timeout_ms=1234)
    manager.forget_session("ext")
    again = SessionManager(tmp_path / "sessions").restore_session("ext")
    handler = again.lane_handler("execute")
    assert (handler.mode, handler.timeout_ms) == (TaskHandlerMode.EXTERNAL, 1234)
    # the callable is not persisted: tasks wait for complete_external_task
    assert again.queue.handler(EXECUTE) is None


# --- retries, dead letters --------------------------------------------------------------


async def test_retries_back_off_exponentially_then_succeed() -> None:
    clock, events = Clock(), []
    q = queue_with(clock, events, retry_policy={"max_retries": 3}, enable_metrics=True)
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(clock.now)
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)}")
        return "ok"

    assert await q.submit(EXECUTE, flaky, command_type="fetch") == "ok"
    assert clock.slept == [0.1, 0.2]
    retries = of_type(events, "command_retry")
    assert [(e.attempt, e.delay_ms, e.command_type) for e in retries] == [
        (2, 100, "fetch"),
        (3, 200, "fetch"),
    ]
    assert {e.command_id for e in retries} == {"s-1"}
    m = q.metrics()
    assert m is not None
    lane = m.lanes["Execute"]
    assert (lane.submitted, lane.completed, lane.failed, lane.retried) == (1, 1, 0, 2)


def test_retry_delays_by_strategy() -> None:
    exp = RetryPolicy(strategy="exponential", max_retries=3, initial_delay_ms=50)
    assert [exp.delay_ms(n) for n in (1, 2, 3, 4)] == [50, 100, 200, None]
    fixed = RetryPolicy(strategy="fixed", max_retries=2, fixed_delay_ms=7)
    assert [fixed.delay_ms(n) for n in (1, 2, 3)] == [7, 7, None]
    assert RetryPolicy(strategy="none").delay_ms(1) is None


async def test_a_command_out_of_retries_is_dead_lettered_and_raised() -> None:
    clock, events = Clock(), []
    q = queue_with(
        clock,
        events,
        retry_policy={"strategy": "fixed", "max_retries": 2, "fixed_delay_ms": 5},
        enable_dlq=True,
        dlq_max_size=2,
        enable_metrics=True,
    )

    async def broken() -> None:
        raise ValueError("disk full\nsecond line")

    for _ in range(3):
        with pytest.raises(ValueError, match="disk full"):
            await q.submit(EXECUTE, broken, command_type="write")
    assert clock.slept == [0.005] * 6
    letters = q.dead_letters()
    assert [d.command_id for d in letters] == ["s-2", "s-3"]  # size 2: the oldest went
    assert (letters[0].attempts, letters[0].error, letters[0].lane_id) == (
        3,
        "ValueError: disk full",
        "Execute",
    )
    dead = of_type(events, "command_dead_lettered")
    assert len(dead) == 3 and dead[0].attempts == 3
    m = q.metrics()
    assert m is not None
    assert (m.lanes["Execute"].failed, m.lanes["Execute"].dead_lettered, m.dead_letters) == (
        3,
        3,
        2,
    )


async def test_without_a_dlq_nothing_is_kept_and_without_a_policy_nothing_is_retried() -> None:
    clock, events = Clock(), []
    q = queue_with(clock, events)

    async def broken() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await q.submit(EXECUTE, broken)
    assert q.dead_letters() == [] and clock.slept == [] and events == []
    assert q.metrics() is None  # metrics are off by default (the spec's default)


def test_an_external_failure_is_retried_then_dead_lettered_in_a_session(
    make_session: Any,
) -> None:
    session = bash_session(
        make_session,
        queue_config={
            "retry_policy": {"max_retries": 2, "initial_delay_ms": 10},
            "enable_dlq": True,
        },
    )
    clock = Clock()
    session.queue.use_clock(clock=clock, sleep=clock.sleep)
    tries: list[str] = []

    def handler(task: ExternalTask) -> dict[str, Any]:
        tries.append(task.task_id)
        return {"success": False, "error": "runner refused"}

    session.set_lane_handler("execute", handler)
    session.send("go")
    assert tries == [f"{session.id}-1", f"{session.id}-1.2", f"{session.id}-1.3"]
    assert clock.slept == [0.01, 0.02]
    (letter,) = session.dead_letters()
    assert letter.command_type == "bash" and "runner refused" in letter.error
    end = tool_end(session)
    assert end.exit_code == 1 and "runner refused" in end.output
    # the events are in the log, with the session's other durable facts
    kinds = [e.type for e in session.events()]
    assert kinds.count("command_retry") == 2 and kinds.count("command_dead_lettered") == 1


# --- rate limits, alerts, metrics ---------------------------------------------------------


async def test_a_lane_rate_limit_is_a_token_bucket_on_the_injected_clock() -> None:
    clock, events = Clock(), []
    q = queue_with(
        clock,
        events,
        lane_rate_limits={"execute": {"limit_type": "per_second", "max_operations": 2}},
    )
    starts: list[float] = []

    async def command() -> None:
        starts.append(clock.now)

    for _ in range(5):
        await q.submit(EXECUTE, command)
    assert starts == [0.0, 0.0, 0.5, 1.0, 1.5]
    clock.slept.clear()
    for _ in range(5):
        await q.submit(SessionLane.QUERY, command)  # another lane: no limit
    assert clock.slept == []
    clock.now += 10  # a quiet while refills the bucket to its size, not beyond
    await q.submit(EXECUTE, command)
    await q.submit(EXECUTE, command)
    await q.submit(EXECUTE, command)
    assert clock.slept == [0.5]


async def test_the_rate_limit_applies_to_every_lane_unless_a_lane_has_its_own() -> None:
    clock, events = Clock(), []
    q = queue_with(
        clock,
        events,
        rate_limit={"limit_type": "per_minute", "max_operations": 1},
        lane_rate_limits={"Query": {"limit_type": "unlimited"}},
    )

    async def command() -> None:
        return None

    await q.submit(EXECUTE, command)
    await q.submit(EXECUTE, command)
    assert clock.slept == [60.0]
    for _ in range(3):
        await q.submit(SessionLane.QUERY, command)
    assert clock.slept == [60.0]


async def test_depth_alerts_fire_once_per_crossing() -> None:
    clock, events = Clock(), []
    q = queue_with(
        clock,
        events,
        execute_max_concurrency=1,
        enable_alerts=True,
        alert_depth_warning=2,
        alert_depth_critical=3,
        pressure_threshold=3,
    )
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    tasks = [asyncio.ensure_future(q.submit(EXECUTE, blocked)) for _ in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert q.stats().lanes["Execute"].pending == 4
    alerts = [(e.level, e.alert_type) for e in of_type(events, "queue_alert")]
    assert alerts == [
        ("warning", "queue_depth"),
        ("critical", "queue_depth"),
        ("warning", "pressure"),
    ]
    assert "3 commands wait in the Execute lane (alert_depth_critical is 3)" in [
        e.message for e in of_type(events, "queue_alert")
    ]
    gate.set()
    await asyncio.gather(*tasks)


async def test_a_slow_command_raises_a_latency_alert() -> None:
    clock, events = Clock(), []
    q = queue_with(clock, events, enable_alerts=True, alert_latency_ms=100)

    async def slow() -> None:
        clock.now += 0.25

    async def quick() -> None:
        clock.now += 0.05

    await q.submit(EXECUTE, quick)
    await q.submit(EXECUTE, slow)
    (alert,) = of_type(events, "queue_alert")
    assert (alert.level, alert.alert_type) == ("warning", "latency")
    assert "took 250 ms" in alert.message


async def test_metrics_count_and_give_latency_percentiles() -> None:
    clock, events = Clock(), []
    q = queue_with(clock, events, enable_metrics=True)

    def taking(ms: int) -> Any:
        async def command() -> int:
            clock.now += ms / 1000
            return ms

        return command

    for ms in range(10, 101, 10):
        await q.submit(SessionLane.QUERY, taking(ms))

    async def broken() -> None:
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        await q.submit(SessionLane.QUERY, broken)
    m = q.metrics()
    assert m is not None
    lane = m.lanes["Query"]
    assert (lane.submitted, lane.completed, lane.failed, lane.depth, lane.active) == (
        11,
        10,
        1,
        0,
        0,
    )
    assert (lane.latency_p50_ms, lane.latency_p95_ms, lane.latency_p99_ms) == (
        pytest.approx(50),
        pytest.approx(100),
        pytest.approx(100),
    )
    assert m.lanes["Execute"].latency_p50_ms is None


# --- start / stop ---------------------------------------------------------------------------


async def test_a_stopped_queue_refuses_at_once_and_starts_again(make_session: Any) -> None:
    q = LaneQueue()
    q.stop()

    async def command() -> str:
        return "ran"

    with pytest.raises(QueueStoppedError, match="start_queue"):
        await q.submit(EXECUTE, command)
    q.start()
    assert await q.submit(EXECUTE, command) == "ran"

    session = make_session(["hi", "again"])
    session.stop_queue()
    with pytest.raises(QueueStoppedError, match="queue is stopped"):
        await session.send_async("hello")
    session.start_queue()
    assert (await session.send_async("hello")).text == "hi"


async def test_a_generate_rate_limit_spaces_out_runs(make_session: Any) -> None:
    session = make_session(
        ["one", "two"],
        queue_config={
            "lane_rate_limits": {"generate": {"limit_type": "per_minute", "max_operations": 1}}
        },
    )
    clock = Clock()
    session.queue.use_clock(clock=clock, sleep=clock.sleep)
    assert (await session.send_async("a")).text == "one"
    assert (await session.send_async("b")).text == "two"
    assert clock.slept == [60.0]


# --- config ---------------------------------------------------------------------------------


def test_every_reference_field_is_accepted_in_both_spellings() -> None:
    cfg = SessionQueueConfig(
        controlMaxConcurrency=3,
        laneHandlers={"execute": {"mode": "external", "timeoutMs": 5}},
        enableDlq=True,
        dlqMaxSize=10,
        enableMetrics=True,
        enableAlerts=True,
        defaultTimeoutMs=1000,
        retryPolicy={"strategy": "fixed", "maxRetries": 1, "fixedDelayMs": 3},
        rateLimit={"limitType": "per_hour", "maxOperations": 100},
        priorityBoost={"strategy": "disabled"},
        pressureThreshold=5,
        laneTimeouts={"query": 200},
    )
    assert cfg.control_max_concurrency == 3
    assert cfg.handler_of(EXECUTE).mode is TaskHandlerMode.EXTERNAL
    assert cfg.timeout_of(SessionLane.QUERY) == 200 and cfg.timeout_of(EXECUTE) == 1000
    # the session config round-trips it (the header and config_changed lines)
    outer = SessionConfig(queue_config=cfg)
    assert SessionConfig.from_dict(outer.to_dict()).queue_config == cfg
    assert SessionQueueConfig.with_lane_features().dlq_size() == 1000


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"enable_dql": True}, "has no field 'enable_dql': did you mean 'enable_dlq'"),
        ({"storage_path": "/tmp/q"}, "storage_path: is not supported"),
        ({"priority_boost": {"strategy": "standard"}}, "priority_boost: is not supported"),
        ({"dlq_max_size": 5}, "dlq_max_size needs enable_dlq=True"),
        ({"alert_latency_ms": 5}, "alert_latency_ms needs enable_alerts=True"),
        ({"rate_limit": {"limit_type": "per_minute"}}, "needs max_operations"),
        ({"retry_policy": {"fixed_delay_ms": 5}}, "fixed_delay_ms is used only by strategy"),
        ({"lane_timeouts": {"fast": 5}}, "unknown lane 'fast'"),
        ({"lane_handlers": {"execute": {"mode": "remote"}}}, "lane_handlers"),
        ({"lane_handlers": {"generate": {"mode": "external"}}}, "cannot be handed out"),
        ({"enable_alerts": True, "alert_depth_warning": 9, "alert_depth_critical": 3}, "at least"),
    ],
)
def test_a_setting_that_cannot_be_honoured_raises(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SessionQueueConfig(**fields)


def test_a_session_follows_a_queue_config_change(make_session: Any) -> None:
    session = make_session(["x"])
    assert session.queue_metrics() is None
    session.update_config(queue_config={"enable_metrics": True, "execute_max_concurrency": 5})
    assert session.queue_metrics() is not None
    assert session.queue_stats().lanes["Execute"].max_concurrency == 5


# --- titles ---------------------------------------------------------------------------------


def test_a_title_is_generated_once_after_the_first_answer_and_restored(
    tmp_path: Path, workspace: Path
) -> None:
    manager = SessionManager(tmp_path / "sessions")
    llm = ScriptedClient(["Four.", "Five."])
    session = manager.create_session(
        SessionConfig(workspace=str(workspace), auto_title=True), llm=llm, session_id="t"
    )
    assert session.send("what is two plus two, please?").text == "Four."
    assert session.config.title == "What is two plus two, please"
    assert session.send("and plus three?").text == "Five."  # the title used no turn
    purposes = [r.purpose for r in session.cost_records]
    assert purposes == ["generate", "title", "generate"]  # once, a ledger row
    manager.forget_session("t")
    again = SessionManager(tmp_path / "sessions")
    assert again.restore_session("t").config.title == "What is two plus two, please"
    assert [s.title for s in again.list_sessions()] == ["What is two plus two, please"]


def test_no_title_unless_asked(make_session: Any) -> None:
    session = make_session(["Four."])
    assert session.generate_title() is None  # nothing answered yet
    session.send("what is two plus two?")
    assert session.config.title is None
    assert [r.purpose for r in session.cost_records] == ["generate"]
    assert session.generate_title() == "What is two plus two"
    assert session.generate_title() == "What is two plus two"  # kept, no second call
    assert [r.purpose for r in session.cost_records] == ["generate", "title"]


# --- the widget's note rows -----------------------------------------------------------------


def test_queue_events_are_note_rows() -> None:
    from a3s_notebook.engine.events import (
        CommandDeadLettered,
        CommandRetry,
        ExternalTaskCompleted,
        ExternalTaskPending,
        QueueAlert,
    )

    stream = EventStream()
    for event in [
        ExternalTaskPending(
            task_id="s-1",
            session_id="s",
            lane="Execute",
            command_type="bash",
            payload={"command": "ls"},
            timeout_ms=60000,
        ),
        ExternalTaskCompleted(task_id="s-1", session_id="s", success=False),
        CommandRetry(
            command_id="s-2", command_type="bash", lane="Execute", attempt=2, delay_ms=100
        ),
        CommandDeadLettered(
            command_id="s-2", command_type="bash", lane="Execute", error="boom", attempts=4
        ),
        QueueAlert(level="critical", alert_type="queue_depth", message="100 wait"),
    ]:
        stream._handle_event(event)
    notes = [r for r in stream.transcript() if r["kind"] == "note"]
    assert [(r["topic"], r["tone"]) for r in notes] == [
        ("queue", "info"),
        ("queue", "danger"),
        ("queue", "warn"),
        ("queue", "danger"),
        ("queue", "danger"),
    ]
    assert notes[0]["title"] == "bash handed to an external handler"
    assert notes[0]["items"] == ['{"command": "ls"}']
    assert notes[2]["title"] == "bash failed: try 2 in 100 ms"
    assert "boom" in notes[3]["detail"]
    assert notes[4]["title"] == "queue critical: queue depth"


def test_external_handler_errors_are_external_task_errors() -> None:
    assert issubclass(ExternalTaskError, RuntimeError)


# --- magics ---------------------------------------------------------------------------------


def test_the_queue_magic_and_the_title_in_the_list(
    ip: Any,  # noqa: F811  (the fixture from test_magics)
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(ip, "%a3s_session new one --model scripted/echo")
    session = magics(ip).current
    run(ip, "%a3s_session config auto_title=true")
    run(ip, "%%ask\nwhat is the plan for today?")
    listing = run(ip, "%a3s_session list")
    assert list(listing["title"]) == ["What is the plan for today"]
    capsys.readouterr()
    run(ip, "%a3s_session queue")
    out = capsys.readouterr().out
    assert "metrics: off (queue_config enable_metrics=True turns them on)" in out
    session.update_config(queue_config={"enable_dlq": True, "enable_metrics": True})

    async def broken() -> None:
        raise OSError("the disk is gone\nwith a long traceback")

    with pytest.raises(OSError):
        asyncio.run(session.queue.submit(EXECUTE, broken, command_type="bash"))
    run(ip, "%a3s_session queue")
    out = capsys.readouterr().out
    assert "queue: running; 0 waiting, 0 running" in out
    assert "Execute  Internal      0    0    2" in out
    assert "dead letters: 1" in out
    line = next(ln for ln in out.splitlines() if "after 1 tries" in ln)
    assert line.endswith("OSError: the disk is gone")
    assert "with a long traceback" not in out
    session.stop_queue()
    run(ip, "%a3s_session queue")
    assert "queue: stopped (session.start_queue())" in capsys.readouterr().out
