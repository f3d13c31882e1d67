"""The session file is the event log: restore is a replay and equals the live state."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a3s_notebook.engine import (
    ConfirmationPolicy,
    PermissionPolicy,
    SessionConfig,
    SessionManager,
)
from a3s_notebook.engine.events import (
    DURABLE_TYPES,
    ConfirmationRequired,
    parse_event,
)
from a3s_notebook.engine.tasks import Task
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn

from .conftest import turn

# --- every operation, then restore ---------------------------------------------------------

OPS = st.lists(
    st.sampled_from(
        [
            "say",
            "read",
            "denied",
            "allow",
            "deny",
            "pause_resume",
            "pause",
            "clear",
            "compact",
            "tasks",
            "limit",
            "model",
            "state_error",
        ]
    ),
    max_size=8,
)


def _turns_for(op: str) -> list[ScriptedTurn]:
    if op == "read":
        return [turn("", ("read", {"file_path": "hello.txt"})), turn("read it")]
    if op == "denied":
        return [turn("", ("bash", {"command": "rm hello.txt"})), turn("not allowed")]
    return [turn(f"answer to {op}")]


def _apply(manager: SessionManager, session: Any, op: str, n: int) -> None:
    if op in ("say", "read", "denied"):
        if session.state.value == "Paused":
            session.resume()
        session._llm = ScriptedClient(_turns_for(op))
        session.send(f"{op} {n}")
    elif op == "allow":
        session.allow(f"Bash(tool{n}:*)")
    elif op == "deny":
        session.deny(f"Write(file{n}.txt)")
    elif op == "pause_resume":
        session.pause()
        session.resume()
    elif op == "pause":
        session.pause()
    elif op == "clear":
        session.clear()
    elif op == "compact":
        session._llm = ScriptedClient([])
        session.compact()
    elif op == "tasks":
        session.set_tasks([Task(id=f"t{n}", content=f"task {n}")])
    elif op == "limit":
        session.update_config(cost_limit_usd=float(n + 1), max_context_length=1000 * (n + 1))
    elif op == "model":
        manager.configure(session.id, model="scripted/echo")
    elif op == "state_error":
        if session.state.value == "Paused":
            session.resume()
        session._llm = ScriptedClient([turn("", ("read", {"file_path": "x"}))] * 2)
        session.update_config(max_tool_rounds=1)
        with pytest.raises(Exception, match="Max tool rounds"):
            session.send("loop")
        session.update_config(max_tool_rounds=50)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_restore_equals_the_live_state_after_any_operations(ops: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = root / "ws"
        ws.mkdir()
        (ws / "hello.txt").write_text("hello\n")
        manager = SessionManager(root / "sessions")
        session = manager.create_session(
            SessionConfig(
                workspace=str(ws),
                permission_policy=PermissionPolicy(allow=["read"], deny=["Bash(rm:*)"]),
                confirmation_policy=ConfirmationPolicy.enabled_policy().with_timeout(50),
            ),
            llm=ScriptedClient([]),
            session_id="s",
        )
        for n, op in enumerate(ops):
            _apply(manager, session, op, n)
        manager.forget_session("s")
        restored = SessionManager(root / "sessions").restore_session("s")
        assert restored.snapshot() == session.snapshot()
        assert restored.rules() == session.rules()
        assert restored.updated_at == session.updated_at


# --- the file: one line per durable event, read by one adapter ------------------------------


async def test_every_line_is_a_durable_event_of_the_union(make_session: Any, manager: Any) -> None:
    session = make_session(
        [turn("", ("write", {"file_path": "a.txt", "content": "a"})), turn("ok")],
        timeout_ms=5000,
    )
    session.subscribe(
        lambda e: (
            asyncio.get_running_loop().call_soon(lambda: session.confirm(e.tool_id, True))
            if isinstance(e, ConfirmationRequired)
            else None
        )
    )
    await session.send_async("write")
    path = manager.store.path(session.id)
    lines = [json.loads(x) for x in Path(path).read_text().splitlines()]
    types = [line["type"] for line in lines]
    assert types[0] == "session_created"
    assert set(types) <= DURABLE_TYPES
    for line in lines:
        # key order does not matter to the reader: reversed keys parse the same
        reordered = dict(reversed(list(line.items())))
        assert parse_event(reordered) == parse_event(line)
    for wanted in ("confirmation_required", "confirmation_received", "message_added", "tool_end"):
        assert wanted in types


async def test_show_after_a_restart_has_the_live_rows_and_cards(
    make_session: Any, manager: Any
) -> None:
    from a3s_notebook.widgets import SessionView

    session = make_session(
        [
            turn(
                "Looking.",
                {"id": "w1", "name": "write", "args": {"file_path": "a.txt", "content": "a"}},
            ),
            turn("", {"id": "w2", "name": "write", "args": {"file_path": "b.txt", "content": "b"}}),
            turn("", {"id": "b1", "name": "bash", "args": {"command": "rm -rf x"}}),
            turn("Done."),
        ],
        deny=["Bash(rm:*)"],
        timeout_ms=5000,
    )
    answers = iter([(True, None), (False, "not b")])

    def decide(e: Any) -> None:
        if isinstance(e, ConfirmationRequired):
            ok, why = next(answers)
            asyncio.get_running_loop().call_soon(lambda: session.confirm(e.tool_id, ok, why))

    session.subscribe(decide)
    live = SessionView(session)
    await session.send_async("write two files")

    def rows(view: Any) -> list[dict[str, Any]]:
        # ids are per view; order, kinds and contents must match
        skip = ("ts", "v", "id")
        return [
            {k: v for k, v in r.items() if k not in skip} for r in view.events_widget.transcript()
        ]

    def cards(view: Any) -> list[dict[str, Any]]:
        keep = ("tool_id", "tool_name", "status", "decided_by", "decision_reason", "reason")
        return [{k: c.get(k) for k in keep} for c in view.approvals_widget.cards]

    manager.forget_session(session.id)
    restored = SessionManager(manager.store).restore_session(session.id)
    again = SessionView(restored)
    assert rows(again) == rows(live)
    assert cards(again) == cards(live)
    assert [c["status"] for c in cards(again)] == ["approved", "denied"]
    # timings come from the log: the decision times are the logged ones, not "now"
    logged = [ts for ts, e in restored.log() if e.type == "confirmation_received"]
    assert [c["decided_at"] for c in again.approvals_widget.cards] == [t * 1000 for t in logged]
    tool_rows = [r for r in rows(again) if r["kind"] == "tool"]
    assert all("duration_ms" in r for r in tool_rows)


def test_files_written_before_the_event_log_still_restore(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    legacy = [
        {
            "kind": "header",
            "format": 1,
            "id": "old",
            "created_at": 1.0,
            "model": "scripted/echo",
            "config": {"name": "old one", "workspace": str(tmp_path)},
        },
        {
            "kind": "message",
            "ts": 2.0,
            "message": {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        },
        {
            "kind": "usage",
            "ts": 3.0,
            "record": {
                "session_id": "old",
                "model": "echo",
                "provider": "scripted",
                "prompt_tokens": 10,
                "completion_tokens": 2,
                "total_tokens": 12,
            },
        },
        {
            "kind": "message",
            "ts": 3.0,
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Echo: hi"}]},
        },
        {"kind": "state", "ts": 4.0, "state": "Paused"},
        {
            "kind": "event",
            "ts": 5.0,
            "event": {
                "type": "permission_denied",
                "tool_id": "t",
                "tool_name": "bash",
                "args": {},
                "reason": "r",
            },
        },
    ]
    (folder / "old.jsonl").write_text("".join(json.dumps(r) + "\n" for r in legacy))
    session = SessionManager(folder).restore_session("old")
    assert session.config.name == "old one" and session.state.value == "Paused"
    assert [m.text() for m in session.messages] == ["hi", "Echo: hi"]
    assert session.context_usage.used_tokens == 10 and len(session.cost_records) == 1
    assert [e.type for e in session.events()][-1] == "permission_denied"
