"""What the agent loop is given: the session's state to read and the operations it may call.

The loop (:func:`a3s_notebook.engine.agent.run_agent`) and the tool gate
(:func:`a3s_notebook.engine._guard.gate_tool_call`) receive a :class:`RunDeps` (as
pydantic-ai hands ``GraphAgentState`` and deps to its nodes): they read the state through
it and change it only by its operations, which emit events. They never see the
:class:`~a3s_notebook.engine.session.Session` itself; the session builds the deps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from a3s_notebook.engine._secrets import StreamRedactor
    from a3s_notebook.engine._state import SessionData
    from a3s_notebook.engine.config import ContextUsage, SessionConfig, SessionState
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.hitl import ConfirmationManager
    from a3s_notebook.engine.hooks import HookEngine
    from a3s_notebook.engine.lanes import LaneQueue
    from a3s_notebook.engine.permissions import PermissionPolicy
    from a3s_notebook.engine.security import SecurityGuard
    from a3s_notebook.engine.tasks import Task
    from a3s_notebook.engine.telemetry import LlmCostRecord, ToolMetrics
    from a3s_notebook.engine.tools import ToolRegistry, ToolResult
    from a3s_notebook.llm.types import LlmClient, Message, TokenUsage, ToolCall

__all__ = ["RecordUsage", "RunDeps", "SecurityEventFn", "workspace_of"]

SecurityAction = Literal["blocked", "redacted", "flagged", "asked"]


class RecordUsage(Protocol):
    """Append a ledger row for one LLM call (and move the context bar); returns the row."""

    def __call__(
        self,
        usage: TokenUsage,
        *,
        turn: int | None,
        latency_ms: float | None,
        ttft_ms: float | None,
        tool_names: list[str],
        purpose: str = ...,
        move_context: bool = ...,
    ) -> LlmCostRecord: ...


class SecurityEventFn(Protocol):
    """Emit a ``security`` event about a prompt, a tool call or an output."""

    def __call__(
        self,
        action: SecurityAction,
        rule: str,
        where: str,
        message: str,
        call: ToolCall | None = None,
    ) -> None: ...


def workspace_of(config: SessionConfig) -> Path:
    """The folder the tools may touch, from a session's config."""
    return Path(config.workspace or ".").resolve()


@dataclass(frozen=True)
class RunDeps:
    """The state and the dependencies of one run.

    ``data`` is the session's live state (the reducer's :class:`SessionData`): read it,
    never write it; every change goes through an operation below, which emits an event.
    """

    session_id: str
    data: SessionData
    tools: ToolRegistry
    queue: LaneQueue
    confirmations: ConfirmationManager
    tool_metrics: ToolMetrics
    tool_values: MutableMapping[str, Any]
    """Whole values tools returned (a DataFrame...), by tool call id; the model and the log
    get text, the user and the widgets can have the object."""
    hooks: HookEngine
    """The session's hooks (with its manager's): ``fire`` runs them; each decision that
    changes something is a ``hook_decision`` event."""
    get_llm: Callable[[], LlmClient]
    """The session's client, created on first use."""
    get_security_guard: Callable[[], SecurityGuard | None]
    """The guard as the config has it now (a config change may rebuild it)."""
    # operations: each one emits events (and so changes the state through the reducer)
    emit: Callable[[AgentEvent], None]
    add_message: Callable[[Message], Message]
    """Append a message (redacted first) and return what was stored."""
    record_usage: RecordUsage
    check_budget: Callable[[], None]
    """Raise :class:`BudgetExceededError` (after a ``budget_exceeded`` event) when spent."""
    maybe_auto_compact: Callable[[], Awaitable[bool]]
    probe_context_window: Callable[[], Awaitable[None]]
    screen_prompt: Callable[[str], None]
    """Raise :class:`SecurityBlockedError` when the guard blocks the prompt."""
    screen_tool_output: Callable[[ToolCall, str], str]
    security_event: SecurityEventFn
    set_error: Callable[[], None]
    set_tasks: Callable[[list[Task]], None]
    stream_redactor: Callable[[], StreamRedactor]
    run_subagent: Callable[[str, dict[str, Any]], Awaitable[ToolResult]] | None = None
    """Run a ``task`` call's sub-agent (tool call id, arguments) to its answer."""
    resolve_context: Callable[[str], Awaitable[str | None]] | None = None
    """Ask the context providers about a prompt (``context_resolving`` /
    ``context_resolved``); the block to append to the system prompt, or None."""
    turn_complete: Callable[[str, str], Awaitable[None]] | None = None
    """Tell the context providers a run finished (prompt, final text); never raises."""

    # --- read access ---------------------------------------------------------------

    @property
    def config(self) -> SessionConfig:
        return self.data.config

    @property
    def state(self) -> SessionState:
        return self.data.state

    @property
    def messages(self) -> list[Message]:
        return self.data.messages

    @property
    def tasks(self) -> list[Task]:
        return self.data.tasks

    @property
    def context_usage(self) -> ContextUsage:
        return self.data.context_usage

    @property
    def model_name(self) -> str:
        return self.data.model_name

    @property
    def llm(self) -> LlmClient:
        return self.get_llm()

    @property
    def security_guard(self) -> SecurityGuard | None:
        return self.get_security_guard()

    @property
    def workspace(self) -> Path:
        return workspace_of(self.data.config)

    @property
    def permission_policy(self) -> PermissionPolicy:
        policy = self.data.config.permission_policy
        assert policy is not None
        return policy

    def system_prompt(self) -> str | None:
        return self.data.config.system_prompt
