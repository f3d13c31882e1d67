"""Planning and goal tracking (engine-spec section 8): the planner's parsing and checks,
planned runs end to end (offline with the scripted models, and through real provider
SDKs against the loopback server), the log, a restore, the widgets and the magics."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import SessionConfig, SessionManager
from a3s_notebook.engine.errors import ConfigError
from a3s_notebook.engine.events import AgentEvent
from a3s_notebook.engine.planning import (
    FALLBACK_CRITERIA,
    GOAL_CHECK_SYSTEM_PROMPT,
    GOAL_SYSTEM_PROMPT,
    MAX_PLAN_STEPS,
    PLAN_SYSTEM_PROMPT,
    PlanError,
    extract_json,
    parse_achievement,
    parse_goal,
    parse_plan,
    ready_steps,
    waves,
)
from a3s_notebook.engine.tasks import TaskStatus
from a3s_notebook.llm.scripted import (
    GOAL_CHECK_MARKER,
    GOAL_MARKER,
    PLAN_MARKER,
    scripted_plan,
)

from .conftest import turn
from .llm_server import (
    LlmServer,
    Reply,
    llm_server_fixture,  # noqa: F401  (provides `llm_server`)
)

PLAN_EVENTS = {
    "agent_start",
    "agent_end",
    "error",
    "planning_start",
    "planning_end",
    "step_start",
    "step_end",
    "goal_extracted",
    "goal_progress",
    "goal_achieved",
}


def plan_json(*steps: tuple[str, list[str]], **extra: Any) -> str:
    return json.dumps(
        {
            "goal": extra.get("goal", "the goal"),
            "complexity": extra.get("complexity", "Medium"),
            "steps": [
                {"id": sid, "description": f"do {sid}", "dependencies": deps} for sid, deps in steps
            ],
        }
    )


def trace(events: list[AgentEvent]) -> list[str]:
    out = []
    for e in events:
        if e.type not in PLAN_EVENTS:
            continue
        if e.type in ("step_start", "step_end"):
            status = f":{e.status}" if e.type == "step_end" else ""  # type: ignore[union-attr]
            out.append(f"{e.type}:{e.step_id}{status}")  # type: ignore[union-attr]
        else:
            out.append(e.type)
    return out


# --- parsing and checks ------------------------------------------------------------------


def test_a_plan_in_prose_and_fences_is_parsed_with_its_dependencies_and_tools() -> None:
    text = (
        "Sure! Here is the plan:\n```json\n"
        + json.dumps(
            {
                "goal": "Count the lines",
                "complexity": "Weird",
                "steps": [
                    {"id": "a", "description": "List files", "tool": "ls"},
                    {"id": 2, "content": "Count", "dependencies": ["a"], "tool": "bash"},
                    {"id": "c", "description": "Report", "dependencies": ["a", "2"]},
                ],
                "required_tools": ["ls", "grep", ""],
            }
        )
        + "\n```\nGood luck."
    )
    plan = parse_plan(text, "the prompt")
    assert plan.goal == "Count the lines"
    assert plan.complexity.value == "Medium"  # unknown complexity reads as Medium
    assert [(s.id, s.content, s.dependencies) for s in plan.steps] == [
        ("a", "List files", []),
        ("2", "Count", ["a"]),
        ("c", "Report", ["a", "2"]),
    ]
    assert plan.required_tools == ["ls", "bash", "grep"]
    assert plan.estimated_steps == 3
    assert all(s.status is TaskStatus.PENDING for s in plan.steps)
    # no goal in the answer: the prompt is the goal
    assert parse_plan(plan_json(("a", [])).replace('"the goal"', '""'), "my prompt").goal == (
        "my prompt"
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("I would start by looking at the files.", "holds no JSON object"),
        ('{"steps": [ {"id": "a", }', "not valid JSON"),
        ('["a", "b"]', "holds no JSON object"),
        ('{"goal": "x", "steps": []}', "has no steps"),
        ('{"goal": "x"}', "has no steps"),
        (plan_json(("a", []), ("b", ["zzz"])), "step 'b' depends on unknown step 'zzz'"),
        (plan_json(("a", ["b"]), ("b", ["a"])), "form a cycle: a -> b -> a"),
        (plan_json(("a", []), ("b", ["b"])), "form a cycle: b -> b"),
        (
            plan_json(("a", []), ("b", ["d"]), ("c", ["b"]), ("d", ["c"])),
            "form a cycle: b -> d -> c -> b",
        ),
        (plan_json(("a", []), ("a", [])), "plan step id 'a' is duplicated"),
        ('{"steps": [{"id": "a"}]}', "step 'a' has no description"),
        ('{"steps": [{"description": "x"}]}', "step 1 has no id"),
        ('{"steps": ["just text"]}', "step 1 is not an object"),
        ('{"steps": [{"id": "a", "description": "x", "dependencies": "b"}]}', "must be a list"),
        (plan_json(*[(f"s{i}", []) for i in range(MAX_PLAN_STEPS + 1)]), "at most 20"),
    ],
)
def test_unusable_plans_are_refused_with_the_reason(answer: str, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_plan(answer)


def test_waves_and_ready_steps_follow_the_dependencies() -> None:
    plan = parse_plan(plan_json(("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])))
    assert [[s.id for s in w] for w in waves(plan)] == [["a"], ["b", "c"], ["d"]]
    assert [s.id for s in ready_steps(plan)] == ["a"]
    plan.steps[0].status = TaskStatus.COMPLETED
    assert [s.id for s in ready_steps(plan)] == ["b", "c"]
    plan.steps[1].status = TaskStatus.COMPLETED
    plan.steps[2].status = TaskStatus.FAILED  # a failed step's dependants never run
    assert ready_steps(plan) == []


def test_goals_and_verdicts_are_parsed_and_clamped() -> None:
    goal = parse_goal('{"description": "Count lines", "success_criteria": ["a number", 3]}')
    assert goal.description == "Count lines" and goal.success_criteria == ["a number"]
    assert parse_goal('{"success_criteria": []}', "the prompt").success_criteria == (
        FALLBACK_CRITERIA
    )
    with pytest.raises(PlanError, match="no JSON object"):
        parse_goal("no json here")
    v = parse_achievement('{"achieved": false, "progress": 7, "remaining_criteria": ["x"]}')
    assert (v.achieved, v.progress, v.remaining_criteria) == (False, 1.0, ["x"])
    v = parse_achievement('{"achieved": false, "progress": -2}')
    assert v.progress == 0.0
    v = parse_achievement('{"achieved": true, "progress": 0.1, "remaining_criteria": ["x"]}')
    assert (v.progress, v.remaining_criteria) == (1.0, [])
    with pytest.raises(PlanError, match="boolean 'achieved'"):
        parse_achievement('{"achieved": "yes"}')
    with pytest.raises(PlanError, match="not a number"):
        parse_achievement('{"achieved": false, "progress": "half"}')
    assert extract_json('x {"a": {"b": 1}} y') == {"a": {"b": 1}}


def test_the_prompts_carry_the_markers_the_scripted_models_answer() -> None:
    assert PLAN_SYSTEM_PROMPT.startswith(PLAN_MARKER)
    assert GOAL_SYSTEM_PROMPT.startswith(GOAL_MARKER)
    assert GOAL_CHECK_SYSTEM_PROMPT.startswith(GOAL_CHECK_MARKER)
    # the scripted plan is a valid plan with a wave in the middle
    plan = parse_plan(json.dumps(scripted_plan("List the files, then count the lines")))
    assert [[s.id for s in w] for w in waves(plan)] == [
        ["step-1"],
        ["step-2", "step-3"],
        ["step-4"],
    ]
    assert [s.content for s in plan.steps[1:3]] == ["List the files", "count the lines"]


def test_the_config_fields_are_accepted_and_still_checked() -> None:
    c = SessionConfig(planning_enabled=True, goal_tracking=True)
    assert c.planning_enabled and c.goal_tracking
    with pytest.raises(ConfigError, match="planning_enabled"):
        SessionConfig(planning_enabled="maybe")  # type: ignore[arg-type]


# --- planned runs, offline ---------------------------------------------------------------


def echo_session(manager: SessionManager, workspace: Path, **config: Any) -> Any:
    cfg = SessionConfig(workspace=str(workspace), **config)
    return manager.create_session(cfg, model="scripted/echo", session_id="plan")


async def test_a_scripted_planned_run_logs_plan_steps_and_goal_in_order(
    manager: SessionManager, workspace: Path
) -> None:
    session = echo_session(manager, workspace, planning_enabled=True, goal_tracking=True)
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    result = await session.send_async("List the files, then count the lines")
    assert result.text == "**Done.** All 4 steps of the plan are complete."
    log = session.events()
    assert trace(log) == [
        "agent_start",
        "goal_extracted",
        "planning_start",
        "planning_end",
        "step_start:step-1",
        "step_end:step-1:completed",
        "goal_progress",
        "step_start:step-2",
        "step_end:step-2:completed",
        "goal_progress",
        "step_start:step-3",
        "step_end:step-3:completed",
        "goal_progress",
        "step_start:step-4",
        "step_end:step-4:completed",
        "goal_progress",
        "goal_achieved",
        "agent_end",
    ]
    assert trace(seen) == trace(log)  # the live stream and the log agree
    progress = [e.progress for e in log if e.type == "goal_progress"]  # type: ignore[union-attr]
    assert progress == [0.25, 0.5, 0.75, 1.0]
    end = next(e for e in log if e.type == "planning_end")
    assert end.estimated_steps == 4 and end.error is None  # type: ignore[union-attr]
    # the planner's calls are in the ledger under their own purpose, without tools
    assert [r.purpose for r in session.cost_records] == [
        "goal",
        "planning",
        "generate",
        "generate",
        "generate",
        "generate",
        "goal",
    ]
    # the history: the prompt, the plan with the first step, then one message per step
    users = [m.text() for m in session.messages if m.role == "user"]
    assert users[0] == "List the files, then count the lines"
    assert "1. Understand the request" in users[1] and "Step 1 of 4 (step-1)" in users[1]
    assert [u.splitlines()[0] for u in users[2:]] == [
        "Step 2 of 4 (step-2): List the files",
        "Step 3 of 4 (step-3): count the lines",
        "Step 4 of 4 (step-4): Report the results",
    ]
    assert session.plan is not None
    assert all(s.status is TaskStatus.COMPLETED for s in session.plan.steps)
    assert session.goal is not None and session.goal.achieved and session.goal.progress == 1.0
    assert session.goal.success_criteria == ["Done: List the files", "Done: count the lines"]


async def test_the_task_table_follows_the_steps(manager: SessionManager, workspace: Path) -> None:
    session = echo_session(manager, workspace, planning_enabled=True)
    updates: list[list[tuple[str, str]]] = []
    session.subscribe(
        lambda e: (
            updates.append([(t.id, t.status.value) for t in e.tasks])  # type: ignore[union-attr]
            if e.type == "task_updated"
            else None
        )
    )
    await session.send_async("Read it and sum it")
    ids = ["step-1", "step-2", "step-3", "step-4"]
    assert [i for i, _ in updates[0]] == ids
    assert all(s == "pending" for _, s in updates[0])
    # while a step runs its task is in progress, and only that one
    running = [u for u in updates if any(s == "in_progress" for _, s in u)]
    assert [[i for i, s in u if s == "in_progress"] for u in running] == [[i] for i in ids]
    assert all(s == "completed" for _, s in updates[-1])
    assert [(t.id, t.status.value) for t in session.tasks] == updates[-1]
    assert session.tasks[3].dependencies == ["step-2", "step-3"]


async def test_planning_is_per_prompt_with_send_plan(
    manager: SessionManager, workspace: Path
) -> None:
    session = echo_session(manager, workspace)
    r = await session.send_async("hello")
    assert r.text == "Echo: hello" and session.plan is None
    r = await session.send_async("hello and bye", plan=True)
    assert r.text.startswith("**Done.**") and session.plan is not None
    # planning_enabled=True and plan=False: this prompt is not planned
    session.update_config(planning_enabled=True)
    before = len(session.events())
    r = await session.send_async("again", plan=False)
    assert r.text == "Echo: again"
    assert not [e for e in session.events()[before:] if e.type.startswith(("planning", "step"))]
    with pytest.raises(TypeError, match="plan must be True, False or None"):
        await session.send_async("x", plan="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("Let me think about it first.", "holds no JSON object"),
        (plan_json(("a", ["b"]), ("b", ["a"])), "form a cycle: a -> b -> a"),
        (plan_json(("a", ["nope"])), "depends on unknown step 'nope'"),
    ],
)
async def test_a_bad_plan_is_reported_and_the_prompt_runs_without_one(
    make_session: Any, answer: str, why: str
) -> None:
    session = make_session([answer, "the plain answer"], planning_enabled=True)
    result = await session.send_async("do it")
    assert result.text == "the plain answer"
    log = session.events()
    assert trace(log) == ["agent_start", "planning_start", "planning_end", "agent_end"]
    end = next(e for e in log if e.type == "planning_end")
    assert end.error is not None and why in end.error  # type: ignore[union-attr]
    assert end.error.endswith("The prompt runs without a plan.")  # type: ignore[union-attr]
    assert end.estimated_steps == 0 and end.plan.steps == []  # type: ignore[union-attr]
    assert session.plan is None and session.tasks == []
    assert session.state.value == "Active"
    assert [m.text() for m in session.messages] == ["do it", "the plain answer"]


async def test_goal_tracking_without_a_plan_checks_the_answer(make_session: Any) -> None:
    session = make_session(
        [
            '{"description": "Greet", "success_criteria": ["say hi", "say bye"]}',
            "hi",
            '```json\n{"achieved": false, "progress": 0.5, "remaining_criteria": ["say bye"]}\n```',
        ],
        goal_tracking=True,
    )
    await session.send_async("greet me")
    log = session.events()
    assert trace(log) == ["agent_start", "goal_extracted", "goal_progress", "agent_end"]
    prog = next(e for e in log if e.type == "goal_progress")
    assert (prog.progress, prog.completed_steps, prog.total_steps) == (0.5, 1, 2)  # type: ignore[union-attr]
    assert session.goal is not None and not session.goal.achieved
    assert session.goal.progress == 0.5
    # the verdict was asked with the goal, its criteria and the answer
    check = session.llm.requests[-1][-1].text()
    assert check == "Goal: Greet\nSuccess Criteria: say hi; say bye\nCurrent State: hi"


async def test_a_goal_the_model_cannot_state_falls_back_and_a_missing_verdict_fails_closed(
    make_session: Any,
) -> None:
    session = make_session(
        ["not json", "done, complete and finished", "garbage"], goal_tracking=True
    )
    await session.send_async("tidy up")
    assert session.goal is not None
    assert session.goal.description == "tidy up"
    assert session.goal.success_criteria == FALLBACK_CRITERIA
    # "complete" in the answer is no evidence: nothing is achieved without a verdict
    assert not session.goal.achieved and session.goal.progress == 0.0
    assert "goal_achieved" not in trace(session.events())


async def test_a_step_that_fails_ends_failed_and_later_steps_stay_pending(
    make_session: Any,
) -> None:
    loop = turn("", ("ls", {"path": "."}))
    session = make_session(
        [plan_json(("a", []), ("b", ["a"]), ("c", ["b"])), "a done", loop, loop],
        planning_enabled=True,
        allow=["ls"],
        max_tool_rounds=1,
    )
    with pytest.raises(Exception, match=r"Max tool rounds \(1\) exceeded"):
        await session.send_async("go")
    assert trace(session.events()) == [
        "agent_start",
        "planning_start",
        "planning_end",
        "step_start:a",
        "step_end:a:completed",
        "step_start:b",
        "step_end:b:failed",
        "error",
    ]
    assert [(t.id, t.status.value) for t in session.tasks] == [
        ("a", "completed"),
        ("b", "failed"),
        ("c", "pending"),
    ]
    assert session.plan is not None
    assert [s.status.value for s in session.plan.steps] == ["completed", "failed", "pending"]


async def test_each_step_gets_its_own_tool_rounds(make_session: Any) -> None:
    ls = turn("", ("ls", {"path": "."}))
    session = make_session(
        [plan_json(("a", []), ("b", ["a"])), ls, "a done", ls, "b done"],
        planning_enabled=True,
        allow=["ls"],
        max_tool_rounds=2,
    )
    result = await session.send_async("go")
    assert result.text == "b done"


def test_a_restored_session_knows_its_plan_and_goal(tmp_path: Path, workspace: Path) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = echo_session(manager, workspace, planning_enabled=True, goal_tracking=True)
    session.send("Sort the list and print it")
    manager.forget_session("plan")
    restored = SessionManager(tmp_path / "sessions").restore_session("plan")
    assert restored.plan == session.plan and restored.plan is not None
    assert [s.status for s in restored.plan.steps] == [TaskStatus.COMPLETED] * 4
    assert restored.goal == session.goal and restored.goal is not None
    assert restored.goal.achieved and restored.goal.achieved_at is not None
    assert restored.tasks == session.tasks
    assert restored.snapshot() == session.snapshot()
    assert restored.config.planning_enabled and restored.config.goal_tracking


# --- through a real provider SDK ---------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_planned_run_through_a_provider_sdk(
    llm_server: LlmServer, manager: SessionManager, workspace: Path, provider: str
) -> None:
    llm_server.enqueue(
        Reply(text=["Plan:\n```json\n", plan_json(("read", []), ("say", ["read"])), "\n```"]),
        Reply(text="I read it."),
        Reply(text="It says hello."),
    )
    model = "openai/gpt-4o-mini" if provider == "openai" else "anthropic/claude-haiku-4-5"
    url = llm_server.openai_url if provider == "openai" else llm_server.anthropic_url
    session = manager.create_session(
        SessionConfig(workspace=str(workspace), planning_enabled=True),
        model=model,
        api_key="sk-test-key-000",
        base_url=url,
    )
    result = await session.send_async("read hello.txt and tell me what it says")
    assert result.text == "It says hello."
    assert trace(session.events()) == [
        "agent_start",
        "planning_start",
        "planning_end",
        "step_start:read",
        "step_end:read:completed",
        "step_start:say",
        "step_end:say:completed",
        "agent_end",
    ]
    planner, first, second = (r.body for r in llm_server.requests)
    # the planner's call: a plain chat call with its system prompt and no tools
    assert "tools" not in planner
    if provider == "openai":
        assert planner["messages"][0] == {"role": "system", "content": PLAN_SYSTEM_PROMPT}
        texts = [m.get("content") for m in second["messages"]]
        assert any(isinstance(t, str) and t.startswith("Step 2 of 2 (say)") for t in texts)
    else:
        system = planner["system"]
        if not isinstance(system, str):  # a list of text blocks
            system = "".join(block["text"] for block in system)
        assert system == PLAN_SYSTEM_PROMPT
        # consecutive user messages are merged for Anthropic: roles still alternate
        roles = [m["role"] for m in second["messages"]]
        assert all(a != b for a, b in itertools.pairwise(roles))
    assert "tools" in first
    assert [r.purpose for r in session.cost_records] == ["planning", "generate", "generate"]


# --- widgets and magics ------------------------------------------------------------------


def test_the_event_stream_and_header_show_the_plan_and_the_goal(
    manager: SessionManager, workspace: Path
) -> None:
    from a3s_notebook.widgets import SessionView

    session = echo_session(manager, workspace, planning_enabled=True, goal_tracking=True)
    view = SessionView(session)
    session.send("Fetch the data, then plot it")
    notes = [r for r in view.events_widget.rows if r["kind"] == "note"]
    titles = [(r["topic"], r["title"]) for r in notes]
    assert titles[:3] == [
        ("goal", "Goal: Fetch the data, then plot it"),
        ("plan", "Plan: 4 steps"),
        ("plan", "Step 1/4: Understand the request: Fetch the data, then plot it"),
    ]
    plan_row = notes[1]
    assert plan_row["items"][1:] == [
        "step-2: Fetch the data (after step-1)",
        "step-3: plot it (after step-1)",
        "step-4: Report the results (after step-2, step-3)",
    ]
    assert ("plan", "Step 4/4 completed") in titles
    assert titles[-1] == ("goal", "Goal achieved") and notes[-1]["tone"] == "ok"
    assert notes[0]["items"] == ["Done: Fetch the data", "Done: plot it"]
    goal = view.header.info["goal"]
    assert goal == {
        "description": "Fetch the data, then plot it",
        "progress": 1.0,
        "achieved": True,
    }
    assert "goal: Fetch the data, then plot it (achieved)" in view.header._repr_markdown_()
    text = view.events_widget._repr_markdown_()
    assert "Plan: 4 steps" in text and "Goal achieved" in text


def test_ask_plan_and_config_in_the_magics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from .test_magics import magics, run

    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "a3s_notebook")
    m = magics(shell)
    m._manager, m.current = None, None
    m.sessions_dir = str(tmp_path / "sessions")
    m.default_workspace = str(tmp_path / "ws")
    m.default_model = "scripted/demo-fast"
    m.confirmation_timeout = 0.2
    try:
        run(shell, "%a3s_session new planner --model scripted/echo")
        out = run(shell, "%%ask --plan --quiet\nList the files and count them")
        assert out.text == "**Done.** All 4 steps of the plan are complete."
        session = m.current
        assert session.plan is not None and not session.config.planning_enabled
        run(shell, "%a3s_session config planning_enabled=true goal_tracking=true")
        printed = capsys.readouterr().out
        assert "planning_enabled = True" in printed and "goal_tracking = True" in printed
        assert session.config.planning_enabled and session.config.goal_tracking
        run(shell, "%%ask --quiet\nSay hi and bye")
        assert session.goal is not None and session.goal.achieved
        run(shell, "%a3s_session config planning_enabled=maybe")
        err = capsys.readouterr().err
        assert "planning_enabled" in err and len(err.strip().splitlines()) == 1
        run(shell, "%a3s_session config goal_tracking=false nosuch=1")
        err = capsys.readouterr().err
        assert "unknown key 'nosuch'" in err
        assert session.config.goal_tracking  # nothing was set: the keys are checked first
    finally:
        shell.run_line_magic("unload_ext", "a3s_notebook")
        shell.user_ns.pop("_", None)


def test_the_terminal_printer_shows_the_plan_steps_and_goal(
    manager: SessionManager, workspace: Path
) -> None:
    import io

    from a3s_notebook._console import ConsolePrinter

    session = echo_session(manager, workspace, planning_enabled=True, goal_tracking=True)
    out = io.StringIO()
    session.subscribe(ConsolePrinter(out, show_output=False))
    session.send("Fetch it and plot it")
    lines = [
        ln for ln in out.getvalue().splitlines() if not ln.startswith(("  tasks:", "  context:"))
    ]
    assert lines[1:8] == [
        "  goal: Fetch it and plot it [Done: Fetch it; Done: plot it]",
        "  plan: 4 steps for: Fetch it and plot it",
        "    step-1: Understand the request: Fetch it and plot it",
        "    step-2: Fetch it (after step-1)",
        "    step-3: plot it (after step-1)",
        "    step-4: Report the results (after step-2, step-3)",
        "  step 1/4: Understand the request: Fetch it and plot it",
    ]
    assert "  step 4/4 completed" in lines and "  goal progress: 75%" in lines
    assert lines[-2:] == ["  goal achieved: Fetch it and plot it", lines[-1]]
    assert lines[-1].startswith("> agent_end:")
