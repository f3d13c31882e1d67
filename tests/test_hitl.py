"""ConfirmationPolicy and ConfirmationManager (spec section 2)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from pydantic import ValidationError

from a3s_notebook.engine.events import (
    AgentEvent,
    ConfirmationReceived,
    ConfirmationRequired,
    ConfirmationTimeout,
)
from a3s_notebook.engine.hitl import (
    ConfirmationManager,
    ConfirmationPolicy,
    ConfirmationProvider,
    ConfirmationResponse,
    PendingConfirmationInfo,
    TimeoutAction,
)
from a3s_notebook.engine.lanes import SessionLane


class Recorder:
    """Collects emitted events and the thread each arrived on."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []
        self.threads: list[int] = []

    def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)
        self.threads.append(threading.get_ident())

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]


def manager(
    timeout_ms: int = 30_000, action: TimeoutAction = TimeoutAction.REJECT
) -> tuple[ConfirmationManager, Recorder]:
    rec = Recorder()
    policy = ConfirmationPolicy.enabled_policy().with_timeout(timeout_ms, action)
    return ConfirmationManager(policy, rec), rec


# -- policy ----------------------------------------------------------------------


def test_policy_defaults() -> None:
    p = ConfirmationPolicy()
    assert p.enabled is False
    assert p.default_timeout_ms == 30_000
    assert p.timeout_action is TimeoutAction.REJECT
    assert p.yolo_lanes == set()
    assert p.model_dump(mode="json") == {
        "enabled": False,
        "default_timeout_ms": 30000,
        "timeout_action": "Reject",
        "yolo_lanes": [],
    }
    on = ConfirmationPolicy.enabled_policy()
    assert on.enabled is True
    assert (on.default_timeout_ms, on.timeout_action, on.yolo_lanes) == (
        30_000,
        TimeoutAction.REJECT,
        set(),
    )


def test_timeout_action_wire_names() -> None:
    assert [a.value for a in TimeoutAction] == ["Reject", "AutoApprove"]
    for spelling in ("AutoApprove", "auto_approve", "auto-approve", "autoapprove"):
        assert (
            ConfirmationPolicy(timeout_action=spelling).timeout_action is TimeoutAction.AUTO_APPROVE
        )


@pytest.mark.parametrize("bad", [0, -5])
def test_timeout_must_be_positive(bad: int) -> None:
    with pytest.raises(ValidationError) as info:
        ConfirmationPolicy(default_timeout_ms=bad)
    message = str(info.value)
    assert "default_timeout_ms" in message
    assert "30000" in message
    with pytest.raises(ValidationError):
        ConfirmationPolicy().with_timeout(bad, TimeoutAction.REJECT)


def test_yolo_lanes_parse_any_case_and_serialize_in_priority_order() -> None:
    p = ConfirmationPolicy.model_validate(
        {"enabled": True, "yolo_lanes": ["generate", "QUERY", "Control"]}
    )
    assert p.yolo_lanes == {SessionLane.GENERATE, SessionLane.QUERY, SessionLane.CONTROL}
    assert p.model_dump(mode="json")["yolo_lanes"] == ["Control", "Query", "Generate"]
    assert ConfirmationPolicy.model_validate_json(p.model_dump_json()) == p
    with pytest.raises(ValidationError, match="unknown lane"):
        ConfirmationPolicy.model_validate({"yolo_lanes": ["fast"]})


def test_with_methods_return_copies() -> None:
    base = ConfirmationPolicy.enabled_policy()
    yolo = base.with_yolo_lanes([SessionLane.QUERY, "execute"])
    assert yolo.yolo_lanes == {SessionLane.QUERY, SessionLane.EXECUTE}
    assert base.yolo_lanes == set()
    assert yolo.with_yolo_lanes([]).yolo_lanes == set()  # replaces, not adds
    fast = base.with_timeout(50, TimeoutAction.AUTO_APPROVE)
    assert (fast.default_timeout_ms, fast.timeout_action) == (50, TimeoutAction.AUTO_APPROVE)
    assert (base.default_timeout_ms, base.timeout_action) == (30_000, TimeoutAction.REJECT)
    assert fast.enabled is True


def test_is_yolo_when_disabled() -> None:
    p = ConfirmationPolicy()
    for tool in ("read", "bash", "write", "mystery"):
        assert p.is_yolo(tool) is True
        assert p.requires_confirmation(tool) is False


def test_enabled_without_yolo_lanes_confirms_everything() -> None:
    p = ConfirmationPolicy.enabled_policy()
    for tool in ("read", "grep", "bash", "write", "mystery"):
        assert p.is_yolo(tool) is False
        assert p.requires_confirmation(tool) is True


def test_yolo_query_lane() -> None:
    p = ConfirmationPolicy.enabled_policy().with_yolo_lanes([SessionLane.QUERY])
    for tool in (
        "read",
        "Read",
        "glob",
        "ls",
        "grep",
        "list_files",
        "search",
        "web_fetch",
        "web_search",
    ):
        assert p.is_yolo(tool) is True, tool
    for tool in ("bash", "write", "edit", "delete", "mystery_tool"):
        assert p.requires_confirmation(tool) is True, tool


def test_yolo_execute_lane() -> None:
    p = ConfirmationPolicy.enabled_policy().with_yolo_lanes(["execute"])
    assert p.is_yolo("bash") is True
    assert p.is_yolo("unknown_tool") is True  # unknown tools go to Execute
    assert p.requires_confirmation("read") is True


# -- manager: request and confirm ------------------------------------------------


def test_manager_policy_accessors() -> None:
    m = ConfirmationManager(ConfirmationPolicy())
    assert m.requires_confirmation("bash") is False
    m.set_policy(ConfirmationPolicy.enabled_policy())
    assert m.policy.enabled is True
    assert m.requires_confirmation("bash") is True
    assert isinstance(m, ConfirmationProvider)


async def test_request_then_approve() -> None:
    m, rec = manager()
    fut = m.request_confirmation("t1", "bash", {"command": "ls"}, reason="no rule matched")
    assert not fut.done()
    assert m.pending_count() == 1
    assert m.confirm("t1", True) is True
    assert fut.done()
    assert await m.wait_for_decision("t1", fut) == ConfirmationResponse(
        approved=True, reason=None, timed_out=False, decided_by="user"
    )
    assert rec.events == [
        ConfirmationRequired(
            tool_id="t1",
            tool_name="bash",
            args={"command": "ls"},
            timeout_ms=30_000,
            reason="no rule matched",
        ),
        ConfirmationReceived(tool_id="t1", approved=True, reason=None, decided_by="user"),
    ]
    assert m.pending_count() == 0
    assert m.confirm("t1", False) is False  # already decided


async def test_request_then_reject_with_reason() -> None:
    m, rec = manager()
    fut = m.request_confirmation("t2", "write", {"file_path": "a.txt"})
    assert m.confirm("t2", False, "not that file", decided_by="alice") is True
    response = await fut
    assert (response.approved, response.reason, response.decided_by) == (
        False,
        "not that file",
        "alice",
    )
    assert rec.types == ["confirmation_required", "confirmation_received"]
    received = rec.events[1]
    assert isinstance(received, ConfirmationReceived)
    assert (received.approved, received.reason, received.decided_by) == (
        False,
        "not that file",
        "alice",
    )


async def test_confirm_records_the_rule_added() -> None:
    m, rec = manager()
    fut = m.request_confirmation("t3", "bash", {"command": "git status"})
    assert m.confirm("t3", True, rule_added="Bash(git:*)") is True
    assert (await fut).approved is True
    received = rec.events[-1]
    assert isinstance(received, ConfirmationReceived)
    assert received.rule_added == "Bash(git:*)"


async def test_confirm_unknown_id_is_false_not_an_error() -> None:
    m, rec = manager()
    assert m.confirm("nope", True) is False
    assert rec.events == []


def test_request_outside_a_loop_explains() -> None:
    m, _ = manager()
    with pytest.raises(RuntimeError, match="must be called from a coroutine"):
        m.request_confirmation("t", "bash", {})


async def test_args_are_copied() -> None:
    m, _ = manager()
    args = {"command": "ls"}
    m.request_confirmation("t", "bash", args)
    args["command"] = "rm -rf /"
    assert m.pending_confirmation_details()[0].args == {"command": "ls"}


# -- timeouts --------------------------------------------------------------------


async def test_timeout_rejects() -> None:
    m, rec = manager(50, TimeoutAction.REJECT)
    fut = m.request_confirmation("t1", "bash", {"command": "ls"})
    response = await m.wait_for_decision("t1", fut)
    assert response == ConfirmationResponse(
        approved=False,
        reason="Confirmation timed out, action: rejected",
        timed_out=True,
        decided_by="timeout",
    )
    assert rec.events[1:] == [ConfirmationTimeout(tool_id="t1", action_taken="rejected")]
    assert m.pending_count() == 0
    assert m.confirm("t1", True) is False  # too late


async def test_timeout_auto_approves() -> None:
    m, rec = manager(50, TimeoutAction.AUTO_APPROVE)
    fut = m.request_confirmation("t1", "bash", {"command": "ls"})
    response = await m.wait_for_decision("t1", fut)
    assert response.approved is True
    assert response.timed_out is True
    assert response.reason == "Confirmation timed out, action: auto_approved"
    assert rec.types == ["confirmation_required", "confirmation_timeout"]
    timeout = rec.events[1]
    assert isinstance(timeout, ConfirmationTimeout)
    assert timeout.action_taken == "auto_approved"


async def test_check_timeouts_counts_only_overdue() -> None:
    m, _ = manager(50)
    fut = m.request_confirmation("t1", "bash", {})
    assert m.check_timeouts() == 0
    assert not fut.done()
    await asyncio.sleep(0.1)
    m.set_policy(m.policy.with_timeout(60_000, TimeoutAction.REJECT))
    late = m.request_confirmation("t2", "bash", {})  # the new timeout applies to new requests
    assert m.check_timeouts() == 1
    assert fut.done() and fut.result().timed_out
    assert not late.done()
    assert m.pending_confirmations()[0][0] == "t2"


async def test_confirm_before_timeout_wins() -> None:
    m, rec = manager(200)
    fut = m.request_confirmation("t1", "bash", {})
    asyncio.get_running_loop().call_later(0.02, m.confirm, "t1", True)
    response = await m.wait_for_decision("t1", fut)
    assert response.approved is True and response.timed_out is False
    assert "confirmation_timeout" not in rec.types


# -- cancellation ----------------------------------------------------------------


async def test_cancel_one() -> None:
    m, rec = manager()
    fut = m.request_confirmation("t1", "bash", {})
    other = m.request_confirmation("t2", "bash", {})
    assert m.cancel("t1") is True
    assert m.cancel("t1") is False
    response = await fut
    assert (response.approved, response.reason) == (False, "Confirmation cancelled")
    assert not other.done()
    assert rec.types == [
        "confirmation_required",
        "confirmation_required",
        "confirmations_cancelled",
    ]


async def test_cancel_all() -> None:
    m, _ = manager()
    futures = [m.request_confirmation(f"t{i}", "bash", {}) for i in range(3)]
    assert m.cancel_all() == 3
    assert m.cancel_all() == 0
    assert m.pending_count() == 0
    for fut in futures:
        assert (await fut).reason == "Confirmation cancelled"


async def test_cancelling_the_waiting_task_cancels_the_entry() -> None:
    m, _ = manager()
    fut = m.request_confirmation("t1", "bash", {})
    waiter = asyncio.create_task(m.wait_for_decision("t1", fut))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert m.pending_count() == 0
    assert fut.done() and not fut.cancelled()
    assert fut.result() == ConfirmationResponse(
        approved=False, reason="Confirmation cancelled", decided_by="cancel"
    )


async def test_cancelled_bare_future_reads_as_cancelled() -> None:
    m, _ = manager()
    fut = m.request_confirmation("t1", "bash", {})
    fut.cancel()
    response = await m.wait_for_decision("t1", fut)
    assert (response.approved, response.reason) == (False, "Confirmation cancelled")
    assert m.pending_count() == 0


# -- status ----------------------------------------------------------------------


async def test_pending_details_count_down() -> None:
    m, _ = manager(1_000)
    before = time.time()
    m.request_confirmation("t1", "bash", {"command": "ls"}, reason="ask rule 'Bash'")
    m.request_confirmation("t2", "read", {"file_path": "a"})
    (first, second) = m.pending_confirmation_details()
    assert isinstance(first, PendingConfirmationInfo)
    assert (first.tool_id, first.tool_name, first.args) == ("t1", "bash", {"command": "ls"})
    assert (first.timeout_ms, first.reason) == (1_000, "ask rule 'Bash'")
    assert second.reason is None
    assert before <= first.created_at <= time.time()
    assert 900 < first.remaining_ms <= 1_000
    await asyncio.sleep(0.1)
    later = m.pending_confirmation_details()[0]
    assert later.remaining_ms < first.remaining_ms
    assert [(i, n) for i, n, _ in m.pending_confirmations()] == [("t1", "bash"), ("t2", "read")]
    assert all(0 <= r <= 1_000 for _, _, r in m.pending_confirmations())
    m.cancel_all()


async def test_remaining_never_negative() -> None:
    m, _ = manager(10)
    m.request_confirmation("t1", "bash", {})
    await asyncio.sleep(0.05)
    assert m.pending_confirmations() == [("t1", "bash", 0)]
    assert m.check_timeouts() == 1


# -- duplicates and threads ------------------------------------------------------


async def test_duplicate_id_rejects_both() -> None:
    m, rec = manager()
    first = m.request_confirmation("dup", "bash", {"command": "ls"})
    second = m.request_confirmation("dup", "bash", {"command": "rm -rf /"})
    reason = "Duplicate confirmation tool id 'dup'; both requests were rejected"
    for fut in (first, second):
        response = await fut
        assert (response.approved, response.reason) == (False, reason)
    assert m.pending_count() == 0
    assert m.confirm("dup", True) is False
    # one Required (the first request), one Received closing it
    assert rec.types == ["confirmation_required", "confirmation_received"]


async def test_confirm_from_another_thread() -> None:
    m, rec = manager(5_000)
    fut = m.request_confirmation("t1", "bash", {"command": "ls"})
    results: list[bool] = []

    def click() -> None:
        time.sleep(0.05)
        results.append(m.confirm("t1", True, "looks fine"))

    worker = threading.Thread(target=click)
    worker.start()
    response = await asyncio.wait_for(m.wait_for_decision("t1", fut), 2)
    worker.join()
    assert results == [True]
    assert (response.approved, response.reason) == (True, "looks fine")
    # the event reached listeners on the loop's thread, not the clicking thread
    assert rec.types == ["confirmation_required", "confirmation_received"]
    assert set(rec.threads) == {threading.get_ident()}


async def test_many_threads_race_one_wins() -> None:
    m, rec = manager(5_000)
    fut = m.request_confirmation("t1", "bash", {})
    outcomes: list[bool] = []
    lock = threading.Lock()

    def click(approved: bool) -> None:
        ok = m.confirm("t1", approved)
        with lock:
            outcomes.append(ok)

    workers = [threading.Thread(target=click, args=(i % 2 == 0,)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    await m.wait_for_decision("t1", fut)
    assert sorted(outcomes) == [False] * 7 + [True]
    assert rec.types.count("confirmation_received") == 1


async def test_broken_listener_does_not_block_the_decision(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(event: AgentEvent) -> None:
        raise RuntimeError("listener bug")

    m = ConfirmationManager(ConfirmationPolicy.enabled_policy(), explode)
    with caplog.at_level(logging.ERROR):
        fut = m.request_confirmation("t1", "bash", {})
        assert m.confirm("t1", True) is True
    assert (await fut).approved is True
    assert "listener failed" in caplog.text
