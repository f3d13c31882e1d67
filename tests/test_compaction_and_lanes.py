"""Compaction (spec section 5) and the lane queue (spec section 4)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from a3s_notebook.engine import SessionLane, SessionQueueConfig
from a3s_notebook.engine.compaction import (
    KEEP_INITIAL_MESSAGES,
    KEEP_RECENT_MESSAGES,
    MIN_MESSAGES_FOR_COMPACTION,
    PRUNED_MARKER,
    SUMMARY_PREFIX,
    compact_messages,
    prune_tool_outputs,
    should_auto_compact,
    truncate_messages,
)
from a3s_notebook.engine.events import ContextCompacted
from a3s_notebook.engine.lanes import LaneQueue
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.llm.types import Message, ToolUseBlock

from .conftest import turn


def convo(n: int) -> list[Message]:
    return [Message.user(f"u{i}") if i % 2 == 0 else Message.assistant(f"a{i}") for i in range(n)]


def test_constants() -> None:
    assert (KEEP_RECENT_MESSAGES, MIN_MESSAGES_FOR_COMPACTION, KEEP_INITIAL_MESSAGES) == (20, 30, 2)


def test_should_auto_compact_is_inclusive_and_safe_at_zero() -> None:
    assert should_auto_compact(80, 100, 0.8) is True
    assert should_auto_compact(79, 100, 0.8) is False
    assert should_auto_compact(10, 0, 0.8) is False


async def test_small_histories_are_left_alone() -> None:
    assert await compact_messages(convo(30), ScriptedClient()) is None
    assert await compact_messages(convo(20), None) is None


async def test_keeps_two_plus_summary_plus_twenty() -> None:
    msgs = convo(41)
    out = await compact_messages(msgs, ScriptedClient())
    assert out is not None and len(out) == 23
    assert out[:2] == msgs[:2] and out[3:] == msgs[-20:]
    assert out[2].role == "user" and out[2].text().startswith(SUMMARY_PREFIX + "\n\n")


async def test_without_llm_truncates_to_the_last_twenty() -> None:
    msgs = convo(25)
    out = await compact_messages(msgs, None)
    assert out == msgs[-20:]


def test_boundaries_never_orphan_a_tool_result() -> None:
    msgs = convo(10)
    msgs[4] = Message(role="assistant", content=[ToolUseBlock(id="x", name="read", input={})])
    msgs[5] = Message.tool_result("x", "data")
    out = truncate_messages(msgs, keep=5)  # would start at the tool result
    assert out[0] is msgs[4]


def test_prune_tool_outputs_only_when_it_saves_enough() -> None:
    big = "x" * 200_000  # 50k tokens each
    msgs = [Message.tool_result(f"t{i}", big) for i in range(3)]
    out, saved = prune_tool_outputs(msgs)
    assert saved > 20_000
    assert out[0].tool_results()[0].content == PRUNED_MARKER
    assert out[2].tool_results()[0].content == big  # newest is protected
    small = [Message.tool_result("t", "y" * 1000)]
    assert prune_tool_outputs(small) == (small, 0)


async def test_auto_compaction_at_threshold_emits_an_event(make_session: Any) -> None:
    session = make_session(
        [turn("x" * 400) for _ in range(40)],
        auto_compact=True,
        auto_compact_threshold=0.5,
        max_context_length=3000,
    )
    events: list[Any] = []
    session.subscribe(events.append)
    for i in range(20):
        await session.send_async(f"q{i} " + "y" * 200)
    compacted = [e for e in events if isinstance(e, ContextCompacted)]
    assert compacted, "expected an automatic compaction"
    first = compacted[0]
    assert first.before_messages > first.after_messages
    assert first.percent_before >= 0.5
    assert len(session.messages) < 40


async def test_manual_compaction_without_llm_falls_back_to_truncation(make_session: Any) -> None:
    session = make_session([turn(f"a{i}") for i in range(15)])
    for i in range(15):
        await session.send_async(f"q{i}")

    def broken() -> Any:
        raise RuntimeError("no client")

    session._llm = None
    session._llm_factory = broken
    assert await session.compact_async() is True
    assert len(session.messages) == 20


# --- lanes ----------------------------------------------------------------------------


def test_lane_priorities_and_tool_mapping() -> None:
    assert [lane.priority() for lane in SessionLane] == [0, 1, 2, 3]
    for name in ("read", "glob", "ls", "grep", "web_fetch", "web_search", "READ"):
        assert SessionLane.from_tool_name(name) is SessionLane.QUERY
    for name in ("bash", "write", "edit", "todo_write", "anything"):
        assert SessionLane.from_tool_name(name) is SessionLane.EXECUTE
    with pytest.raises(ValueError, match="unknown lane 'fast'"):
        SessionLane.parse("fast")


async def test_lane_concurrency_limits() -> None:
    q = LaneQueue(SessionQueueConfig(execute_max_concurrency=2))
    running = peak = 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    await asyncio.gather(*(q.run(SessionLane.EXECUTE, job) for _ in range(6)))
    assert peak == 2
    assert q.stats().lanes["Execute"].active == 0


async def test_waiting_commands_dispatch_by_priority() -> None:
    cfg = SessionQueueConfig(
        control_max_concurrency=1, query_max_concurrency=1, execute_max_concurrency=1
    )
    q = LaneQueue(cfg)
    order: list[str] = []
    gate = asyncio.Event()

    async def blocker() -> None:
        await gate.wait()

    def job(tag: str) -> Any:
        async def run() -> None:
            order.append(tag)

        return run

    holders = [
        asyncio.ensure_future(q.run(lane, blocker))
        for lane in (SessionLane.CONTROL, SessionLane.QUERY, SessionLane.EXECUTE)
    ]
    await asyncio.sleep(0)
    waiting = [
        asyncio.ensure_future(q.run(SessionLane.EXECUTE, job("execute"))),
        asyncio.ensure_future(q.run(SessionLane.QUERY, job("query"))),
        asyncio.ensure_future(q.run(SessionLane.CONTROL, job("control"))),
    ]
    await asyncio.sleep(0)
    stats = q.stats()
    assert stats.total_pending == 3 and stats.total_active == 3
    gate.set()
    await asyncio.gather(*holders, *waiting)
    assert order == ["control", "query", "execute"]


async def test_cancelled_waiter_frees_nothing_it_did_not_take() -> None:
    q = LaneQueue(SessionQueueConfig(generate_max_concurrency=1))
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    async def quick() -> str:
        return "ran"

    first = asyncio.ensure_future(q.run(SessionLane.GENERATE, hold))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(q.run(SessionLane.GENERATE, quick))
    await asyncio.sleep(0)
    second.cancel()
    gate.set()
    await first
    assert await q.run(SessionLane.GENERATE, quick) == "ran"
    assert q.stats().lanes["Generate"].active == 0


def test_task_ids_count_from_one() -> None:
    q = LaneQueue(session_id="s1")
    assert [q.next_task_id(), q.next_task_id()] == ["s1-1", "s1-2"]
