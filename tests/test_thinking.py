"""Thinking per session: set through the manager or the magics, logged, restored, and sent
on the wire (Anthropic ``thinking``, OpenAI-compatible ``reasoning_effort``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from a3s_notebook.engine import SessionConfig, SessionManager
from a3s_notebook.engine.errors import ConfigError
from a3s_notebook.llm.openai_provider import OpenAIClient, reasoning_effort_for
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.widgets import EventStream

from .llm_server import (
    Reply,
    llm_server_fixture,  # noqa: F401  (provides `llm_server`)
)
from .test_magics import ip, magics, run  # noqa: F401  (the shell fixture and helpers)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "k-test-123")


def new(manager: SessionManager, tmp_path: Path, model: str, url: str) -> Any:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    return manager.create_session(
        SessionConfig(workspace=str(ws)), model=model, base_url=url, api_key_env="TEST_LLM_KEY"
    )


async def test_anthropic_session_sends_thinking_and_a_restore_keeps_it(
    llm_server: Any, tmp_path: Path, keyed: None
) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = new(manager, tmp_path, "anthropic/claude-test", llm_server.anthropic_url)
    llm_server.enqueue(Reply(text="plain"), Reply(reasoning=["Let me ", "think."], text="ok"))
    await session.send_async("one")
    assert "thinking" not in llm_server.last_request.body

    manager.set_thinking(session.id, 8000)
    assert manager.thinking_budget(session.id) == 8000
    await session.send_async("two")
    body = llm_server.last_request.body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8000}
    assert body["max_tokens"] > 8000  # room for the answer

    manager.close()
    again = SessionManager(tmp_path / "sessions").restore_session(session.id)
    assert again.llm_config["thinking_budget"] == 8000
    llm_server.enqueue(Reply(text="after restore"))
    await again.send_async("three")
    assert llm_server.last_request.body["thinking"] == {"type": "enabled", "budget_tokens": 8000}


async def test_turning_it_off_and_switching_model_keeps_the_rest(
    llm_server: Any, tmp_path: Path, keyed: None
) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = new(manager, tmp_path, "anthropic/claude-test", llm_server.anthropic_url)
    manager.set_request_timeout(session.id, 7.5)
    manager.set_thinking(session.id, 2048)
    manager.set_thinking(session.id, None)
    assert "thinking_budget" not in session.llm_config
    assert session.llm_config["timeout"] == 7.5  # the other settings stay
    llm_server.enqueue(Reply(text="x"))
    await session.send_async("go")
    assert "thinking" not in llm_server.last_request.body
    headers = llm_server.last_request.headers
    assert "k-test-123" in headers.get("x-api-key", "") + headers.get("authorization", "")


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "low"), (4095, "low"), (4096, "medium"), (16384, "high")]
)
def test_budget_to_reasoning_effort(budget: int, effort: str) -> None:
    assert reasoning_effort_for(budget) == effort


async def test_openai_compatible_session_sends_reasoning_effort(
    llm_server: Any, tmp_path: Path, keyed: None
) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = new(manager, tmp_path, "openai/o-test", llm_server.openai_url)
    manager.set_thinking(session.id, 20000)
    llm_server.enqueue(Reply(reasoning=["hm"], text="done"))
    events: list[Any] = []
    session.subscribe(events.append)
    await session.send_async("go")
    body = llm_server.last_request.body
    assert body["reasoning_effort"] == "high" and "thinking" not in body
    # the reasoning streamed, and the finished answer's row carries it; the front end shows
    # it as a <details> block that is closed unless the user opened it
    assert [e.text for e in events if e.type == "reasoning_delta"] == ["hm"]
    stream = EventStream(session)
    rows = [r for r in stream.rows if r.get("kind") == "assistant" and r.get("reasoning")]
    assert rows and rows[-1]["reasoning"] == "hm" and rows[-1]["text"] == "done"


def test_a_direct_client_rejects_an_unknown_effort() -> None:
    with pytest.raises(ValueError, match="reasoning_effort must be one of low, medium, high"):
        OpenAIClient("m", api_key="k", reasoning_effort="max")


@pytest.mark.parametrize("budget", [0, 1023, -5, True, "8000", 8000.0])
def test_bad_budgets_are_refused_and_change_nothing(tmp_path: Path, budget: Any) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = manager.create_session(SessionConfig(workspace=str(tmp_path)))
    with pytest.raises(
        ConfigError, match="thinking_budget must be a number of tokens of at least 1024"
    ):
        manager.set_thinking(session.id, budget)
    assert "thinking_budget" not in (session.llm_config or {})


def test_a_ready_client_cannot_be_changed(tmp_path: Path) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = manager.create_session(SessionConfig(workspace=str(tmp_path)), llm=ScriptedClient([]))
    with pytest.raises(ConfigError, match="ready client"):
        manager.set_thinking(session.id, 4096)


def test_configure_with_a_budget(tmp_path: Path, llm_server: Any, keyed: None) -> None:
    manager = SessionManager(tmp_path / "sessions")
    session = manager.create_session(SessionConfig(workspace=str(tmp_path)))
    manager.configure(
        session.id,
        model="anthropic/claude-test",
        base_url=llm_server.anthropic_url,
        api_key_env="TEST_LLM_KEY",
        thinking_budget=3000,
    )
    assert session.llm_config["thinking_budget"] == 3000
    assert session.llm.thinking_budget == 3000


def test_magics_config_and_ask_flag(
    ip: InteractiveShell,  # noqa: F811
    llm_server: Any,
    keyed: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(
        ip,
        f"%a3s_session new t --model anthropic/claude-test --base-url {llm_server.anthropic_url} "
        "--api-key-env TEST_LLM_KEY",
    )
    session = magics(ip).current
    run(ip, "%a3s_session config thinking=on")
    assert session.llm_config["thinking_budget"] == 8000
    run(ip, "%a3s_session config thinking_budget=5000")
    assert run(ip, "%a3s_session config thinking") is None
    assert "thinking = True" in capsys.readouterr().out
    run(ip, "%a3s_session config thinking=off")
    assert "thinking_budget" not in session.llm_config
    llm_server.enqueue(Reply(text="thought"))
    assert run(ip, "%%ask --quiet --thinking 2048\nhi").text == "thought"
    assert llm_server.last_request.body["thinking"]["budget_tokens"] == 2048
    run(ip, "%a3s_session config thinking_budget=12")
    err = capsys.readouterr().err
    assert "at least 1024" in err
    assert session.llm_config["thinking_budget"] == 2048
