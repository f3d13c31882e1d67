"""The real providers against a local HTTP server that speaks both wire formats.

Nothing here leaves 127.0.0.1: the OpenAI and Anthropic SDKs talk to ``llm_server``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.llm._retry import RetryConfig, parse_retry_after
from a3s_notebook.llm._urls import mask_url, mask_urls_in_text
from a3s_notebook.llm.anthropic_provider import AnthropicClient, to_anthropic_messages
from a3s_notebook.llm.errors import (
    ContextLengthError,
    IncompleteResponseError,
    LlmAuthError,
    LlmConnectionError,
    LlmError,
    LlmRequestError,
    LlmTimeoutError,
    UnknownModelError,
    UnknownProviderError,
)
from a3s_notebook.llm.factory import (
    KNOWN_PROVIDERS,
    LlmConfigData,
    create_client,
    parse_model,
)
from a3s_notebook.llm.openai_provider import OpenAIClient, to_openai_messages
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.llm.types import (
    PARSE_ERROR_KEY,
    Done,
    LlmClient,
    LlmResponse,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseInputDelta,
    ToolUseStart,
)

from .llm_server import (
    LLAMA_CPP_PYTHON_NULL_CONTENT_BODY,
    ErrorReply,
    LlmServer,
    RawReply,
    Reply,
    StallReply,
    ToolCallReply,
    fake_tokens,
    llm_server_fixture,  # noqa: F401  (provides the `llm_server` fixture)
    sse,
)

KEY = "sk-test-SECRET-0123456789"
FAST = RetryConfig(base_delay_ms=1, max_delay_ms=5)
READ_TOOL = ToolDefinition(
    name="read",
    description="Read a file",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)


def openai_client(server: LlmServer, **kw: Any) -> OpenAIClient:
    kw.setdefault("retry", FAST)
    return OpenAIClient("gpt-test", base_url=server.openai_url, api_key=KEY, **kw)


def anthropic_client(server: LlmServer, **kw: Any) -> AnthropicClient:
    kw.setdefault("retry", FAST)
    return AnthropicClient("claude-test", base_url=server.anthropic_url, api_key=KEY, **kw)


async def run(
    client: LlmClient,
    messages: list[Message] | None = None,
    *,
    system: str | None = None,
    tools: list[ToolDefinition] | None = None,
) -> tuple[list[StreamEvent], LlmResponse]:
    events = [
        e async for e in client.stream(messages or [Message.user("hi")], system=system, tools=tools)
    ]
    assert isinstance(events[-1], Done), events[-1]
    assert sum(isinstance(e, Done) for e in events) == 1
    return events[:-1], events[-1].response


def of_type(events: list[StreamEvent], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


# --- OpenAI-compatible: streaming ------------------------------------------------------------


async def test_openai_text_stream_and_request_shape(llm_server: LlmServer) -> None:
    llm_server.enqueue(Reply(text=["Hel", "lo", " world"]))
    events, response = await run(openai_client(llm_server), system="be brief", tools=[READ_TOOL])

    assert [e.text for e in of_type(events, TextDelta)] == ["Hel", "lo", " world"]
    assert response.message.text() == "Hello world"
    assert response.stop_reason == "stop"
    assert response.model == "gpt-test"
    req = llm_server.last_request
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["stream"] is True
    assert req.body["stream_options"] == {"include_usage": True}
    assert req.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert req.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read",
                "description": "Read a file",
                "parameters": READ_TOOL.parameters,
            },
        }
    ]
    assert "max_tokens" not in req.body and "temperature" not in req.body


async def test_openai_tool_arguments_split_over_many_chunks(llm_server: LlmServer) -> None:
    args = {"path": "src/main.py", "offset": 10, "note": "ünïcode"}
    llm_server.enqueue(Reply(tool_calls=[ToolCallReply("read", args, id="call_a", pieces=9)]))
    events, response = await run(openai_client(llm_server), tools=[READ_TOOL])

    starts = of_type(events, ToolUseStart)
    assert [(s.id, s.name) for s in starts] == [("call_a", "read")]
    deltas = of_type(events, ToolUseInputDelta)
    assert len(deltas) >= 8 and {d.id for d in deltas} == {"call_a"}
    assert json.loads("".join(d.text for d in deltas)) == args
    assert events.index(starts[0]) < events.index(deltas[0])
    assert response.message.tool_calls()[0].args == args
    assert response.stop_reason == "tool_calls"


async def test_openai_two_tool_calls_interleaved_by_index(llm_server: LlmServer) -> None:
    first, second = {"path": "a.txt"}, {"path": "b/c.txt", "limit": 5}
    llm_server.enqueue(
        Reply(
            text="Reading both.",
            tool_calls=[
                ToolCallReply("read", first, id="call_1", pieces=4),
                ToolCallReply("read", second, id="call_2", pieces=5),
            ],
            interleave=True,
        )
    )
    events, response = await run(openai_client(llm_server), tools=[READ_TOOL])

    assert [s.id for s in of_type(events, ToolUseStart)] == ["call_1", "call_2"]
    deltas = of_type(events, ToolUseInputDelta)
    # the fragments really arrived interleaved, and were put back together per call
    assert [d.id for d in deltas[:4]] == ["call_1", "call_2", "call_1", "call_2"]
    for call_id, args in (("call_1", first), ("call_2", second)):
        assert json.loads("".join(d.text for d in deltas if d.id == call_id)) == args
    calls = response.message.tool_calls()
    assert [(c.id, c.args) for c in calls] == [("call_1", first), ("call_2", second)]
    assert isinstance(response.message.content[0], TextBlock)


async def test_openai_usage_from_last_chunk_with_cached_and_reasoning_tokens(
    llm_server: LlmServer,
) -> None:
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 128},
    }
    llm_server.enqueue(Reply(text="ok", usage=usage, model="gpt-test-2025-01-01"))
    _, response = await run(openai_client(llm_server))

    u = response.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1200, 300, 1500)
    assert u.cache_read_tokens == 1024
    assert u.reasoning_tokens == 128
    assert u.estimated is False
    assert response.model == "gpt-test-2025-01-01"


async def test_openai_without_usage_estimates(llm_server: LlmServer) -> None:
    llm_server.enqueue(Reply(text="x" * 400, send_usage=False))
    _, response = await run(openai_client(llm_server), [Message.user("y" * 800)])
    assert response.usage.estimated is True
    assert response.usage.prompt_tokens == 200
    assert response.usage.completion_tokens == 100


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_openai_reasoning_deltas(llm_server: LlmServer, field: str) -> None:
    llm_server.enqueue(Reply(reasoning=["Let me ", "think."], text="42", reasoning_field=field))
    events, response = await run(openai_client(llm_server))

    assert [e.text for e in of_type(events, ReasoningDelta)] == ["Let me ", "think."]
    assert response.message.reasoning_content == "Let me think."
    assert response.message.text() == "42"
    # reasoning streams before the answer
    assert isinstance(events[0], ReasoningDelta)


async def test_openai_malformed_tool_arguments_become_a_parse_error(
    llm_server: LlmServer,
) -> None:
    llm_server.enqueue(Reply(tool_calls=[ToolCallReply("read", '{"path": "a.txt"', pieces=3)]))
    _, response = await run(openai_client(llm_server), tools=[READ_TOOL])
    args = response.message.tool_calls()[0].args
    assert list(args) == [PARSE_ERROR_KEY]
    assert "not valid JSON" in args[PARSE_ERROR_KEY]


async def test_openai_history_translation(llm_server: LlmServer) -> None:
    history = [
        Message.user("read a.txt"),
        Message(
            role="assistant",
            content=[
                ThinkingBlock(thinking="private", signature="sig"),
                TextBlock(text="Sure."),
                ToolUseBlock(id="call_9", name="read", input={"path": "a.txt"}),
            ],
            reasoning_content="I should read it.",
        ),
        Message(
            role="user",
            content=[ToolResultBlock(tool_use_id="call_9", content="hello", is_error=False)],
        ),
        Message.assistant("It says hello."),
        Message.user("thanks"),
    ]
    llm_server.enqueue("bye")
    await run(openai_client(llm_server), history, system="sys")

    sent = llm_server.last_request.body["messages"]
    assert sent == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "read a.txt"},
        {
            "role": "assistant",
            "content": "Sure.",
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "read", "arguments": json.dumps({"path": "a.txt"})},
                }
            ],
            "reasoning_content": "I should read it.",
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "hello"},
        {"role": "assistant", "content": "It says hello."},
        {"role": "user", "content": "thanks"},
    ]
    # the same translation is available without a server
    assert to_openai_messages(history, "sys") == sent


async def test_openai_options_temperature_and_max_tokens(llm_server: LlmServer) -> None:
    llm_server.enqueue("a", "b")
    await run(openai_client(llm_server, temperature=0.2, max_tokens=99))
    assert llm_server.last_request.body["temperature"] == 0.2
    # OpenAI's newer models only accept max_completion_tokens
    assert llm_server.last_request.body["max_completion_tokens"] == 99
    other = OpenAIClient(
        "llama", base_url=llm_server.openai_url, provider="ollama", max_tokens=7, retry=FAST
    )
    await run(other)
    assert llm_server.last_request.body["max_tokens"] == 7


async def test_openai_stream_can_be_abandoned_early(llm_server: LlmServer) -> None:
    llm_server.enqueue(Reply(text=["a", "b", "c", "d"], chunk_delay=0.01))
    stream = openai_client(llm_server).stream([Message.user("hi")])
    first = await stream.__anext__()
    assert isinstance(first, TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]


# --- OpenAI-compatible: errors and retries ---------------------------------------------------


async def test_openai_429_retry_after_is_honoured(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply.rate_limited(retry_after=0.05), Reply(text="finally"))
    # a 5 s base delay: the test only stays fast if Retry-After wins
    client = openai_client(llm_server, retry=RetryConfig(base_delay_ms=5000))
    _, response = await run(client)

    assert response.message.text() == "finally"
    first, second = llm_server.requests
    assert 0.05 <= second.time - first.time < 1.5


async def test_openai_two_500s_then_success(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply.server_error(), ErrorReply.server_error(502), "ok")
    _, response = await run(openai_client(llm_server))
    assert response.message.text() == "ok"
    assert len(llm_server.requests) == 3


async def test_openai_retries_exhausted(llm_server: LlmServer) -> None:
    llm_server.enqueue(*[ErrorReply(503, "Service Unavailable", "overloaded")] * 4)
    with pytest.raises(LlmRequestError) as info:
        await run(openai_client(llm_server))
    text = str(info.value)
    assert text.startswith("LLM API request failed after 4 attempts. Last status: 503 Body: ")
    assert "Service Unavailable" in text
    assert info.value.status == 503 and info.value.attempts == 4
    assert len(llm_server.requests) == 4


async def test_openai_retry_disabled_makes_one_attempt(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply.server_error(), "never reached")
    with pytest.raises(LlmRequestError, match="after 1 attempts. Last status: 500"):
        await run(openai_client(llm_server, retry=RetryConfig.disabled()))
    assert llm_server.pending == 1


async def test_openai_401_is_an_auth_error_without_the_key(llm_server: LlmServer) -> None:
    # a server that echoes the key back must not get it into our error text
    llm_server.enqueue(ErrorReply(401, f"Incorrect API key provided: {KEY}", "invalid_api_key"))
    with pytest.raises(LlmAuthError) as info:
        await run(openai_client(llm_server))
    text = str(info.value)
    assert text.startswith("openai rejected the API key (HTTP 401). Set OPENAI_API_KEY")
    assert "api_key=" in text
    assert KEY not in text and KEY not in repr(info.value)
    assert len(llm_server.requests) == 1  # not retried


async def test_openai_context_length_error_points_at_compaction(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply.context_length())
    with pytest.raises(ContextLengthError) as info:
        await run(openai_client(llm_server))
    text = str(info.value)
    assert "context window of openai/gpt-test" in text
    assert "maximum context length" in text
    assert "session.compact()" in text and "%a3s_session compact" in text
    assert len(llm_server.requests) == 1


async def test_openai_other_status_fails_at_once_with_body(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply(404, "The model `nope` does not exist", "model_not_found"))
    with pytest.raises(LlmRequestError) as info:
        await run(openai_client(llm_server))
    assert info.value.status == 404
    assert "HTTP 404" in str(info.value) and "does not exist" in str(info.value)


async def test_openai_malformed_sse_line(llm_server: LlmServer) -> None:
    good = sse({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]})
    llm_server.enqueue(RawReply(good + "data: {this is not json\n\n" + "data: [DONE]\n\n"))
    events: list[StreamEvent] = []
    with pytest.raises(LlmRequestError, match="malformed response stream"):
        async for event in openai_client(llm_server).stream([Message.user("hi")]):
            events.append(event)
    assert [e.text for e in of_type(events, TextDelta)] == ["hi"]
    assert len(llm_server.requests) == 1


async def test_openai_error_inside_the_stream(llm_server: LlmServer) -> None:
    llm_server.enqueue(RawReply(sse({"error": {"message": "upstream exploded"}})))
    with pytest.raises(LlmRequestError, match="upstream exploded"):
        await run(openai_client(llm_server))


async def test_connection_refused_names_the_base_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    client = OpenAIClient("llama3", base_url=base, provider="ollama", retry=FAST)
    with pytest.raises(LlmRequestError) as info:
        await run(client)
    assert f"Could not reach ollama at {base}" in str(info.value)


# --- Anthropic ---------------------------------------------------------------------------------


async def test_anthropic_text_and_tool_use(llm_server: LlmServer) -> None:
    args = {"path": "notes/todo.md", "limit": 20}
    llm_server.enqueue(
        Reply(
            text=["Let me ", "look."],
            tool_calls=[ToolCallReply("read", args, id="toolu_1", pieces=6)],
        )
    )
    client = AnthropicClient(
        "claude-test", api_key=KEY, base_url=llm_server.anthropic_url + "/v1/", retry=FAST
    )
    assert client.base_url == llm_server.anthropic_url
    events, response = await run(client, system="You are terse.", tools=[READ_TOOL])

    assert "".join(e.text for e in of_type(events, TextDelta)) == "Let me look."
    assert [(s.id, s.name) for s in of_type(events, ToolUseStart)] == [("toolu_1", "read")]
    deltas = of_type(events, ToolUseInputDelta)
    assert len(deltas) >= 5 and {d.id for d in deltas} == {"toolu_1"}
    assert response.message.content == [
        TextBlock(text="Let me look."),
        ToolUseBlock(id="toolu_1", name="read", input=args),
    ]
    assert response.stop_reason == "tool_use"
    req = llm_server.last_request
    assert req.path == "/v1/messages"
    assert req.body["system"] == "You are terse."  # top level, not a message
    assert all(m["role"] != "system" for m in req.body["messages"])
    assert req.body["max_tokens"] == 8192
    assert req.body["stream"] is True
    assert req.body["tools"] == [
        {"name": "read", "description": "Read a file", "input_schema": READ_TOOL.parameters}
    ]
    assert KEY in req.headers.get("x-api-key", "") + req.headers.get("authorization", "")


async def test_anthropic_thinking_is_kept_and_sent_back(llm_server: LlmServer) -> None:
    llm_server.enqueue(
        Reply(
            reasoning=["First, ", "consider."],
            signature="EqQBCkYIBRgCKkD",
            text="Answer.",
        ),
        "Second answer.",
    )
    client = anthropic_client(llm_server, thinking_budget=2048)
    events, response = await run(client)

    assert [e.text for e in of_type(events, ReasoningDelta)] == ["First, ", "consider."]
    assert response.message.content == [
        ThinkingBlock(thinking="First, consider.", signature="EqQBCkYIBRgCKkD"),
        TextBlock(text="Answer."),
    ]
    first = llm_server.last_request.body
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert first["max_tokens"] > 2048

    history = [Message.user("hi"), response.message, Message.user("and?")]
    await run(client, history)
    sent = llm_server.last_request.body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "First, consider.", "signature": "EqQBCkYIBRgCKkD"},
            {"type": "text", "text": "Answer."},
        ],
    }


async def test_anthropic_cache_usage(llm_server: LlmServer) -> None:
    llm_server.enqueue(
        Reply(
            text="cached",
            usage={
                "input_tokens": 50,
                "cache_read_input_tokens": 4000,
                "cache_creation_input_tokens": 300,
                "output_tokens": 42,
            },
        )
    )
    _, response = await run(anthropic_client(llm_server))
    u = response.usage
    assert u.prompt_tokens == 4350  # every input token, cached or not
    assert u.cache_read_tokens == 4000
    assert u.cache_write_tokens == 300
    assert u.completion_tokens == 42
    assert u.total_tokens == 4392
    assert response.model == "claude-test"


async def test_anthropic_tool_results_and_merged_roles(llm_server: LlmServer) -> None:
    history = [
        Message.user("go"),
        Message(role="assistant", content=[ToolUseBlock(id="t1", name="read", input={})]),
        Message(
            role="user", content=[ToolResultBlock(tool_use_id="t1", content="boom", is_error=True)]
        ),
        Message.user("also this"),
    ]
    llm_server.enqueue("done")
    await run(anthropic_client(llm_server), history)
    sent = llm_server.last_request.body["messages"]
    assert sent == to_anthropic_messages(history)
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
        {"type": "text", "text": "also this"},
    ]


async def test_anthropic_401(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply(401, "invalid x-api-key", "authentication_error"))
    with pytest.raises(LlmAuthError) as info:
        await run(anthropic_client(llm_server))
    assert "anthropic rejected the API key (HTTP 401). Set ANTHROPIC_API_KEY" in str(info.value)
    assert KEY not in str(info.value)


async def test_anthropic_prompt_too_long(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply.context_length())
    with pytest.raises(ContextLengthError, match="prompt is too long.*session.compact"):
        await run(anthropic_client(llm_server))


async def test_anthropic_overloaded_then_success(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply(529, "Overloaded", "overloaded_error"), "fine")
    _, response = await run(anthropic_client(llm_server))
    assert response.message.text() == "fine"
    assert len(llm_server.requests) == 2


async def test_anthropic_overloaded_event_before_content_is_retried(
    llm_server: LlmServer,
) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "m",
            "type": "message",
            "role": "assistant",
            "model": "c",
            "content": [],
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
    }
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    llm_server.enqueue(RawReply(sse(start, "message_start") + sse(error, "error")), "fine")
    _, response = await run(anthropic_client(llm_server))
    assert response.message.text() == "fine"
    assert len(llm_server.requests) == 2


async def test_anthropic_malformed_sse(llm_server: LlmServer) -> None:
    llm_server.enqueue(RawReply("event: message_start\ndata: {nope\n\n"))
    with pytest.raises(LlmRequestError, match="malformed response stream"):
        await run(anthropic_client(llm_server))


def test_anthropic_thinking_option_checks() -> None:
    with pytest.raises(ValueError, match="temperature"):
        AnthropicClient("c", api_key=KEY, thinking_budget=2000, temperature=0.5)
    with pytest.raises(ValueError, match="max_tokens"):
        AnthropicClient("c", api_key=KEY, thinking_budget=2000, max_tokens=1000)
    assert AnthropicClient("c", api_key=KEY, thinking_budget=10_000).max_tokens == 14_096


# --- retry rules -------------------------------------------------------------------------------


def test_retry_defaults_and_delays() -> None:
    config = RetryConfig()
    assert (config.max_retries, config.base_delay_ms, config.max_delay_ms) == (3, 1000, 30_000)
    assert config.retryable_statuses == {429, 500, 502, 503, 529}
    assert config.max_attempts == 4
    assert RetryConfig.disabled().max_retries == 0
    for k in range(12):
        nominal = min(1000 * 2**k, 30_000) / 1000
        delay = config.delay_seconds(k)
        assert nominal * 0.75 <= delay <= min(nominal * 1.25, 30.0)
        assert delay == config.delay_seconds(k)  # deterministic
    assert len({config.delay_seconds(k) / 2**k for k in range(4)}) > 1  # some jitter
    assert config.delay_seconds(20) <= 30.0
    assert config.delay_seconds(0, retry_after=2.5) == 2.5
    assert config.delay_seconds(0, retry_after=301) == config.delay_seconds(0)
    assert config.delay_seconds(0, retry_after=0) == config.delay_seconds(0)


def test_parse_retry_after() -> None:
    assert parse_retry_after({"retry-after": "0.05"}) == 0.05
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert parse_retry_after({"retry-after": "900"}) is None
    assert parse_retry_after({}) is None


# --- factory -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("openai/gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("openrouter/meta-llama/llama-3-70b", ("openrouter", "meta-llama/llama-3-70b")),
        ("ollama/qwen3:8b", ("ollama", "qwen3:8b")),
        ("ollama:qwen3:8b", ("ollama", "qwen3:8b")),
        ("claude/claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
        ("OpenAI/GPT-4o", ("openai", "GPT-4o")),
        ("scripted/demo", ("scripted", "demo")),
    ],
)
def test_parse_model(name: str, expected: tuple[str, str]) -> None:
    assert parse_model(name) == expected


@pytest.mark.parametrize("name", ["gpt-4o-mini", "", "   ", "openai/", "/gpt"])
def test_parse_model_rejects(name: str) -> None:
    with pytest.raises(UnknownModelError, match="provider/model, e.g. openai/gpt-4o-mini"):
        parse_model(name)


def test_unknown_provider(llm_server: LlmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownProviderError) as info:
        create_client("acme/model-1")
    text = str(info.value)
    for name in KNOWN_PROVIDERS:
        assert name in text
    assert "or pass base_url=... for any OpenAI-compatible server" in text

    monkeypatch.setenv("ACME_API_KEY", "acme-key-42")
    client = create_client("acme/model-1", base_url=llm_server.openai_url)
    assert isinstance(client, OpenAIClient)
    assert (client.provider, client.model, client.base_url) == (
        "acme",
        "model-1",
        llm_server.openai_url,
    )
    assert client._api_key == "acme-key-42"


async def test_created_clients_talk_to_the_server(llm_server: LlmServer) -> None:
    llm_server.enqueue("from openai", "from anthropic")
    oa = create_client("openai/gpt-4o-mini", api_key=KEY, base_url=llm_server.openai_url)
    an = create_client("claude:claude-x", api_key=KEY, base_url=llm_server.anthropic_url)
    assert isinstance(oa, LlmClient) and isinstance(an, AnthropicClient)
    assert (await run(oa))[1].message.text() == "from openai"
    assert (await run(an))[1].message.text() == "from anthropic"
    assert [r.format for r in llm_server.requests] == ["openai", "anthropic"]


def test_scripted_and_keyless_providers() -> None:
    assert isinstance(create_client("scripted/echo"), ScriptedClient)
    ollama = create_client("ollama/llama3.2")
    assert isinstance(ollama, OpenAIClient)
    assert ollama.base_url == "http://localhost:11434/v1"
    assert ollama._api_key == "ollama"
    with pytest.raises(UnknownProviderError, match="base_url"):
        create_client("vllm/qwen")
    vllm = create_client("vllm/qwen", base_url="http://127.0.0.1:8000/v1")
    assert isinstance(vllm, OpenAIClient) and vllm.provider == "vllm"


def test_keys_from_argument_env_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GROQ_API_KEY", raising=False)

    with pytest.raises(LlmAuthError) as info:
        create_client("groq/llama-3.3-70b")
    assert str(info.value) == (
        "No API key for groq: set GROQ_API_KEY (environment or a .env file) or pass api_key=..."
    )

    (tmp_path / ".env").write_text("GROQ_API_KEY=from-dotenv\nOTHER=1\n")
    client = create_client("groq/llama-3.3-70b")
    assert client._api_key == "from-dotenv"  # type: ignore[attr-defined]
    assert "GROQ_API_KEY" not in os.environ and "OTHER" not in os.environ

    monkeypatch.setenv("GROQ_API_KEY", "from-env")
    assert create_client("groq/x")._api_key == "from-env"  # type: ignore[attr-defined]
    explicit = create_client("groq/x", api_key="from-arg")
    assert explicit._api_key == "from-arg"  # type: ignore[attr-defined]

    with pytest.raises(LlmAuthError, match="set OPENAI_API_KEY"):
        create_client("openai/gpt-4o-mini")


def test_keys_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    for client in (
        create_client("anthropic/claude-x"),
        create_client("openai/gpt-4o", api_key=KEY),
        create_client("deepseek/deepseek-chat", api_key=KEY),
    ):
        text = repr(client)
        assert KEY not in text and "api_key" not in text
        assert client.provider in text and client.model in text
    assert repr(create_client("openai/gpt-4o", api_key=KEY)) == (
        "OpenAIClient(provider='openai', model='gpt-4o', base_url='https://api.openai.com/v1')"
    )


def test_llm_config_data_has_no_key() -> None:
    assert "api_key" not in LlmConfigData.model_fields
    data = LlmConfigData.model_validate(
        {"provider": "openai", "model": "gpt-4o", "api_key": KEY, "base_url": None}
    )
    assert KEY not in data.model_dump_json()
    assert LlmConfigData.from_model("claude/x").name == "anthropic/x"


def test_protocol_is_satisfied() -> None:
    assert isinstance(OpenAIClient("m", api_key=KEY), LlmClient)
    assert isinstance(AnthropicClient("m", api_key=KEY), LlmClient)


async def test_concurrent_streams_share_one_server(llm_server: LlmServer) -> None:
    llm_server.enqueue("one", "two", "three")
    client = openai_client(llm_server)
    results = await asyncio.gather(*(run(client) for _ in range(3)))
    assert sorted(r[1].message.text() for r in results) == ["one", "three", "two"]


async def test_openai_tool_calls_without_index_or_id(llm_server: LlmServer) -> None:
    # some local servers leave out the index, or the id; the calls must still come apart
    def chunk(delta: dict[str, Any]) -> str:
        return sse({"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta}]})

    body = "".join(
        [
            chunk({"tool_calls": [{"id": "a", "function": {"name": "read", "arguments": ""}}]}),
            chunk({"tool_calls": [{"function": {"arguments": '{"path": '}}]}),
            chunk({"tool_calls": [{"function": {"arguments": '"x"}'}}]}),
            chunk({"tool_calls": [{"id": "b", "function": {"name": "ls", "arguments": "{}"}}]}),
            chunk({"tool_calls": [{"index": 2, "function": {"name": "pwd", "arguments": "{}"}}]}),
            # a stream must end with a finish reason (one without is an incomplete answer)
            sse(
                {
                    "id": "c",
                    "model": "m",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
                }
            ),
            "data: [DONE]\n\n",
        ]
    )
    llm_server.enqueue(RawReply(body))
    events, response = await run(openai_client(llm_server))
    calls = response.message.tool_calls()
    assert [(c.id, c.name, c.args) for c in calls[:2]] == [
        ("a", "read", {"path": "x"}),
        ("b", "ls", {}),
    ]
    assert calls[2].name == "pwd" and calls[2].id  # an id was made up
    assert [s.name for s in of_type(events, ToolUseStart)] == ["read", "ls", "pwd"]


async def test_server_also_answers_without_streaming(llm_server: LlmServer) -> None:
    import anthropic
    import openai

    reply = Reply(text="plain", tool_calls=[ToolCallReply("read", {"path": "a"}, id="t1")])
    llm_server.enqueue(reply, reply)
    oa = openai.AsyncOpenAI(api_key=KEY, base_url=llm_server.openai_url, max_retries=0)
    completion = await oa.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    await oa.close()
    message = completion.choices[0].message
    assert message.content == "plain"
    assert message.tool_calls and message.tool_calls[0].id == "t1"
    an = anthropic.AsyncAnthropic(api_key=KEY, base_url=llm_server.anthropic_url, max_retries=0)
    result = await an.messages.create(
        model="c", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    await an.close()
    assert [b.type for b in result.content] == ["text", "tool_use"]
    assert llm_server.pending == 0


# --- credentials in base_url are masked ----------------------------------------------------------


URL_USER = "alice"
URL_PASS = "pa55-w0rd-SECRET"
URL_KEY = "AIzaQueryKey0123456789"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pass@host/v1", "https://***:***@host/v1"),
        ("https://user@host/v1", "https://***@host/v1"),
        ("https://u:p@ss@host:8443/v1", "https://***:***@host:8443/v1"),
        ("https://host/v1?key=abc&x=1", "https://host/v1?key=***&x=1"),
        ("https://host/v1?API_KEY=abc", "https://host/v1?API_KEY=***"),
        (
            "https://host/?apikey=a&token=b&access_token=c",
            "https://host/?apikey=***&token=***&access_token=***",
        ),
        (
            "https://host/?secret=a&password=b&sig=c&signature=d",
            "https://host/?secret=***&password=***&sig=***&signature=***",
        ),
        ("https://host/?keyboard=qwerty&monkey=1", "https://host/?keyboard=qwerty&monkey=1"),
        ("https://host/?key=&x", "https://host/?key=&x"),
        (
            "https://u:p@host/p?key=k#frag?key=not-query",
            "https://***:***@host/p?key=***#frag?key=not-query",
        ),
        ("https://host/path@not-userinfo", "https://host/path@not-userinfo"),
        ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("", ""),
        ("not a url at all", "not a url at all"),
        ("::::@@@???", "::::@@@???"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_mask_url_never_raises() -> None:
    for junk in ("\x00://@", "http://[", "%%%://a:b@", "a" * 10_000, None, 42, b"http://u:p@h"):
        assert isinstance(mask_url(junk), str)  # type: ignore[arg-type]
        assert isinstance(mask_urls_in_text(junk), str)  # type: ignore[arg-type]


def test_mask_urls_in_text() -> None:
    text = f"failed: https://{URL_USER}:{URL_PASS}@h/v1?key={URL_KEY} and 'http://x:y@z' done"
    masked = mask_urls_in_text(text)
    assert masked == "failed: https://***:***@h/v1?key=*** and 'http://***:***@z' done"
    assert mask_urls_in_text("no urls here") == "no urls here"


def test_llm_errors_mask_urls_whoever_builds_them() -> None:
    error = LlmRequestError(f"bad https://{URL_USER}:{URL_PASS}@h/v1", status=500)
    assert URL_PASS not in str(error) and error.status == 500
    assert URL_PASS not in str(UnknownProviderError(f"x https://a:{URL_PASS}@h"))
    assert LlmError().args == ()


def _secret_base(port: int, path: str = "/v1") -> str:
    return f"http://{URL_USER}:{URL_PASS}@127.0.0.1:{port}{path}?key={URL_KEY}"


def _assert_masked(text: str) -> None:
    assert URL_PASS not in text and URL_KEY not in text and f"{URL_USER}:" not in text


def test_base_url_credentials_never_in_repr() -> None:
    base = _secret_base(9)
    for client in (
        OpenAIClient("m", base_url=base, api_key=KEY),
        AnthropicClient("m", base_url=base, api_key=KEY),
        create_client("acme/m", base_url=base),
        create_client("anthropic/m", base_url=base, api_key=KEY),
    ):
        text = repr(client)
        _assert_masked(text)
        assert "***:***@127.0.0.1:9" in text and "key=***" in text
        assert client.base_url.startswith(f"http://{URL_USER}:{URL_PASS}@")  # still usable
    config = LlmConfigData.from_model("acme/m", base_url=base)
    _assert_masked(repr(config))
    _assert_masked(str(config))
    assert config.base_url == base


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_base_url_credentials_never_in_connection_errors(kind: str) -> None:
    base = _secret_base(_dead_port())
    client: LlmClient
    if kind == "openai":
        client = OpenAIClient("m", base_url=base, provider="acme", retry=FAST)
    else:
        client = AnthropicClient("m", base_url=base, api_key=KEY, retry=FAST)
    with pytest.raises(LlmRequestError) as info:
        await run(client)
    text = str(info.value)
    _assert_masked(text)
    assert "***:***@127.0.0.1" in text and "Could not reach" in text
    chained = info.value.__cause__ or info.value.__context__
    assert chained is None or URL_PASS not in str(chained)


async def test_base_url_credentials_never_in_timeout_errors(llm_server: LlmServer) -> None:
    llm_server.enqueue(Reply(text=["slow"], chunk_delay=1.0))
    host = llm_server.openai_url.split("://", 1)[1]
    client = OpenAIClient(
        "m", base_url=f"http://{URL_USER}:{URL_PASS}@{host}", api_key=KEY, retry=FAST, timeout=0.2
    )
    with pytest.raises(LlmRequestError) as info:
        await run(client)
    assert "timed out" in str(info.value)
    _assert_masked(str(info.value))


async def test_query_keys_never_in_errors_that_echo_the_path(llm_server: LlmServer) -> None:
    # the key in the query makes the SDK post to "/v1?key=...chat/completions": the
    # server's 404 echoes that path
    host = llm_server.openai_url.split("://", 1)[1]
    base = f"http://{host}?key={URL_KEY}"
    client = OpenAIClient("m", base_url=base, api_key=KEY, retry=FAST)
    with pytest.raises(LlmRequestError) as info:
        await run(client)
    assert "key=***" in str(info.value)
    _assert_masked(str(info.value))
    assert mask_urls_in_text("no POST /v1/?x=1&Token=abc;sig=d#key=e") == (
        "no POST /v1/?x=1&Token=***;sig=***#key=e"
    )


# === issue 12: real servers ================================================================
# Each section below pins one item of the issue against the strict loopback server.


def history_of_every_shape() -> list[Message]:
    """One message of each shape the engine keeps: text, tool calls without text, tool
    results, reasoning, Anthropic thinking, several text blocks."""
    return [
        Message(role="user", content=[TextBlock(text="read a.txt"), TextBlock(text="and b.txt")]),
        Message(
            role="assistant",
            content=[
                ToolUseBlock(id="call_1", name="read", input={"path": "a.txt"}),
                ToolUseBlock(id="call_2", name="read", input={"path": "b.txt"}),
            ],
        ),
        Message(
            role="user",
            content=[
                ToolResultBlock(tool_use_id="call_1", content="alpha"),
                ToolResultBlock(tool_use_id="call_2", content="no such file", is_error=True),
            ],
        ),
        Message(
            role="assistant",
            content=[ToolUseBlock(id="call_3", name="read", input={"path": "c.txt"})],
            reasoning_content="b.txt is missing; try c.txt",
        ),
        Message.tool_result("call_3", "gamma"),
        Message(
            role="assistant",
            content=[ThinkingBlock(thinking="done", signature="sig"), TextBlock(text="a, c.")],
        ),
        Message(role="assistant", content=[ThinkingBlock(thinking="only thinking", signature="s")]),
        Message.user("thanks"),
    ]


def test_openai_request_body_for_every_message_shape() -> None:
    client = OpenAIClient("m", base_url="http://127.0.0.1:9/v1", provider="llamacpp")
    client.tool_choice = "auto"
    body = client.build_request(history_of_every_shape(), system="sys", tools=[READ_TOOL])
    call = {"type": "function"}
    assert body == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "read",
                    "description": "Read a file",
                    "parameters": READ_TOOL.parameters,
                },
            }
        ],
        "tool_choice": "auto",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "read a.txt\n\nand b.txt"},
            {
                "role": "assistant",
                "content": "",  # never null: llama-cpp-python's server answers 500 to null
                "tool_calls": [
                    {
                        **call,
                        "id": "call_1",
                        "function": {"name": "read", "arguments": '{"path": "a.txt"}'},
                    },
                    {
                        **call,
                        "id": "call_2",
                        "function": {"name": "read", "arguments": '{"path": "b.txt"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "alpha"},
            {"role": "tool", "tool_call_id": "call_2", "content": "no such file"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        **call,
                        "id": "call_3",
                        "function": {"name": "read", "arguments": '{"path": "c.txt"}'},
                    }
                ],
                "reasoning_content": "b.txt is missing; try c.txt",
            },
            {"role": "tool", "tool_call_id": "call_3", "content": "gamma"},
            {"role": "assistant", "content": "a, c."},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "thanks"},
        ],
    }
    # every content the server sees is a string
    assert all(isinstance(m["content"], str) for m in body["messages"])
    # no tools, no tool_choice
    assert "tool_choice" not in client.build_request([Message.user("x")])


def test_anthropic_request_body_for_every_message_shape() -> None:
    client = AnthropicClient("c", api_key=KEY)
    body = client.build_request(history_of_every_shape(), system="sys", tools=[READ_TOOL])
    assert body == {
        "model": "c",
        "max_tokens": 8192,
        "stream": True,
        "system": "sys",
        "tools": [
            {"name": "read", "description": "Read a file", "input_schema": READ_TOOL.parameters}
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "read a.txt"},
                    {"type": "text", "text": "and b.txt"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "read",
                        "input": {"path": "a.txt"},
                    },
                    {
                        "type": "tool_use",
                        "id": "call_2",
                        "name": "read",
                        "input": {"path": "b.txt"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "alpha"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_2",
                        "content": "no such file",
                        "is_error": True,
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_3", "name": "read", "input": {"path": "c.txt"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_3", "content": "gamma"}],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "done", "signature": "sig"},
                    {"type": "text", "text": "a, c."},
                    {"type": "thinking", "thinking": "only thinking", "signature": "s"},
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
        ],
    }


async def test_the_turn_after_a_tool_call_without_text_is_accepted(llm_server: LlmServer) -> None:
    llm_server.flavour = "llama-cpp-python"
    llm_server.enqueue(
        Reply(tool_calls=[ToolCallReply("read", {"path": "a.txt"}, id="call_x")]), "It says alpha."
    )
    client = openai_client(llm_server, retry=RetryConfig(base_delay_ms=1))
    history = [Message.user("read a.txt")]
    _, first = await run(client, history, tools=[READ_TOOL])
    assert first.message.text() == "" and first.message.tool_calls()[0].id == "call_x"
    history += [first.message, Message.tool_result("call_x", "alpha")]
    _, second = await run(client, history, tools=[READ_TOOL])

    assert second.message.text() == "It says alpha."
    sent = llm_server.last_request.body["messages"][1]
    assert sent["role"] == "assistant" and sent["content"] == ""
    assert len(llm_server.requests) == 2  # no 500, no retry


async def test_strict_server_refuses_null_content_like_llama_cpp_python(
    llm_server: LlmServer,
) -> None:
    import openai

    messages = [
        {"role": "user", "content": "read a.txt"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "alpha"},
    ]
    llm_server.enqueue("never sent")
    sdk = openai.AsyncOpenAI(api_key=KEY, base_url=llm_server.openai_url, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        await sdk.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    await sdk.close()
    assert info.value.status_code == 500
    assert "Input should be a valid string" in json.dumps(info.value.body)
    assert LLAMA_CPP_PYTHON_NULL_CONTENT_BODY["error"]["type"] == "internal_server_error"


async def test_a_500_that_blames_the_request_is_not_retried(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply(500, body=LLAMA_CPP_PYTHON_NULL_CONTENT_BODY), "never reached")
    with pytest.raises(LlmRequestError) as info:
        await run(openai_client(llm_server))
    assert len(llm_server.requests) == 1
    assert info.value.status == 500 and info.value.retried is False
    text = str(info.value)
    assert "not retried: the server rejected the request as invalid" in text
    assert "'validation error'" in text


# --- item 2: empty and unfinished streams ------------------------------------------------------


def long_prompt(words: int = 60) -> list[Message]:
    return [Message.user(" ".join(f"word{i}" for i in range(words)))]


async def test_empty_stream_for_an_overlong_prompt_is_an_error(llm_server: LlmServer) -> None:
    # llama-cpp-python: HTTP 200, then the context error happens after the headers
    llm_server.flavour, llm_server.context_window = "llama-cpp-python", 20
    llm_server.enqueue("never seen")
    client = OpenAIClient("smol", base_url=llm_server.openai_url, provider="llamacpp", retry=FAST)
    events: list[StreamEvent] = []
    with pytest.raises(IncompleteResponseError) as info:
        async for event in client.stream(long_prompt()):
            events.append(event)
    assert events == []  # no Done: nothing to record
    err = info.value
    assert err.kind == "no_chunks" and err.retried is False and err.status == 200
    text = str(err)
    assert "answered HTTP 200 but sent no data (an empty stream)" in text
    # the server's tokenizer counted the prompt; the window is unknown (llama-cpp-python
    # does not say), so the text names the likely cause and both fixes
    assert "this prompt is about 60 tokens" in text
    assert "--n_ctx N" in text and "compact the session" in text
    assert "Not retried" in text
    assert len(llm_server.requests) == 1
    paths = [r.path for r in llm_server.info_requests]
    assert "/extras/tokenize/count" in paths


async def test_empty_stream_with_a_known_window_is_a_context_error(llm_server: LlmServer) -> None:
    llm_server.flavour, llm_server.context_window = "llama.cpp", 20
    llm_server.enqueue(RawReply(""))
    client = OpenAIClient("q", base_url=llm_server.openai_url, provider="llamacpp", retry=FAST)
    with pytest.raises(ContextLengthError) as info:
        await run(client, long_prompt())
    assert (info.value.context_window, info.value.prompt_tokens) == (20, 60)
    text = str(info.value)
    assert "too long for the context window of llamacpp/q" in text
    assert "the prompt is about 60 tokens and the context window 20" in text
    assert "--ctx-size N" in text


async def test_llama_cpp_context_error_names_the_server_fix(llm_server: LlmServer) -> None:
    llm_server.flavour, llm_server.context_window = "llama.cpp", 20
    llm_server.enqueue("never seen")
    client = OpenAIClient("q", base_url=llm_server.openai_url, provider="llamacpp", retry=FAST)
    with pytest.raises(ContextLengthError) as info:
        await run(client, long_prompt())
    assert "exceeds the available context size" in str(info.value)
    assert "--ctx-size N" in str(info.value)
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize(
    ("body", "kind", "said"),
    [
        (
            sse({"id": "c", "model": "m", "choices": [], "usage": {"prompt_tokens": 3}}),
            "no_choices",
            "1 chunk(s) without any choice",
        ),
        (
            sse({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hal"}}]}),
            "no_finish_reason",
            "without a finish reason: the server stopped before the model finished",
        ),
        (
            sse({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            "empty_message",
            "finished (finish_reason 'stop') without any text or tool call",
        ),
    ],
)
async def test_incomplete_streams_are_errors(
    llm_server: LlmServer, body: str, kind: str, said: str
) -> None:
    llm_server.enqueue(RawReply(body + "data: [DONE]\n\n"))
    with pytest.raises(IncompleteResponseError) as info:
        await run(openai_client(llm_server))
    assert info.value.kind == kind
    assert said in str(info.value)
    assert len(llm_server.requests) == 1


async def test_anthropic_incomplete_streams_are_errors(llm_server: LlmServer) -> None:
    llm_server.enqueue(RawReply(""), Reply(text="", stop_reason="end_turn"))
    with pytest.raises(IncompleteResponseError, match="empty stream") as info:
        await run(anthropic_client(llm_server))
    assert info.value.kind == "no_chunks"
    with pytest.raises(IncompleteResponseError, match="without any text or tool call"):
        await run(anthropic_client(llm_server))


# --- item 3: the context window --------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "window", "expected"),
    [
        ("llama.cpp", 512, 512),  # GET /props: default_generation_settings.n_ctx
        ("vllm", 4096, 4096),  # GET /v1/models: max_model_len
        ("ollama", 2048, 2048),  # POST /api/show: num_ctx in parameters
        ("ollama", None, 131072),  # ... else model_info's <arch>.context_length
        ("llama-cpp-python", 512, None),  # says nothing
    ],
)
async def test_context_window_from_the_server(
    llm_server: LlmServer, flavour: str, window: int | None, expected: int | None
) -> None:
    llm_server.flavour, llm_server.context_window = flavour, window
    client = OpenAIClient("test-model", base_url=llm_server.openai_url, provider="local")
    assert client.own_server and client.known_context_window is None
    assert await client.context_window() == expected
    asked = len(llm_server.info_requests)
    assert asked >= 1
    assert await client.context_window() == expected  # kept: probed once
    assert len(llm_server.info_requests) == asked
    assert client.known_context_window == expected
    assert llm_server.requests == []  # no chat request was made


async def test_context_window_falls_back_to_genai_prices(llm_server: LlmServer) -> None:
    # a loopback server speaking for a hosted model name that says nothing itself
    client = OpenAIClient("gpt-4o-mini", base_url=llm_server.openai_url)
    assert await client.context_window() == 128_000
    hosted = OpenAIClient("gpt-4o-mini", api_key=KEY)  # api.openai.com: never probed
    assert not hosted.own_server
    assert hosted.known_context_window == 128_000
    assert await hosted.context_window() == 128_000
    assert await AnthropicClient("claude-haiku-4-5", api_key=KEY).context_window() == 200_000
    assert await OpenAIClient("no-such-model", api_key=KEY).context_window() is None


async def test_context_window_probe_never_raises() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = OpenAIClient("m", base_url=f"http://127.0.0.1:{port}/v1", provider="local")
    assert await client.context_window() is None


# --- item 4: usage estimates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "path"),
    [
        ("llama-cpp-python", "/extras/tokenize/count"),
        ("llama.cpp", "/tokenize"),
        ("vllm", "/tokenize"),
    ],
)
async def test_estimates_use_the_servers_tokenizer(
    llm_server: LlmServer, flavour: str, path: str
) -> None:
    llm_server.flavour = flavour
    llm_server.enqueue(
        Reply(text="Hi.", send_usage=False), Reply(text="Hello there!", send_usage=False)
    )
    client = OpenAIClient("m", base_url=llm_server.openai_url, provider="local", retry=FAST)
    prompt = "Say hi, please."
    _, response = await run(client, [Message.user(prompt)], system="Be brief.", tools=[READ_TOOL])
    usage = response.usage
    assert usage.estimated is True
    # the tool definitions are not prompt text (see a3s_notebook.llm.tokens)
    assert usage.prompt_tokens == len(fake_tokens("Be brief.\n" + prompt)) == 8
    assert usage.completion_tokens == len(fake_tokens("Hi.")) == 2
    assert usage.total_tokens == 10
    # the endpoint that answered is remembered: the next estimate asks only it
    before = len(llm_server.info_requests)
    await run(client, [Message.user(prompt)])
    later = [r.path for r in llm_server.info_requests[before:]]
    assert later == [path, path]


async def test_estimates_without_a_tokenizer_are_never_zero(llm_server: LlmServer) -> None:
    llm_server.flavour = "llama-cpp-python"
    llm_server.enqueue(Reply(text="Hi.", send_usage=False))
    # the openai flavour has no tokenizer endpoint: the heuristic counts
    llm_server.flavour = "openai"
    client = OpenAIClient("smol", base_url=llm_server.openai_url, provider="local", retry=FAST)
    _, response = await run(client, [Message.user("Hi")], tools=[READ_TOOL])
    assert response.usage.estimated is True
    assert response.usage.completion_tokens == 2  # "Hi" and "."
    assert response.usage.prompt_tokens == 1


async def test_llama_cpp_python_ignores_include_usage(llm_server: LlmServer) -> None:
    llm_server.flavour = "llama-cpp-python"
    llm_server.enqueue(Reply(text="ok", usage={"prompt_tokens": 99, "completion_tokens": 9}))
    client = OpenAIClient("m", base_url=llm_server.openai_url, provider="local", retry=FAST)
    _, response = await run(client)
    assert llm_server.last_request.body["stream_options"] == {"include_usage": True}
    assert response.usage.estimated is True and response.usage.prompt_tokens != 99


async def test_estimates_use_tiktoken_for_openai_names(
    llm_server: LlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    from a3s_notebook.llm import tokens

    class Encoding:
        def encode(self, text: str, disallowed_special: Any = ()) -> list[int]:
            return [0] * (len(text) * 10)  # deliberately unlike any heuristic

    fake = types.ModuleType("tiktoken")
    fake.encoding_name_for_model = lambda model: "o200k_base"  # type: ignore[attr-defined]
    fake.get_encoding = lambda name: Encoding()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    monkeypatch.setattr(tokens, "_encodings", {})
    llm_server.enqueue(Reply(text="Hi.", send_usage=False))
    _, response = await run(openai_client(llm_server), [Message.user("abc")])
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (30, 30)
    assert tokens.tiktoken_counter("llama3") is None  # not an OpenAI name


def test_heuristic_tokens() -> None:
    from a3s_notebook.llm.tokens import heuristic_tokens, is_openai_family

    assert heuristic_tokens("") == 0 and heuristic_tokens("  \n") == 0
    assert heuristic_tokens("Hi.") == 2
    assert heuristic_tokens("x") == 1
    assert heuristic_tokens("y" * 800) == 200
    assert heuristic_tokens("你好世界") == 4
    assert heuristic_tokens("The quick brown fox jumps.") == 7
    assert is_openai_family("gpt-4o-mini") and is_openai_family("o3-mini")
    assert is_openai_family("openai/gpt-4.1") and not is_openai_family("llama3.2")


# --- item 6: keys never go to another server ----------------------------------------------------


async def test_openai_env_key_never_reaches_a_custom_base_url(
    llm_server: LlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-123456")
    llm_server.enqueue("local answer")
    client = create_client("openai/smollm2", base_url=llm_server.openai_url)
    assert (await run(client))[1].message.text() == "local answer"
    auth = llm_server.last_request.headers["authorization"]
    assert "sk-real-openai-key" not in auth and auth == "Bearer no-key"
    # the provider's own address still gets it
    assert create_client("openai/gpt-4o")._api_key == "sk-real-openai-key-123456"  # type: ignore[attr-defined]
    same = create_client("openai/gpt-4o", base_url="https://API.openai.com:443/v1/")
    assert same._api_key == "sk-real-openai-key-123456"  # type: ignore[attr-defined]
    plain_http = create_client("openai/gpt-4o", base_url="http://api.openai.com/v1")
    assert plain_http._api_key is None  # type: ignore[attr-defined]


def test_openai_name_with_base_url_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = create_client("openai/smollm2", base_url="http://localhost:8080/v1")
    assert isinstance(client, OpenAIClient) and client.own_server
    assert client._api_key is None


async def test_anthropic_env_key_never_reaches_a_custom_base_url(
    llm_server: LlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real-key-123456")
    llm_server.enqueue("proxied")
    client = create_client("anthropic/claude-x", base_url=llm_server.anthropic_url)
    assert (await run(client))[1].message.text() == "proxied"
    assert "sk-ant-real-key" not in json.dumps(llm_server.last_request.headers)


async def test_api_key_env_names_the_custom_servers_key(
    llm_server: LlmServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-123456")
    monkeypatch.setenv("MY_SERVER_KEY", "server-key-42")
    llm_server.enqueue("ok")
    client = create_client(
        "openai/m", base_url=llm_server.openai_url, api_key_env="MY_SERVER_KEY", retry=FAST
    )
    await run(client)
    assert llm_server.last_request.headers["authorization"] == "Bearer server-key-42"

    monkeypatch.delenv("MY_SERVER_KEY")
    with pytest.raises(LlmAuthError) as info:
        create_client("openai/m", base_url=llm_server.openai_url, api_key_env="MY_SERVER_KEY")
    assert "api_key_env='MY_SERVER_KEY' names a variable that is not set" in str(info.value)
    assert "\n" not in str(info.value)
    (tmp_path / ".env").write_text("MY_SERVER_KEY=from-dotenv\n")
    from_file = create_client(
        "openai/m", base_url=llm_server.openai_url, api_key_env="MY_SERVER_KEY"
    )
    assert from_file._api_key == "from-dotenv"  # type: ignore[attr-defined]

    # the key itself by mistake: refused, and not repeated
    with pytest.raises(ValueError, match="name of an environment variable") as bad:
        create_client("openai/m", base_url=llm_server.openai_url, api_key_env="sk-abc-123-xyz")
    assert "sk-abc-123-xyz" not in str(bad.value)


async def test_a_custom_servers_401_says_how_to_give_it_a_key(llm_server: LlmServer) -> None:
    llm_server.enqueue(ErrorReply.unauthorized())
    client = create_client("openai/m", base_url=llm_server.openai_url, retry=FAST)
    with pytest.raises(LlmAuthError) as info:
        await run(client)
    text = str(info.value)
    assert "api_key=..." in text and "api_key_env=..." in text
    assert "OPENAI_API_KEY is only sent to https://api.openai.com/v1" in text
    assert "Not retried" in text


def test_keyless_providers_keep_their_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "vllm-token")
    vllm = create_client("vllm/qwen", base_url="http://127.0.0.1:8000/v1")
    assert vllm._api_key == "vllm-token"  # type: ignore[attr-defined]
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-cloud-key")
    remote = create_client("ollama/llama3.2", base_url="http://127.0.0.1:11435/v1")
    assert remote._api_key == "ollama"  # type: ignore[attr-defined]


# --- item 7: timeouts --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_stalled_server_times_out_quickly(llm_server: LlmServer, kind: str) -> None:
    import httpx

    stall = StallReply()
    llm_server.enqueue(stall, StallReply(release=stall.release))
    for timeout in (0.2, httpx.Timeout(0.2)):
        client: LlmClient
        if kind == "openai":
            client = openai_client(llm_server, timeout=timeout)
        else:
            client = anthropic_client(llm_server, timeout=timeout)
        with pytest.raises(LlmTimeoutError) as info:
            await run(client)
        text = str(info.value)
        # "answer" here; "connect" if a loaded machine were slow to accept the connection
        assert re.search(r"timed out: it did not (answer|connect) within", text)
        assert ("0.2 s" in text) if isinstance(timeout, float) else ("read 0.2 s" in text)
        assert info.value.retried is False and info.value.attempts == 1
        assert "Not retried" in text
    stall.release.set()


def test_timeout_is_checked_and_passed_through() -> None:
    import httpx
    import openai

    client = create_client("openai/m", base_url="http://127.0.0.1:9/v1", timeout=3)
    assert isinstance(client, OpenAIClient) and client.timeout == 3
    sdk = client._sdk()
    assert isinstance(sdk.timeout, openai.Timeout)
    assert (sdk.timeout.connect, sdk.timeout.read) == (3.0, 3.0)
    split = create_client(
        "openai/m", base_url="http://127.0.0.1:9/v1", timeout=httpx.Timeout(5, connect=1)
    )
    assert isinstance(split, OpenAIClient)
    assert (split._sdk().timeout.connect, split._sdk().timeout.read) == (1.0, 5.0)  # type: ignore[union-attr]
    default = OpenAIClient("m", api_key=KEY)._sdk().timeout
    assert (default.connect, default.read) == (10.0, 600.0)  # type: ignore[union-attr]
    an = create_client("anthropic/c", api_key=KEY, timeout=2.5)
    assert isinstance(an, AnthropicClient) and an._sdk().timeout.read == 2.5  # type: ignore[union-attr]
    for bad in (0, -1, True, "10"):
        with pytest.raises((ValueError, TypeError)):
            create_client("openai/m", base_url="http://127.0.0.1:9/v1", timeout=bad)


async def test_a_server_killed_mid_stream(llm_server: LlmServer) -> None:
    llm_server.enqueue(Reply(text=["one ", "two ", "three"], cut_after=3))
    events: list[StreamEvent] = []
    with pytest.raises(LlmConnectionError) as info:
        async for event in openai_client(llm_server).stream([Message.user("count")]):
            events.append(event)
    assert "".join(e.text for e in of_type(events, TextDelta)) == "one two "
    assert not of_type(events, Done)
    text = str(info.value)
    assert "lost part-way through the response" in text
    assert "peer closed connection" in text  # the transport's own words
    assert "Not retried: part of the answer had already been shown" in text
    assert len(llm_server.requests) == 1


# --- item 8: what is retried -------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_never_retried(llm_server: LlmServer, status: int) -> None:
    everything = RetryConfig(
        base_delay_ms=1, retryable_statuses={400, 401, 403, 404, 422, 429, 500}
    )
    llm_server.enqueue(ErrorReply(status, "nope"), "never reached")
    with pytest.raises(LlmError) as info:
        await run(openai_client(llm_server, retry=everything))
    assert len(llm_server.requests) == 1
    assert "not retried" in str(info.value).lower()


async def test_retried_errors_say_why(llm_server: LlmServer) -> None:
    llm_server.enqueue(*[ErrorReply.rate_limited()] * 4)
    with pytest.raises(LlmRequestError) as info:
        await run(openai_client(llm_server))
    assert info.value.retried is True and info.value.attempts == 4
    assert "(retried 3 times because HTTP 429 means the server is rate limiting" in str(info.value)

    llm_server.enqueue(ErrorReply.server_error())
    with pytest.raises(LlmRequestError) as info:
        await run(openai_client(llm_server, retry=RetryConfig.disabled()))
    assert "not retried: retries are disabled" in str(info.value)


async def test_a_reset_before_any_answer_is_retried(llm_server: LlmServer) -> None:
    llm_server.enqueue(Reply(text="lost", cut_after=0), "second try")
    _, response = await run(openai_client(llm_server))
    assert response.message.text() == "second try"
    assert len(llm_server.requests) == 2

    llm_server.enqueue(*[Reply(text="lost", cut_after=0)] * 2)
    with pytest.raises(LlmConnectionError) as info:
        await run(openai_client(llm_server, retry=RetryConfig(max_retries=1, base_delay_ms=1)))
    assert "(retried 1 time because a dropped or reset connection" in str(info.value)


async def test_a_refused_connection_is_not_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = OpenAIClient("m", base_url=f"http://127.0.0.1:{port}/v1", retry=FAST)
    with pytest.raises(LlmConnectionError) as info:
        await run(client)
    assert "(connection refused)" in str(info.value)
    assert "Not retried: nothing is listening at that address" in str(info.value)
    assert info.value.attempts == 1


async def test_context_window_of_any_client(llm_server: LlmServer) -> None:
    from a3s_notebook.llm.factory import context_window_of, known_context_window_of

    llm_server.flavour, llm_server.context_window = "llama.cpp", 512
    local = create_client("llamacpp/smol", base_url=llm_server.openai_url)
    assert known_context_window_of(local) is None  # nothing asked yet
    assert await context_window_of(local) == 512
    assert known_context_window_of(local) == 512
    scripted = create_client("scripted/echo")
    assert await context_window_of(scripted) is None
    assert known_context_window_of(scripted) is None

    class Double:  # a bare LlmClient: genai-prices by provider and model
        provider, model = "openai", "gpt-4o-mini"

        async def stream(self, *a: Any, **k: Any) -> Any:
            yield None

    assert await context_window_of(Double()) == 128_000  # type: ignore[arg-type]
    assert known_context_window_of(Double()) == 128_000  # type: ignore[arg-type]

    class Broken(Double):
        async def context_window(self) -> int:
            raise RuntimeError("boom")

    assert await context_window_of(Broken()) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"data": [{"id": "m", "max_model_len": 32768}]}, 32768),  # vLLM
        ({"data": [{"id": "m", "context_length": 8192}]}, 8192),
        ({"data": [{"id": "m", "context_window": 131072}]}, 131072),  # Groq
        ({"data": [{"id": "x", "meta": {"n_ctx_train": 4096}}]}, 4096),  # llama.cpp, one entry
        ({"data": [{"id": "a", "max_model_len": 1}, {"id": "b", "max_model_len": 2}]}, None),
        ({"data": [{"id": "m", "max_model_len": "2048"}]}, 2048),
        ({"data": [{"id": "m", "max_model_len": True}]}, None),
        ({"error": "nope"}, None),
        (None, None),
    ],
)
def test_context_window_from_models_metadata(payload: Any, expected: int | None) -> None:
    from a3s_notebook.llm._server_info import context_window_from_models

    assert context_window_from_models(payload, "m") == expected


@pytest.mark.parametrize("depth", [600, 5_000, 100_000])
def test_arguments_nested_too_deeply_become_a_parse_error(depth: int) -> None:
    from a3s_notebook.llm.types import PARSE_ERROR_KEY, parse_tool_arguments

    raw = '{"a": ' + "[" * depth + "]" * depth + "}"
    args = parse_tool_arguments(raw, "write")
    # either read (and the agent refuses it for its depth) or refused here: never a crash
    assert isinstance(args, dict)
    if PARSE_ERROR_KEY in args:
        assert "nested too deeply" in args[PARSE_ERROR_KEY]
