"""Sub-agents: the ``task`` tool runs child sessions (engine/subagents.py), end to end with
the scripted model, real session files in a temp folder and no sleeps."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.analysis.sessions import load_sessions
from a3s_notebook.engine import (
    ConfirmationPolicy,
    PermissionPolicy,
    Session,
    SessionConfig,
    SessionManager,
)
from a3s_notebook.engine.errors import ConfigError
from a3s_notebook.engine.events import AgentEvent
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn
from a3s_notebook.widgets import ApprovalCards, EventStream
from a3s_notebook.widgets._usage_panel import usage_summary

from .conftest import turn


def task(description: str, call_id: str, **args: Any) -> dict[str, Any]:
    """One ``task`` tool call of a scripted turn."""
    return {
        "id": call_id,
        "name": "task",
        "args": {"description": description, "prompt": f"please {description}", **args},
    }


def parent_session(
    manager: SessionManager,
    workspace: Path,
    turns: list[ScriptedTurn | str],
    subagents: dict[str, Any],
    *,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
    **config: Any,
) -> Session:
    config.setdefault("max_subagent_depth", 1)
    cfg = SessionConfig(
        workspace=str(workspace),
        permission_policy=PermissionPolicy(allow=allow or [], deny=deny or []),
        confirmation_policy=ConfirmationPolicy.enabled_policy(),
        **config,
    )
    return manager.create_session(cfg, llm=ScriptedClient(turns, subagents=subagents))


def record(session: Session) -> list[AgentEvent]:
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    return seen


def only_child(manager: SessionManager, parent: Session) -> Session:
    children = manager.get_child_sessions(parent.id)
    assert len(children) == 1
    return children[0]


# --- a child session of its own ------------------------------------------------------------


async def test_child_has_parent_id_its_own_log_and_returns_its_answer(
    manager: SessionManager, workspace: Path, tmp_path: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("read it", "c1")), "parent done"],
        {"read it": [turn("", ("read", {"file_path": "hello.txt"})), "the file says hello"]},
        allow=["read"],
    )
    result = await parent.send_async("go")
    assert result.text == "parent done"
    child = only_child(manager, parent)
    assert child.config.parent_id == parent.id == child.parent_session_id
    assert child.is_child_session and manager.is_child_session(child.id)
    assert not parent.is_child_session
    assert (tmp_path / "sessions" / f"{child.id}.jsonl").is_file()
    assert child.messages[0].text() == "please read it"
    assert "hello world" in child.messages[2].tool_results()[0].content
    # the parent's history has only the task call and its result: the answer and its cost
    out = parent.messages[2].tool_results()[0]
    assert not out.is_error and out.content.startswith("the file says hello")
    assert f"sub-agent session {child.id}: 2 LLM calls, 1 tool calls" in out.content
    assert child.config.name.endswith("/ read it")
    assert "task" in parent.tools and "task" not in child.tools  # depth 1: no grandchildren


async def test_no_task_tool_unless_configured_and_bad_settings_are_refused(
    manager: SessionManager, workspace: Path
) -> None:
    plain = manager.create_session(SessionConfig(workspace=str(workspace)))
    assert "task" not in plain.tools
    plain.update_config(max_subagent_depth=1)
    assert "task" in plain.tools
    plain.update_config(max_subagent_depth=0)
    assert "task" not in plain.tools
    with pytest.raises(ConfigError, match="max_parallel_subagents"):
        SessionConfig(max_parallel_subagents=0)
    with pytest.raises(ConfigError, match="max_subagent_depth"):
        SessionConfig(max_subagent_depth=-1)


async def test_bad_task_calls_get_one_clear_error(manager: SessionManager, workspace: Path) -> None:
    parent = parent_session(
        manager,
        workspace,
        [
            turn(
                "",
                task("x", "m1", model="openai/gpt-4o"),
                task("y", "m2", agent="wizard"),
                task("z", "m3", background=True),
            ),
            "done",
        ],
        {},
    )
    await parent.send_async("go")
    results = {r.tool_use_id: r for r in parent.messages[2].tool_results()}
    assert all(r.is_error for r in results.values())
    assert "SessionConfig.subagent_models" in results["m1"].content
    assert "unknown agent 'wizard'" in results["m2"].content
    assert "does not take 'background'" in results["m3"].content
    assert manager.get_child_sessions(parent.id) == []


# --- never wider than the parent -----------------------------------------------------------


async def test_a_child_cannot_write_what_the_parents_rules_deny(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("write it", "w1")), "done"],
        {
            "write it": [
                turn("", ("write", {"file_path": "secret.txt", "content": "x"})),
                "tried",
            ]
        },
        deny=["write"],
    )
    await parent.send_async("go")
    child = only_child(manager, parent)
    assert not (workspace / "secret.txt").exists()
    denied = child.messages[2].tool_results()[0]
    assert denied.is_error and "Permission denied" in denied.content
    assert "write" in child.rules()["deny"]


async def test_read_only_kinds_lose_the_parents_writing_tools(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("look", "e1", agent="explore")), "done"],
        {"look": [turn("", ("write", {"file_path": "a.txt", "content": "x"})), "could not"]},
        allow=["write"],
        max_subagent_depth=3,
    )
    await parent.send_async("go")
    child = only_child(manager, parent)
    assert sorted(child.tools.names()) == ["glob", "grep", "ls", "read"]
    assert child.config.max_subagent_depth == 0
    assert "Unknown tool: write" in child.messages[2].tool_results()[0].content
    assert not (workspace / "a.txt").exists()


async def test_parent_hooks_run_in_the_child(manager: SessionManager, workspace: Path) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("write it", "h1")), "done"],
        {"write it": [turn("", ("write", {"file_path": "h.txt", "content": "x"})), "ok"]},
        allow=["write"],
    )

    @parent.hook("pre_tool_use", matcher="write")
    def no_writes(event: dict[str, Any]) -> dict[str, Any]:
        return {"decision": "deny", "reason": "no writes here"}

    await parent.send_async("go")
    assert not (workspace / "h.txt").exists()
    assert "no writes here" in only_child(manager, parent).messages[2].tool_results()[0].content


# --- in parallel, bounded ------------------------------------------------------------------


async def test_parallel_children_are_bounded_by_the_limit(
    manager: SessionManager, workspace: Path
) -> None:
    names = ["A", "B", "C"]
    parent = parent_session(
        manager,
        workspace,
        [turn("", *(task(n, f"p{n}") for n in names)), "all done"],
        {n: [turn("", ("barrier", {})), f"{n} finished"] for n in names},
        max_parallel_subagents=2,
    )
    running = 0
    most = 0
    two_running = asyncio.Event()
    release = asyncio.Event()

    async def barrier() -> str:
        """Wait until the test lets every sub-agent go on."""
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 2:
            two_running.set()
        await release.wait()
        running -= 1
        return "through"

    parent.add_tool(barrier, needs_approval=False)
    events = record(parent)
    run = asyncio.ensure_future(parent.send_async("go"))
    await two_running.wait()
    for _ in range(50):  # give a third sub-agent every chance to start (no clock involved)
        await asyncio.sleep(0)
    started = [e for e in events if e.type == "subagent_start"]
    assert len(started) == 2 and running == 2
    release.set()
    result = await run
    assert result.text == "all done" and most == 2
    assert len([e for e in events if e.type == "subagent_end"]) == 3
    outputs = [r.content for r in parent.messages[2].tool_results()]
    assert [o.split("\n")[0] for o in outputs] == ["A finished", "B finished", "C finished"]


# --- depth ---------------------------------------------------------------------------------


async def test_depth_limit_and_a_grandchild_rolls_up_to_the_root(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("middle", "d1")), "root done"],
        {
            "middle": [turn("", task("bottom", "d2")), "middle done"],
            "bottom": ["bottom done"],
        },
        max_subagent_depth=2,
    )
    await parent.send_async("go")
    child = only_child(manager, parent)
    grandchild = only_child(manager, child)
    assert grandchild.parent_session_id == child.id
    assert "task" in child.tools and "task" not in grandchild.tools
    assert manager.get_child_sessions(grandchild.id) == []
    # every call of the tree is in the root's ledger, each also in its own session's
    ids = {r.session_id for r in parent.cost_records}
    assert ids == {parent.id, child.id, grandchild.id}
    assert len(manager.costs()) == len(parent.cost_records) == 5


# --- approvals -----------------------------------------------------------------------------


async def test_a_childs_approval_shows_on_the_parent_and_is_decided_there(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("save", "a1")), "done"],
        {
            "save": [
                turn(
                    "",
                    {
                        "id": "sub_w1",
                        "name": "write",
                        "args": {"file_path": "c.txt", "content": "hi"},
                    },
                ),
                "saved",
            ]
        },
    )
    events = record(parent)
    pending_seen: list[list[str]] = []

    def approve(ev: AgentEvent) -> None:
        if ev.type == "confirmation_required":
            pending_seen.append([p.reason or "" for p in parent.pending_confirmations()])
            asyncio.get_running_loop().call_soon(
                lambda: parent.confirm(ev.tool_id, approved=True, always=True)  # type: ignore[union-attr]
            )

    parent.subscribe(approve)
    await parent.send_async("go")
    child = only_child(manager, parent)
    assert (workspace / "c.txt").read_text() == "hi"
    required = [e for e in events if e.type == "confirmation_required"]
    assert len(required) == 1 and required[0].tool_id == "sub_w1"  # type: ignore[union-attr]
    assert required[0].reason.startswith("sub-agent 'save': ")  # type: ignore[union-attr]
    assert pending_seen == [[required[0].reason]]  # type: ignore[union-attr]
    received = [e for e in events if e.type == "confirmation_received"]
    assert received[0].rule_added == "Write(c.txt)"  # type: ignore[union-attr]
    # "always allow" on the child's card is the child's rule only
    assert "Write(c.txt)" in child.rules()["allow"]
    assert "Write(c.txt)" not in parent.rules()["allow"]
    # the parent's log keeps the card (an approval panel rebuilds it after a restore)
    logged = [e.type for e in parent.events()]
    assert "confirmation_required" in logged and "confirmation_received" in logged
    assert parent.confirm("sub_w1") is False  # decided already


async def test_the_parents_approval_cards_show_and_decide_a_childs_request(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("save", "k1")), "done"],
        {
            "save": [
                turn(
                    "",
                    {
                        "id": "sub_k1",
                        "name": "write",
                        "args": {"file_path": "k.txt", "content": "k"},
                    },
                ),
                "saved",
            ]
        },
    )
    cards = ApprovalCards(parent)
    asked = asyncio.Event()
    parent.subscribe(lambda e: asked.set() if e.type == "confirmation_required" else None)
    run = asyncio.ensure_future(parent.send_async("go"))
    await asked.wait()
    # a panel opened now finds the pending request too (the parent lists its children's)
    late = ApprovalCards(parent)
    for panel in (cards, late):
        (card,) = panel.cards
        assert card["tool_id"] == "sub_k1" and card["status"] == "pending"
        assert card["reason"].startswith("sub-agent 'save': ")
    late._on_custom_msg("confirm", {"tool_id": "sub_k1", "decision": "approve"})
    assert (await run).text == "done"
    assert (workspace / "k.txt").read_text() == "k"
    assert [c["status"] for c in cards.cards] == ["approved"]


# --- costs ---------------------------------------------------------------------------------


async def test_child_calls_are_its_own_rows_and_roll_up_into_the_parent(
    manager: SessionManager, workspace: Path, tmp_path: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("one", "u1"), task("two", "u2")), "done"],
        {"one": ["first"], "two": [turn("", ("ls", {"path": "."})), "second"]},
        allow=["ls"],
    )
    await parent.send_async("go")
    children = manager.get_child_sessions(parent.id)
    assert len(children) == 2
    own = [r for r in parent.cost_records if r.session_id == parent.id]
    rolled = [r for r in parent.cost_records if r.session_id != parent.id]
    assert len(own) == 2 and len(rolled) == 3
    assert all(r.parent_id == parent.id for r in rolled)
    for child in children:
        assert child.cost_records and all(r.parent_id == parent.id for r in child.cost_records)
    total = sum(r.total_tokens for r in parent.cost_records)
    assert parent.total_usage.total_tokens == total
    assert total == sum(r.total_tokens for r in own) + sum(
        c.total_usage.total_tokens for c in children
    )
    # the context bar is the parent's own window
    assert parent.context_usage.used_tokens == own[-1].prompt_tokens
    # counted once in the manager's ledger and in the files
    assert len(manager.costs()) == 5
    frames = load_sessions(tmp_path / "sessions")
    assert len(frames.calls) == 5
    assert sorted(frames.calls["session_id"].value_counts().to_dict().values()) == [1, 2, 2]
    summary = usage_summary(parent.cost_records, parent.config, parent.id)
    assert summary["calls"] == 5
    assert summary["subagents"]["calls"] == 3 and summary["subagents"]["sessions"] == 2


async def test_the_parents_budget_covers_its_children(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("one", "b1")), "done"],
        {"one": ["first"]},
        token_limit=100_000,
    )
    await parent.send_async("go")
    child = only_child(manager, parent)
    first = parent.cost_records[0].total_tokens
    assert child.config.token_limit == 100_000 - first


# --- cancel --------------------------------------------------------------------------------


async def test_cancelling_the_parent_cancels_its_children(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("slow", "x1")), "never"],
        {"slow": [turn("", ("write", {"file_path": "z.txt", "content": "z"})), "never"]},
    )
    events = record(parent)
    asked = asyncio.Event()
    parent.subscribe(lambda e: asked.set() if e.type == "confirmation_required" else None)
    run = asyncio.ensure_future(parent.send_async("go"))
    await asked.wait()
    child = only_child(manager, parent)
    assert child.pending_confirmations()
    assert parent.cancel() is True
    with pytest.raises(asyncio.CancelledError):
        await run
    assert child.pending_confirmations() == [] and parent.pending_confirmations() == []
    end = [e for e in events if e.type == "subagent_end"]
    assert len(end) == 1 and end[0].success is False  # type: ignore[union-attr]
    assert not (workspace / "z.txt").exists()
    assert any(e.type == "error" and e.message == "Run cancelled" for e in child.events())  # type: ignore[union-attr]


async def test_cancelling_a_child_alone_fails_its_call_and_the_parent_goes_on(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("slow", "y1")), "parent carried on"],
        {"slow": [turn("", ("write", {"file_path": "z.txt", "content": "z"})), "never"]},
    )
    asked = asyncio.Event()
    parent.subscribe(lambda e: asked.set() if e.type == "confirmation_required" else None)
    run = asyncio.ensure_future(parent.send_async("go"))
    await asked.wait()
    assert only_child(manager, parent).cancel() is True
    result = await run
    assert result.text == "parent carried on"
    out = parent.messages[2].tool_results()[0]
    assert out.is_error and "the sub-agent was cancelled" in out.content


# --- restore -------------------------------------------------------------------------------


async def test_restoring_a_parent_leaves_children_on_disk_until_asked(
    manager: SessionManager, workspace: Path, tmp_path: Path
) -> None:
    parent = parent_session(
        manager, workspace, [turn("", task("one", "r1")), "done"], {"one": ["first"]}
    )
    await parent.send_async("go")
    child = only_child(manager, parent)
    total = parent.total_usage.total_tokens
    child_messages = [m.text() for m in child.messages]
    manager.close()

    again = SessionManager(tmp_path / "sessions")
    restored = again.get_session(parent.id)
    assert restored.total_usage.total_tokens == total  # the roll-up is in its log
    assert again.get_child_sessions(parent.id) == [] and child.id not in again
    kids = again.get_child_sessions(parent.id, restore=True)
    assert [k.id for k in kids] == [child.id]
    assert kids[0].parent_session_id == parent.id
    assert [m.text() for m in kids[0].messages] == child_messages
    again.close()


# --- events and the widget -----------------------------------------------------------------


async def test_events_on_the_parent_in_order_and_the_stream_nests_them(
    manager: SessionManager, workspace: Path
) -> None:
    parent = parent_session(
        manager,
        workspace,
        [turn("", task("look", "e1")), "done"],
        {"look": [turn("", ("ls", {"path": "."})), "found hello.txt"]},
        allow=["ls"],
    )
    events = record(parent)
    await parent.send_async("go")
    child = only_child(manager, parent)
    seq = [
        (e.type, getattr(e, "status", None))
        for e in events
        if e.type.startswith("subagent")
        or (e.type in ("tool_start", "tool_end") and e.name == "task")  # type: ignore[union-attr]
    ]
    assert seq == [
        ("tool_start", None),
        ("subagent_start", None),
        ("subagent_progress", "turn"),
        ("subagent_progress", "tool_start"),
        ("subagent_progress", "tool_end"),
        ("subagent_progress", "turn"),
        ("subagent_end", None),
        ("tool_end", None),
    ]
    start = next(e for e in events if e.type == "subagent_start")
    assert (start.session_id, start.parent_session_id, start.agent, start.description) == (  # type: ignore[union-attr]
        child.id,
        parent.id,
        "general",
        "look",
    )
    # durable: the parent's file has them
    assert (
        next(e.type for e in parent.events() if e.type.startswith("subagent")) == "subagent_start"
    )

    live = EventStream()
    for e in events:
        live._on_event(e)
    live._on_detach()
    # a stream opened afterwards replays the parent's log into the same rows
    for w in (live, EventStream(parent)):
        tool = next(r for r in w._all if r.get("kind") == "tool" and r["name"] == "task")
        assert tool["subagent"]["session_id"] == child.id
        kinds = [(c["kind"], c.get("name"), c["status"]) for c in tool["children"]]
        assert kinds == [("tool", "ls", "ok"), ("answer", None, "ok")]
        assert tool["children"][1]["text"] == "found hello.txt"
        notes = [
            r["title"] for r in w._all if r.get("kind") == "note" and r.get("topic") == "subagent"
        ]
        assert notes == ["Sub-agent started: look", "Sub-agent finished: look"]


async def test_scripted_team_runs_two_subagents_offline(
    manager: SessionManager, workspace: Path
) -> None:
    parent = manager.create_session(
        SessionConfig(workspace=str(workspace), max_subagent_depth=1), model="scripted/team"
    )
    parent.allow("ls")
    result = await parent.send_async("map the project")
    assert result.text.startswith("**Both sub-agents reported.**")
    assert result.text.count("the workspace has 1 entries: hello.txt") == 2
    kids = manager.get_child_sessions(parent.id)
    assert sorted(k.config.name.split(" / ")[-1] for k in kids) == [
        "Look for notes",
        "Survey the files",
    ]
