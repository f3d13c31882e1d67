"""The OpenAI-compatible provider: OpenAI itself and every server speaking its chat API.

One client serves OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter, DeepSeek and
Groq; only ``base_url`` and the key differ. It streams ``/chat/completions`` through the
official ``openai`` SDK and turns the chunks into our stream events.

Servers differ in small ways this module absorbs: reasoning text arrives as the
non-standard ``reasoning_content`` (DeepSeek, vLLM) or ``reasoning`` (Ollama, OpenRouter)
delta field; tool-call fragments of several calls may interleave; some servers send no
usage at all (the usage is then estimated with the best tokenizer at hand, see
:mod:`a3s_notebook.llm.tokens`, and marked ``estimated``).

What is sent, per message shape (the exact bodies are pinned in ``tests/test_providers.py``):

* user text: ``{"role": "user", "content": "<text>"}`` (several text blocks joined by a
  blank line);
* assistant text: ``{"role": "assistant", "content": "<text>"}``;
* assistant tool calls without text: ``{"role": "assistant", "content": "", "tool_calls":
  [...]}``. ``content`` is always a string, never ``null``: OpenAI, vLLM, Ollama, LM
  Studio and llama.cpp accept ``""``, while llama-cpp-python's server rejects ``null``
  (HTTP 500, "Input should be a valid string") and chat templates that concatenate the
  content fail on it;
* tool results: one ``{"role": "tool", "tool_call_id": ..., "content": "<text>"}`` each,
  right after the assistant message that asked for them;
* reasoning: sent back as ``reasoning_content`` on the assistant message that had it;
  Anthropic thinking blocks are not sent (no OpenAI-compatible server reads them);
* images: our messages carry none, so none are sent.

A stream must end with a finish reason and carry an answer: an empty stream (what
llama-cpp-python's server sends when the prompt does not fit its context), chunks without
choices, a stream cut before the finish reason, or a finished answer with no text and no
tool call raise :class:`~a3s_notebook.llm.errors.IncompleteResponseError` (or
:class:`~a3s_notebook.llm.errors.ContextLengthError` when the prompt is known not to fit),
never an empty assistant message.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import openai

from a3s_notebook.llm import _server_info
from a3s_notebook.llm._retry import (
    COMPACT_HINT,
    SERVER_CONTEXT_HINT,
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
from a3s_notebook.llm._urls import mask_url, same_origin
from a3s_notebook.llm.errors import (
    ContextLengthError,
    IncompleteKind,
    IncompleteResponseError,
    LlmAuthError,
    LlmError,
    LlmRequestError,
)
from a3s_notebook.llm.pricing import known_context_window
from a3s_notebook.llm.tokens import (
    completion_text,
    heuristic_tokens,
    prompt_text,
    tiktoken_counter,
)
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
    "NO_KEY_PLACEHOLDER",
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
    # always a string: llama-cpp-python's server answers 500 to null content (even next
    # to tool_calls) and chat templates that concatenate it fail; "" suits every server
    out: dict[str, Any] = {"role": "assistant", "content": message.text()}
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

    chunks: int = 0
    choices: int = 0
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    usage: Any = None
    finish_reason: str | None = None
    model: str | None = None

    def feed(self, chunk: Any) -> list[StreamEvent]:
        """The events one chunk produces."""
        events: list[StreamEvent] = []
        self.chunks += 1
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
            self.choices += 1
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

    def problem(self) -> IncompleteKind | None:
        """Why the stream is not a complete answer, or None when it is."""
        if self.chunks == 0:
            return "no_chunks"
        if self.choices == 0:
            return "no_choices"
        if self.finish_reason is None:
            return "no_finish_reason"
        if not "".join(self.text) and not self.calls:
            return "empty_message"
        return None

    def finish(self) -> tuple[list[StreamEvent], LlmResponse]:
        """Events still owed (calls whose id or name never came) and the whole response.

        The response's usage is the reported one; :meth:`reported_usage` is None when the
        server sent none, and the caller estimates it.
        """
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
            usage=self.reported_usage() or TokenUsage(estimated=True),
            stop_reason=self.finish_reason,
            model=self.model,
        )
        return events, response

    def reported_usage(self) -> TokenUsage | None:
        """The usage the server reported, or None when it sent none."""
        u = self.usage
        if u is None:
            return None
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


# --- the client ----------------------------------------------------------------------------


REASONING_EFFORTS = ("low", "medium", "high")
"""The ``reasoning_effort`` values sent to reasoning models (o-series, gpt-5, DeepSeek-R1
servers that read it)."""


def reasoning_effort_for(budget: int) -> str:
    """The ``reasoning_effort`` for a thinking budget in tokens: under 4096 ``low``, under
    16384 ``medium``, else ``high`` (OpenAI-compatible APIs take a level, not a budget)."""
    if budget < 4096:
        return "low"
    if budget < 16384:
        return "medium"
    return "high"


class OpenAIClient:
    """An :class:`~a3s_notebook.llm.types.LlmClient` for any OpenAI-compatible chat API.

    Args:
        model: the model name as the server knows it (``gpt-4o-mini``, ``llama3.2``...).
        base_url: the API root, ending in ``/v1`` for most servers.
        api_key: the key; ``None`` for servers that need none (a placeholder bearer
            token is sent then: the SDK wants one, and it never falls back to
            ``OPENAI_API_KEY``).
        provider: the name shown in errors and ``repr`` (``openai``, ``ollama``...).
        api_key_env: the environment variable the key comes from, named by an auth error.
        temperature: sampling temperature; the server's default when ``None``.
        max_tokens: cap on generated tokens; sent as ``max_completion_tokens`` to OpenAI
            (its newer models reject ``max_tokens``) and as ``max_tokens`` elsewhere.
        retry: the retry rules; :class:`RetryConfig` defaults when ``None``.
        timeout: seconds to wait for a connection and for each piece of the answer (a
            float), or an ``httpx.Timeout`` with separate ``connect``/``read``/``write``/
            ``pool`` limits. ``None``: 600 s, 10 s to connect. A stream that keeps
            delivering is never cut off; a server that goes silent for ``timeout``
            seconds raises :class:`LlmTimeoutError` (not retried).
        tool_choice: sent as the request's ``tool_choice`` when tools are given
            (``"auto"``, ``"required"``, ``"none"`` or ``{"type": "function", "function":
            {"name": ...}}``); the server's default when ``None``. Settable later.
        own_server: whether ``base_url`` is the user's own server (llama.cpp, vLLM,
            Ollama, LM Studio...) rather than a hosted API; only then is the server asked
            for its context window and tokenizer. Default: any URL but OpenAI's own.
        auth_hint: the sentence an auth error ends with, instead of the default.

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
        timeout: Any = None,
        tool_choice: str | dict[str, Any] | None = None,
        own_server: bool | None = None,
        auth_hint: str | None = None,
        reasoning_effort: str | None = None,
    ) -> None:
        if reasoning_effort is not None and reasoning_effort not in REASONING_EFFORTS:
            raise ValueError(
                f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, "
                f"got {reasoning_effort!r}"
            )
        self.reasoning_effort = reasoning_effort
        self._model = model
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_key_env = api_key_env
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retry = retry or RetryConfig()
        self._sdk_timeout = sdk_timeout(timeout, openai.Timeout)  # validates it too
        self.timeout: Any = timeout
        self.tool_choice = tool_choice
        self._own_server = (
            not same_origin(self._base_url, DEFAULT_OPENAI_BASE_URL)
            if own_server is None
            else own_server
        )
        self._auth_hint = auth_hint
        self._window: int | None = None
        self._window_known = False
        # the server's tokenizer path: None = not tried yet, "" = it has none
        self._tokenize_path: str | None = None

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

    @property
    def own_server(self) -> bool:
        """Whether the base URL is the user's own server rather than a hosted API."""
        return self._own_server

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

    # --- context window --------------------------------------------------------------------

    async def context_window(self) -> int | None:
        """The model's context window in tokens, or None when nobody says.

        For the user's own server (``own_server``), the server is asked once, on the
        first call, with a short timeout (llama.cpp's ``/props``, ``/v1/models``
        metadata, Ollama's ``/api/show``; see :mod:`a3s_notebook.llm._server_info`);
        otherwise, or when the server does not say, genai-prices' data for
        (provider, model) answers. The answer (None included) is kept: later calls
        cost nothing. Never raises.
        """
        if self._window_known:
            return self._window
        window: int | None = None
        if self._own_server:
            window = await _server_info.probe_context_window(
                self._base_url,
                self._model,
                headers=self._server_headers(),
                provider=self._provider,
                timeout=self._probe_timeout(),
            )
        if window is None:
            window = known_context_window(self._model, self._provider)
        self._window, self._window_known = window, True
        return window

    @property
    def known_context_window(self) -> int | None:
        """The context window known without asking the server: the answer of an earlier
        :meth:`context_window` call, else genai-prices' value, else None."""
        if self._window_known:
            return self._window
        return known_context_window(self._model, self._provider)

    def _server_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key or NO_KEY_PLACEHOLDER}"}

    def _probe_timeout(self) -> float:
        connect = getattr(self._sdk_timeout, "connect", None)
        limit = _server_info.PROBE_TIMEOUT_S
        return min(limit, connect) if isinstance(connect, (int, float)) else limit

    # --- token counts (when the server reports no usage) ---------------------------------

    async def _count_tokens(self, texts: list[str]) -> list[int]:
        """Each text's tokens: the server's tokenizer, tiktoken, or the heuristic."""
        if self._own_server and self._tokenize_path != "":
            found = await _server_info.count_tokens(
                self._base_url,
                self._model,
                texts,
                endpoint=self._tokenize_path,
                headers=self._server_headers(),
                timeout=self._probe_timeout(),
            )
            if found is not None:
                counts, self._tokenize_path = found
                return counts
            if self._tokenize_path is None:
                self._tokenize_path = ""  # it has none: do not ask again
        counter = await asyncio.to_thread(tiktoken_counter, self._model)
        if counter is not None:
            return [counter(t) for t in texts]
        return [heuristic_tokens(t) for t in texts]

    async def _prompt_tokens(self, messages: list[Message], system: str | None) -> int:
        (tokens,) = await self._count_tokens([prompt_text(messages, system)])
        return tokens

    async def _estimate_usage(
        self, messages: list[Message], system: str | None, answer: Message
    ) -> TokenUsage:
        generated = completion_text(answer)
        prompt, completion = await self._count_tokens([prompt_text(messages, system), generated])
        if generated.strip() and completion < 1:
            completion = 1  # a tokenizer never turns a non-empty answer into 0 tokens
        return TokenUsage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            estimated=True,
        )

    # --- requests ---------------------------------------------------------------------------

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
            if self.tool_choice is not None:
                request["tool_choice"] = self.tool_choice
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            key = "max_completion_tokens" if self._provider == "openai" else "max_tokens"
            request[key] = self.max_tokens
        if self.reasoning_effort is not None:
            request["reasoning_effort"] = self.reasoning_effort
        return request

    async def stream(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one completion; ends with one :class:`Done`.

        Raises :class:`LlmAuthError`, :class:`ContextLengthError`,
        :class:`IncompleteResponseError`, :class:`LlmTimeoutError`,
        :class:`LlmConnectionError` or :class:`LlmRequestError` (after retries, for what
        can pass on retry); each says whether and why it was retried.
        """
        request = self.build_request(messages, system=system, tools=tools)

        def attempt() -> AsyncGenerator[StreamEvent, None]:
            return self._attempt(request, messages, system)

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
            timeout=self._sdk_timeout,
        )

    async def _attempt(
        self, request: dict[str, Any], messages: list[Message], system: str | None
    ) -> AsyncGenerator[StreamEvent, None]:
        sdk = self._sdk()
        started = False
        try:
            try:
                chunks: Any = await sdk.chat.completions.create(**request)
            except Exception as exc:
                raise self._translate(exc, started=False) from None
            state = _StreamState()
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
            problem = state.problem()
            if problem is not None:
                raise await self._incomplete(problem, state, messages, system, started)
            events, response = state.finish()
            for event in events:
                yield event
            if state.reported_usage() is None:
                usage = await self._estimate_usage(messages, system, response.message)
                response = response.model_copy(update={"usage": usage})
            yield Done(response=response)
        finally:
            await sdk.close()

    async def _incomplete(
        self,
        kind: IncompleteKind,
        state: _StreamState,
        messages: list[Message],
        system: str | None,
        started: bool,
    ) -> LlmError:
        """The error for a stream that is not a complete answer (see the module doc)."""
        url = self._shown_url
        finish = state.finish_reason
        if kind == "no_chunks":
            what = f"{url} answered HTTP 200 but sent no data (an empty stream)"
        elif kind == "no_choices":
            what = (
                f"{url} sent {state.chunks} chunk(s) without any choice: no text, no tool "
                "call, no finish reason"
            )
        elif kind == "no_finish_reason":
            what = (
                f"the stream from {url} ended after {state.chunks} chunk(s) without a finish "
                "reason: the server stopped before the model finished"
            )
        else:
            what = f"the model finished (finish_reason {finish!r}) without any text or tool call"
        could_be_full = kind in ("no_chunks", "no_choices") or (
            kind == "empty_message" and finish == "length"
        )
        hint = ""
        if could_be_full:
            prompt = await self._prompt_tokens(messages, system)
            window = await self.context_window()
            if window is not None and prompt >= window:
                return ContextLengthError(
                    context_error_text(
                        self._label,
                        f"{what}; the prompt is about {prompt} tokens and the context "
                        f"window {window}",
                        own_server=self._own_server,
                    ),
                    context_window=window,
                    prompt_tokens=prompt,
                )
            of_window = f" of a {window}-token window" if window is not None else ""
            fix = COMPACT_HINT[0].lower() + COMPACT_HINT[1:-1]
            if self._own_server:
                fix = f"{fix}, {SERVER_CONTEXT_HINT}"
            hint = (
                f". Servers built on llama.cpp answer like this when the prompt does not fit "
                f"their context window (this prompt is about {prompt} tokens{of_window}): "
                f"{fix}"
            )
        if kind == "no_finish_reason" and started:
            why = "part of the answer had already been shown"
        else:
            why = "the same request gets the same incomplete answer"
        return IncompleteResponseError(
            f"{self._label}: {what}, so there is no answer to record{hint}. (Not retried: {why}.)",
            kind=kind,
            retry_reason=why,
        )

    def _translate(self, exc: Exception, *, started: bool) -> Exception:
        """Our error (or a retry signal) for an SDK / decoding failure."""
        key = self._api_key
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            body = redact(body_text(exc.body), key)
            message = redact(api_message(exc.body), key)
            if status in (401, 403):
                return LlmAuthError(
                    auth_error_text(
                        self._provider, status, self._api_key_env, message, hint=self._auth_hint
                    )
                )
            code = str(exc.code or "")
            if looks_like_context_overflow(status, f"{code} {body}"):
                return ContextLengthError(
                    context_error_text(
                        self._label, f"HTTP {status}: {message}", own_server=self._own_server
                    )
                )
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
        if isinstance(exc, openai.APIConnectionError) or is_transport_error(exc):
            return self._transport_error(exc, started=started)
        if isinstance(exc, openai.APIError):
            # an {"error": ...} object inside the stream
            text = redact(f"{exc.message} {body_text(exc.body)}", key)
            if looks_like_context_overflow(None, text):
                return ContextLengthError(
                    context_error_text(self._label, text, own_server=self._own_server)
                )
            why = "the server reported the error inside its answer"
            return LlmRequestError(
                f"{self._label}: the server reported an error: {truncate(text)} "
                f"(not retried: {why})",
                retried=False,
                retry_reason=why,
            )
        if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError, UnicodeError)):
            # json.JSONDecodeError and pydantic's ValidationError are ValueErrors
            return LlmRequestError(
                f"{self._label}: {self._shown_url} sent a malformed response stream "
                f"({type(exc).__name__}: {truncate(redact(str(exc), key), 300)}). Is it an "
                "OpenAI-compatible chat completions endpoint? (Not retried: the same server "
                "sends the same stream.)",
                retried=False,
                retry_reason="the same server sends the same stream",
            )
        if isinstance(exc, openai.OpenAIError):
            return LlmRequestError(f"{self._label}: {redact(str(exc), key)}")
        return exc

    def _transport_error(self, exc: BaseException, *, started: bool) -> Exception:
        return transport_failure(
            exc,
            label=self._label,
            provider=self._provider,
            url=self._shown_url,
            timeout=self.timeout,
            key=self._api_key,
            started=started,
        )
