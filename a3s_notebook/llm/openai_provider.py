"""The OpenAI-compatible provider: OpenAI itself and every server speaking its chat API.

One client serves OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter, DeepSeek and
Groq; only ``base_url`` and the key differ. It streams ``/chat/completions`` through the
official ``openai`` SDK and turns the chunks into our stream events.

Servers differ in small ways this module absorbs: reasoning text arrives as the
non-standard ``reasoning_content`` (DeepSeek, vLLM) or ``reasoning`` (Ollama, OpenRouter)
delta field; tool-call fragments of several calls may interleave; some servers send no
usage at all (the usage is then estimated as characters / 4 and marked ``estimated``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import openai

from a3s_notebook.llm._retry import (
    RetryableFailure,
    RetryConfig,
    api_message,
    auth_error_text,
    body_text,
    context_error_text,
    looks_like_context_overflow,
    parse_retry_after,
    redact,
    retrying,
    truncate,
)
from a3s_notebook.llm._urls import mask_url
from a3s_notebook.llm.errors import ContextLengthError, LlmAuthError, LlmRequestError
from a3s_notebook.llm.types import (
    Done,
    LlmResponse,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    TokenUsage,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseInputDelta,
    ToolUseStart,
    parse_tool_arguments,
)

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "OpenAIClient",
    "to_openai_messages",
    "to_openai_tools",
]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

NO_KEY_PLACEHOLDER = "no-key"
"""Sent as the bearer token to servers that need no key: the SDK refuses an empty key,
and without an explicit key it would fall back to OPENAI_API_KEY and send the user's
OpenAI key to a third-party server."""


# --- request translation -----------------------------------------------------------------


def to_openai_messages(messages: list[Message], system: str | None = None) -> list[dict[str, Any]]:
    """Our messages in chat-completions form.

    Tool results (user-role ``tool_result`` blocks) become ``role: "tool"`` messages
    placed right after the assistant message that asked for them, as the API requires.
    Thinking blocks are Anthropic-only and dropped; ``reasoning_content`` is sent back on
    assistant messages that have it (DeepSeek's reasoner wants it).
    """
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "assistant":
            out.append(_assistant_message(message))
            continue
        # tool answers first: they must directly follow the assistant's tool_calls
        for result in message.tool_results():
            out.append(_tool_message(result))
        texts = [b.text for b in message.content if isinstance(b, TextBlock) and b.text]
        if texts:
            out.append({"role": "user", "content": "\n\n".join(texts)})
    return out


def _assistant_message(message: Message) -> dict[str, Any]:
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {"name": b.name, "arguments": json.dumps(b.input)},
        }
        for b in message.content
        if isinstance(b, ToolUseBlock)
    ]
    text = message.text()
    out: dict[str, Any] = {"role": "assistant"}
    # null content is only valid next to tool_calls; several local servers reject it
    # otherwise, so a message with neither sends an empty string
    out["content"] = text if text or not calls else None
    if calls:
        out["tool_calls"] = calls
    if message.reasoning_content:
        out["reasoning_content"] = message.reasoning_content
    return out


def _tool_message(result: ToolResultBlock) -> dict[str, Any]:
    # the chat API has no is_error flag: the engine already words failed results as errors
    return {"role": "tool", "tool_call_id": result.tool_use_id, "content": result.content}


def to_openai_tools(tools: list[ToolDefinition]) -> list[dict[str, Any]]:
    """Our tool definitions as chat-completions ``function`` tools."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def _estimate_chars(
    messages: list[Message], system: str | None, tools: list[ToolDefinition] | None
) -> int:
    chars = len(system or "") + sum(m.char_count() for m in messages)
    return chars + sum(len(t.description) + len(json.dumps(t.parameters)) for t in tools or [])


# --- stream assembly -----------------------------------------------------------------------


def _attr(obj: Any, name: str) -> Any:
    """``obj.name`` or None: chunks are built without validation, so a field a server left
    out may be missing altogether, and non-standard fields live in the model's extras."""
    if obj is None:
        return None
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, dict):
            value = extra.get(name)
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class _ToolCallParts:
    index: int
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    started: bool = False
    unsent: list[str] = field(default_factory=list)


@dataclass
class _StreamState:
    """Everything one streamed response has delivered so far."""

    prompt_chars: int
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    usage: Any = None
    finish_reason: str | None = None
    model: str | None = None

    def feed(self, chunk: Any) -> list[StreamEvent]:
        """The events one chunk produces."""
        events: list[StreamEvent] = []
        model = _attr(chunk, "model")
        if isinstance(model, str) and model:
            self.model = model
        usage = _attr(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in _attr(chunk, "choices") or []:
            # n > 1 is never requested; a server that sends extra choices is ignored
            if (_attr(choice, "index") or 0) != 0:
                continue
            finish = _attr(choice, "finish_reason")
            if isinstance(finish, str) and finish:
                self.finish_reason = finish
            delta = _attr(choice, "delta")
            if delta is None:
                continue
            reasoning = _attr(delta, "reasoning_content") or _attr(delta, "reasoning")
            if isinstance(reasoning, str) and reasoning:
                self.reasoning.append(reasoning)
                events.append(ReasoningDelta(text=reasoning))
            content = _attr(delta, "content")
            if isinstance(content, str) and content:
                self.text.append(content)
                events.append(TextDelta(text=content))
            for fragment in _attr(delta, "tool_calls") or []:
                events.extend(self._feed_tool_call(fragment))
        return events

    def _feed_tool_call(self, fragment: Any) -> list[StreamEvent]:
        call_id = _attr(fragment, "id")
        function = _attr(fragment, "function")
        name = _attr(function, "name")
        arguments = _attr(function, "arguments")
        index = self._index_of(fragment, call_id)
        parts = self.calls.get(index)
        if parts is None:
            parts = self.calls[index] = _ToolCallParts(index=index)
        if isinstance(call_id, str) and call_id and parts.id is None:
            parts.id = call_id
        if isinstance(name, str) and name and not parts.name:
            parts.name = name
        events: list[StreamEvent] = []
        if isinstance(arguments, str) and arguments:
            parts.arguments.append(arguments)
            parts.unsent.append(arguments)
        if not parts.started and parts.id is not None and parts.name:
            parts.started = True
            events.append(ToolUseStart(id=parts.id, name=parts.name))
        if parts.started and parts.unsent:
            events.append(ToolUseInputDelta(id=parts.id or "", text="".join(parts.unsent)))
            parts.unsent.clear()
        return events

    def _index_of(self, fragment: Any, call_id: Any) -> int:
        index = _attr(fragment, "index")
        if isinstance(index, int):
            return index
        # a server that omits the index: a new id opens a new call, anything else
        # continues the latest one
        if isinstance(call_id, str) and call_id:
            for parts in self.calls.values():
                if parts.id == call_id:
                    return parts.index
            return max(self.calls, default=-1) + 1
        return max(self.calls, default=0)

    def finish(self) -> tuple[list[StreamEvent], LlmResponse]:
        """Events still owed (calls whose id or name never came) and the whole response."""
        events: list[StreamEvent] = []
        blocks: list[TextBlock | ToolUseBlock] = []
        text = "".join(self.text)
        if text:
            blocks.append(TextBlock(text=text))
        for index in sorted(self.calls):
            parts = self.calls[index]
            if parts.id is None:
                parts.id = f"call_{index}_{uuid.uuid4().hex[:12]}"
            if not parts.started:
                events.append(ToolUseStart(id=parts.id, name=parts.name))
                if parts.unsent:
                    events.append(ToolUseInputDelta(id=parts.id, text="".join(parts.unsent)))
            raw = "".join(parts.arguments)
            blocks.append(
                ToolUseBlock(
                    id=parts.id, name=parts.name, input=parse_tool_arguments(raw, parts.name)
                )
            )
        message = Message(
            role="assistant",
            content=list(blocks),
            reasoning_content="".join(self.reasoning) or None,
        )
        response = LlmResponse(
            message=message,
            usage=self._usage(message),
            stop_reason=self.finish_reason,
            model=self.model,
        )
        return events, response

    def _usage(self, message: Message) -> TokenUsage:
        u = self.usage
        if u is None:
            prompt = self.prompt_chars // 4
            completion = message.char_count() // 4
            return TokenUsage(
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                estimated=True,
            )
        prompt = _int(_attr(u, "prompt_tokens")) or 0
        completion = _int(_attr(u, "completion_tokens")) or 0
        total = _int(_attr(u, "total_tokens")) or prompt + completion
        prompt_details = _attr(u, "prompt_tokens_details")
        cached = _int(_attr(prompt_details, "cached_tokens"))
        if cached is None:
            # DeepSeek reports its cache hits in a field of its own
            cached = _int(_attr(u, "prompt_cache_hit_tokens"))
        return TokenUsage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            cache_read_tokens=cached,
            cache_write_tokens=_int(_attr(prompt_details, "cache_write_tokens")),
            reasoning_tokens=_int(_attr(_attr(u, "completion_tokens_details"), "reasoning_tokens")),
        )


CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a TCP/TLS connection (the overall ``timeout`` covers the answer)."""


# --- the client ----------------------------------------------------------------------------


class OpenAIClient:
    """An :class:`~a3s_notebook.llm.types.LlmClient` for any OpenAI-compatible chat API.

    Args:
        model: the model name as the server knows it (``gpt-4o-mini``, ``llama3.2``...).
        base_url: the API root, ending in ``/v1`` for most servers.
        api_key: the key; ``None`` for servers that need none.
        provider: the name shown in errors and ``repr`` (``openai``, ``ollama``...).
        api_key_env: the environment variable an auth error tells the user to set.
        temperature: sampling temperature; the server's default when ``None``.
        max_tokens: cap on generated tokens; sent as ``max_completion_tokens`` to OpenAI
            (its newer models reject ``max_tokens``) and as ``max_tokens`` elsewhere.
        retry: the retry rules; :class:`RetryConfig` defaults when ``None``.
        timeout: seconds before a request is abandoned.

    The key is kept out of ``repr`` and out of every error text.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = DEFAULT_OPENAI_BASE_URL,
        api_key: str | None = None,
        provider: str = "openai",
        api_key_env: str | None = "OPENAI_API_KEY",
        temperature: float | None = None,
        max_tokens: int | None = None,
        retry: RetryConfig | None = None,
        timeout: float = 600.0,
    ) -> None:
        self._model = model
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_key_env = api_key_env
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retry = retry or RetryConfig()
        self.timeout = timeout

    @property
    def provider(self) -> str:
        """The provider name (``openai``, ``ollama``, ``groq``...)."""
        return self._provider

    @property
    def model(self) -> str:
        """The model name without the provider prefix."""
        return self._model

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._base_url

    def __repr__(self) -> str:
        return (
            f"OpenAIClient(provider={self._provider!r}, model={self._model!r}, "
            f"base_url={self._shown_url!r})"
        )

    @property
    def _label(self) -> str:
        return f"{self._provider}/{self._model}"

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
        """The keyword arguments of ``chat.completions.create`` for this call."""
        request: dict[str, Any] = {
            "model": self._model,
            "messages": to_openai_messages(messages, system),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = to_openai_tools(tools)
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            key = "max_completion_tokens" if self._provider == "openai" else "max_tokens"
            request[key] = self.max_tokens
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
        prompt_chars = _estimate_chars(messages, system, tools)

        def attempt() -> AsyncGenerator[StreamEvent, None]:
            return self._attempt(request, prompt_chars)

        async with aclosing(retrying(attempt, self.retry, label=self._label)) as events:
            async for event in events:
                yield event

    def _sdk(self) -> openai.AsyncOpenAI:
        # a fresh SDK client per call: the engine may drive each call from a different
        # event loop, and an httpx pool must not outlive the loop it was used on
        return openai.AsyncOpenAI(
            api_key=self._api_key or NO_KEY_PLACEHOLDER,
            base_url=self._base_url,
            max_retries=0,  # retries are ours (see _retry.py)
            # a short connect timeout: an unreachable host should fail in seconds, while
            # a slow model may legitimately take minutes to answer
            timeout=openai.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT_S)),
        )

    async def _attempt(
        self, request: dict[str, Any], prompt_chars: int
    ) -> AsyncGenerator[StreamEvent, None]:
        sdk = self._sdk()
        started = False
        try:
            try:
                chunks: Any = await sdk.chat.completions.create(**request)
            except Exception as exc:
                raise self._translate(exc, started=False) from None
            state = _StreamState(prompt_chars=prompt_chars)
            iterator = chunks.__aiter__()
            while True:
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise self._translate(exc, started=started) from None
                for event in state.feed(chunk):
                    started = True
                    yield event
            events, response = state.finish()
            for event in events:
                yield event
            yield Done(response=response)
        finally:
            await sdk.close()

    def _translate(self, exc: Exception, *, started: bool) -> Exception:
        """Our error (or a retry signal) for an SDK / decoding failure."""
        key = self._api_key
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            body = redact(body_text(exc.body), key)
            message = redact(api_message(exc.body), key)
            if status in (401, 403):
                return LlmAuthError(
                    auth_error_text(self._provider, status, self._api_key_env, message)
                )
            code = str(exc.code or "")
            if looks_like_context_overflow(status, f"{code} {body}"):
                return ContextLengthError(
                    context_error_text(self._label, f"HTTP {status}: {message}")
                )
            if self.retry.is_retryable(status):
                return RetryableFailure(status, body, parse_retry_after(exc.response.headers))
            return LlmRequestError(
                f"{self._label} request failed (HTTP {status}): {truncate(body)}", status=status
            )
        if isinstance(exc, openai.APITimeoutError):
            return LlmRequestError(
                f"{self._label}: the request to {self._shown_url} timed out after "
                f"{self.timeout:g} s."
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = redact(str(exc.__cause__ or exc), key)
            if started:
                return LlmRequestError(
                    f"{self._label}: the connection to {self._shown_url} was lost part-way "
                    f"through the response ({cause})."
                )
            return LlmRequestError(
                f"Could not reach {self._provider} at {self._shown_url} ({cause}). Check that "
                "the server is running and that base_url is right."
            )
        if isinstance(exc, openai.APIError):
            # an {"error": ...} object inside the stream
            text = redact(f"{exc.message} {body_text(exc.body)}", key)
            if looks_like_context_overflow(None, text):
                return ContextLengthError(context_error_text(self._label, text))
            return LlmRequestError(f"{self._label}: the server reported an error: {truncate(text)}")
        if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError, UnicodeError)):
            # json.JSONDecodeError and pydantic's ValidationError are ValueErrors
            return LlmRequestError(
                f"{self._label}: {self._shown_url} sent a malformed response stream "
                f"({type(exc).__name__}: {truncate(redact(str(exc), key), 300)}). Is it an "
                "OpenAI-compatible chat completions endpoint?"
            )
        if isinstance(exc, openai.OpenAIError):
            return LlmRequestError(f"{self._label}: {redact(str(exc), key)}")
        return exc
