"""The Anthropic provider: the Messages API through the official ``anthropic`` SDK.

Our message model is Anthropic's, so blocks map one to one. Two things need care:
extended thinking (``thinking_budget``) produces thinking blocks whose signature must be
sent back unchanged on the next request, and the usage splits input tokens into
uncached, cache-read and cache-written parts, which are summed into ``prompt_tokens``.

A stream must carry a stop reason and an answer: no events, no ``message_start``, no
``stop_reason`` or a finished message with no text and no tool call raise
:class:`~a3s_notebook.llm.errors.IncompleteResponseError`, never an empty message.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anthropic

from a3s_notebook.llm._retry import (
    RetryableFailure,
    RetryConfig,
    api_message,
    auth_error_text,
    body_text,
    context_error_text,
    is_transport_error,
    looks_like_context_overflow,
    parse_retry_after,
    redact,
    retrying,
    sdk_timeout,
    status_retry_decision,
    transport_failure,
    truncate,
)
from a3s_notebook.llm._urls import DEFAULT_ANTHROPIC_BASE_URL, mask_url
from a3s_notebook.llm.errors import (
    ContextLengthError,
    IncompleteKind,
    IncompleteResponseError,
    LlmAuthError,
    LlmRequestError,
)
from a3s_notebook.llm.pricing import known_context_window
from a3s_notebook.llm.types import (
    Done,
    LlmResponse,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    TokenUsage,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseInputDelta,
    ToolUseStart,
    parse_tool_arguments,
)

__all__ = [
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_MAX_TOKENS",
    "AnthropicClient",
    "normalize_anthropic_base_url",
    "to_anthropic_messages",
    "to_anthropic_tools",
]

DEFAULT_MAX_TOKENS = 8192
"""``max_tokens`` is required by the API; the reference's default."""

_THINKING_HEADROOM = 4096
"""Room for the answer on top of the thinking budget when max_tokens is not given."""


def normalize_anthropic_base_url(base_url: str | None) -> str:
    """The base URL without a trailing ``/`` or ``/v1`` (the SDK adds ``/v1/messages``)."""
    url = (base_url or DEFAULT_ANTHROPIC_BASE_URL).rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")].rstrip("/")
    return url


# --- request translation -----------------------------------------------------------------


def _block(block: Any) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        # the API rejects empty text blocks
        return {"type": "text", "text": block.text} if block.text else None
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        out: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": block.tool_use_id,
            "content": block.content,
        }
        if block.is_error:
            out["is_error"] = True
        return out
    if isinstance(block, ThinkingBlock):
        # unsigned thinking (e.g. from another provider) would be rejected, so it stays home
        if not block.signature:
            return None
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    return None


def to_anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our messages in Messages-API form.

    Empty messages are skipped and consecutive messages of one role merged (the API
    wants the roles to alternate); in a merged user message tool results come first, as
    the API requires them right after the assistant's tool calls.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [b for b in (_block(x) for x in message.content) if b is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    for entry in out:
        if entry["role"] == "user":
            entry["content"].sort(key=lambda b: b["type"] != "tool_result")
    return out


def to_anthropic_tools(tools: list[ToolDefinition]) -> list[dict[str, Any]]:
    """Our tool definitions as Messages-API tools."""
    return [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]


# --- stream assembly -----------------------------------------------------------------------


def _attr(obj: Any, name: str) -> Any:
    """``obj.name`` or None (events are built without validation; fields may be missing)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class _BlockParts:
    kind: str
    text: list[str] = field(default_factory=list)
    id: str = ""
    name: str = ""
    signature: str | None = None


@dataclass
class _StreamState:
    events: int = 0
    started: bool = False
    blocks: dict[int, _BlockParts] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int | None = None
    cache_write: int | None = None
    thinking_tokens: int | None = None
    stop_reason: str | None = None
    model: str | None = None

    def feed(self, event: Any) -> list[StreamEvent]:
        self.events += 1
        kind = _attr(event, "type")
        if kind == "message_start":
            self.started = True
            message = _attr(event, "message")
            model = _attr(message, "model")
            if isinstance(model, str) and model:
                self.model = model
            self._take_usage(_attr(message, "usage"))
        elif kind == "content_block_start":
            return self._start_block(event)
        elif kind == "content_block_delta":
            return self._delta(event)
        elif kind == "message_delta":
            stop = _attr(_attr(event, "delta"), "stop_reason")
            if isinstance(stop, str) and stop:
                self.stop_reason = stop
            self._take_usage(_attr(event, "usage"))
        return []

    def _take_usage(self, usage: Any) -> None:
        # message_delta repeats (cumulative) counts; the latest reported value wins
        if usage is None:
            return
        if (n := _int(_attr(usage, "input_tokens"))) is not None:
            self.input_tokens = n
        if (n := _int(_attr(usage, "output_tokens"))) is not None:
            self.output_tokens = n
        if (n := _int(_attr(usage, "cache_read_input_tokens"))) is not None:
            self.cache_read = n
        if (n := _int(_attr(usage, "cache_creation_input_tokens"))) is not None:
            self.cache_write = n
        details = _attr(usage, "output_tokens_details")
        if (n := _int(_attr(details, "thinking_tokens"))) is not None:
            self.thinking_tokens = n

    def _start_block(self, event: Any) -> list[StreamEvent]:
        index = _int(_attr(event, "index")) or 0
        block = _attr(event, "content_block")
        kind = str(_attr(block, "type") or "")
        parts = _BlockParts(kind=kind)
        self.blocks[index] = parts
        if kind == "tool_use":
            parts.id = str(_attr(block, "id") or "")
            parts.name = str(_attr(block, "name") or "")
            return [ToolUseStart(id=parts.id, name=parts.name)]
        if kind == "text":
            text = _attr(block, "text")
            if isinstance(text, str) and text:
                parts.text.append(text)
                return [TextDelta(text=text)]
        if kind == "thinking":
            thinking = _attr(block, "thinking")
            signature = _attr(block, "signature")
            if isinstance(signature, str) and signature:
                parts.signature = signature
            if isinstance(thinking, str) and thinking:
                parts.text.append(thinking)
                return [ReasoningDelta(text=thinking)]
        return []

    def _delta(self, event: Any) -> list[StreamEvent]:
        index = _int(_attr(event, "index")) or 0
        delta = _attr(event, "delta")
        kind = _attr(delta, "type")
        parts = self.blocks.get(index)
        if parts is None:
            # a delta for a block that never started: keep what it carries anyway
            parts = self.blocks[index] = _BlockParts(kind=_DELTA_KINDS.get(str(kind), ""))
        if kind == "text_delta":
            text = _attr(delta, "text")
            if isinstance(text, str) and text:
                parts.text.append(text)
                return [TextDelta(text=text)]
        elif kind == "input_json_delta":
            fragment = _attr(delta, "partial_json")
            if isinstance(fragment, str) and fragment:
                parts.text.append(fragment)
                return [ToolUseInputDelta(id=parts.id, text=fragment)]
        elif kind == "thinking_delta":
            thinking = _attr(delta, "thinking")
            if isinstance(thinking, str) and thinking:
                parts.text.append(thinking)
                return [ReasoningDelta(text=thinking)]
        elif kind == "signature_delta":
            signature = _attr(delta, "signature")
            if isinstance(signature, str):
                parts.signature = (parts.signature or "") + signature
        return []

    def problem(self) -> IncompleteKind | None:
        """Why the stream is not a complete answer, or None when it is."""
        if self.events == 0:
            return "no_chunks"
        if not self.started:
            return "no_choices"
        if self.stop_reason is None:
            return "no_finish_reason"
        has_text = any(p.kind == "text" and "".join(p.text) for p in self.blocks.values())
        if not has_text and not any(p.kind == "tool_use" for p in self.blocks.values()):
            return "empty_message"
        return None

    def finish(self) -> LlmResponse:
        content: list[TextBlock | ToolUseBlock | ThinkingBlock] = []
        for index in sorted(self.blocks):
            parts = self.blocks[index]
            joined = "".join(parts.text)
            if parts.kind == "text":
                content.append(TextBlock(text=joined))
            elif parts.kind == "tool_use":
                content.append(
                    ToolUseBlock(
                        id=parts.id, name=parts.name, input=parse_tool_arguments(joined, parts.name)
                    )
                )
            elif parts.kind == "thinking":
                content.append(ThinkingBlock(thinking=joined, signature=parts.signature))
            # redacted_thinking and server-tool blocks have no place in our model: dropped
        prompt = self.input_tokens + (self.cache_read or 0) + (self.cache_write or 0)
        usage = TokenUsage(
            prompt_tokens=prompt,
            completion_tokens=self.output_tokens,
            total_tokens=prompt + self.output_tokens,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            reasoning_tokens=self.thinking_tokens,
        )
        return LlmResponse(
            message=Message(role="assistant", content=list(content)),
            usage=usage,
            stop_reason=self.stop_reason,
            model=self.model,
        )


_DELTA_KINDS = {
    "text_delta": "text",
    "input_json_delta": "tool_use",
    "thinking_delta": "thinking",
    "signature_delta": "thinking",
}


# --- the client ----------------------------------------------------------------------------


class AnthropicClient:
    """An :class:`~a3s_notebook.llm.types.LlmClient` for Anthropic's Messages API.

    Args:
        model: e.g. ``claude-sonnet-4-5``.
        api_key: the key (``x-api-key``).
        base_url: API root; a trailing ``/`` or ``/v1`` is stripped.
        max_tokens: cap on generated tokens; 8192 by default, or the thinking budget plus
            4096 when that is larger.
        temperature: sampling temperature (not allowed together with thinking).
        thinking_budget: enables extended thinking with this many tokens (>= 1024).
        retry: the retry rules; :class:`RetryConfig` defaults when ``None``.
        timeout: seconds to wait for a connection and for each piece of the answer (a
            float), or an ``httpx.Timeout``; ``None``: 600 s, 10 s to connect. A silent
            server raises :class:`LlmTimeoutError` (not retried).
        api_key_env: the environment variable the key comes from, named by an auth error.
        auth_hint: the sentence an auth error ends with, instead of the default.

    The key is kept out of ``repr`` and out of every error text.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        thinking_budget: int | None = None,
        retry: RetryConfig | None = None,
        timeout: Any = None,
        api_key_env: str | None = "ANTHROPIC_API_KEY",
        auth_hint: str | None = None,
    ) -> None:
        if thinking_budget is not None:
            if temperature is not None:
                raise ValueError(
                    "temperature cannot be combined with thinking_budget: Anthropic's "
                    "extended thinking requires the default temperature"
                )
            if max_tokens is not None and max_tokens <= thinking_budget:
                raise ValueError(
                    f"max_tokens ({max_tokens}) must be larger than thinking_budget "
                    f"({thinking_budget}): the thinking counts towards max_tokens"
                )
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_TOKENS
            if thinking_budget is not None:
                max_tokens = max(DEFAULT_MAX_TOKENS, thinking_budget + _THINKING_HEADROOM)
        self._model = model
        self._api_key = api_key
        self._base_url = normalize_anthropic_base_url(base_url)
        self._api_key_env = api_key_env
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.thinking_budget = thinking_budget
        self.retry = retry or RetryConfig()
        self._sdk_timeout = sdk_timeout(timeout, anthropic.Timeout)  # validates it too
        self.timeout: Any = timeout
        self._auth_hint = auth_hint

    @property
    def provider(self) -> str:
        """Always ``"anthropic"``."""
        return "anthropic"

    @property
    def model(self) -> str:
        """The model name without the provider prefix."""
        return self._model

    @property
    def base_url(self) -> str:
        """The API root requests go to (without ``/v1``)."""
        return self._base_url

    def __repr__(self) -> str:
        return (
            f"AnthropicClient(provider='anthropic', model={self._model!r}, "
            f"base_url={self._shown_url!r})"
        )

    @property
    def _label(self) -> str:
        return f"anthropic/{self._model}"

    async def context_window(self) -> int | None:
        """The model's context window from genai-prices' data, or None (no request)."""
        return known_context_window(self._model, "anthropic")

    @property
    def known_context_window(self) -> int | None:
        """The same as :meth:`context_window`, without awaiting."""
        return known_context_window(self._model, "anthropic")

    @property
    def _shown_url(self) -> str:
        """The base URL as messages and ``repr`` show it: credentials masked."""
        return mask_url(self._base_url)

    def build_request(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for this call."""
        request: dict[str, Any] = {
            "model": self._model,
            "max_tokens": self.max_tokens,
            "messages": to_anthropic_messages(messages),
            "stream": True,
        }
        if system:
            request["system"] = system
        if tools:
            request["tools"] = to_anthropic_tools(tools)
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.thinking_budget is not None:
            request["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
        return request

    async def stream(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one completion; ends with one :class:`Done`.

        Raises :class:`LlmAuthError`, :class:`ContextLengthError` or
        :class:`LlmRequestError` (after retries, for retryable statuses).
        """
        request = self.build_request(messages, system=system, tools=tools)

        def attempt() -> AsyncGenerator[StreamEvent, None]:
            return self._attempt(request)

        async with aclosing(retrying(attempt, self.retry, label=self._label)) as events:
            async for event in events:
                yield event

    def _sdk(self) -> anthropic.AsyncAnthropic:
        # a fresh SDK client per call: the engine may drive each call from a different
        # event loop, and an httpx pool must not outlive the loop it was used on
        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self._base_url,
            max_retries=0,  # retries are ours (see _retry.py)
            timeout=self._sdk_timeout,
        )

    async def _attempt(self, request: dict[str, Any]) -> AsyncGenerator[StreamEvent, None]:
        sdk = self._sdk()
        started = False
        try:
            try:
                raw_events: Any = await sdk.messages.create(**request)
            except Exception as exc:
                raise self._translate(exc, started=False) from None
            state = _StreamState()
            iterator = raw_events.__aiter__()
            while True:
                try:
                    raw = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise self._translate(exc, started=started) from None
                for event in state.feed(raw):
                    started = True
                    yield event
            problem = state.problem()
            if problem is not None:
                raise self._incomplete(problem, state, started)
            yield Done(response=state.finish())
        finally:
            await sdk.close()

    def _incomplete(
        self, kind: IncompleteKind, state: _StreamState, started: bool
    ) -> IncompleteResponseError:
        url = self._shown_url
        if kind == "no_chunks":
            what = f"{url} answered HTTP 200 but sent no events (an empty stream)"
        elif kind == "no_choices":
            what = f"{url} sent {state.events} event(s) but no message_start"
        elif kind == "no_finish_reason":
            what = (
                f"the stream from {url} ended after {state.events} event(s) without a stop "
                "reason: the server stopped before the model finished"
            )
        else:
            what = (
                f"the model finished (stop_reason {state.stop_reason!r}) without any text or "
                "tool call"
            )
        if kind == "no_finish_reason" and started:
            why = "part of the answer had already been shown"
        else:
            why = "the same request gets the same incomplete answer"
        return IncompleteResponseError(
            f"{self._label}: {what}, so there is no answer to record. (Not retried: {why}.)",
            kind=kind,
            retry_reason=why,
        )

    def _translate(self, exc: Exception, *, started: bool) -> Exception:
        """Our error (or a retry signal) for an SDK / decoding failure."""
        key = self._api_key
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            body = redact(body_text(exc.body), key)
            message = redact(api_message(exc.body), key)
            error_type = str(_attr(_attr(exc.body, "error"), "type") or "")
            if status in (401, 403):
                return LlmAuthError(
                    auth_error_text(
                        "anthropic", status, self._api_key_env, message, hint=self._auth_hint
                    )
                )
            if status == 413 or looks_like_context_overflow(status, body):
                return ContextLengthError(
                    context_error_text(self._label, f"HTTP {status}: {message}")
                )
            # an error event inside a 200 stream: its type says whether it is transient
            if status < 400 and error_type == "overloaded_error":
                status = 529
            elif status < 400 and error_type in ("api_error", "rate_limit_error"):
                status = 500 if error_type == "api_error" else 429
            retry, why = status_retry_decision(self.retry, status, body)
            if retry:
                return RetryableFailure(
                    status, body, parse_retry_after(exc.response.headers), reason=why
                )
            return LlmRequestError(
                f"{self._label} request failed (HTTP {status}): {truncate(body)} "
                f"(not retried: {why})",
                status=status,
                retried=False,
                retry_reason=why,
            )
        if isinstance(exc, anthropic.APIConnectionError) or is_transport_error(exc):
            return self._transport_error(exc, started=started)
        if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError, UnicodeError)):
            # json.JSONDecodeError and pydantic's ValidationError are ValueErrors
            why = "the same server sends the same stream"
            return LlmRequestError(
                f"{self._label}: {self._shown_url} sent a malformed response stream "
                f"({type(exc).__name__}: {truncate(redact(str(exc), key), 300)}). "
                f"(Not retried: {why}.)",
                retried=False,
                retry_reason=why,
            )
        if isinstance(exc, anthropic.AnthropicError):
            return LlmRequestError(f"{self._label}: {redact(str(exc), key)}")
        return exc

    def _transport_error(self, exc: BaseException, *, started: bool) -> Exception:
        return transport_failure(
            exc,
            label=self._label,
            provider="anthropic",
            url=self._shown_url,
            timeout=self.timeout,
            key=self._api_key,
            started=started,
        )
