"""The event stream: one tagged union of pydantic models (spec section 1).

What a widget shows, what the JSONL log keeps and what ``session.stream()`` yields are
these objects. The ``type`` field carries the reference's wire names. Readers skip
types they do not know (:func:`parse_event` returns ``None``), so old readers survive
new writers.
"""

# No `from __future__ import annotations` here: string annotations cost pydantic a
# compile() per field, and this module defines 50 models at import
import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine.tasks import AgentGoal, ExecutionPlan, Task, TaskStatus
from a3s_notebook.engine.telemetry import LlmCostRecord
from a3s_notebook.llm.types import Message, TokenUsage

__all__ = [
    "AgentEvent",
    "EVENT_TYPES",
    "parse_event",
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=DEFER_BUILD)


class AgentStart(_Event):
    """A run begins."""

    type: Literal["agent_start"] = "agent_start"
    prompt: str


class TurnStart(_Event):
    """An LLM call begins (1-based turn)."""

    type: Literal["turn_start"] = "turn_start"
    turn: int
    tools: list[str] | None = None
    """The tools the model was offered for this call (a port addition: the log keeps
    which tools each call had, so a restore can say which are not registered again)."""


class TextDeltaEvent(_Event):
    """Streamed assistant text (transient: never persisted)."""

    type: Literal["text_delta"] = "text_delta"
    text: str


class ReasoningDeltaEvent(_Event):
    """Streamed reasoning / thinking text (transient; a later reference addition)."""

    type: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ToolStart(_Event):
    """The model announced a tool call."""

    type: Literal["tool_start"] = "tool_start"
    id: str
    name: str


class ToolEnd(_Event):
    """A tool call finished (every executed or refused call emits one)."""

    type: Literal["tool_end"] = "tool_end"
    id: str
    name: str
    output: str
    exit_code: int
    duration_ms: int | None = None
    args: dict[str, Any] | None = None
    media: list[dict[str, str]] | None = None
    """Images the call produced (a figure drawn by ``python``...): ``{"mime", "data",
    "alt"}`` with ``mime`` one of image/png, image/jpeg, image/svg+xml and ``data`` base64."""


class ToolOutputDelta(_Event):
    """Streamed tool output, e.g. from bash (transient)."""

    type: Literal["tool_output_delta"] = "tool_output_delta"
    id: str
    name: str
    delta: str


class TurnEnd(_Event):
    """An LLM call finished; ``usage`` is this call's."""

    type: Literal["turn_end"] = "turn_end"
    turn: int
    usage: TokenUsage


class AgentEnd(_Event):
    """A run finished; ``usage`` is the sum over the run."""

    type: Literal["agent_end"] = "agent_end"
    text: str
    usage: TokenUsage


class ErrorEvent(_Event):
    """A run failed, or something went wrong that the user should see."""

    type: Literal["error"] = "error"
    message: str


class ConfirmationRequired(_Event):
    """A tool call waits for a human decision."""

    type: Literal["confirmation_required"] = "confirmation_required"
    tool_id: str
    tool_name: str
    args: dict[str, Any]
    timeout_ms: int
    reason: str | None = None
    """Why approval is needed (the matching ask rule, or the default decision)."""
    suggested_rule: str | None = None
    """The narrowest allow rule "always allow" would add, shown on the card before the
    click; None when "always" is not offered (e.g. a compound shell command)."""


class ConfirmationReceived(_Event):
    """A human (or code) decided."""

    type: Literal["confirmation_received"] = "confirmation_received"
    tool_id: str
    approved: bool
    reason: str | None = None
    decided_by: str | None = None
    rule_added: str | None = None


class ConfirmationTimeout(_Event):
    """Nobody decided in time; the policy acted."""

    type: Literal["confirmation_timeout"] = "confirmation_timeout"
    tool_id: str
    action_taken: Literal["rejected", "auto_approved"]


class ExternalTaskPending(_Event):
    """A lane handed a task to an external handler."""

    type: Literal["external_task_pending"] = "external_task_pending"
    task_id: str
    session_id: str
    lane: str
    command_type: str
    payload: dict[str, Any]
    timeout_ms: int


class ExternalTaskCompleted(_Event):
    """An external handler finished a task."""

    type: Literal["external_task_completed"] = "external_task_completed"
    task_id: str
    session_id: str
    success: bool


class PermissionDenied(_Event):
    """A tool call was refused by a deny rule or a hook."""

    type: Literal["permission_denied"] = "permission_denied"
    tool_id: str
    tool_name: str
    args: dict[str, Any]
    reason: str


class ContextResolving(_Event):
    """Context providers are being queried."""

    type: Literal["context_resolving"] = "context_resolving"
    providers: list[str]


class ContextResolved(_Event):
    """Context providers answered."""

    type: Literal["context_resolved"] = "context_resolved"
    total_items: int
    total_tokens: int
    items: list[dict[str, Any]] = Field(default_factory=list)
    """What was injected into the system prompt, one entry per item: ``provider``,
    ``source``, ``type``, ``relevance``, ``tokens`` and a ``preview`` of the content."""
    failed: dict[str, str] = Field(default_factory=dict)
    """Providers that failed (or timed out), with the error: skipped, the run goes on."""
    truncated: bool = False
    """Items were left out to keep within the token budget."""


class CommandDeadLettered(_Event):
    """A queued command failed for good."""

    type: Literal["command_dead_lettered"] = "command_dead_lettered"
    command_id: str
    command_type: str
    lane: str
    error: str
    attempts: int


class CommandRetry(_Event):
    """A queued command is retried."""

    type: Literal["command_retry"] = "command_retry"
    command_id: str
    command_type: str
    lane: str
    attempt: int
    delay_ms: int


class QueueAlert(_Event):
    """The queue is under pressure."""

    type: Literal["queue_alert"] = "queue_alert"
    level: str
    alert_type: str
    message: str


class TaskUpdated(_Event):
    """The session's task list changed (the whole list)."""

    type: Literal["task_updated"] = "task_updated"
    session_id: str
    tasks: list[Task]


class MemoryStored(_Event):
    """A memory item was stored."""

    type: Literal["memory_stored"] = "memory_stored"
    memory_id: str
    memory_type: str
    importance: float
    tags: list[str]
    content: str | None = None
    """What was stored."""


class MemoryRecalled(_Event):
    """A memory item was recalled."""

    type: Literal["memory_recalled"] = "memory_recalled"
    memory_id: str
    content: str
    relevance: float


class MemoriesSearched(_Event):
    """Memory was searched."""

    type: Literal["memories_searched"] = "memories_searched"
    query: str | None = None
    tags: list[str] = Field(default_factory=list)
    result_count: int


class MemoryCleared(_Event):
    """A memory tier was cleared."""

    type: Literal["memory_cleared"] = "memory_cleared"
    tier: Literal["long_term", "short_term", "working"]
    count: int


class SubagentStart(_Event):
    """A child agent started."""

    type: Literal["subagent_start"] = "subagent_start"
    task_id: str
    session_id: str
    parent_session_id: str
    agent: str
    description: str


class SubagentProgress(_Event):
    """A child agent reports progress."""

    type: Literal["subagent_progress"] = "subagent_progress"
    task_id: str
    session_id: str
    status: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class SubagentEnd(_Event):
    """A child agent finished."""

    type: Literal["subagent_end"] = "subagent_end"
    task_id: str
    session_id: str
    agent: str
    output: str
    success: bool


class PlanningStart(_Event):
    """Planning began."""

    type: Literal["planning_start"] = "planning_start"
    prompt: str


class PlanningEnd(_Event):
    """A plan was made."""

    type: Literal["planning_end"] = "planning_end"
    plan: ExecutionPlan
    estimated_steps: int
    error: str | None = None
    """Why there is no plan (the model's answer was not a usable plan, or the call
    failed); the prompt then runs without one. A port addition."""


class StepStart(_Event):
    """A plan step began."""

    type: Literal["step_start"] = "step_start"
    step_id: str
    description: str
    step_number: int
    total_steps: int


class StepEnd(_Event):
    """A plan step ended."""

    type: Literal["step_end"] = "step_end"
    step_id: str
    status: TaskStatus
    step_number: int
    total_steps: int

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> TaskStatus:
        return TaskStatus.parse(v)


class GoalExtracted(_Event):
    """A goal was extracted from the prompt."""

    type: Literal["goal_extracted"] = "goal_extracted"
    goal: AgentGoal


class GoalProgress(_Event):
    """Progress towards the goal."""

    type: Literal["goal_progress"] = "goal_progress"
    goal: str
    progress: float
    completed_steps: int
    total_steps: int


class GoalAchieved(_Event):
    """The goal was achieved."""

    type: Literal["goal_achieved"] = "goal_achieved"
    goal: str
    total_steps: int
    duration_ms: int


class ContextCompacted(_Event):
    """History was compacted."""

    type: Literal["context_compacted"] = "context_compacted"
    session_id: str
    before_messages: int
    after_messages: int
    percent_before: float


class PersistenceFailed(_Event):
    """Writing the session file failed; the session goes on in memory."""

    type: Literal["persistence_failed"] = "persistence_failed"
    session_id: str
    operation: str
    error: str


class ContextUsageUpdated(_Event):
    """The context window usage changed (a port addition that widgets listen to)."""

    type: Literal["context_usage"] = "context_usage"
    used_tokens: int
    max_tokens: int
    percent: float
    turns: int


class StateChanged(_Event):
    """The session state changed (a port addition)."""

    type: Literal["state_changed"] = "state_changed"
    state: str
    reason: str | None = None
    """Why, when it is not the caller's own call (``paused at a turn boundary``...)."""


class UsageRecorded(_Event):
    """One LLM call was recorded in the cost ledger (a port addition)."""

    type: Literal["usage_recorded"] = "usage_recorded"
    record: LlmCostRecord


# --- the durable facts of a session's log (port additions) ------------------------------
# The session file is the event log: these, with the events above, are everything a
# restore replays. See a3s_notebook.engine._state for the reducer.


class SessionCreated(_Event):
    """The first line of every session log: who the session is and how it was set up."""

    type: Literal["session_created"] = "session_created"
    session_id: str
    format: int
    created_at: float
    model: str
    llm_config: dict[str, Any] | None = None
    """Provider, model and base URL (credentials masked); never a key."""
    config: dict[str, Any]
    """The :class:`SessionConfig` as a dict."""


class MessageAdded(_Event):
    """A message joined the history (the user's prompt, an answer, tool results)."""

    type: Literal["message_added"] = "message_added"
    message: Message


class ConfigChanged(_Event):
    """The session's config changed (rules, policies, limits); carries the whole config."""

    type: Literal["config_changed"] = "config_changed"
    config: dict[str, Any]


class ModelChanged(_Event):
    """The session switched model (the key stays in memory)."""

    type: Literal["model_changed"] = "model_changed"
    model: str
    llm_config: dict[str, Any] | None = None


class HistoryReplaced(_Event):
    """The history was replaced as a whole: a compaction, a clear, a fork's copy, or the
    rollback of a prompt that failed before any answer.

    A snapshot in an append-only log: a restore takes the history (and, when given, the
    ledger and tasks) from here and goes on with the events after it.
    """

    type: Literal["history_replaced"] = "history_replaced"
    reason: Literal["compact", "clear", "fork", "rollback"]
    messages: list[Message]
    used_tokens: int
    """The context window's used tokens after the replacement."""
    cost_records: list[LlmCostRecord] | None = None
    """A fork's copy of its parent's ledger; None keeps the ledger as it is."""
    tasks: list[Task] | None = None


class ConfirmationsCancelled(_Event):
    """Pending approvals were withdrawn (``cancel()``, an interrupt, a destroyed session)."""

    type: Literal["confirmations_cancelled"] = "confirmations_cancelled"
    tool_ids: list[str]
    reason: str


class BudgetExceeded(_Event):
    """A run was stopped before a call because a budget was used up (a port addition)."""

    type: Literal["budget_exceeded"] = "budget_exceeded"
    limit: str
    limit_value: float
    used: float
    message: str


class SecurityEvent(_Event):
    """The guard acted: a call or prompt blocked, a secret redacted, an injection flagged.

    A port addition (the reference only writes these to its audit log). ``detail`` never
    holds the secret itself.
    """

    type: Literal["security"] = "security"
    action: Literal["blocked", "redacted", "flagged", "asked"]
    rule: str
    """Which rule or detector acted (``api_key``, ``ignore_instructions``...)."""
    where: str
    """What it acted on: ``prompt``, ``tool_call``, ``tool_output``, ``model_output``..."""
    message: str
    tool_id: str | None = None
    tool_name: str | None = None


class HookDecision(_Event):
    """A hook changed something: allowed, denied or asked for a tool call, blocked a
    prompt, rewrote arguments or an output, or failed (a port addition: the reference only
    returns the result to the loop)."""

    type: Literal["hook_decision"] = "hook_decision"
    hook: str
    event: str
    """The hook event: ``pre_tool_use``, ``post_tool_use``, ``generate_start``..."""
    decision: Literal["allow", "deny", "ask", "block", "rewrite", "error"]
    reason: str | None = None
    tool_id: str | None = None
    tool_name: str | None = None


AgentEvent = Annotated[
    AgentStart
    | TurnStart
    | TextDeltaEvent
    | ReasoningDeltaEvent
    | ToolStart
    | ToolEnd
    | ToolOutputDelta
    | TurnEnd
    | AgentEnd
    | ErrorEvent
    | ConfirmationRequired
    | ConfirmationReceived
    | ConfirmationTimeout
    | ExternalTaskPending
    | ExternalTaskCompleted
    | PermissionDenied
    | ContextResolving
    | ContextResolved
    | CommandDeadLettered
    | CommandRetry
    | QueueAlert
    | TaskUpdated
    | MemoryStored
    | MemoryRecalled
    | MemoriesSearched
    | MemoryCleared
    | SubagentStart
    | SubagentProgress
    | SubagentEnd
    | PlanningStart
    | PlanningEnd
    | StepStart
    | StepEnd
    | GoalExtracted
    | GoalProgress
    | GoalAchieved
    | ContextCompacted
    | PersistenceFailed
    | ContextUsageUpdated
    | StateChanged
    | UsageRecorded
    | BudgetExceeded
    | SecurityEvent
    | HookDecision
    | SessionCreated
    | MessageAdded
    | ConfigChanged
    | ModelChanged
    | HistoryReplaced
    | ConfirmationsCancelled,
    Field(discriminator="type"),
]


@functools.cache
def _adapter() -> TypeAdapter[AgentEvent]:
    # built on the first parse, not at import: validating the union builds every event's
    # schema, and a session that only writes events never needs it
    return TypeAdapter(AgentEvent)


EVENT_TYPES: frozenset[str] = frozenset(
    cls.model_fields["type"].default for cls in _Event.__subclasses__()
)
"""Every wire name this version knows."""

TRANSIENT_TYPES: frozenset[str] = frozenset({"text_delta", "reasoning_delta", "tool_output_delta"})
"""Event types that are never persisted: token and output deltas (the finished message and
the tool's ``tool_end`` carry the same text)."""

DURABLE_TYPES: frozenset[str] = EVENT_TYPES - TRANSIENT_TYPES
"""Event types written to the session's log, one JSON line each."""


def parse_event(data: dict[str, Any] | str | bytes) -> AgentEvent | None:
    """Parse one event from a dict or JSON text.

    Returns ``None`` for an event type this version does not know (forward
    compatibility); raises :class:`pydantic.ValidationError` when a known type is
    malformed.
    """
    if isinstance(data, (str, bytes)):
        import json

        data = json.loads(data)
    if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES:
        return None
    return _adapter().validate_python(data)


def event_to_dict(event: AgentEvent) -> dict[str, Any]:
    """The JSON-ready dict of an event (what the JSONL log and the widgets receive)."""
    return event.model_dump(mode="json", exclude_none=True)


__all__ += [cls.__name__ for cls in _Event.__subclasses__()]
__all__ += ["DURABLE_TYPES", "TRANSIENT_TYPES", "event_to_dict"]
