"""Full agent runs through the official SDKs against a loopback server, with their costs."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from a3s_notebook.engine import PermissionPolicy, SessionConfig, SessionManager
from a3s_notebook.engine.events import AgentEvent
from a3s_notebook.llm.errors import IncompleteResponseError, LlmAuthError

from .llm_server import (
    ErrorReply,
    LlmServer,
    Reply,
    ToolCallReply,
    llm_server_fixture,  # noqa: F401  (provides `llm_server`)
)


def expected_cost(model: str, provider: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model_ref=model, provider_id=provider).total_price)


def make(manager: SessionManager, workspace: Path, model: str, base_url: str):  # type: ignore[no-untyped-def]
    config = SessionConfig(
        workspace=str(workspace), permission_policy=PermissionPolicy(allow=["read", "ls"])
    )
    return manager.create_session(config, model=model, api_key="sk-test-key-000", base_url=base_url)


async def test_openai_session_with_two_tool_calls_and_cost(
    llm_server: LlmServer, manager: SessionManager, workspace: Path
) -> None:
    llm_server.enqueue(
        Reply(
            text=["Let me ", "look."],
            tool_calls=[
                ToolCallReply("read", {"file_path": "hello.txt"}, pieces=4),
                ToolCallReply("ls", {"path": "."}, pieces=3),
            ],
            interleave=True,
            usage={
                "prompt_tokens": 1200,
                "completion_tokens": 80,
                "total_tokens": 1280,
                "prompt_tokens_details": {"cached_tokens": 200},
            },
        ),
        Reply(
            text=["The file says ", "hello world."],
            usage={"prompt_tokens": 1500, "completion_tokens": 40, "total_tokens": 1540},
        ),
    )
    session = make(manager, workspace, "openai/gpt-4o-mini", llm_server.openai_url)
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    result = await session.send_async("what is in hello.txt?")

    assert result.text == "The file says hello world."
    assert result.tool_calls_count == 2
    # the second request carried both tool results back, in call order
    second = llm_server.requests[1].body
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["call_1", "call_2"]
    assert "hello world" in tool_msgs[0]["content"]
    assert llm_server.requests[0].body["stream_options"] == {"include_usage": True}
    assert [e.type for e in events].count("tool_end") == 2

    rows = session.cost_records
    assert [(r.provider, r.model) for r in rows] == [("openai", "gpt-4o-mini")] * 2
    assert [r.tool_names for r in rows] == [["read", "ls"], []]
    assert (rows[0].prompt_tokens, rows[0].completion_tokens, rows[0].cache_read_tokens) == (
        1200,
        80,
        200,
    )
    assert rows[0].cost_usd == pytest.approx(
        expected_cost(
            "gpt-4o-mini", "openai", input_tokens=1200, output_tokens=80, cache_read_tokens=200
        )
    )
    assert rows[1].cost_usd == pytest.approx(
        expected_cost("gpt-4o-mini", "openai", input_tokens=1500, output_tokens=40)
    )
    assert result.cost_usd == pytest.approx(rows[0].cost_usd + rows[1].cost_usd)
    assert all(r.latency_ms is not None and r.ttft_ms is not None and not r.estimated for r in rows)
    assert session.context_usage.used_tokens == 1500

    frame = session.costs()
    assert frame["cost_usd"].sum() == pytest.approx(session.total_cost)


async def test_anthropic_session_with_two_tool_calls_and_cost(
    llm_server: LlmServer, manager: SessionManager, workspace: Path
) -> None:
    llm_server.enqueue(
        Reply(
            reasoning=["I should ", "read the file."],
            text="Reading.",
            tool_calls=[
                ToolCallReply("read", {"file_path": "hello.txt"}, pieces=5),
                ToolCallReply("ls", {"path": "."}, pieces=2),
            ],
            usage={
                "input_tokens": 900,
                "output_tokens": 60,
                "cache_read_input_tokens": 300,
                "cache_creation_input_tokens": 100,
            },
        ),
        Reply(text="It says hello world.", usage={"input_tokens": 1400, "output_tokens": 30}),
    )
    session = make(manager, workspace, "anthropic/claude-haiku-4-5", llm_server.anthropic_url)
    result = await session.send_async("what is in hello.txt?")
    assert result.text == "It says hello world."

    second = llm_server.requests[1].body
    assert "system" not in second or isinstance(second["system"], (str, list))
    sent_back = second["messages"][1]["content"]
    assert sent_back[0]["type"] == "thinking" and sent_back[0]["signature"] == "sig-test"
    results = second["messages"][2]["content"]
    assert [b["tool_use_id"] for b in results if b["type"] == "tool_result"] == ["call_1", "call_2"]

    first = session.cost_records[0]
    # all input is counted: uncached + cache reads + cache writes
    assert (first.prompt_tokens, first.cache_read_tokens, first.cache_write_tokens) == (
        1300,
        300,
        100,
    )
    assert first.cost_usd == pytest.approx(
        expected_cost(
            "claude-haiku-4-5",
            "anthropic",
            input_tokens=1300,
            output_tokens=60,
            cache_read_tokens=300,
            cache_write_tokens=100,
        )
    )
    assert session.cost_records[1].cost_usd == pytest.approx(
        expected_cost("claude-haiku-4-5", "anthropic", input_tokens=1400, output_tokens=30)
    )


async def test_system_prompt_and_budget_before_any_request(
    llm_server: LlmServer, manager: SessionManager, workspace: Path
) -> None:
    llm_server.enqueue(
        Reply(
            text="one", usage={"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        )
    )
    config = SessionConfig(
        workspace=str(workspace), system_prompt="Be terse.", cost_limit_usd=0.0000001
    )
    session = manager.create_session(
        config, model="openai/gpt-4o-mini", api_key="sk-x", base_url=llm_server.openai_url
    )
    await session.send_async("first")
    assert llm_server.requests[0].body["messages"][0] == {"role": "system", "content": "Be terse."}
    from a3s_notebook.engine import BudgetExceededError

    with pytest.raises(BudgetExceededError, match="cost_limit_usd"):
        await session.send_async("second")
    assert len(llm_server.requests) == 1  # nothing was sent for the second prompt


async def test_a_rejected_key_is_an_error_event_naming_the_variable(
    llm_server: LlmServer, manager: SessionManager, workspace: Path
) -> None:
    llm_server.enqueue(ErrorReply.unauthorized())
    session = make(manager, workspace, "openai/gpt-4o-mini", llm_server.openai_url)
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    with pytest.raises(LlmAuthError, match="OPENAI_API_KEY"):
        await session.send_async("hi")
    assert seen[-1].type == "error" and "OPENAI_API_KEY" in seen[-1].message  # type: ignore[union-attr]
    assert "sk-test-key-000" not in seen[-1].message  # type: ignore[union-attr]


# --- issue 12: a strict server (llama-cpp-python's rules) under a whole session -------------


async def test_tool_call_without_text_then_later_turns_on_a_strict_server(
    llm_server: LlmServer, manager: SessionManager, workspace: Path
) -> None:
    llm_server.flavour = "llama-cpp-python"  # 500 on null content, no usage in streams
    llm_server.enqueue(
        Reply(tool_calls=[ToolCallReply("read", {"file_path": "hello.txt"})]),
        Reply(text="It says hello world."),
        Reply(text="You are welcome."),
    )
    session = make(manager, workspace, "openai/smollm2", llm_server.openai_url)
    first = await session.send_async("what is in hello.txt?")
    assert first.text == "It says hello world." and first.tool_calls_count == 1
    second = await session.send_async("thanks")
    assert second.text == "You are welcome."

    assert len(llm_server.requests) == 3  # no 500, no retry
    for request in llm_server.requests[1:]:
        calls = [m for m in request.body["messages"] if m.get("tool_calls")]
        assert [m["content"] for m in calls] == [""]
    # the server sent no usage: estimated with its tokenizer, never 0 for a text
    rows = session.cost_records
    assert all(r.estimated and r.completion_tokens >= 1 for r in rows)
    assert all(r.cost_usd is None for r in rows)  # no price for a local model


async def test_an_empty_stream_is_an_error_not_an_empty_answer(
    llm_server: LlmServer, manager: SessionManager, workspace: Path
) -> None:
    llm_server.flavour, llm_server.context_window = "llama-cpp-python", 30
    llm_server.enqueue("never seen")
    session = make(manager, workspace, "openai/smollm2", llm_server.openai_url)
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    with pytest.raises(IncompleteResponseError, match="empty stream"):
        await session.send_async(" ".join(f"w{i}" for i in range(60)))
    assert seen[-1].type == "error" and "--n_ctx" in seen[-1].message  # type: ignore[union-attr]
    # no assistant message was recorded, empty or not
    assert all(m.role != "assistant" for m in session.messages)
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize(("flavour", "window"), [("vllm", 8192), ("llama.cpp", 4096)])
async def test_the_context_bar_takes_the_local_servers_window(
    llm_server: LlmServer, manager: SessionManager, workspace: Path, flavour: str, window: int
) -> None:
    llm_server.flavour, llm_server.context_window = flavour, window
    llm_server.enqueue(Reply(text="hi"), Reply(text="again"))
    session = make(manager, workspace, "openai/local", llm_server.openai_url)
    assert session.context_usage.max_tokens == 200_000  # not known before the first run
    await session.send_async("hello")
    assert session.context_usage.max_tokens == window
    # asked once, not before every call
    await session.send_async("more")
    probes = [r for r in llm_server.info_requests if r.path.endswith(("/props", "/models"))]
    assert len(probes) >= 1 and len({r.path for r in probes}) == len(probes)
    # a restore shows the same window, and a window set in the config wins
    manager.forget_session(session.id)
    restored = SessionManager(manager.store).restore_session(session.id)
    assert restored.context_usage.max_tokens == window
    restored.update_config(max_context_length=1000)
    assert restored.context_usage.max_tokens == 1000


async def test_a_prompt_that_fails_on_the_server_is_not_kept_for_the_next_one(
    llm_server: LlmServer, manager: SessionManager, workspace: Path
) -> None:
    llm_server.flavour, llm_server.context_window = "llama-cpp-python", 30
    llm_server.enqueue("never seen", Reply(text="short answer"))
    session = make(manager, workspace, "openai/smollm2", llm_server.openai_url)
    with pytest.raises(IncompleteResponseError):
        await session.send_async(" ".join(f"w{i}" for i in range(60)))
    result = await session.send_async("short")
    assert result.text == "short answer"
    sent = llm_server.requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["short"]
