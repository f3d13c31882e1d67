"""Session configuration, state and context usage (spec: Session core)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine.errors import (
    ConfigError,
    InvalidSessionIdError,
    friendly_validation_error,
)
from a3s_notebook.engine.hitl import ConfirmationPolicy
from a3s_notebook.engine.lanes import SessionQueueConfig
from a3s_notebook.engine.permissions import PermissionPolicy
from a3s_notebook.engine.security import SecurityConfig
from a3s_notebook.engine.web import WebFetchConfig, WebSearchConfig

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ContextUsage",
    "SessionConfig",
    "SessionState",
    "StorageBackend",
    "validate_session_id",
]

DEFAULT_MAX_TOKENS = 200_000
"""Context window assumed when a session does not set ``max_context_length``."""

_SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_SESSION_ID_LENGTH = 128


def validate_session_id(session_id: str) -> str:
    """Check that an id is safe as a file name; return it unchanged.

    Only ASCII letters, digits, ``-``, ``_`` and ``.``; not starting with ``.``; no ``..``;
    no control characters (newline, tab, DEL, ...); at most 128 characters.
    """
    if not isinstance(session_id, str):
        raise InvalidSessionIdError(
            f"Session ID must be a string, got {type(session_id).__name__}: {session_id!r}"
        )
    if not session_id:
        raise InvalidSessionIdError("Session ID must not be empty")
    if len(session_id) > MAX_SESSION_ID_LENGTH:
        raise InvalidSessionIdError(
            f"Session ID is {len(session_id)} characters long: at most "
            f"{MAX_SESSION_ID_LENGTH} are allowed (it becomes a file name). "
            f"Use a shorter id, e.g. {session_id[:20]!r}"
        )
    bad = next((c for c in session_id if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if bad is not None:
        raise InvalidSessionIdError(
            f"Session ID contains a control character ({bad!r} at position "
            f"{session_id.index(bad)}): {session_id!r}. Newlines, tabs, DEL and other "
            "control characters are not allowed; use letters, digits, '-', '_' and '.'"
        )
    if not _SAFE_ID.fullmatch(session_id) or session_id.startswith(".") or ".." in session_id:
        raise InvalidSessionIdError(
            f"Session ID contains unsafe characters: {session_id!r}. Use only letters, "
            "digits, '-', '_' and '.', not starting with '.' and without '..'"
        )
    return session_id


class SessionState(StrEnum):
    """Lifecycle state, serialized by variant name."""

    UNKNOWN = "Unknown"
    ACTIVE = "Active"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    ERROR = "Error"


class StorageBackend(StrEnum):
    """Where a session is kept. Memory-backed sessions are never written to disk."""

    MEMORY = "memory"
    FILE = "file"
    CUSTOM = "custom"


class ContextUsage(BaseModel):
    """How full the context window is.

    ``used_tokens`` is the last call's prompt tokens (not a running sum); ``percent`` is a
    fraction 0..1, not 0..100.
    """

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    used_tokens: int = 0
    max_tokens: int = DEFAULT_MAX_TOKENS
    percent: float = 0.0
    turns: int = 0

    def update(self, used_tokens: int) -> None:
        """Set the used tokens and recompute the fraction."""
        self.used_tokens = used_tokens
        self.percent = used_tokens / self.max_tokens if self.max_tokens else 0.0


class SessionConfig(BaseModel):
    """Everything that configures a session; persisted in the session's file header.

    Bad values raise :class:`ConfigError` naming the field and the fix; unknown fields
    are refused with a suggestion.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=DEFER_BUILD)

    name: str = ""
    workspace: str = ""
    system_prompt: str | None = None
    max_context_length: int = 0
    """Context window in tokens; 0 keeps the default of 200,000."""
    auto_compact: bool = False
    auto_compact_threshold: float = 0.80
    storage_type: StorageBackend = StorageBackend.FILE
    queue_config: SessionQueueConfig | None = None
    confirmation_policy: ConfirmationPolicy | None = None
    permission_policy: PermissionPolicy | None = None
    parent_id: str | None = None
    security_config: SecurityConfig | None = None
    """The security guard (engine-spec section 11): None leaves it off; ``SecurityConfig()``
    turns on its four parts with their defaults. A plain dict is accepted."""
    planning_enabled: bool = False
    """Plan each prompt first (an LLM call), then run the plan's steps one wave at a
    time: see :mod:`a3s_notebook.engine.planning`."""
    goal_tracking: bool = False
    """Extract each prompt's goal (an LLM call), report progress after each step and ask
    the model at the end whether the goal is achieved."""
    skills: list[str] = []
    """Skills loaded in this session (names or paths of skill files), loaded again on a
    restore: see :mod:`a3s_notebook.engine.skills`."""
    env_passthrough: list[str] = []
    """Environment variables the ``bash`` tool may see beyond the safe few (PATH, HOME,
    LANG, TERM, USER, SHELL, TMPDIR...). Exact names only: a variable whose name looks
    secret (``*KEY*``, ``*TOKEN*``...) reaches a command only when named here."""
    max_tool_rounds: int = 50
    cost_limit_usd: float | None = None
    """Stop before an LLM call once the session's known cost reaches this many USD."""
    token_limit: int | None = None
    """Stop before an LLM call once the session's total tokens reach this number."""
    max_subagent_depth: int = 0
    """How many levels of sub-agents may exist below this session: 0 (the default) gives
    the agent no ``task`` tool; 1 lets it start sub-agents that cannot start their own. A
    sub-agent gets its parent's value minus one."""
    max_parallel_subagents: int = 2
    """How many of this session's sub-agents run at once; further ``task`` calls of the
    same response wait for a free place."""
    subagent_models: list[str] = []
    """Models (``provider/model``) a ``task`` call may ask for its sub-agent; empty: a
    sub-agent always uses its parent's model."""
    memory: Literal["file", "memory"] | None = None
    """Agent memory (engine-spec section 9): None leaves it off; ``"file"`` keeps memories
    in ``<workspace>/.a3s/memories/memories.jsonl`` (shared by every session on the
    workspace, across kernels); ``"memory"`` keeps them in this process only. When on, the
    agent gets the ``remember`` and ``recall`` tools and the memories relevant to each
    prompt are added to its system prompt."""
    title: str | None = None
    """A short title (generated after the first answer when ``auto_title`` is on, or set
    by hand); shown in session lists."""
    auto_title: bool = False
    """Ask the model for a ``title`` once, after the first answer (one small call, with
    its own ledger row, purpose ``title``)."""
    web_fetch: WebFetchConfig | None = None
    """Settings of the ``web_fetch`` tool (None: the defaults, no private address reachable):
    see :mod:`a3s_notebook.engine.web`. A plain dict is accepted."""
    web_search: WebSearchConfig | None = None
    """The search API ``web_search`` asks; None leaves the tool out. A plain dict is
    accepted: ``{"url": "https://api.search.brave.com/res/v1/web/search?q={query}",
    "api_key_env": "BRAVE_API_KEY", "key_header": "X-Subscription-Token", "key_prefix": "",
    "results": "web.results", "snippet": "description"}``."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise friendly_validation_error("SessionConfig", exc, type(self).model_fields) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionConfig:
        """Validate a dict (e.g. a file header) with the same friendly errors."""
        return cls(**data)

    @field_validator("max_context_length")
    @classmethod
    def _max_context(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be 0 (keep 200000) or a positive number of tokens")
        return v

    @field_validator("auto_compact_threshold")
    @classmethod
    def _threshold(cls, v: float) -> float:
        if not 0.0 < v <= 1.0:
            raise ValueError("must be a fraction in (0, 1], e.g. 0.8 for 80%")
        return v

    @field_validator("max_tool_rounds")
    @classmethod
    def _rounds(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1 (the default is 50)")
        return v

    @field_validator("cost_limit_usd")
    @classmethod
    def _cost_limit(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError("must be a non-negative number of USD, or None for no limit")
        return v

    @field_validator("token_limit")
    @classmethod
    def _token_limit(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError("must be a non-negative number of tokens, or None for no limit")
        return v

    @field_validator("max_subagent_depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if not 0 <= v <= 8:
            raise ValueError("must be 0 (no task tool) to 8 levels of sub-agents, e.g. 1")
        return v

    @field_validator("max_parallel_subagents")
    @classmethod
    def _parallel(cls, v: int) -> int:
        if not 1 <= v <= 32:
            raise ValueError("must be 1 to 32 sub-agents running at once (the default is 2)")
        return v

    @field_validator("env_passthrough")
    @classmethod
    def _env_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(
                    f"{name!r} is not an exact environment variable name; list names such "
                    "as 'MY_DB_URL' (no wildcards: a secret passes only when named exactly)"
                )
        return v

    @field_validator("parent_id")
    @classmethod
    def _parent(cls, v: str | None) -> str | None:
        return None if v is None else validate_session_id(v)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; fields that are None are left out (as the reference does)."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=False)


def config_error(field: str, message: str) -> ConfigError:
    """A ConfigError for one field of SessionConfig."""
    return ConfigError(f"SessionConfig.{field}: {message}")
