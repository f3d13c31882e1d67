"""Retries and error texts shared by the HTTP providers.

The providers build their SDK clients with ``max_retries=0`` and retry here instead, so
the rules are the reference's (retry.rs) whatever SDK is underneath:

* up to ``max_retries + 1`` attempts, only for the statuses in ``retryable_statuses``;
* the delay before retry ``k`` (0-based) is ``min(base * 2**min(k, 10), max)`` with a
  deterministic +/-25 % jitter, unless the server sent a usable ``Retry-After``;
* a retry only happens before the first stream event reached the caller: once text has
  been shown, repeating the call would show it twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TypeVar

from a3s_notebook.llm._urls import mask_urls_in_text
from a3s_notebook.llm.errors import LlmRequestError

__all__ = [
    "COMPACT_HINT",
    "DEFAULT_RETRYABLE_STATUSES",
    "RetryConfig",
    "RetryableFailure",
    "api_message",
    "auth_error_text",
    "body_text",
    "context_error_text",
    "exhaustion_message",
    "looks_like_context_overflow",
    "parse_retry_after",
    "redact",
    "retrying",
    "truncate",
]

logger = logging.getLogger("a3s_notebook.llm")

T = TypeVar("T")

DEFAULT_RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 529})
"""Rate limited, server errors and Anthropic's "overloaded"."""

MAX_RETRY_AFTER_S = 300.0
"""A Retry-After above this is ignored (the computed delay is used instead)."""

_BODY_LIMIT = 1000

COMPACT_HINT = "Compact the session (session.compact() or %a3s_session compact) or start a new one."


@dataclass(frozen=True)
class RetryConfig:
    """When and how long to wait before repeating a failed LLM request.

    The defaults are the reference's: 3 retries (4 attempts), 1 s base delay doubling up
    to 30 s, retrying HTTP 429, 500, 502, 503 and 529. Delays are in milliseconds and may
    be fractions, so tests can use ``RetryConfig(base_delay_ms=1)``.
    """

    max_retries: int = 3
    base_delay_ms: float = 1000
    max_delay_ms: float = 30_000
    retryable_statuses: frozenset[int] = field(default=DEFAULT_RETRYABLE_STATUSES)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_delay_ms < 0 or self.max_delay_ms < 0:
            raise ValueError("base_delay_ms and max_delay_ms must be >= 0")
        # accept any iterable of ints (a set literal, a list) and keep the frozen type
        object.__setattr__(self, "retryable_statuses", frozenset(self.retryable_statuses))

    @classmethod
    def disabled(cls) -> RetryConfig:
        """No retries: every failure is reported after the first attempt."""
        return cls(max_retries=0)

    @property
    def max_attempts(self) -> int:
        """``max_retries + 1``."""
        return self.max_retries + 1

    def is_retryable(self, status: int | None) -> bool:
        """Whether an HTTP status is worth another attempt."""
        return status is not None and status in self.retryable_statuses

    def delay_seconds(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based).

        A ``retry_after`` in (0, 300] seconds wins; otherwise exponential backoff with a
        jitter that depends only on ``attempt``, so runs are reproducible.
        """
        if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_S:
            return retry_after
        capped = min(self.base_delay_ms * 2.0 ** min(attempt, 10), self.max_delay_ms)
        # max_delay_ms stays a real ceiling even when the jitter is positive
        return min(capped * (1.0 + _jitter(attempt)), self.max_delay_ms) / 1000.0


def _jitter(attempt: int) -> float:
    """A fraction in [-0.25, 0.25] that varies with the attempt number (no randomness)."""
    return ((attempt * 37 + 11) % 21 - 10) / 40.0


class RetryableFailure(Exception):
    """A provider's signal to :func:`retrying` that an HTTP status may succeed if repeated.

    Providers raise it only for statuses their :class:`RetryConfig` lists; :func:`retrying`
    turns it into :class:`LlmRequestError` when the attempts run out.
    """

    def __init__(self, status: int, body: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


def exhaustion_message(attempts: int, status: int, body: str) -> str:
    """The reference's text for a request that failed on every attempt."""
    return (
        f"LLM API request failed after {attempts} attempts. "
        f"Last status: {status} Body: {truncate(body)}"
    )


async def retrying(
    attempt: Callable[[], AsyncGenerator[T, None]],
    config: RetryConfig,
    *,
    label: str,
) -> AsyncGenerator[T, None]:
    """Run ``attempt()`` and yield its items, repeating it on :class:`RetryableFailure`.

    ``attempt`` must start a fresh request each time it is called. ``label`` (e.g.
    ``"openai/gpt-4o"``) only goes into log lines.
    """
    last: RetryableFailure | None = None
    for k in range(config.max_attempts):
        started = False
        try:
            # aclosing: if our caller stops early, the attempt's HTTP response and SDK
            # client are closed now rather than whenever the generator is collected
            async with aclosing(attempt()) as items:
                async for item in items:
                    started = True
                    yield item
            return
        except RetryableFailure as failure:
            if started:
                # the caller has already seen part of the answer: a second attempt would
                # repeat it, so report the failure instead
                raise LlmRequestError(
                    f"{label}: the response stream failed part-way (HTTP {failure.status}): "
                    f"{truncate(failure.body)}",
                    status=failure.status,
                    attempts=k + 1,
                ) from None
            last = failure
            if k + 1 >= config.max_attempts:
                break
            delay = config.delay_seconds(k, failure.retry_after)
            # info, not warning: Python's last-resort handler would print warnings into
            # notebook cells, and a retry that then succeeds is not the user's problem
            logger.info(
                "%s: HTTP %s, retrying in %.2f s (attempt %d of %d)",
                mask_urls_in_text(label),
                failure.status,
                delay,
                k + 2,
                config.max_attempts,
            )
            await asyncio.sleep(delay)
    assert last is not None  # the loop runs at least once and only breaks after a failure
    raise LlmRequestError(
        exhaustion_message(config.max_attempts, last.status, last.body),
        status=last.status,
        attempts=config.max_attempts,
    )


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The ``Retry-After`` header as seconds, when it is a number (dates are ignored)."""
    if headers is None:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 < seconds <= MAX_RETRY_AFTER_S else None


_CONTEXT_PATTERNS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "context size",
    "prompt is too long",
    "too long",
)


def looks_like_context_overflow(status: int | None, text: str) -> bool:
    """Whether an error (status + body text) says the prompt does not fit the model.

    Only client errors are considered, so a 5xx whose text happens to say "too long" is
    still retried.
    """
    if status is not None and status not in (400, 413, 422):
        return False
    lowered = text.lower()
    return any(p in lowered for p in _CONTEXT_PATTERNS)


def truncate(text: str, limit: int = _BODY_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, marking the cut."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more chars)"


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced (servers may echo the key)
    and the credentials of any URL in it masked (:func:`mask_urls_in_text`)."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return mask_urls_in_text(text)


def body_text(body: object) -> str:
    """An SDK error's body (parsed JSON or raw text) as one line of text."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    try:
        return json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(body)


def api_message(body: object) -> str:
    """The human-readable message of an error body (``error.message`` or ``message``),
    or the whole body as text when it has none."""
    if isinstance(body, dict):
        inner = body.get("error")
        for source in (inner, body):
            if isinstance(source, dict) and isinstance(source.get("message"), str):
                return str(source["message"])
    return body_text(body)


def auth_error_text(provider: str, status: int, env: str | None, body: str) -> str:
    """What to tell the user when a provider rejects the key (the body is pre-redacted)."""
    fix = f"Set {env} to a valid key or pass api_key=..." if env else "Pass a valid api_key=..."
    said = f" ({provider} said: {truncate(body, 300)})" if body else ""
    return f"{provider} rejected the API key (HTTP {status}). {fix}{said}"


def context_error_text(label: str, detail: str) -> str:
    """What to tell the user when the prompt does not fit the model's context window."""
    return (
        f"The conversation is too long for the context window of {label} "
        f"({truncate(detail, 300)}). {COMPACT_HINT}"
    )
