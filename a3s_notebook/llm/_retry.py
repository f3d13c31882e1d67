"""Retries and error texts shared by the HTTP providers.

The providers build their SDK clients with ``max_retries=0`` and retry here instead, so
the rules are the reference's (retry.rs) whatever SDK is underneath:

* up to ``max_retries + 1`` attempts, only for what can pass on a later try: the statuses
  in ``retryable_statuses`` (429, 500, 502, 503, 529), except a 500 whose body says the
  request itself is wrong (llama.cpp-based servers answer 500 to a malformed request,
  e.g. "validation error ... Input should be a valid string"), and dropped or reset
  connections;
* never 400, 401, 403, 404 or 422 (whatever ``retryable_statuses`` says), never a
  timeout (a server that did not answer in ``timeout`` seconds is no faster the next
  time), never a refused connection (nothing listens at that address);
* the delay before retry ``k`` (0-based) is ``min(base * 2**min(k, 10), max)`` with a
  deterministic +/-25 % jitter, unless the server sent a usable ``Retry-After``;
* a retry only happens before the first stream event reached the caller: once text has
  been shown, repeating the call would show it twice.

Every error that leaves here says whether the request was retried, and why (or why not).
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
from a3s_notebook.llm.errors import LlmConnectionError, LlmRequestError, LlmTimeoutError

__all__ = [
    "COMPACT_HINT",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "SERVER_CONTEXT_HINT",
    "cause_text",
    "check_timeout",
    "describe_timeout",
    "is_transport_error",
    "sdk_timeout",
    "transport_kind",
    "transport_failure",
    "DEFAULT_RETRYABLE_STATUSES",
    "NEVER_RETRIED_STATUSES",
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
    "retry_note",
    "retrying",
    "status_retry_decision",
    "truncate",
]

logger = logging.getLogger("a3s_notebook.llm")

T = TypeVar("T")

DEFAULT_RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 529})
"""Rate limited, server errors and Anthropic's "overloaded"."""

NEVER_RETRIED_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 422})
"""The request itself is wrong (or not allowed): the same request gets the same answer."""

_INVALID_REQUEST_HINTS = (
    "validation error",
    "invalid",
    "must be a",
    "must be an",
    "input should be",
    "parse",
    "not supported",
    "unsupported",
    "is required",
    "can only concatenate",
    "nonetype",
    "unexpected keyword argument",
    "typeerror",
    "keyerror",
    "template",
)
"""Words in a 500's body that say the request, not the server, is at fault (llama.cpp's
and llama-cpp-python's servers answer 500 to requests they cannot validate or render)."""

MAX_RETRY_AFTER_S = 300.0
"""A Retry-After above this is ignored (the computed delay is used instead)."""

_BODY_LIMIT = 1000

COMPACT_HINT = "Compact the session (session.compact() or %a3s_session compact) or start a new one."

SERVER_CONTEXT_HINT = (
    "or give the server a larger context (llama.cpp: --ctx-size N; llama-cpp-python: "
    "--n_ctx N; Ollama: the num_ctx option; vLLM: --max-model-len N)"
)
"""The other fix when the model runs on the user's own server."""


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
        """Whether an HTTP status is worth another attempt (never 400/401/403/404/422)."""
        return (
            status is not None
            and status in self.retryable_statuses
            and status not in NEVER_RETRIED_STATUSES
        )

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
    """A provider's signal to :func:`retrying` that a failure may pass if repeated.

    Providers raise it only for what :func:`status_retry_decision` (or their connection
    handling) calls retryable. ``reason`` completes "retried because ..." in the final
    error. When the attempts run out, :func:`retrying` raises ``make_error(attempts,
    note)`` if given (``note`` is the "(retried N times: ...)" sentence), else an
    :class:`LlmRequestError` in the reference's words.
    """

    def __init__(
        self,
        status: int | None,
        body: str,
        retry_after: float | None = None,
        *,
        reason: str = "",
        make_error: Callable[[int, str], LlmRequestError] | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}" if status is not None else reason or "failure")
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.reason = reason or _status_reason(status)
        self.make_error = make_error


def _status_reason(status: int | None) -> str:
    if status == 429:
        return "HTTP 429 means the server is rate limiting for a while"
    if status in (503, 529):
        return f"HTTP {status} means the server is overloaded or briefly unavailable"
    if status == 502:
        return "HTTP 502 means a gateway in front of the model failed for a moment"
    if status is not None and status >= 500:
        return f"HTTP {status} is a server error whose body does not blame the request"
    return f"HTTP {status} may pass on a later try"


def status_retry_decision(config: RetryConfig, status: int, body: str) -> tuple[bool, str]:
    """Whether an HTTP error is worth another attempt, and why (or why not).

    The second item finishes "retried because ..." / "not retried: ...". A 500 whose
    body says the request is malformed is not retried: sending it again gets the same 500.
    """
    if status in (400, 422):
        return False, (
            f"HTTP {status} means the server rejected the request as invalid; the same "
            "request gets the same answer"
        )
    if status in (401, 403):
        return False, f"HTTP {status} means the key was refused; it stays refused"
    if status == 404:
        return False, "HTTP 404 means the server has no such endpoint or model"
    if status >= 500 and _blames_request(body):
        return False, (
            f"the server rejected the request as invalid (HTTP {status} with "
            f"{_first_hint(body)!r} in its body); the same request gets the same answer"
        )
    if config.is_retryable(status):
        return True, _status_reason(status)
    return False, (
        f"HTTP {status} is not one of the statuses retried "
        f"({', '.join(str(s) for s in sorted(config.retryable_statuses))})"
    )


def _blames_request(body: str) -> bool:
    return _first_hint(body) is not None


def _first_hint(body: str) -> str | None:
    lowered = body.lower()
    return next((h for h in _INVALID_REQUEST_HINTS if h in lowered), None)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def retry_note(attempts: int, reason: str) -> str:
    """``(retried N times because <reason>)``, or why there was no retry."""
    if attempts <= 1:
        return f"(not retried: retries are disabled, RetryConfig.max_retries=0; {reason})"
    return f"(retried {_plural(attempts - 1, 'time')} because {reason})"


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
                why = "part of the answer had already been shown"
                raise LlmRequestError(
                    f"{label}: the response stream failed part-way (HTTP {failure.status}): "
                    f"{truncate(failure.body)} (not retried: {why})",
                    status=failure.status,
                    attempts=k + 1,
                    retried=k > 0,
                    retry_reason=why,
                ) from None
            last = failure
            if k + 1 >= config.max_attempts:
                break
            delay = config.delay_seconds(k, failure.retry_after)
            # info, not warning: Python's last-resort handler would print warnings into
            # notebook cells, and a retry that then succeeds is not the user's problem
            logger.info(
                "%s: %s, retrying in %.2f s (attempt %d of %d)",
                mask_urls_in_text(label),
                f"HTTP {failure.status}" if failure.status is not None else failure.reason,
                delay,
                k + 2,
                config.max_attempts,
            )
            await asyncio.sleep(delay)
    assert last is not None  # the loop runs at least once and only breaks after a failure
    attempts = config.max_attempts
    note = retry_note(attempts, last.reason)
    if last.make_error is not None:
        raise last.make_error(attempts, note)
    raise LlmRequestError(
        f"{exhaustion_message(attempts, last.status or 0, last.body)} {note}",
        status=last.status,
        attempts=attempts,
        retry_reason=note[1:-1],
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


def auth_error_text(
    provider: str, status: int, env: str | None, body: str, *, hint: str | None = None
) -> str:
    """What to tell the user when a provider rejects the key (the body is pre-redacted).

    ``hint`` replaces the default fix ("Set <env> to a valid key or pass api_key=...").
    """
    fix = hint or (
        f"Set {env} to a valid key or pass api_key=..." if env else "Pass a valid api_key=..."
    )
    said = f" ({provider} said: {truncate(body, 300)})" if body else ""
    return (
        f"{provider} rejected the API key (HTTP {status}). {fix}{said} "
        "(Not retried: a refused key stays refused.)"
    )


def context_error_text(label: str, detail: str, *, own_server: bool = False) -> str:
    """What to tell the user when the prompt does not fit the model's context window.

    ``own_server``: the model runs on a server the user started (a custom ``base_url``),
    so a larger context on that server is a fix too.
    """
    fix = COMPACT_HINT
    if own_server:
        fix = fix[:-1] + ", " + SERVER_CONTEXT_HINT + "."
    return (
        f"The conversation is too long for the context window of {label} "
        f"({truncate(detail, 300)}). {fix} (Not retried: the same prompt does not fit "
        "the next time either.)"
    )


# --- timeouts and transport errors (shared by the HTTP providers) --------------------------

DEFAULT_TIMEOUT_S = 600.0
"""Seconds a request may wait for the next piece of its answer when no timeout is given."""

DEFAULT_CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a TCP/TLS connection when no timeout is given."""

_TIMEOUT_PARTS = ("connect", "read", "write", "pool")


def check_timeout(value: object) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``value`` is None, a positive number of
    seconds or an ``httpx.Timeout``-like object (``connect``, ``read``, ``write``,
    ``pool`` attributes)."""
    if value is None:
        return
    if isinstance(value, bool):
        raise TypeError("timeout must be a number of seconds or an httpx.Timeout, not a bool")
    if isinstance(value, (int, float)):
        if not value > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")
        return
    if not all(hasattr(value, part) for part in _TIMEOUT_PARTS):
        raise TypeError(
            f"timeout must be a number of seconds or an httpx.Timeout, got {type(value).__name__}"
        )


def sdk_timeout(value: object, cls: Callable[..., T]) -> T:
    """``value`` (None, seconds, or an ``httpx.Timeout``-like object) as the SDK's own
    ``Timeout`` class ``cls`` (the SDKs may use another httpx than the user's).

    None is :data:`DEFAULT_TIMEOUT_S` with a :data:`DEFAULT_CONNECT_TIMEOUT_S` connect
    timeout; a number is that many seconds for connecting and for each wait for data
    (not for the whole answer: a model that keeps streaming is never cut off).
    """
    check_timeout(value)
    if value is None:
        return cls(DEFAULT_TIMEOUT_S, connect=DEFAULT_CONNECT_TIMEOUT_S)
    if isinstance(value, (int, float)):
        return cls(float(value))
    return cls(**{part: getattr(value, part) for part in _TIMEOUT_PARTS})


def describe_timeout(value: object) -> str:
    """``"5 s"`` or ``"connect 1 s, read 5 s"`` for an error text."""
    if value is None:
        return f"{DEFAULT_TIMEOUT_S:g} s (connect {DEFAULT_CONNECT_TIMEOUT_S:g} s)"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g} s"
    parts = []
    for part in ("connect", "read"):
        seconds = getattr(value, part, None)
        parts.append(f"{part} {'no limit' if seconds is None else f'{seconds:g} s'}")
    return ", ".join(parts)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def cause_text(exc: BaseException) -> str:
    """A short description of a transport error: the deepest non-empty message in its
    chain (``"[Errno 111] Connection refused"``), else the deepest class name (a reset
    connection often carries no message at all)."""
    chain = _chain(exc)
    if transport_kind(exc) == "refused":
        return "connection refused"
    for e in reversed(chain):
        text = str(e).strip()
        if text and text != "Connection error.":
            return text
    return type(chain[-1]).__name__


def transport_kind(exc: BaseException) -> str | None:
    """What an HTTP client error (httpx, httpx2 or an SDK wrapper, with its causes) means:
    ``"connect_timeout"``, ``"timeout"``, ``"refused"``, ``"connection"`` or None."""
    names = {cls.__name__ for e in _chain(exc) for cls in type(e).__mro__}
    if names & {"ConnectTimeout", "PoolTimeout"}:
        return "connect_timeout"
    if names & {"TimeoutException", "APITimeoutError", "TimeoutError"}:
        return "timeout"
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if "ConnectionRefusedError" in names or "connection refused" in text:
        return "refused"
    if names & {"TransportError", "NetworkError", "APIConnectionError", "ProtocolError", "OSError"}:
        return "connection"
    return None


def is_transport_error(exc: BaseException) -> bool:
    """An httpx / httpcore / socket error that escaped an SDK unwrapped (older SDK versions
    let the ones raised while reading a stream through)."""
    root = type(exc).__module__.split(".")[0]
    return root in {"httpx", "httpx2", "httpcore", "httpcore2", "anyio"} or isinstance(exc, OSError)


def transport_failure(
    exc: BaseException,
    *,
    label: str,
    provider: str,
    url: str,
    timeout: object,
    key: str | None,
    started: bool,
) -> Exception:
    """The error (or the retryable failure) for a request that failed on the wire, the same
    for every provider: a timeout and a refused connection are not retried, a connection
    lost once part of the answer was shown is not either, a dropped one is."""
    kind = transport_kind(exc) or "connection"
    cause = redact(cause_text(exc), key)
    if kind in ("timeout", "connect_timeout"):
        doing = "connect" if kind == "connect_timeout" else "answer"
        why = "a server that did not answer in time is no faster the next time"
        return LlmTimeoutError(
            f"{label}: the request to {url} timed out: it did not {doing} within "
            f"{describe_timeout(timeout)}. The server may be stalled, overloaded or still "
            f"loading the model; pass a larger timeout=... if it is just slow. "
            f"(Not retried: {why}.)",
            retried=False,
            retry_reason=why,
        )
    if started:
        why = "part of the answer had already been shown"
        return LlmConnectionError(
            f"{label}: the connection to {url} was lost part-way through the response "
            f"({cause}). (Not retried: {why}.)",
            retried=False,
            retry_reason=why,
        )
    reach = (
        f"Could not reach {provider} at {url} ({cause}). Check that the server is running "
        "and that base_url is right."
    )
    if kind == "refused":
        why = "nothing is listening at that address"
        return LlmConnectionError(f"{reach} (Not retried: {why}.)", retry_reason=why)

    def make_error(attempts: int, note: str) -> LlmRequestError:
        return LlmConnectionError(f"{reach} {note}", attempts=attempts, retry_reason=note[1:-1])

    return RetryableFailure(
        None,
        cause,
        reason="a dropped or reset connection is often momentary",
        make_error=make_error,
    )
