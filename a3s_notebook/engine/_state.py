"""Session state as a reducer over the event log.

A session's state changes only by events: the live session applies each durable event as
it emits it, and a restore applies the same events read back from the log. So a restored
session equals the live one by construction (tests check it with hypothesis).

:func:`apply` updates the state in place and returns it: appending a message is O(1), not
a copy of the history. It has no other effect: no I/O, no clock, no subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from a3s_notebook.engine.config import (
    DEFAULT_MAX_TOKENS,
    ContextUsage,
    SessionConfig,
    SessionState,
)
from a3s_notebook.engine.events import (
    AgentEvent,
    ConfigChanged,
    ContextUsageUpdated,
    GoalAchieved,
    GoalExtracted,
    GoalProgress,
    HistoryReplaced,
    MessageAdded,
    ModelChanged,
    PlanningEnd,
    SessionCreated,
    StateChanged,
    StepEnd,
    StepStart,
    TaskUpdated,
    UsageRecorded,
)
from a3s_notebook.engine.tasks import AgentGoal, ExecutionPlan, Task, TaskStatus
from a3s_notebook.engine.telemetry import LlmCostRecord
from a3s_notebook.llm.types import Message

__all__ = ["SessionData", "apply", "initial_state"]


@dataclass
class SessionData:
    """Everything a session's log determines."""

    session_id: str
    config: SessionConfig
    model_name: str
    llm_config: dict[str, Any] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    state: SessionState = SessionState.ACTIVE
    messages: list[Message] = field(default_factory=list)
    cost_records: list[LlmCostRecord] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    context_usage: ContextUsage = field(default_factory=ContextUsage)
    model_window: int | None = None
    """The model's own context window, when known (used when the config sets none)."""
    plan: ExecutionPlan | None = None
    """The last plan made (planning), its steps' statuses as they ran."""
    goal: AgentGoal | None = None
    """The last goal extracted (goal tracking), with its progress."""

    def comparable(self) -> dict[str, Any]:
        """The state as plain data, for equality checks between a live and a restored
        session."""
        return {
            "session_id": self.session_id,
            "config": self.config.to_dict(),
            "model_name": self.model_name,
            "llm_config": self.llm_config,
            "created_at": self.created_at,
            "state": self.state.value,
            "messages": [m.model_dump(mode="json") for m in self.messages],
            "cost_records": [r.model_dump(mode="json") for r in self.cost_records],
            "tasks": [t.model_dump(mode="json") for t in self.tasks],
            "context_usage": self.context_usage.model_dump(),
            "plan": None if self.plan is None else self.plan.model_dump(mode="json"),
            "goal": None if self.goal is None else self.goal.model_dump(mode="json"),
        }


def _window(config: SessionConfig, model_window: int | None = None) -> int:
    return config.max_context_length or model_window or DEFAULT_MAX_TOKENS


def initial_state(created: SessionCreated) -> SessionData:
    """The state a ``session_created`` event starts."""
    config = SessionConfig.from_dict(created.config)
    return SessionData(
        session_id=created.session_id,
        config=config,
        model_name=created.model,
        llm_config=created.llm_config,
        created_at=created.created_at,
        updated_at=created.created_at,
        context_usage=ContextUsage(max_tokens=_window(config)),
    )


def _set_used(data: SessionData, used: int) -> None:
    data.context_usage.max_tokens = _window(data.config, data.model_window)
    data.context_usage.turns = len(data.messages)
    data.context_usage.update(used)


def apply(data: SessionData, event: AgentEvent, ts: float | None = None) -> SessionData:
    """Apply one event to the state (in place) and return the state.

    Events that carry no state (text deltas, tool starts, confirmations...) only move
    ``updated_at`` when a time is given.
    """
    if ts is not None:
        data.updated_at = ts
    if isinstance(event, MessageAdded):
        data.messages.append(event.message)
        data.context_usage.turns = len(data.messages)
    elif isinstance(event, UsageRecorded):
        data.cost_records.append(event.record)
        own = event.record.parent_id is None or event.record.session_id == data.session_id
        if event.record.purpose == "generate" and own:
            # the last call's prompt is how full the window is (a sub-agent's call rolled
            # up into this ledger is about the sub-agent's window, not this one)
            _set_used(data, event.record.prompt_tokens)
    elif isinstance(event, ContextUsageUpdated):
        if not data.config.max_context_length and event.max_tokens != DEFAULT_MAX_TOKENS:
            # the window the model reported (a probe of its server, its price data)
            data.model_window = event.max_tokens
        _set_used(data, event.used_tokens)
    elif isinstance(event, StateChanged):
        data.state = SessionState(event.state)
    elif isinstance(event, TaskUpdated):
        data.tasks = list(event.tasks)
    elif isinstance(event, ConfigChanged):
        data.config = SessionConfig.from_dict(event.config)
        _set_used(data, data.context_usage.used_tokens)
    elif isinstance(event, ModelChanged):
        if event.model != data.model_name:
            data.model_window = None  # another model: its window is learnt again
        data.model_name = event.model
        data.llm_config = event.llm_config
        _set_used(data, data.context_usage.used_tokens)
    elif isinstance(event, HistoryReplaced):
        data.messages = list(event.messages)
        if event.cost_records is not None:
            data.cost_records = list(event.cost_records)
        if event.tasks is not None:
            data.tasks = list(event.tasks)
        _set_used(data, event.used_tokens)
    elif isinstance(event, (PlanningEnd, StepStart, StepEnd)):
        _apply_plan(data, event)
    elif isinstance(event, (GoalExtracted, GoalProgress, GoalAchieved)):
        _apply_goal(data, event, ts)
    return data


def _apply_plan(data: SessionData, event: PlanningEnd | StepStart | StepEnd) -> None:
    if isinstance(event, PlanningEnd):
        # a copy: the event is shared with subscribers, the state's steps move on
        data.plan = event.plan.model_copy(deep=True) if event.plan.steps else None
        return
    if data.plan is None:
        return
    status = TaskStatus.IN_PROGRESS if isinstance(event, StepStart) else event.status
    for step in data.plan.steps:
        if step.id == event.step_id:
            step.status = status


def _apply_goal(
    data: SessionData, event: GoalExtracted | GoalProgress | GoalAchieved, ts: float | None
) -> None:
    if isinstance(event, GoalExtracted):
        data.goal = event.goal.model_copy(deep=True)
    elif data.goal is None:
        return
    elif isinstance(event, GoalProgress):
        data.goal.progress = min(1.0, max(0.0, event.progress))
    else:
        data.goal.achieved = True
        data.goal.progress = 1.0
        if ts is not None:
            data.goal.achieved_at = int(ts)
