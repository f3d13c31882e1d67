"""The agent loop: event order, permissions, confirmations, lanes, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import (
    AgentError,
    ConfirmationPolicy,
    SessionLane,
    TimeoutAction,
)
from a3s_notebook.engine.events import (
    AgentEvent,
    ConfirmationReceived,
    ConfirmationRequired,
    ConfirmationTimeout,
    PermissionDenied,
    ToolEnd,
)
from a3s_notebook.engine.tools import ToolContext, ToolResult, default_registry
from a3s_notebook.llm.types import ToolResultBlock

from .conftest import turn

NOISE = {
    "text_delta",
    "usage_recorded",
    "context_usage",
    "task_updated",
    "tool_output_delta",
    "message_added",
}


def record(session: Any) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    return events


def decide_later(session: Any, decisions: dict[str, tuple[bool, str | None] | None]) -> None:
    """Answer confirmations from the loop (as a widget click would), or not at all (None)."""

    def on_event(ev: AgentEvent) -> None:
        if isinstance(ev, ConfirmationRequired):
            choice = decisions.get(
                ev.tool_name + ":" + str(ev.args.get("file_path") or ev.args.get("command"))
            )
            if choice is not None:
                asyncio.get_running_loop().call_later(
                    0.01, lambda: session.confirm(ev.tool_id, choice[0], choice[1])
                )

    session.subscribe(on_event)


async def test_event_order_for_every_tool_outcome(make_session: Any, workspace: Path) -> None:
    session = make_session(
        [
            turn(
                "Let me work.",
                ("read", {"file_path": "hello.txt"}),
                ("bash", {"command": "rm -rf /tmp/x"}),
                ("write", {"file_path": "new.txt", "content": "approved\n"}),
                ("edit", {"file_path": "hello.txt", "old_string": "hello", "new_string": "bye"}),
                ("bash", {"command": "echo never"}),
            ),
            turn("All done."),
        ],
        allow=["read"],
        deny=["Bash(rm:*)"],
        timeout_ms=150,
    )
    events = record(session)
    decide_later(
        session,
        {
            "write:new.txt": (True, None),
            "edit:hello.txt": (False, "not now"),
            "bash:echo never": None,  # nobody answers: times out
        },
    )
    result = await session.send_async("do five things")
    assert result.text == "All done."
    assert result.tool_calls_count == 5

    kinds = [e.type for e in events if e.type not in NOISE]
    assert kinds[:8] == ["agent_start", "turn_start"] + ["tool_start"] * 5 + ["turn_end"]
    assert kinds[-3:] == ["turn_start", "turn_end", "agent_end"]

    def for_tool(tid: str) -> list[str]:
        out = []
        for e in events:
            if getattr(e, "tool_id", None) == tid or (isinstance(e, ToolEnd) and e.id == tid):
                out.append(e.type)
        return out

    assert for_tool("t1_read") == ["tool_end"]
    assert for_tool("t2_bash") == ["permission_denied", "tool_end"]
    assert for_tool("t3_write") == ["confirmation_required", "confirmation_received", "tool_end"]
    assert for_tool("t4_edit") == ["confirmation_required", "confirmation_received", "tool_end"]
    assert for_tool("t5_bash") == ["confirmation_required", "confirmation_timeout", "tool_end"]

    ends = {e.id: e for e in events if isinstance(e, ToolEnd)}
    assert ends["t1_read"].exit_code == 0 and "hello world" in ends["t1_read"].output
    assert (
        ends["t2_bash"].output == "Permission denied: Tool 'bash' is blocked by permission policy."
    )
    assert ends["t3_write"].exit_code == 0
    assert ends["t4_edit"].output == "Tool 'edit' execution was rejected by user. Reason: not now"
    assert ends["t5_bash"].output == (
        "Tool 'bash' execution timed out waiting for confirmation (150ms). Execution rejected."
    )
    denied = next(e for e in events if isinstance(e, PermissionDenied))
    assert denied.reason.startswith("Blocked by deny rule in permission policy")
    timeout = next(e for e in events if isinstance(e, ConfirmationTimeout))
    assert timeout.action_taken == "rejected"
    received = [e for e in events if isinstance(e, ConfirmationReceived)]
    assert [(r.approved, r.reason) for r in received] == [(True, None), (False, "not now")]

    # the effects: the approved write happened, the rejected edit did not
    assert (workspace / "new.txt").read_text() == "approved\n"
    assert (workspace / "hello.txt").read_text() == "hello world\n"

    # one tool-result message, in the order of the calls, errors flagged
    results = session.messages[2].content
    assert [b.tool_use_id for b in results if isinstance(b, ToolResultBlock)] == [
        "t1_read",
        "t2_bash",
        "t3_write",
        "t4_edit",
        "t5_bash",
    ]
    assert [b.is_error for b in results if isinstance(b, ToolResultBlock)] == [
        False,
        True,
        False,
        True,
        True,
    ]
    # the model saw the reason on its next call
    llm_seen = session.llm.requests[1][-1]
    assert "Reason: not now" in llm_seen.tool_results()[3].content


async def test_default_policy_asks_for_every_tool_and_rejects_on_timeout(make_session: Any) -> None:
    session = make_session(
        [turn("", ("read", {"file_path": "hello.txt"})), turn("ok")], timeout_ms=50
    )
    events = record(session)
    await session.send_async("read it")
    assert [e.type for e in events if e.type.startswith("confirmation")] == [
        "confirmation_required",
        "confirmation_timeout",
    ]
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert end.exit_code == 1 and "timed out waiting for confirmation (50ms)" in end.output


async def test_auto_approve_on_timeout_runs_the_tool(make_session: Any, workspace: Path) -> None:
    policy = ConfirmationPolicy.enabled_policy().with_timeout(40, TimeoutAction.AUTO_APPROVE)
    session = make_session(
        [turn("", ("write", {"file_path": "auto.txt", "content": "x"})), turn("ok")],
        confirmation=policy,
    )
    events = record(session)
    await session.send_async("write")
    assert (workspace / "auto.txt").read_text() == "x"
    assert (
        next(e for e in events if isinstance(e, ConfirmationTimeout)).action_taken
        == "auto_approved"
    )


async def test_yolo_lane_and_disabled_hitl_still_emit_tool_end(
    make_session: Any, workspace: Path
) -> None:
    # quirk 3 fixed: tools that skip confirmation still get a tool_end
    yolo = ConfirmationPolicy.enabled_policy().with_yolo_lanes([SessionLane.EXECUTE])
    session = make_session(
        [turn("", ("write", {"file_path": "y.txt", "content": "y"})), turn("ok")],
        confirmation=yolo,
    )
    events = record(session)
    await session.send_async("go")
    assert [e.type for e in events if e.type in ("tool_end", "confirmation_required")] == [
        "tool_end"
    ]
    assert (workspace / "y.txt").exists()

    off = make_session(
        [turn("", ("bash", {"command": "echo hi"})), turn("ok")],
        confirmation=ConfirmationPolicy(enabled=False),
    )
    events = record(off)
    await off.send_async("go")
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert end.exit_code == 0 and "hi" in end.output


async def test_malformed_tool_arguments_become_a_tool_error(make_session: Any) -> None:
    session = make_session(
        [
            turn("", {"id": "bad", "name": "read", "raw_args": '{"file_path": "hel'}),
            turn("sorry"),
        ],
        allow=["read"],
    )
    events = record(session)
    await session.send_async("x")
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert end.exit_code == 1
    assert end.output.startswith("Error: the arguments for tool 'read' are not valid JSON")
    assert "Send the arguments as one JSON object" in end.output


async def test_tool_errors_and_unknown_tools(make_session: Any) -> None:
    session = make_session(
        [
            turn("", ("read", {"file_path": "missing.txt"}), ("frobnicate", {"x": 1})),
            turn("done"),
        ],
        allow=["read", "frobnicate"],
    )
    events = record(session)
    await session.send_async("x")
    ends = [e for e in events if isinstance(e, ToolEnd)]
    assert [e.exit_code for e in ends] == [1, 1] or sorted(e.exit_code for e in ends) == [1, 1]
    unknown = next(e for e in ends if e.name == "frobnicate")
    assert unknown.output.startswith("Unknown tool: frobnicate")


async def test_max_tool_rounds(make_session: Any) -> None:
    looping = [turn("", ("read", {"file_path": "hello.txt"})) for _ in range(5)]
    session = make_session(looping, allow=["read"], max_tool_rounds=3)
    events = record(session)
    with pytest.raises(AgentError, match=r"Max tool rounds \(3\) exceeded"):
        await session.send_async("loop")
    assert events[-1].type == "error"
    # the history ends on a complete tool-result message, so the session stays usable
    assert session.messages[-1].tool_results()


async def test_default_max_tool_rounds_is_50(make_session: Any) -> None:
    session = make_session([])
    assert session.config.max_tool_rounds == 50


class SlowQuery:
    """A read-only tool (its name maps to the Query lane) that waits."""

    name = "grep"
    description = "waits"
    parameters: dict[str, Any] = {"type": "object", "properties": {"pattern": {"type": "string"}}}

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.1)
        self.running -= 1
        return ToolResult(name=self.name, output=f"found {args['pattern']}")


async def test_query_tools_run_in_parallel_and_keep_call_order(make_session: Any) -> None:
    slow = SlowQuery()
    calls = [("grep", {"pattern": f"p{i}"}) for i in range(8)]
    session = make_session([turn("", *calls), turn("ok")], allow=["grep"])
    session.tools.register(slow)
    await session.send_async("search")
    assert slow.peak == 4  # the Query lane's default concurrency: four ran at once
    results = session.messages[2].tool_results()
    assert [r.content for r in results] == [f"found p{i}" for i in range(8)]


async def test_query_tool_needing_confirmation_is_confirmed_not_dropped(make_session: Any) -> None:
    # quirk 2 fixed: read-only tools that need a human are confirmed one by one
    session = make_session(
        [turn("", ("read", {"file_path": "hello.txt"}), ("ls", {"path": "."})), turn("ok")]
    )
    events = record(session)
    session.subscribe(
        lambda e: (
            asyncio.get_running_loop().call_soon(session.confirm, e.tool_id, True)
            if isinstance(e, ConfirmationRequired)
            else None
        )
    )
    await session.send_async("look")
    assert [e.type for e in events if e.type == "confirmation_required"] == [
        "confirmation_required"
    ] * 2
    results = session.messages[2].tool_results()
    assert len(results) == 2 and not any(r.is_error for r in results)


async def test_always_allow_adds_a_visible_removable_rule(
    make_session: Any, workspace: Path
) -> None:
    session = make_session(
        [
            turn("", ("write", {"file_path": "a.txt", "content": "a"})),
            turn("", ("edit", {"file_path": "./a.txt", "old_string": "a", "new_string": "b"})),
            turn("", ("write", {"file_path": "b.txt", "content": "b"})),
            turn("ok"),
        ],
        timeout_ms=2000,
    )
    events = record(session)
    session.subscribe(
        lambda e: (
            asyncio.get_running_loop().call_soon(
                lambda: session.confirm(e.tool_id, True, always=True)
            )
            if isinstance(e, ConfirmationRequired)
            else None
        )
    )
    await session.send_async("write two files")
    asked = [e for e in events if isinstance(e, ConfirmationRequired)]
    # the card showed the narrow rule before the click: that file, never the bare tool
    assert [e.suggested_rule for e in asked] == ["Write(a.txt)", "Write(b.txt)"]
    # the rule covered the edit of the same file (Write and Edit are one family) but not
    # the write of another file
    assert [e.args["file_path"] for e in asked] == ["a.txt", "b.txt"]
    assert session.rules()["allow"] == ["Write(a.txt)", "Write(b.txt)"]
    received = next(e for e in events if isinstance(e, ConfirmationReceived))
    assert received.rule_added == "Write(a.txt)"
    assert (workspace / "a.txt").read_text() == "b"
    assert (workspace / "b.txt").exists()
    assert session.remove_rule("Write(a.txt)") is True
    assert session.rules()["allow"] == ["Write(b.txt)"]


async def test_confirm_on_a_call_that_is_not_pending_returns_false(make_session: Any) -> None:
    session = make_session([])
    assert session.confirm("nope", True) is False


async def test_cancel_keeps_history_and_session_usable(make_session: Any, workspace: Path) -> None:
    session = make_session(
        [
            turn("", ("write", {"file_path": "c.txt", "content": "c"})),
            turn("second run answer"),
        ]
    )
    events = record(session)
    run = asyncio.ensure_future(session.send_async("write c"))
    while not session.pending_confirmations():
        await asyncio.sleep(0.01)
    assert session.cancel() is True
    with pytest.raises(asyncio.CancelledError):
        await run
    assert not session.pending_confirmations()
    assert not (workspace / "c.txt").exists()
    # history: prompt, assistant tool call, an error result for the unrun call
    assert [m.role for m in session.messages] == ["user", "assistant", "user"]
    assert session.messages[-1].tool_results()[0].is_error
    assert events[-1].type == "error"
    result = await session.send_async("again")
    assert result.text == "second run answer"


async def test_bash_streams_output_deltas(make_session: Any) -> None:
    session = make_session(
        [turn("", ("bash", {"command": "echo one; echo two"})), turn("ok")], allow=["bash"]
    )
    events = record(session)
    await session.send_async("run")
    deltas = "".join(e.delta for e in events if e.type == "tool_output_delta")  # type: ignore[union-attr]
    assert "one" in deltas and "two" in deltas


async def test_todo_write_updates_tasks_with_event(make_session: Any) -> None:
    todos = [
        {"id": "1", "content": "plan", "status": "in_progress", "priority": "high"},
        {"id": "2", "content": "do", "status": "pending"},
    ]
    session = make_session(
        [turn("", ("todo_write", {"todos": todos})), turn("ok")], allow=["todo_write"]
    )
    events = record(session)
    await session.send_async("plan")
    updated = [e for e in events if e.type == "task_updated"]
    assert len(updated) == 1
    assert [t.content for t in session.tasks] == ["plan", "do"]
    assert session.active_task_count() == 2


def test_default_registry_has_the_ten_tools() -> None:
    assert sorted(default_registry().names()) == sorted(
        ["read", "write", "edit", "patch", "bash", "grep", "glob", "ls", "web_fetch", "todo_write"]
    )


async def test_a_prompt_that_fails_before_any_answer_leaves_the_history_as_it_was(
    make_session: Any, manager: Any
) -> None:
    from a3s_notebook.llm.errors import LlmError

    class Broken:
        provider, model = "scripted", "broken"

        async def stream(self, *args: Any, **kwargs: Any) -> Any:
            raise LlmError("the server answered 500")
            yield  # pragma: no cover - makes this an async generator

    session = make_session([turn("first answer")])
    await session.send_async("first")
    before = [m.model_dump() for m in session.messages]
    session._llm = Broken()
    for _ in range(2):
        with pytest.raises(LlmError):
            await session.send_async("this one fails")
    # the failed prompts are not in the history: the next prompt is not answered with them
    assert [m.model_dump() for m in session.messages] == before
    # the log keeps the attempts for the audit trail, and a restore agrees with the live state
    logged = [e.message.text() for e in session.events() if e.type == "message_added"]
    assert logged.count("this one fails") == 2
    snapshot = session.snapshot()
    manager.forget_session(session.id)
    restored = type(manager)(manager.store).restore_session(session.id)
    assert restored.snapshot() == snapshot
