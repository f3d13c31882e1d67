"""Errors raised by the LLM layer. Each message names what went wrong and how to fix it.

The hierarchy::

    LlmError
    ├── UnknownProviderError, UnknownModelError   (also ValueError: a bad name)
    ├── LlmAuthError                              (401/403, or a named key variable unset)
    ├── ContextLengthError                        (the prompt does not fit the model)
    └── LlmRequestError                           (a request failed: .status, .attempts,
        │                                          .retried, .retry_reason)
        ├── LlmConnectionError                    (could not connect / connection lost)
        ├── LlmTimeoutError                       (no answer within ``timeout``)
        └── IncompleteResponseError               (200 but no chunks, no choices, no
                                                   finish reason or nothing in the answer)

Every :class:`LlmRequestError` says in its text whether it was retried and why (or why
not): ``retry_reason`` holds that sentence on its own, for a caller that shows it apart.
"""

from __future__ import annotations

from typing import Any, Literal

from a3s_notebook.llm._urls import mask_urls_in_text

__all__ = [
    "ContextLengthError",
    "IncompleteResponseError",
    "LlmAuthError",
    "LlmConnectionError",
    "LlmError",
    "LlmRequestError",
    "LlmTimeoutError",
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
    """The provider rejected the API key (HTTP 401 / 403), or the key variable named with
    ``api_key_env=`` is not set."""


class ContextLengthError(LlmError):
    """The request is longer than the model's context window.

    ``context_window`` and ``prompt_tokens`` are filled when known (the server said so, or
    the client probed the window and counted the prompt); both may be None.
    """

    def __init__(
        self,
        message: str,
        *,
        context_window: int | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        super().__init__(message)
        self.context_window = context_window
        self.prompt_tokens = prompt_tokens


class LlmRequestError(LlmError):
    """A request failed (after retries, when the failure could pass on retry).

    Attributes:
        status: the HTTP status, when there was one.
        attempts: how many requests were made.
        retried: whether the request was repeated before giving up.
        retry_reason: why it was, or was not, retried (one sentence, also in the text).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retried: bool | None = None,
        retry_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.retried = attempts > 1 if retried is None else retried
        self.retry_reason = retry_reason


class LlmConnectionError(LlmRequestError):
    """The server could not be reached, or the connection broke during the answer."""


class LlmTimeoutError(LlmRequestError):
    """The server did not connect or answer within the client's ``timeout``."""


IncompleteKind = Literal["no_chunks", "no_choices", "no_finish_reason", "empty_message"]


class IncompleteResponseError(LlmRequestError):
    """The server answered HTTP 200 but the answer is not a complete message.

    ``kind`` says which: ``no_chunks`` (an empty stream), ``no_choices`` (chunks without
    any choice), ``no_finish_reason`` (the stream stopped before the model finished) or
    ``empty_message`` (finished, but with no text and no tool call). Never recorded as an
    assistant message.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: IncompleteKind,
        status: int | None = 200,
        attempts: int = 1,
        retry_reason: str | None = None,
    ) -> None:
        super().__init__(
            message, status=status, attempts=attempts, retried=False, retry_reason=retry_reason
        )
        self.kind: IncompleteKind = kind
