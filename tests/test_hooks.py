"""Hooks (spec section 12) end to end: a real scripted session, the effect checked."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import SessionManager
from a3s_notebook.engine.errors import AgentError
from a3s_notebook.engine.events import AgentEvent, ConfirmationRequired, HookDecision, ToolEnd
from a3s_notebook.engine.hooks import PAYLOAD_FIELDS, HookEngine, HookResult
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.llm.types import ToolResultBlock
from a3s_notebook.widgets import EventStream

from .conftest import turn


def record(session: Any) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    return events


def result_of(session: Any, tool_id: str) -> ToolResultBlock:
    for m in session.messages:
        for b in m.content:
            if isinstance(b, ToolResultBlock) and b.tool_use_id == tool_id:
                return b
    raise AssertionError(f"no result for {tool_id}")


def decisions(events: list[AgentEvent]) -> list[tuple[str, str]]:
    return [(e.hook, e.decision) for e in events if isinstance(e, HookDecision)]


ALL = ["Read", "Write"]
WRITE = ("write", {"file_path": "out.txt", "content": "hi"})


# --- every event fires with its payload -------------------------------------------------


def test_every_event_fires_with_the_spec_payload(manager: SessionManager, workspace: Path) -> None:
    seen: dict[str, dict[str, Any]] = {}

    def catch(payload: dict[str, Any]) -> None:
        event = payload.pop("_event")
        seen.setdefault(event, payload)

    for ev in PAYLOAD_FIELDS:
        manager.hooks.add(ev, lambda p, ev=ev: catch({**p, "_event": ev}), name=f"spy-{ev}")
    from a3s_notebook.engine import PermissionPolicy, SessionConfig

    cfg = SessionConfig(workspace=str(workspace), permission_policy=PermissionPolicy(allow=ALL))
    session = manager.create_session(
        cfg, llm=ScriptedClient([turn("", ("read", {"file_path": "hello.txt"})), "done"])
    )
    assert session.send("go").text == "done"
    sid = session.id
    manager.destroy_session(sid)
    # skills are fired by the skill loader; the engine takes their payloads as they come
    asyncio.run(
        session.hooks.fire(
            "skill_load",
            {
                "skill_name": "s",
                "tool_names": [],
                "version": "1",
                "description": "d",
                "loaded_at": 1,
            },
        )
    )
    asyncio.run(
        session.hooks.fire("skill_unload", {"skill_name": "s", "tool_names": [], "duration_ms": 3})
    )
    for ev, fields in PAYLOAD_FIELDS.items():
        assert set(fields) <= set(seen[ev]), ev
    assert seen["pre_tool_use"]["tool"] == "read"
    assert seen["pre_tool_use"]["args"] == {"file_path": "hello.txt"}
    assert seen["pre_tool_use"]["working_directory"] == str(workspace)
    assert seen["post_tool_use"]["result"]["success"] is True
    assert "hello world" in seen["post_tool_use"]["result"]["output"]
    assert (
        seen["generate_start"]["prompt"] == "go"
        and "read" in seen["generate_start"]["available_tools"]
    )
    assert seen["generate_end"]["tool_calls"] == [
        {"name": "read", "args": {"file_path": "hello.txt"}}
    ]
    assert seen["session_start"]["session_id"] == sid == seen["session_end"]["session_id"]
    assert seen["session_end"]["total_tool_calls"] == 1


def test_session_start_fires_on_restore(manager: SessionManager, make_session: Any) -> None:
    session = make_session(["hi"])
    sid = session.id
    manager.forget_session(sid)
    started: list[str] = []
    manager.hooks.add("session_start", lambda p: started.append(p["session_id"]))
    manager.get_session(sid)
    assert started == [sid]


# --- matchers and priority ----------------------------------------------------------------


def test_matchers_glob_regex_and_name_are_case_insensitive() -> None:
    engine = HookEngine()
    engine.add("pre_tool_use", lambda p: None, name="all")
    engine.add("pre_tool_use", lambda p: None, name="bash", matcher="Bash")
    engine.add("pre_tool_use", lambda p: None, name="mcp", matcher="mcp__*")
    engine.add("pre_tool_use", lambda p: None, name="edits", matcher="Edit|Write")

    def names(tool: str) -> list[str]:
        return [h.name for h in engine.matching("pre_tool_use", {"tool": tool})]

    assert names("bash") == ["all", "bash"]
    assert names("mcp__srv__x") == ["all", "mcp"]
    assert names("write") == ["all", "edits"]
    assert names("read") == ["all"]
    with pytest.raises(ValueError):
        engine.add("no_such_event", lambda p: None)


def test_priority_orders_hooks_and_skip_stops_the_chain(make_session: Any) -> None:
    order: list[str] = []
    b_write = turn("", ("write", {"file_path": "b.txt", "content": "x"}))
    session = make_session([turn("", WRITE), "ok", b_write, "ok"], allow=ALL)
    session.hooks.add("pre_tool_use", lambda p: order.append("late"), name="late", priority=200)
    session.hooks.add("pre_tool_use", lambda p: order.append("early"), name="early", priority=5)
    session.hooks.add("pre_tool_use", lambda p: order.append("mid"), name="mid")
    session.send("go")
    assert order == ["early", "mid", "late"]
    order.clear()
    session.hooks.add(
        "pre_tool_use", lambda p: (order.append("skip"), HookResult.skip())[1], priority=50
    )
    session.hooks.add("pre_tool_use", lambda p: HookResult.deny("no"), name="never", priority=150)
    session.send("again")
    assert order == ["early", "skip"]
    assert (session.workspace / "b.txt").exists()


# --- pre_tool_use decisions ---------------------------------------------------------------


def test_deny_reaches_the_model_and_the_tool_does_not_run(
    make_session: Any, workspace: Path
) -> None:
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    events = record(session)

    @session.hook("pre_tool_use", matcher="write")
    def no_writes(payload: dict[str, Any]) -> HookResult:
        return HookResult.deny("writes are frozen today")

    session.send("go")
    assert not (workspace / "out.txt").exists()
    res = result_of(session, "t1_write")
    assert res.is_error and "writes are frozen today" in str(res.content)
    assert decisions(events) == [("no_writes", "deny")]
    logged = [e for e in session.events() if isinstance(e, HookDecision)]
    assert (
        logged and logged[0].tool_id == "t1_write" and logged[0].reason == "writes are frozen today"
    )


def test_ask_forces_a_confirmation_even_for_an_allowed_tool(
    make_session: Any, workspace: Path
) -> None:
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    cards: list[ConfirmationRequired] = []

    def on(e: AgentEvent) -> None:
        if isinstance(e, ConfirmationRequired):
            cards.append(e)
            asyncio.get_running_loop().call_soon(lambda: session.confirm(e.tool_id, False, "no"))

    session.subscribe(on)
    session.hooks.add(
        "pre_tool_use", lambda p: {"decision": "ask", "reason": "check it"}, name="asker"
    )
    session.send("go")
    assert len(cards) == 1 and "check it" in (cards[0].reason or "")
    assert not (workspace / "out.txt").exists()


def test_allow_replaces_the_default_ask_but_not_a_deny_rule(
    make_session: Any, workspace: Path
) -> None:
    session = make_session(
        [turn("", WRITE), "ok", turn("", ("write", {"file_path": "x.py", "content": "x"})), "ok"],
        deny=["Write(*.py)"],
        timeout_ms=50,
    )
    session.hooks.add("pre_tool_use", lambda p: HookResult.allow("fine"), name="yes")
    session.send("go")  # no rule: default ask, the hook allows it
    assert (workspace / "out.txt").read_text() == "hi"
    session.send("again")  # a deny rule wins over the hook's allow
    assert not (workspace / "x.py").exists()
    last = [m for m in session.messages if m.role == "user"][-1]
    assert "blocked by permission policy" in str(last.content)


def test_allow_does_not_open_a_protected_file(make_session: Any, workspace: Path) -> None:
    (workspace / ".env").write_text("A=1\n")
    session = make_session([turn("", ("read", {"file_path": ".env"})), "ok"], timeout_ms=50)
    session.hooks.add("pre_tool_use", lambda p: HookResult.allow(), name="yes")
    events = record(session)
    session.send("go")
    assert not any(isinstance(e, ToolEnd) and e.exit_code == 0 for e in events)


def test_rewrite_runs_the_new_arguments(make_session: Any, workspace: Path) -> None:
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    session.hooks.add(
        "pre_tool_use", lambda p: HookResult.rewrite(content="rewritten"), matcher="write"
    )
    events = record(session)
    session.send("go")
    assert (workspace / "out.txt").read_text() == "rewritten"
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert end.args == {"file_path": "out.txt", "content": "rewritten"}
    assert "rewrite" in [d for _h, d in decisions(events)]


def test_a_rewrite_to_a_denied_command_is_denied(make_session: Any, workspace: Path) -> None:
    session = make_session(
        [turn("", ("bash", {"command": "echo safe > ok.txt"})), "ok"],
        allow=["Bash(echo:*)"],
        deny=["Bash(touch:*)"],
    )
    session.hooks.add(
        "pre_tool_use", lambda p: {"args": {"command": "touch pwned.txt"}}, matcher="bash"
    )
    session.send("go")
    assert not (workspace / "pwned.txt").exists()
    assert not (workspace / "ok.txt").exists()
    assert result_of(session, "t1_bash").is_error


# --- post_tool_use, generate_start ----------------------------------------------------------


def test_post_tool_use_rewrites_the_output_the_model_sees(make_session: Any) -> None:
    session = make_session([turn("", ("read", {"file_path": "hello.txt"})), "ok"], allow=ALL)

    @session.hook("post_tool_use", matcher="read")
    async def shout(payload: dict[str, Any]) -> HookResult:
        return HookResult.replace_output(payload["result"]["output"].upper())

    session.send("go")
    assert "HELLO WORLD" in str(result_of(session, "t1_read").content)


def test_generate_start_blocks_the_prompt(make_session: Any) -> None:
    session = make_session(["never"])
    session.hooks.add("generate_start", lambda p: HookResult.block("no prompts about cats"))
    with pytest.raises(AgentError, match="no prompts about cats"):
        session.send("cats")
    assert session.messages == []


# --- shell commands ---------------------------------------------------------------------------


def test_a_shell_command_hook_reads_stdin_and_answers_json(
    make_session: Any, workspace: Path
) -> None:
    script = (
        "import json,sys; p=json.load(sys.stdin); "
        "print(json.dumps({'decision':'deny','reason':'shell says no to '+p['tool']+' '+p['hook_event_name']}))"
    )
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    session.hooks.add("pre_tool_use", command=f'{sys.executable} -c "{script}"', name="sh")
    session.send("go")
    assert not (workspace / "out.txt").exists()
    assert "shell says no to write pre_tool_use" in str(result_of(session, "t1_write").content)


def test_a_shell_command_exit_2_denies_with_stderr(make_session: Any, workspace: Path) -> None:
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    cmd = f"{sys.executable} -c \"import sys; sys.stderr.write('nope'); sys.exit(2)\""
    session.hooks.add("pre_tool_use", command=cmd, name="sh2")
    session.send("go")
    assert not (workspace / "out.txt").exists()
    assert "nope" in str(result_of(session, "t1_write").content)


def test_a_shell_command_runs_in_the_workspace_with_a_scrubbed_environment(
    make_session: Any, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPER_SECRET_TOKEN", "xyz")
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    cmd = f"{sys.executable} -c \"import os; open('env.txt','w').write(os.environ.get('SUPER_SECRET_TOKEN','none'))\""
    session.hooks.add("post_tool_use", command=cmd, name="envspy")
    session.send("go")
    assert (workspace / "env.txt").read_text() == "none"


# --- failures, timeouts, retries ----------------------------------------------------------------


def test_a_timed_out_pre_tool_use_hook_denies(make_session: Any, workspace: Path) -> None:
    never = asyncio.Event()

    async def stuck(payload: dict[str, Any]) -> None:
        await never.wait()

    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    events = record(session)
    session.hooks.add("pre_tool_use", stuck, timeout_ms=20)
    session.send("go")
    assert not (workspace / "out.txt").exists()
    assert "timed out" in str(result_of(session, "t1_write").content)
    assert ("stuck", "error") in decisions(events)


def test_a_failing_hook_with_on_error_ignore_lets_the_call_run(
    make_session: Any, workspace: Path
) -> None:
    def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("bug in my hook")

    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    events = record(session)
    session.hooks.add("pre_tool_use", broken, on_error="ignore")
    session.send("go")
    assert (workspace / "out.txt").exists()
    err = next(e for e in events if isinstance(e, HookDecision))
    assert err.decision == "error" and "bug in my hook" in (err.reason or "")


def test_a_failing_notification_hook_is_ignored(make_session: Any) -> None:
    session = make_session(["ok"])
    session.hooks.add("generate_end", lambda p: 1 / 0)
    assert session.send("go").text == "ok"


def test_retries_then_success(make_session: Any, workspace: Path) -> None:
    calls: list[int] = []

    def flaky(payload: dict[str, Any]) -> HookResult:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("flaky")
        return HookResult.allow()

    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    session.hooks.add("pre_tool_use", flaky, max_retries=2)
    session.send("go")
    assert len(calls) == 3 and (workspace / "out.txt").exists()


def test_a_shell_hook_killed_on_timeout(make_session: Any, workspace: Path) -> None:
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    session.hooks.add("pre_tool_use", command="sleep 30; echo late > late.txt", timeout_ms=100)
    session.send("go")
    assert not (workspace / "out.txt").exists()
    assert not (workspace / "late.txt").exists()


# --- the event in the log and the widget ----------------------------------------------------------


def test_hook_decision_is_a_row_in_the_stream(make_session: Any) -> None:
    session = make_session([turn("", WRITE), "ok"], allow=ALL)
    stream = EventStream(session)
    session.hooks.add("pre_tool_use", lambda p: HookResult.deny("frozen"), name="freeze")
    session.send("go")
    rows = [r for r in stream.transcript() if r["kind"] == "hook"]
    assert rows and rows[0]["hook"] == "freeze" and rows[0]["decision"] == "deny"
    assert rows[0]["tool_name"] == "write"
    assert "hook freeze" in stream._markdown()
    assert any(e.type == "hook_decision" for e in session.events())


def test_hooks_listing_and_remove(make_session: Any) -> None:
    session = make_session(["ok"])
    session.hooks.add("pre_tool_use", lambda p: None, name="a", matcher="bash", priority=10)
    session.hooks.add("post_tool_use", command="true", name="b")
    rows = [h.describe() for h in session.hooks]
    assert [(r["name"], r["event"], r["matcher"], r["priority"], r["kind"]) for r in rows] == [
        ("a", "pre_tool_use", "bash", 10, "python"),
        ("b", "post_tool_use", "*", 100, "command"),
    ]
    with pytest.raises(ValueError):
        session.hooks.add("pre_tool_use", lambda p: None, name="a")
    assert session.hooks.remove("a") and len(session.hooks) == 1
