"""A scriptable fake LLM server on 127.0.0.1 that speaks both wire formats over real HTTP.

* OpenAI: ``POST /v1/chat/completions`` — SSE chunks ending in ``data: [DONE]`` when the
  request has ``"stream": true``, a plain JSON completion otherwise. Usage is sent in a
  last chunk only when the request asks for ``stream_options.include_usage``, as OpenAI
  does.
* Anthropic: ``POST /v1/messages`` — ``message_start``, ``content_block_*``,
  ``message_delta``, ``message_stop`` events (or a JSON message when not streaming).

Each request takes the next queued reply, whatever its path; the reply is rendered in
the format of the endpoint that was hit, so one :class:`Reply` describes a turn for both
providers. Every request is recorded (path, headers, JSON body, arrival time)::

    from tests.llm_server import ErrorReply, Reply, ToolCallReply
    from tests.llm_server import llm_server_fixture  # noqa: F401  (provides `llm_server`)

    async def test_something(llm_server):
        llm_server.enqueue(
            ErrorReply.rate_limited(retry_after=0.05),
            Reply(text=["Hel", "lo"], tool_calls=[ToolCallReply("read", {"path": "a"}, pieces=3)]),
        )
        client = OpenAIClient("m", base_url=llm_server.openai_url, api_key="sk-test")
        ...
        assert llm_server.requests[-1].body["stream_options"] == {"include_usage": True}

Reply kinds:

* :class:`Reply` — a successful turn: text chunks, reasoning chunks (OpenAI
  ``reasoning_content`` deltas / Anthropic thinking block with a signature), tool calls
  with their argument fragments (optionally interleaved across calls), usage in the
  wire format of the endpoint, stop reason, model, and a delay between chunks.
* :class:`ErrorReply` — an HTTP error with headers (``Retry-After``) and an error body in
  the endpoint's format; constructors for 429, 500, 401 and context-length errors.
* :class:`RawReply` — bytes sent verbatim (malformed SSE, truncated streams...).

With nothing queued the server answers HTTP 400 "llm_server: no reply queued", which is
not retried, so a test that forgot a reply fails fast with a readable message.

Strict where real servers are strict (set on the server, or per test):

* ``strict`` (on by default): an OpenAI request whose messages carry a non-string
  ``content`` where llama-cpp-python's server wants a string (an assistant's ``null``
  beside ``tool_calls``) gets that server's HTTP 500 with its pydantic "validation
  error" body, as real llama-cpp-python does;
* ``context_window``: a prompt longer than this many tokens (:func:`fake_tokens`) gets
  what the ``flavour``'s server sends: an empty 200 stream (``llama-cpp-python``), a 400
  ``exceed_context_size_error`` (``llama.cpp``) or a 400 "maximum context length"
  (``vllm``, ``openai``);
* ``flavour`` also decides the usage chunk (``llama-cpp-python`` ignores
  ``stream_options.include_usage``) and which info endpoints answer: ``GET /props``
  and ``POST /tokenize`` (llama.cpp), ``GET /v1/models`` with ``max_model_len`` and
  ``POST /tokenize`` (vLLM), ``POST /extras/tokenize/count`` (llama-cpp-python),
  ``POST /api/show`` and ``GET /api/ps`` (Ollama). Requests to them are recorded in
  ``info_requests``, not ``requests``.

Replies that misbehave on the wire: :class:`StallReply` (headers never come until the
test releases it: a stalled server) and ``Reply(cut_after=N)`` (the connection ends after
N events, short of the announced length: a server killed mid-stream).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "FLAVOURS",
    "LLAMA_CPP_PYTHON_NULL_CONTENT_BODY",
    "ErrorReply",
    "LlmServer",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ServerReply",
    "StallReply",
    "ToolCallReply",
    "fake_tokens",
    "llm_server_fixture",
    "sse",
]

FLAVOURS = ("openai", "llama.cpp", "llama-cpp-python", "vllm", "ollama")
"""Which real server the fake one imitates (see the module doc)."""


def fake_tokens(text: str) -> list[str]:
    """The fake server's tokenizer: each word and each punctuation mark is a token."""
    return re.findall(r"\w+|[^\w\s]", text)


def _chunks(value: str | list[str]) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v]


def _split(text: str, pieces: int) -> list[str]:
    if pieces <= 1 or len(text) <= 1:
        return [text] if text else []
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def sse(data: Any, event: str | None = None) -> str:
    """One SSE event; ``data`` that is not a string is JSON-encoded."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n"


@dataclass
class ToolCallReply:
    """A tool call in a :class:`Reply`.

    ``arguments`` is a dict (JSON-encoded, then cut into ``pieces`` fragments), a string
    (the exact characters, cut into ``pieces``; use it for malformed JSON) or a list of
    fragments sent as given. ``id`` defaults to ``call_<n>`` (1-based position).
    """

    name: str
    arguments: dict[str, Any] | str | list[str] = field(default_factory=dict)
    id: str | None = None
    pieces: int = 1

    def fragments(self) -> list[str]:
        """The argument fragments, in order."""
        if isinstance(self.arguments, list):
            return list(self.arguments)
        raw = self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)
        return _split(raw, self.pieces)

    def raw_arguments(self) -> str:
        """All argument characters."""
        return "".join(self.fragments())


@dataclass
class Reply:
    """A successful turn, rendered for whichever endpoint is called.

    Attributes:
        text: the answer text: one string (one chunk) or a list of chunks.
        reasoning: reasoning text chunks. OpenAI: deltas in the ``reasoning_field``
            field; Anthropic: a thinking block first, closed with ``signature``.
        signature: the thinking block's signature (Anthropic).
        tool_calls: the tool calls, after the text.
        interleave: OpenAI only: send the tool calls' fragments round-robin (call 0
            fragment 0, call 1 fragment 0, ...) instead of one call after the other.
        usage: the usage object in the endpoint's wire format (OpenAI
            ``{"prompt_tokens", "completion_tokens", "total_tokens", ...}``; Anthropic
            ``{"input_tokens", "output_tokens", "cache_read_input_tokens", ...}``, of which
            ``output_tokens`` goes into ``message_delta`` and the rest into
            ``message_start``). A small default when ``None``.
        send_usage: False sends no usage at all (a server that ignores include_usage).
        stop_reason: the finish/stop reason; by default ``tool_calls``/``stop`` (OpenAI)
            or ``tool_use``/``end_turn`` (Anthropic).
        model: the model name reported; the requested one when ``None``.
        chunk_delay: seconds to sleep before each SSE event (for cancellation tests).
        reasoning_field: OpenAI delta field for reasoning (``reasoning`` for Ollama-style).
    """

    text: str | list[str] = ""
    reasoning: str | list[str] = ""
    signature: str = "sig-test"
    tool_calls: list[ToolCallReply] = field(default_factory=list)
    interleave: bool = False
    usage: dict[str, Any] | None = None
    send_usage: bool = True
    stop_reason: str | None = None
    model: str | None = None
    chunk_delay: float = 0.0
    reasoning_field: str = "reasoning_content"
    cut_after: int | None = None
    """End the connection after this many SSE events, short of the announced length (a
    server killed mid-stream)."""


@dataclass
class StallReply:
    """A server that takes the request and answers nothing until ``release`` is set (or
    ``limit`` seconds pass), then closes the connection. For timeout tests: the client's
    timeout fires first; the test sets ``release`` when it is done."""

    release: threading.Event = field(default_factory=threading.Event)
    limit: float = 30.0


@dataclass
class ErrorReply:
    """An HTTP error response.

    The body is ``{"error": {"message", "type", "code"}}`` for OpenAI and
    ``{"type": "error", "error": {"type", "message"}}`` for Anthropic, built from
    ``message`` and ``code``; ``body`` replaces it verbatim (a dict is JSON-encoded).
    """

    status: int
    message: str = "error"
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> ErrorReply:
        """HTTP 429, with a ``Retry-After`` header in seconds when given."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(429, "Rate limit reached", "rate_limit_error", headers)

    @classmethod
    def server_error(cls, status: int = 500) -> ErrorReply:
        """A 5xx (500 by default)."""
        return cls(status, "The server had an error", "api_error")

    @classmethod
    def unauthorized(cls) -> ErrorReply:
        """HTTP 401 invalid key."""
        return cls(401, "Incorrect API key provided", "invalid_api_key")

    @classmethod
    def context_length(cls) -> ErrorReply:
        """HTTP 400 "too long", worded as the endpoint would word it."""
        # the message is chosen per format when rendering (see _error_body)
        return cls(400, "", "context_length_exceeded")


@dataclass
class RawReply:
    """Bytes sent verbatim with this status and content type."""

    body: str | bytes
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)


ServerReply = Reply | ErrorReply | RawReply | StallReply


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    """The parsed JSON body (None when the body was not JSON)."""
    raw: bytes
    time: float
    """``time.monotonic()`` at arrival, to check the waits between retries."""

    @property
    def format(self) -> str:
        """``"openai"`` or ``"anthropic"`` (from the path)."""
        return "anthropic" if self.path.rstrip("/").endswith("/messages") else "openai"


# --- rendering -----------------------------------------------------------------------------


def _error_body(reply: ErrorReply, fmt: str) -> bytes:
    if reply.body is not None:
        body = reply.body
        return body.encode() if isinstance(body, str) else json.dumps(body).encode()
    message = reply.message
    if not message and reply.code == "context_length_exceeded":
        message = (
            "prompt is too long: 210000 tokens > 200000 maximum"
            if fmt == "anthropic"
            else "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130000 tokens. Please reduce the length of the messages."
        )
    if fmt == "anthropic":
        kind = reply.code or "api_error"
        if reply.code == "context_length_exceeded":
            kind = "invalid_request_error"
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps(
        {"error": {"message": message, "type": reply.code or "error", "code": reply.code}}
    ).encode()


def _openai_events(reply: Reply, model: str, include_usage: bool) -> list[str]:
    base = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse({**base, "choices": [choice]})

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({reply.reasoning_field: r}) for r in _chunks(reply.reasoning)]
    out += [chunk({"content": t}) for t in _chunks(reply.text)]
    streams: list[list[str]] = []
    for i, call in enumerate(reply.tool_calls):
        start = {
            "index": i,
            "id": call.id or f"call_{i + 1}",
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        parts = [chunk({"tool_calls": [start]})]
        parts += [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": f}}]})
            for f in call.fragments()
        ]
        streams.append(parts)
    if reply.interleave:
        longest = max((len(s) for s in streams), default=0)
        out += [s[k] for k in range(longest) for s in streams if k < len(s)]
    else:
        out += [c for s in streams for c in s]
    stop = reply.stop_reason or ("tool_calls" if reply.tool_calls else "stop")
    out.append(chunk({}, stop))
    if include_usage and reply.send_usage:
        usage = reply.usage or {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        out.append(sse({**base, "choices": [], "usage": usage}))
    out.append("data: [DONE]\n\n")
    return out


def _openai_json(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(_chunks(reply.text)) or None}
    if reply.reasoning:
        message[reply.reasoning_field] = "".join(_chunks(reply.reasoning))
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id or f"call_{i + 1}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.raw_arguments()},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    out: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.stop_reason
                or ("tool_calls" if reply.tool_calls else "stop"),
            }
        ],
    }
    if reply.send_usage:
        out["usage"] = reply.usage or {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
        }
    return out


def _anthropic_usage(reply: Reply) -> dict[str, Any]:
    if not reply.send_usage:
        return {"input_tokens": 0, "output_tokens": 0}
    return reply.usage or {"input_tokens": 10, "output_tokens": 5}


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        thinking = "".join(_chunks(reply.reasoning))
        blocks.append({"type": "thinking", "thinking": thinking, "signature": reply.signature})
    if reply.text:
        blocks.append({"type": "text", "text": "".join(_chunks(reply.text))})
    for i, call in enumerate(reply.tool_calls):
        raw = call.raw_arguments()
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id or f"call_{i + 1}",
                "name": call.name,
                "input": json.loads(raw) if raw else {},
            }
        )
    return blocks


def _anthropic_events(reply: Reply, model: str) -> list[str]:
    usage = _anthropic_usage(reply)
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"}
    start_usage.setdefault("input_tokens", 0)
    start_usage["output_tokens"] = 1
    message: dict[str, Any] = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    out = [sse({"type": "message_start", "message": message}, "message_start")]
    out.append(sse({"type": "ping"}, "ping"))
    index = 0

    def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index
        out.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": start},
                "content_block_start",
            )
        )
        for d in deltas:
            out.append(
                sse(
                    {"type": "content_block_delta", "index": index, "delta": d},
                    "content_block_delta",
                )
            )
        out.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1

    if reply.reasoning:
        deltas = [{"type": "thinking_delta", "thinking": r} for r in _chunks(reply.reasoning)]
        deltas.append({"type": "signature_delta", "signature": reply.signature})
        block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
    if reply.text:
        block(
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": t} for t in _chunks(reply.text)],
        )
    for i, call in enumerate(reply.tool_calls):
        block(
            {"type": "tool_use", "id": call.id or f"call_{i + 1}", "name": call.name, "input": {}},
            [{"type": "input_json_delta", "partial_json": f} for f in call.fragments()],
        )
    stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
    out.append(
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage.get("output_tokens", 0)},
            },
            "message_delta",
        )
    )
    out.append(sse({"type": "message_stop"}, "message_stop"))
    return out


def _anthropic_json(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_blocks(reply),
        "stop_reason": reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn"),
        "stop_sequence": None,
        "usage": _anthropic_usage(reply),
    }


# --- the server ----------------------------------------------------------------------------


class LlmServer:
    """The fake server. Use the :func:`llm_server` fixture, or ``with LlmServer() as s:``.

    Attributes:
        port: the port it listens on (127.0.0.1, chosen free at start).
    """

    def __init__(
        self,
        *,
        flavour: str = "openai",
        context_window: int | None = None,
        strict: bool = True,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        self.flavour = flavour
        self.context_window = context_window
        self.strict = strict
        self._replies: deque[ServerReply] = deque()
        self._requests: list[RecordedRequest] = []
        self._info_requests: list[RecordedRequest] = []
        self._stalls: list[StallReply] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle

    def start(self) -> LlmServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("_BoundHandler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        # a short poll interval: shutdown() waits for the next poll, and tests stop often
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (stalled replies are released first)."""
        for stall in self._stalls:
            stall.release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LlmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses

    @property
    def openai_url(self) -> str:
        """``base_url`` for the OpenAI client (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        """``base_url`` for the Anthropic client (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    # script and record

    def enqueue(self, *replies: ServerReply | str) -> None:
        """Queue replies; each request takes the next one. A string is ``Reply(text=s)``."""
        with self._lock:
            self._replies.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    @property
    def pending(self) -> int:
        """How many queued replies no request has taken yet."""
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def info_requests(self) -> list[RecordedRequest]:
        """Requests to the info endpoints (``/props``, ``/v1/models``, ``/tokenize``,
        ``/api/show``...), oldest first (a copy)."""
        with self._lock:
            return list(self._info_requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (fails the test when there is none)."""
        with self._lock:
            assert self._requests, "llm_server received no request"
            return self._requests[-1]

    def _take(self, request: RecordedRequest) -> ServerReply | None:
        with self._lock:
            self._requests.append(request)
            reply = self._replies.popleft() if self._replies else None
            if isinstance(reply, StallReply):
                self._stalls.append(reply)
            return reply

    def _record_info(self, request: RecordedRequest) -> None:
        with self._lock:
            self._info_requests.append(request)


LLAMA_CPP_PYTHON_NULL_CONTENT_BODY = {
    "error": {
        # the real server's answer (llama-cpp-python 0.3.36), the traceback tail cut short;
        # {index} is the position of the offending message
        "message": "7 validation errors:\n"
        "  {'type': 'literal_error', 'loc': ('body', 'messages', {index}, "
        "'ChatCompletionRequestSystemMessage', 'role'), 'msg': \"Input should be 'system'\", "
        "'input': 'assistant', 'ctx': {'expected': \"'system'\"}}\n"
        "  {'type': 'string_type', 'loc': ('body', 'messages', {index}, "
        "'ChatCompletionRequestAssistantMessage', 'content'), 'msg': 'Input should be a valid "
        "string', 'input': None}\n"
        '  File ".../llama_cpp/server/app.py", line 376, in create_chat_completion\n'
        "    POST /v1/chat/completions",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
}
"""What llama-cpp-python's server answers (HTTP 500) to an assistant message whose
``content`` is null: its pydantic models want a string, and its error handler turns the
request's validation error into a 500 (recorded from the real server)."""


def _null_content_index(body: dict[str, Any]) -> int | None:
    for i, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict):
            return i
        content = message.get("content")
        role = message.get("role")
        if role == "assistant" and "content" in message and not isinstance(content, str):
            return i
        if role in ("system", "user") and not isinstance(content, (str, list)):
            return i
    return None


def _prompt_tokens(body: dict[str, Any]) -> int:
    n = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            n += len(fake_tokens(content))
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    n += len(fake_tokens(part["text"]))
    return n


class _Handler(BaseHTTPRequestHandler):
    server_state: LlmServer
    # HTTP/1.0: each response ends when the connection closes, so SSE needs no chunking
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def _record(self, method: str) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return RecordedRequest(
            method=method,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
            time=time.monotonic(),
        )

    def do_GET(self) -> None:
        request = self._record("GET")
        self.server_state._record_info(request)
        state = self.server_state
        path = self.path.split("?")[0].rstrip("/")
        window = state.context_window
        if path == "/props" and state.flavour == "llama.cpp":
            self._send_json(
                200,
                {
                    "default_generation_settings": {"n_ctx": window or 4096, "temperature": 0.8},
                    "total_slots": 1,
                    "model_path": "/models/fake.gguf",
                    "chat_template": "{{ messages }}",
                },
            )
            return
        if path == "/v1/models":
            entry: dict[str, Any] = {"id": "test-model", "object": "model", "owned_by": "me"}
            if state.flavour == "vllm":
                entry["max_model_len"] = window or 8192
            elif state.flavour == "llama.cpp":
                entry["meta"] = {"n_ctx_train": 8192, "n_vocab": 32000}
            self._send_json(200, {"object": "list", "data": [entry]})
            return
        if path == "/api/ps" and state.flavour == "ollama":
            self._send_json(200, {"models": []})
            return
        self._send_json(404, {"error": {"message": f"llm_server: no GET {self.path}"}})

    def _info_post(self, path: str, request: RecordedRequest) -> bool:
        """Answer an info endpoint's POST; False when ``path`` is not one."""
        state = self.server_state
        body = request.body if isinstance(request.body, dict) else {}
        if path == "/tokenize" and state.flavour in ("llama.cpp", "vllm"):
            text = body.get("content") if state.flavour == "llama.cpp" else body.get("prompt")
            if not isinstance(text, str):
                self._send_json(400, {"error": {"message": "missing text"}})
                return True
            tokens = list(range(len(fake_tokens(text))))
            if state.flavour == "vllm":
                payload = {"count": len(tokens), "tokens": tokens, "max_model_len": 8192}
            else:
                payload = {"tokens": tokens}
            self._send_json(200, payload)
            return True
        if path == "/extras/tokenize/count" and state.flavour == "llama-cpp-python":
            text = body.get("input")
            if not isinstance(text, str):
                self._send_json(422, {"detail": "input is required"})
                return True
            self._send_json(200, {"count": len(fake_tokens(text))})
            return True
        if path == "/api/show" and state.flavour == "ollama":
            window = state.context_window
            self._send_json(
                200,
                {
                    "parameters": f'stop "<|eot_id|>"\nnum_ctx {window}' if window else "",
                    "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                },
            )
            return True
        return False

    def do_POST(self) -> None:
        request = self._record("POST")
        body = request.body
        path = self.path.split("?")[0].rstrip("/")
        if not path.endswith(("/chat/completions", "/messages")):
            self.server_state._record_info(request)
            if not self._info_post(path, request):
                self._send_json(404, {"error": {"message": f"llm_server: no POST {self.path}"}})
            return
        reply = self.server_state._take(request)
        fmt = request.format
        try:
            if reply is None:
                empty = ErrorReply(400, f"llm_server: no reply queued for POST {self.path}")
                self._send_error_reply(empty, fmt)
            elif isinstance(reply, StallReply):
                reply.release.wait(reply.limit)
            elif isinstance(reply, ErrorReply):
                self._send_error_reply(reply, fmt)
            elif isinstance(reply, RawReply):
                data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self._send(reply.status, reply.content_type, reply.headers, [data])
            elif fmt == "openai" and self._refuse(body if isinstance(body, dict) else {}):
                pass
            else:
                self._send_reply(reply, fmt, body if isinstance(body, dict) else {})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (cancelled); nothing to do

    def _refuse(self, body: dict[str, Any]) -> bool:
        """Answer as a strict real server would to a request it cannot take."""
        state = self.server_state
        index = _null_content_index(body) if state.strict else None
        if index is not None:
            payload = json.loads(json.dumps(LLAMA_CPP_PYTHON_NULL_CONTENT_BODY))
            payload["error"]["message"] = payload["error"]["message"].replace("{index}", str(index))
            self._send_json(500, payload)
            return True
        window = state.context_window
        prompt = _prompt_tokens(body)
        if window is None or prompt < window:
            return False
        if state.flavour == "llama-cpp-python":
            # the error happens after the 200 and the headers: the stream stays empty
            self._send(200, "text/event-stream", {}, [])
        elif state.flavour == "llama.cpp":
            self._send_json(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "the request exceeds the available context size, try "
                        "increasing it",
                        "type": "exceed_context_size_error",
                        "n_prompt_tokens": prompt,
                        "n_ctx": window,
                    }
                },
            )
        else:
            message = (
                f"This model's maximum context length is {window} tokens. However, you "
                f"requested {prompt} tokens in the messages. Please reduce the length of the "
                "messages."
            )
            self._send_json(
                400,
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "code": "context_length_exceeded",
                    }
                },
            )
        return True

    def _send_reply(self, reply: Reply, fmt: str, body: dict[str, Any]) -> None:
        model = reply.model or str(body.get("model") or "test-model")
        if not body.get("stream"):
            payload = (
                _anthropic_json(reply, model) if fmt == "anthropic" else _openai_json(reply, model)
            )
            self._send_json(200, payload)
            return
        if fmt == "anthropic":
            events = _anthropic_events(reply, model)
        else:
            asked = bool((body.get("stream_options") or {}).get("include_usage"))
            include_usage = asked and self.server_state.flavour != "llama-cpp-python"
            events = _openai_events(reply, model, include_usage)
        if reply.cut_after is not None:
            self._send_cut([e.encode() for e in events], reply.cut_after, delay=reply.chunk_delay)
            return
        self._send(
            200, "text/event-stream", {}, [e.encode() for e in events], delay=reply.chunk_delay
        )

    def _send_cut(self, parts: list[bytes], keep: int, *, delay: float) -> None:
        """Announce the whole body's length, send ``keep`` events and close: the client
        sees the connection end part-way through the body, as when a server is killed
        (deterministic, unlike a TCP reset, which may discard data already sent)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(sum(len(p) for p in parts)))
        self.end_headers()
        for part in parts[:keep]:
            if delay:
                time.sleep(delay)
            self.wfile.write(part)
        self.wfile.flush()
        self.close_connection = True

    def _send_error_reply(self, reply: ErrorReply, fmt: str) -> None:
        self._send(reply.status, "application/json", reply.headers, [_error_body(reply, fmt)])

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, "application/json", {}, [json.dumps(payload).encode()])

    def _send(
        self,
        status: int,
        content_type: str,
        headers: dict[str, str],
        parts: list[bytes],
        *,
        delay: float = 0.0,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if content_type != "text/event-stream":
            self.send_header("Content-Length", str(sum(len(p) for p in parts)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        for part in parts:
            if delay:
                time.sleep(delay)
            self.wfile.write(part)
            self.wfile.flush()


@pytest.fixture(name="llm_server")
def llm_server_fixture() -> Iterator[LlmServer]:
    """The ``llm_server`` fixture: a running :class:`LlmServer`, stopped after the test.

    Import this function into a test module (or a conftest) to make the fixture
    available there; tests then ask for ``llm_server``.
    """
    server = LlmServer()
    with server:
        yield server
