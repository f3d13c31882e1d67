"""Errors raised by the engine. Each message names the field or the thing, and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

__all__ = [
    "AgentError",
    "BudgetExceededError",
    "CommandTimeoutError",
    "ConfigError",
    "ExternalTaskError",
    "ExternalTaskTimeoutError",
    "InvalidSessionIdError",
    "QueueStoppedError",
    "SecurityBlockedError",
    "SessionNotFoundError",
    "SessionLockedError",
    "SessionPausedError",
    "StoreError",
    "SyncDeadlockError",
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


class SessionLockedError(StoreError):
    """Another writer (a process, or another store object) holds the session's file.

    A session file has one writer at a time. ``pid`` is the holder's process id when the
    lock file names it (None when it could not be read).
    """

    def __init__(self, message: str, *, session_id: str, pid: int | None, path: str) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.pid = pid
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {"session_id": self.session_id, "pid": self.pid, "path": self.path}
        return (_rebuild, (type(self), str(self), kwargs))


class SyncDeadlockError(RuntimeError):
    """A sync call was made on the thread of the event loop it needs: it would hang.

    Await the ``..._async()`` variant instead (``await session.send_async(...)``).
    """


class CommandTimeoutError(TimeoutError):
    """One queued command ran longer than ``SessionQueueConfig.default_timeout_ms``."""

    def __init__(self, message: str, *, lane: str, timeout_ms: int) -> None:
        super().__init__(message)
        self.lane = lane
        self.timeout_ms = timeout_ms

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {"lane": self.lane, "timeout_ms": self.timeout_ms}
        return (_rebuild, (type(self), str(self), kwargs))


class QueueStoppedError(RuntimeError):
    """A command (or a run) was submitted while the session's queue is stopped.

    Nothing waits: start the queue again with ``session.start_queue()``.
    """


class ExternalTaskError(RuntimeError):
    """An external lane handler failed a task (or nobody completed it in time)."""

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), {"task_id": self.task_id}))


class ExternalTaskTimeoutError(ExternalTaskError, TimeoutError):
    """Nobody completed an external task within its ``timeout_ms``."""


def _rebuild(cls: type[BaseException], message: str, kwargs: dict[str, Any]) -> BaseException:
    # errors with keyword-only fields survive pickling (multiprocessing, nbclient, ...)
    return cls(message, **kwargs)


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
