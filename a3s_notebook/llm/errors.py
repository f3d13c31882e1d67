"""Errors raised by the LLM layer. Each message names what went wrong and how to fix it."""

from __future__ import annotations

from typing import Any

from a3s_notebook.llm._urls import mask_urls_in_text

__all__ = [
    "ContextLengthError",
    "LlmAuthError",
    "LlmError",
    "LlmRequestError",
    "UnknownModelError",
    "UnknownProviderError",
]


class LlmError(Exception):
    """Base class of every error the LLM layer raises.

    A URL in the message has its credentials masked (``https://***:***@host``,
    ``?key=***``), whoever built the message.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*(mask_urls_in_text(a) if isinstance(a, str) else a for a in args))


class UnknownProviderError(LlmError, ValueError):
    """A model name whose provider part is not known and has no base URL."""


class UnknownModelError(LlmError, ValueError):
    """A model name that does not parse or that a provider does not offer."""


class LlmAuthError(LlmError):
    """The provider rejected the API key (HTTP 401 / 403)."""


class ContextLengthError(LlmError):
    """The request is longer than the model's context window."""


class LlmRequestError(LlmError):
    """A request failed (after retries, when the status is retryable)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
