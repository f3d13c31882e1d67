"""The LLM layer against a real model: llama-cpp-python's server with SmolLM2-135M-Instruct.

What issue 12 found by hand, as tests: plain chat, a forced tool call and the turn after
it (the ``"content": ""`` fix), a prompt over the 512-token context (an empty 200 stream),
a server killed mid-stream, a wrong port, a stalled server with a short timeout, and the
usage estimate (the server ignores ``stream_options.include_usage``). The model is tiny,
so the tests check the shape of what comes back, never its wisdom.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import openai
import pytest

from a3s_notebook.llm._retry import RetryConfig
from a3s_notebook.llm.errors import (
    IncompleteResponseError,
    LlmConnectionError,
    LlmTimeoutError,
)
from a3s_notebook.llm.factory import create_client
from a3s_notebook.llm.openai_provider import OpenAIClient
from a3s_notebook.llm.types import (
    Done,
    LlmResponse,
    Message,
    StreamEvent,
    TextDelta,
    ToolDefinition,
    ToolUseStart,
)

from .conftest import MODEL_ALIAS, N_CTX, LocalServer

FAST = RetryConfig(base_delay_ms=10, max_delay_ms=50)
WEATHER = ToolDefinition(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "the city"}},
        "required": ["city"],
    },
)


def client_for(server: LocalServer, **kw: Any) -> OpenAIClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("timeout", 120)
    client = create_client(
        f"openai/{MODEL_ALIAS}", base_url=server.base_url, temperature=0, max_tokens=48, **kw
    )
    assert isinstance(client, OpenAIClient)
    return client


async def collect(
    client: OpenAIClient, messages: list[Message], **kw: Any
) -> tuple[list[StreamEvent], LlmResponse]:
    events = [e async for e in client.stream(messages, **kw)]
    assert isinstance(events[-1], Done)
    return events[:-1], events[-1].response


async def test_plain_chat(local_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # a real OpenAI key in the environment must not matter (nor reach this server)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-sent-000000")
    client = client_for(local_server)
    assert client._api_key is None and client.own_server
    events, response = await collect(client, [Message.user("Say hello in five words.")])

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert deltas and "".join(d.text for d in deltas) == response.message.text()
    assert response.message.text().strip()
    assert response.stop_reason in ("stop", "length")
    assert response.model == MODEL_ALIAS
    # llama-cpp-python ignores stream_options.include_usage: the usage is estimated with
    # the server's own tokenizer (POST /extras/tokenize/count), never 0 for a text
    usage = response.usage
    assert usage.estimated is True
    assert usage.prompt_tokens >= 5 and usage.completion_tokens >= 1
    assert client._tokenize_path == "/extras/tokenize/count"
    # and the server says nothing about its context window
    assert await client.context_window() is None


async def test_forced_tool_call_and_the_turn_after(local_server: LocalServer) -> None:
    client = client_for(local_server)
    client.tool_choice = {"type": "function", "function": {"name": "get_weather"}}
    history = [Message.user("What is the weather in Paris?")]
    events, first = await collect(client, history, tools=[WEATHER])

    assert [e.name for e in events if isinstance(e, ToolUseStart)] == ["get_weather"]
    (call,) = first.message.tool_calls()
    assert call.name == "get_weather" and isinstance(call.args.get("city"), str)
    assert first.message.text() == ""  # a tool call without text: the case of item 1
    assert first.stop_reason == "tool_calls"

    history += [first.message, Message.tool_result(call.id, "Sunny, 21 C")]
    client.tool_choice = None
    sent = client.build_request(history, tools=[WEATHER])["messages"][1]
    assert sent["content"] == "" and sent["tool_calls"][0]["id"] == call.id
    _, second = await collect(client, history, tools=[WEATHER])
    assert second.message.text().strip()  # answered: no HTTP 500, no retry

    # what the same turn got before the fix: null content is a 500 from this server
    sdk = openai.AsyncOpenAI(api_key="none", base_url=local_server.base_url, max_retries=0)
    body = client.build_request(history, tools=[WEATHER])
    body["messages"][1]["content"] = None
    body["stream"] = False
    body.pop("stream_options")
    with pytest.raises(openai.InternalServerError) as info:
        await sdk.chat.completions.create(**body)
    await sdk.close()
    assert "Input should be a valid string" in str(info.value.body)


async def test_tool_definitions_are_not_in_this_servers_prompt(local_server: LocalServer) -> None:
    # the evidence behind a3s_notebook.llm.tokens leaving tool definitions out of the
    # prompt estimate: SmolLM2's chat template under llama-cpp-python drops them
    sdk = openai.AsyncOpenAI(api_key="none", base_url=local_server.base_url, max_retries=0)
    messages: Any = [{"role": "user", "content": "Hi"}]
    plain = await sdk.chat.completions.create(model=MODEL_ALIAS, messages=messages, max_tokens=2)
    tools: Any = OpenAIClient("m").build_request([], tools=[WEATHER] * 3)["tools"]
    with_tools = await sdk.chat.completions.create(
        model=MODEL_ALIAS, messages=messages, max_tokens=2, tools=tools
    )
    await sdk.close()
    assert plain.usage is not None and with_tools.usage is not None
    assert plain.usage.prompt_tokens == with_tools.usage.prompt_tokens


async def test_context_overflow_is_an_error_not_an_empty_answer(local_server: LocalServer) -> None:
    client = client_for(local_server)
    prompt = " ".join(["word"] * (N_CTX + 200))
    events: list[StreamEvent] = []
    with pytest.raises(IncompleteResponseError) as info:
        async for event in client.stream([Message.user(prompt)]):
            events.append(event)
    assert events == []  # no Done: nothing to record as the answer
    err = info.value
    assert err.kind == "no_chunks" and err.retried is False and err.attempts == 1
    text = str(err)
    assert "an empty stream" in text and "does not fit their context window" in text
    assert "--n_ctx N" in text and "compact" in text
    # the prompt was counted with the server's tokenizer
    counted = re.search(r"this prompt is about (\d+) tokens", text)
    assert counted is not None and int(counted.group(1)) > N_CTX


async def test_a_server_killed_mid_stream(own_server: LocalServer) -> None:
    client = client_for(own_server, retry=FAST)
    client.max_tokens = 400
    events: list[StreamEvent] = []
    with pytest.raises(LlmConnectionError) as info:
        async for event in client.stream([Message.user("Count from 1 to 300, one per line.")]):
            events.append(event)
            if len(events) == 1:
                own_server.kill()
    assert isinstance(events[0], TextDelta) and not any(isinstance(e, Done) for e in events)
    text = str(info.value)
    assert "lost part-way through the response" in text
    assert "Not retried: part of the answer had already been shown" in text


async def test_a_wrong_port(local_server: LocalServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = create_client(f"openai/{MODEL_ALIAS}", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(LlmConnectionError) as info:
        await collect(client, [Message.user("hi")])  # type: ignore[arg-type]
    text = str(info.value)
    assert f"Could not reach openai at http://127.0.0.1:{port}/v1 (connection refused)" in text
    assert info.value.attempts == 1 and "Not retried: nothing is listening" in text
    assert "\n" not in text


async def test_a_stalled_server_with_a_short_timeout(own_server: LocalServer) -> None:
    own_server.pause()  # the kernel still accepts the connection; nobody answers
    try:
        client = client_for(own_server, timeout=1.0)
        with pytest.raises(LlmTimeoutError) as info:
            await collect(client, [Message.user("hi")])
    finally:
        own_server.resume()
    text = str(info.value)
    assert "timed out: it did not answer within 1 s" in text
    assert info.value.retried is False and info.value.attempts == 1


async def test_a_session_end_to_end(local_server: LocalServer, tmp_path: Path) -> None:
    from a3s_notebook.engine import SessionConfig, SessionManager

    workspace = tmp_path / "ws"
    workspace.mkdir()
    manager = SessionManager(tmp_path / "sessions")
    session = manager.create_session(
        SessionConfig(workspace=str(workspace)),
        model=f"openai/{MODEL_ALIAS}",
        base_url=local_server.base_url,
    )
    result = await session.send_async("Say hello.")
    assert result.text.strip()
    (record,) = session.cost_records
    assert record.cost_usd is None and record.estimated
    assert record.latency_ms is not None and record.ttft_ms is not None
    assert record.completion_tokens >= 1


def test_the_magics_in_a_real_shell(
    local_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-reach-the-local-server")
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "a3s_notebook")
    try:
        magics = shell.magics_manager.registry["A3sMagics"]
        magics._manager, magics.current = None, None
        magics.sessions_dir = str(tmp_path / "sessions")
        new = shell.run_cell(
            f"%a3s_session new small --model openai/{MODEL_ALIAS} "
            f"--base-url {local_server.base_url} --request-timeout 60 --workspace ws"
        )
        assert new.error_in_exec is None, new.error_in_exec
        answer = shell.run_cell("%%ask --quiet\nSay hello in one short sentence.")
        assert answer.error_in_exec is None, answer.error_in_exec
        assert answer.result.text.strip()
        session = magics.current
        assert session.cost_records[-1].estimated and session.cost_records[-1].cost_usd is None
        # a prompt over the server's context: one line, the history as it was
        before = len(session.messages)
        long = shell.run_cell("%%ask --quiet\n" + " ".join(f"word{i}" for i in range(2000)))
        assert long.error_in_exec is not None
        assert "context" in str(long.error_in_exec).lower()
        assert len(session.messages) == before
        cost = shell.run_cell("%a3s_session cost")
        assert cost.error_in_exec is None
    finally:
        shell.run_line_magic("unload_ext", "a3s_notebook")
