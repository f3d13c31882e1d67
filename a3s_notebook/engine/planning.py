"""Planning and goal tracking (engine-spec section 8): the LLM planner and planned runs.

With ``SessionConfig.planning_enabled`` (or ``send(..., plan=True)``) a run first asks
the model for a JSON plan (steps with ids, descriptions and dependencies), checks it
(unknown dependencies and cycles are refused with a clear message, and the prompt then
runs without a plan), and then gives the agent one step at a time, in waves: a step
runs once every step it depends on is done. The plan is the session's task list; each
step's task moves pending -> in_progress -> completed (or failed) as the step runs.

With ``SessionConfig.goal_tracking`` the run first extracts a goal (a description and
success criteria) from the prompt, reports progress after each step, and at the end
asks the model whether the goal is achieved.

Every call the planner makes is a plain chat call without tools (any provider can answer
it) and is recorded in the ledger with its own ``purpose`` ("planning", "goal").
The events (``planning_start`` / ``planning_end``, ``step_start`` / ``step_end``,
``goal_extracted`` / ``goal_progress`` / ``goal_achieved``) are durable: a restored
session knows its plan and its goal (see :mod:`a3s_notebook.engine._state`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine.events import (
    GoalAchieved,
    GoalExtracted,
    GoalProgress,
    PlanningEnd,
    PlanningStart,
    StepEnd,
    StepStart,
)
from a3s_notebook.engine.lanes import SessionLane
from a3s_notebook.engine.tasks import AgentGoal, Complexity, ExecutionPlan, Task, TaskStatus
from a3s_notebook.llm.types import Message, complete

if TYPE_CHECKING:
    from a3s_notebook.engine._run import RunDeps

__all__ = [
    "FALLBACK_CRITERIA",
    "GOAL_CHECK_SYSTEM_PROMPT",
    "GOAL_SYSTEM_PROMPT",
    "MAX_PLAN_STEPS",
    "PLAN_EXECUTE_GOAL",
    "PLAN_EXECUTE_STEP",
    "PLAN_SYSTEM_PROMPT",
    "Achievement",
    "PlanError",
    "PlannedRun",
    "extract_json",
    "parse_achievement",
    "parse_goal",
    "parse_plan",
    "ready_steps",
    "waves",
]

MAX_PLAN_STEPS = 20
"""A plan with more steps is refused (a model that lists 200 steps is not planning)."""

PLAN_SYSTEM_PROMPT = """You are the planner of a coding and data agent. Break the user's \
request into a short plan of concrete steps the agent can carry out with its tools.

Answer with one JSON object and nothing else, in this shape:
{"goal": "what the user wants, in one sentence",
 "complexity": "Simple" | "Medium" | "Complex" | "VeryComplex",
 "steps": [{"id": "step-1", "description": "what to do", "tool": "a tool name (optional)",
            "dependencies": ["ids of steps that must finish first"],
            "success_criteria": "how to tell the step is done (optional)"}],
 "required_tools": ["tool names"]}

Rules: 1 to 10 steps; every id is unique; a step depends only on other steps of this \
plan; no cycles. Steps that do not depend on each other may run in any order."""

GOAL_SYSTEM_PROMPT = """You extract the goal of a user's request for an agent.

Answer with one JSON object and nothing else:
{"description": "the goal in one sentence",
 "success_criteria": ["a checkable criterion", "..."]}

Give 1 to 5 short success criteria that say when the request is fully done."""

GOAL_CHECK_SYSTEM_PROMPT = """You judge progress towards a goal. You are given the goal, \
its success criteria and the current state of the work.

Answer with one JSON object and nothing else:
{"achieved": true or false, "progress": a number from 0.0 to 1.0,
 "remaining_criteria": ["criteria not met yet"]}

Say achieved only when every criterion is met by the current state."""

PLAN_EXECUTE_GOAL = """I made a plan for this request.

Goal: {goal}

Plan:
{steps}

I will give you the steps one at a time. Do only the step you are given."""

PLAN_EXECUTE_STEP = """Step {number} of {total} ({id}): {description}

Do this step now, using tools as needed, then answer with what you did and found."""

FALLBACK_CRITERIA = ["Task is completed successfully", "All requirements are met"]
"""The success criteria of a goal the model could not extract (as the reference)."""


class PlanError(ValueError):
    """The model's plan (or goal, or verdict) cannot be used; the message says why."""


# --- parsing and checking ------------------------------------------------------------


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer: the text from the first ``{`` to the last
    ``}`` (tolerates Markdown fences and prose around it).

    Raises :class:`PlanError` when there is no JSON object.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise PlanError(f"the model's answer holds no JSON object: {_clip(text)!r}")
    try:
        value = json.loads(text[start : end + 1])
    except (ValueError, RecursionError) as exc:
        raise PlanError(f"the model's answer is not valid JSON ({exc}): {_clip(text)!r}") from None
    if not isinstance(value, dict):
        raise PlanError(f"the model's answer is not a JSON object: {_clip(text)!r}")
    return value


def _clip(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _complexity(value: Any) -> Complexity:
    try:
        return Complexity(str(value))
    except ValueError:
        return Complexity.MEDIUM


def parse_plan(text: str, prompt: str = "") -> ExecutionPlan:
    """Parse and check a plan the model wrote (the :data:`PLAN_SYSTEM_PROMPT` shape).

    Refused with :class:`PlanError`: no JSON object, no steps, more than
    :data:`MAX_PLAN_STEPS` steps, a step without an id or a description, a duplicated
    id, a dependency on a step that is not in the plan, dependencies that form a cycle.
    An unknown complexity is read as Medium; a missing goal is the prompt.
    """
    data = extract_json(text)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PlanError("the plan has no steps (expected a non-empty 'steps' list)")
    if len(raw_steps) > MAX_PLAN_STEPS:
        raise PlanError(
            f"the plan has {len(raw_steps)} steps: at most {MAX_PLAN_STEPS} are allowed"
        )
    steps: list[Task] = []
    seen: set[str] = set()
    tools: list[str] = []
    for n, raw in enumerate(raw_steps, 1):
        if not isinstance(raw, dict):
            raise PlanError(f"step {n} is not an object: {_clip(repr(raw))}")
        sid = str(raw.get("id", "")).strip() if raw.get("id") is not None else ""
        if not sid:
            raise PlanError(f"step {n} has no id")
        if sid in seen:
            raise PlanError(f"plan step id '{sid}' is duplicated")
        seen.add(sid)
        desc = _text(raw.get("description")) or _text(raw.get("content"))
        if not desc:
            raise PlanError(f"step '{sid}' has no description")
        deps = raw.get("dependencies") or []
        if not isinstance(deps, list):
            raise PlanError(f"step '{sid}': 'dependencies' must be a list of step ids")
        tool = _text(raw.get("tool")) or None
        if tool and tool not in tools:
            tools.append(tool)
        criteria = _text(raw.get("success_criteria")) or None
        steps.append(
            Task(
                id=sid,
                content=desc,
                tool=tool,
                dependencies=[str(d).strip() for d in deps],
                success_criteria=criteria,
            )
        )
    for step in steps:
        for dep in step.dependencies:
            if dep not in seen:
                raise PlanError(f"step '{step.id}' depends on unknown step '{dep}'")
    cycle = _find_cycle(steps)
    if cycle:
        raise PlanError("the steps' dependencies form a cycle: " + " -> ".join(cycle))
    required = data.get("required_tools")
    for tool in required if isinstance(required, list) else []:
        if isinstance(tool, str) and tool.strip() and tool.strip() not in tools:
            tools.append(tool.strip())
    return ExecutionPlan(
        goal=_text(data.get("goal")) or prompt.strip(),
        steps=steps,
        complexity=_complexity(data.get("complexity")),
        required_tools=tools,
        estimated_steps=len(steps),
    )


def _find_cycle(steps: list[Task]) -> list[str]:
    """One dependency cycle as a path (``a -> b -> a``), or [] when there is none."""
    deps = {s.id: s.dependencies for s in steps}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in deps:
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            if i < len(deps[node]):
                stack.append((node, i + 1))
                nxt = deps[node][i]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return []


def ready_steps(plan: ExecutionPlan) -> list[Task]:
    """Pending steps whose dependencies are all completed (an unknown id never is)."""
    done = {s.id for s in plan.steps if s.status is TaskStatus.COMPLETED}
    return [
        s
        for s in plan.steps
        if s.status is TaskStatus.PENDING and all(d in done for d in s.dependencies)
    ]


def waves(plan: ExecutionPlan) -> list[list[Task]]:
    """The plan's steps in waves: each wave's steps depend only on earlier waves, so the
    steps of one wave may run in any order (or side by side)."""
    placed: set[str] = set()
    left = list(plan.steps)
    out: list[list[Task]] = []
    while left:
        wave = [s for s in left if all(d in placed for d in s.dependencies)]
        if not wave:  # a cycle or an unknown id: parse_plan refuses both
            raise PlanError("the plan's steps cannot all run: " + ", ".join(s.id for s in left))
        out.append(wave)
        placed.update(s.id for s in wave)
        left = [s for s in left if s.id not in placed]
    return out


def parse_goal(text: str, prompt: str = "") -> AgentGoal:
    """Parse a goal the model wrote (``{"description", "success_criteria"}``)."""
    data = extract_json(text)
    description = _text(data.get("description")) or prompt.strip()
    if not description:
        raise PlanError("the goal has no description")
    raw = data.get("success_criteria")
    criteria = (
        [c.strip() for c in raw if isinstance(c, str) and c.strip()]
        if isinstance(raw, list)
        else []
    )
    return AgentGoal(description=description, success_criteria=criteria or list(FALLBACK_CRITERIA))


@dataclass
class Achievement:
    """The model's verdict on a goal: achieved, progress (0..1), criteria not met yet."""

    achieved: bool
    progress: float
    remaining_criteria: list[str] = field(default_factory=list)


def parse_achievement(text: str) -> Achievement:
    """Parse a verdict (``{"achieved", "progress", "remaining_criteria"}``); progress is
    clamped to 0..1 and is 1.0 when achieved."""
    data = extract_json(text)
    achieved = data.get("achieved")
    if not isinstance(achieved, bool):
        raise PlanError("the verdict has no boolean 'achieved'")
    try:
        progress = float(data.get("progress", 1.0 if achieved else 0.0))
    except (TypeError, ValueError):
        raise PlanError("the verdict's 'progress' is not a number") from None
    progress = 1.0 if achieved else min(1.0, max(0.0, progress))
    raw = data.get("remaining_criteria")
    remaining = [str(c) for c in raw] if isinstance(raw, list) else []
    return Achievement(achieved, progress, [] if achieved else remaining)


# --- the planned run -----------------------------------------------------------------


async def _ask(deps: RunDeps, system: str, user: str, purpose: str) -> str:
    """One tool-less chat call for the planner, recorded in the ledger under ``purpose``."""
    deps.check_budget()
    llm = deps.llm
    started = time.perf_counter()
    response = await deps.queue.timed(
        SessionLane.GENERATE,
        lambda: complete(llm, [Message.user(user)], system=system, tools=None),
    )
    deps.record_usage(
        response.usage,
        turn=None,
        latency_ms=(time.perf_counter() - started) * 1000,
        ttft_ms=None,
        tool_names=[],
        purpose=purpose,
        move_context=False,
    )
    return response.message.text()


class PlannedRun:
    """Drives one run's plan and goal: the agent loop calls :meth:`begin` once the
    prompt is in the history, :meth:`answered` each time the model answers without
    tool calls (it returns the next step's prompt, or None when the run is over), and
    :meth:`abort` when the run fails or is cancelled.

    Steps of one wave run one after another on the shared history (see
    docs/decisions.md, "Planned runs").
    """

    def __init__(self, deps: RunDeps, prompt: str) -> None:
        self.deps = deps
        self.prompt = prompt
        self.plan: ExecutionPlan | None = None
        self.goal: AgentGoal | None = None
        self.current: Task | None = None
        self.number = 0
        self._goal_started = time.monotonic()

    @classmethod
    async def begin(cls, deps: RunDeps, prompt: str, *, planning: bool) -> PlannedRun | None:
        """Extract the goal (goal tracking), make the plan (``planning``) and put the
        first step in the history; None when neither is on."""
        if not planning and not deps.config.goal_tracking:
            return None
        run = cls(deps, prompt)
        if deps.config.goal_tracking:
            await run._extract_goal()
        if planning:
            await run._make_plan()
        if run.plan is not None:
            first = run._next_step()
            if first is not None:
                listing = "\n".join(f"{i}. {s.content}" for i, s in enumerate(run.plan.steps, 1))
                intro = PLAN_EXECUTE_GOAL.format(goal=run.plan.goal, steps=listing)
                deps.add_message(Message.user(intro + "\n\n" + run._start(first)))
        return run

    async def _extract_goal(self) -> None:
        try:
            text = await _ask(self.deps, GOAL_SYSTEM_PROMPT, self.prompt, "goal")
            goal = parse_goal(text, self.prompt)
        except PlanError:
            goal = AgentGoal(
                description=_clip(self.prompt, 300), success_criteria=list(FALLBACK_CRITERIA)
            )
        except Exception as exc:
            if _stops_run(exc):
                raise
            goal = AgentGoal(
                description=_clip(self.prompt, 300), success_criteria=list(FALLBACK_CRITERIA)
            )
        self._goal_started = time.monotonic()
        self.goal = goal
        self.deps.emit(GoalExtracted(goal=goal.model_copy(deep=True)))

    async def _make_plan(self) -> None:
        self.deps.emit(PlanningStart(prompt=self.prompt))
        try:
            text = await _ask(self.deps, PLAN_SYSTEM_PROMPT, self.prompt, "planning")
            plan = parse_plan(text, self.prompt)
        except Exception as exc:
            if _stops_run(exc):
                raise
            # no plan: the prompt runs as it would without planning
            why = str(exc) if isinstance(exc, PlanError) else f"the planning call failed: {exc}"
            self.deps.emit(
                PlanningEnd(
                    plan=ExecutionPlan(goal=self.prompt.strip()),
                    estimated_steps=0,
                    error=f"No plan: {why}. The prompt runs without a plan.",
                )
            )
            return
        self.plan = plan
        # the event gets a copy: the steps' statuses move on here
        self.deps.emit(
            PlanningEnd(plan=plan.model_copy(deep=True), estimated_steps=plan.estimated_steps)
        )
        # a new plan is the task list (the agent may add its own tasks during the run)
        self.deps.set_tasks([s.model_copy() for s in plan.steps])

    def _next_step(self) -> Task | None:
        assert self.plan is not None
        ready = ready_steps(self.plan)
        return ready[0] if ready else None

    def _start(self, step: Task) -> str:
        """Emit ``step_start`` for a step, move its task, and return its prompt."""
        assert self.plan is not None
        self.number += 1
        self.current = step
        step.status = TaskStatus.IN_PROGRESS
        total = len(self.plan.steps)
        self.deps.emit(
            StepStart(
                step_id=step.id,
                description=step.content,
                step_number=self.number,
                total_steps=total,
            )
        )
        self._sync_tasks()
        return PLAN_EXECUTE_STEP.format(
            number=self.number, total=total, id=step.id, description=step.content
        )

    def _end(self, status: TaskStatus) -> None:
        assert self.plan is not None and self.current is not None
        step, self.current = self.current, None
        step.status = status
        self.deps.emit(
            StepEnd(
                step_id=step.id,
                status=status,
                step_number=self.number,
                total_steps=len(self.plan.steps),
            )
        )
        self._sync_tasks()

    def _sync_tasks(self) -> None:
        """The plan's steps, with their status, in the task list; tasks the agent added
        itself stay after them."""
        assert self.plan is not None
        ids = {s.id for s in self.plan.steps}
        own = [t for t in self.deps.tasks if t.id not in ids]
        self.deps.set_tasks([s.model_copy() for s in self.plan.steps] + own)

    def _completed(self) -> int:
        assert self.plan is not None
        return sum(1 for s in self.plan.steps if s.status is TaskStatus.COMPLETED)

    async def answered(self, text: str) -> str | None:
        """The model answered without tool calls: end the step, report progress, and
        return the next step's prompt (None: the run is over)."""
        if self.plan is not None and self.current is not None:
            self._end(TaskStatus.COMPLETED)
            nxt = self._next_step()
            if self.goal is not None and nxt is not None:
                # the last step's progress is the final verdict's, below
                total = len(self.plan.steps)
                done = self._completed()
                self.deps.emit(
                    GoalProgress(
                        goal=self.goal.description,
                        progress=done / total if total else 0.0,
                        completed_steps=done,
                        total_steps=total,
                    )
                )
            if nxt is not None:
                return self._start(nxt)
        if self.goal is not None:
            await self._check_goal(text)
        return None

    async def _check_goal(self, text: str) -> None:
        goal = self.goal
        assert goal is not None
        state = text.strip() or "(no answer)"
        if self.plan is not None:
            lines = [f"- {s.id} ({s.status.value}): {s.content}" for s in self.plan.steps]
            state = "Plan steps:\n" + "\n".join(lines) + "\n\nLast answer:\n" + state
        user = (
            f"Goal: {goal.description}\nSuccess Criteria: {'; '.join(goal.success_criteria)}\n"
            f"Current State: {state}"
        )
        try:
            verdict = parse_achievement(
                await _ask(self.deps, GOAL_CHECK_SYSTEM_PROMPT, user, "goal")
            )
        except Exception as exc:
            if _stops_run(exc):
                raise
            # fail closed: a verdict nobody gave is not an achievement
            verdict = Achievement(False, goal.progress, list(goal.success_criteria))
        if self.plan is not None:
            total, done = len(self.plan.steps), self._completed()
        else:
            total = len(goal.success_criteria)
            done = (
                total - min(total, len(verdict.remaining_criteria))
                if not verdict.achieved
                else total
            )
        goal.progress = verdict.progress
        self.deps.emit(
            GoalProgress(
                goal=goal.description,
                progress=verdict.progress,
                completed_steps=done,
                total_steps=total,
            )
        )
        if verdict.achieved:
            goal.achieved = True
            self.deps.emit(
                GoalAchieved(
                    goal=goal.description,
                    total_steps=total,
                    duration_ms=int((time.monotonic() - self._goal_started) * 1000),
                )
            )

    def abort(self, status: TaskStatus) -> None:
        """The run stopped (failed, cancelled, paused): end the running step with
        ``status``; the steps that did not start stay pending."""
        if self.plan is not None and self.current is not None:
            self._end(status)


def _stops_run(exc: BaseException) -> bool:
    """Errors the planner must not swallow: a used-up budget, a blocked prompt."""
    from a3s_notebook.engine.errors import BudgetExceededError, SecurityBlockedError

    return isinstance(exc, (BudgetExceededError, SecurityBlockedError))
