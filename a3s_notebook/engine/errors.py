"""Errors raised by the engine. Each message names the field or the thing, and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import ValidationError

__all__ = [
    "AgentError",
    "BudgetExceededError",
    "ConfigError",
    "InvalidSessionIdError",
    "SecurityBlockedError",
    "SessionNotFoundError",
    "SessionPausedError",
    "StoreError",
]


class ConfigError(ValueError):
    """A configuration value is wrong. The message names the field and how to fix it."""


class InvalidSessionIdError(ValueError):
    """A session id is empty or would not be a safe file name."""


class SessionNotFoundError(KeyError):
    """No session with that id (in memory or in the store)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "Session not found"


class SessionPausedError(RuntimeError):
    """A run was asked of a paused session."""


class AgentError(RuntimeError):
    """A run failed (max tool rounds, LLM failure, ...)."""


class SecurityBlockedError(AgentError):
    """The security guard refused a prompt (e.g. a prompt injection was detected)."""


class BudgetExceededError(AgentError):
    """A call would start past the session's cost or token limit. No request was sent."""

    def __init__(self, message: str, *, limit: str, limit_value: float, used: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.limit_value = limit_value
        self.used = used


class StoreError(RuntimeError):
    """A session file could not be read or written."""


def friendly_validation_error(
    model_name: str, exc: ValidationError, known_fields: Iterable[str]
) -> ConfigError:
    """Turn pydantic's report into one line per problem: ``Model.field: what is wrong``.

    Unknown fields get a "did you mean" from the known field names.
    """
    known = sorted(known_fields)
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        field = str(err["loc"][0]) if err["loc"] else ""
        if err["type"] == "extra_forbidden":
            guess = difflib.get_close_matches(field, known, n=1)
            hint = f"did you mean '{guess[0]}'? " if guess else ""
            lines.append(
                f"{model_name} has no field '{loc}': {hint}known fields are {', '.join(known)}"
            )
            continue
        msg = str(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        got = err.get("input")
        lines.append(f"{model_name}.{loc}: {msg} (got {got!r})")
    return ConfigError("\n".join(lines))
