"""The session engine: pure asyncio. Imports neither IPython nor ipywidgets.

Its pydantic models (and the LLM layer's) build their validators on first use
(:data:`a3s_notebook._deferred.DEFER_BUILD`), so importing the engine (the first ``%%ask``)
does not pay for the many event, queue and guard models a session may never use.
"""

from a3s_notebook.engine._index import SessionInfo
from a3s_notebook.engine.agent import AgentResult
from a3s_notebook.engine.config import (
    ContextUsage,
    SessionConfig,
    SessionState,
    StorageBackend,
    validate_session_id,
)
from a3s_notebook.engine.errors import (
    AgentError,
    BudgetExceededError,
    CommandTimeoutError,
    ConfigError,
    ExternalTaskError,
    ExternalTaskTimeoutError,
    InvalidSessionIdError,
    QueueStoppedError,
    SecurityBlockedError,
    SessionLockedError,
    SessionNotFoundError,
    SessionPausedError,
    StoreError,
    SyncDeadlockError,
)
from a3s_notebook.engine.events import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    ConfirmationReceived,
    ConfirmationRequired,
    ConfirmationTimeout,
    ContextCompacted,
    ErrorEvent,
    PermissionDenied,
    TaskUpdated,
    TextDeltaEvent,
    ToolEnd,
    ToolStart,
    TurnEnd,
    TurnStart,
    parse_event,
)
from a3s_notebook.engine.hitl import (
    ConfirmationManager,
    ConfirmationPolicy,
    PendingConfirmationInfo,
    TimeoutAction,
)
from a3s_notebook.engine.lanes import (
    ExternalTask,
    ExternalTaskResult,
    LaneHandlerConfig,
    RateLimit,
    RetryPolicy,
    SessionLane,
    SessionQueueConfig,
    TaskHandlerMode,
)
from a3s_notebook.engine.manager import DEFAULT_MODEL, SessionManager
from a3s_notebook.engine.permissions import (
    PermissionDecision,
    PermissionPolicy,
    PermissionRule,
    PermissionRuleError,
)
from a3s_notebook.engine.security import SecurityConfig, SecurityGuard
from a3s_notebook.engine.session import Session
from a3s_notebook.engine.store import FileSessionStore, MemorySessionStore, SessionStore
from a3s_notebook.engine.tasks import Task, TaskPriority, TaskStatus
from a3s_notebook.engine.telemetry import LlmCostRecord

__all__ = [
    "DEFAULT_MODEL",
    "AgentEnd",
    "AgentError",
    "AgentEvent",
    "AgentResult",
    "AgentStart",
    "BudgetExceededError",
    "CommandTimeoutError",
    "ConfigError",
    "ExternalTask",
    "ExternalTaskError",
    "ExternalTaskResult",
    "ExternalTaskTimeoutError",
    "LaneHandlerConfig",
    "QueueStoppedError",
    "RateLimit",
    "RetryPolicy",
    "TaskHandlerMode",
    "ConfirmationManager",
    "ConfirmationPolicy",
    "ConfirmationReceived",
    "ConfirmationRequired",
    "ConfirmationTimeout",
    "ContextCompacted",
    "ContextUsage",
    "ErrorEvent",
    "FileSessionStore",
    "InvalidSessionIdError",
    "LlmCostRecord",
    "MemorySessionStore",
    "PendingConfirmationInfo",
    "PermissionDecision",
    "PermissionDenied",
    "PermissionPolicy",
    "PermissionRule",
    "PermissionRuleError",
    "SecurityConfig",
    "SecurityGuard",
    "Session",
    "SessionConfig",
    "SessionInfo",
    "SessionLane",
    "SessionManager",
    "SecurityBlockedError",
    "SessionLockedError",
    "SessionNotFoundError",
    "SessionPausedError",
    "SessionQueueConfig",
    "SessionState",
    "SessionStore",
    "StorageBackend",
    "StoreError",
    "SyncDeadlockError",
    "Task",
    "TaskPriority",
    "TaskStatus",
    "TaskUpdated",
    "TextDeltaEvent",
    "TimeoutAction",
    "ToolEnd",
    "ToolStart",
    "TurnEnd",
    "TurnStart",
    "parse_event",
    "validate_session_id",
]
