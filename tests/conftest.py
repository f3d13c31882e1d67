"""Shared fixtures: a manager on a temp folder and scripted sessions."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import (
    ConfirmationPolicy,
    PermissionPolicy,
    Session,
    SessionConfig,
    SessionManager,
)
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests may only reach loopback: any other address fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise OSError(f"test tried to reach {host}: only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "hello.txt").write_text("hello world\n")
    return ws


@pytest.fixture
def manager(tmp_path: Path) -> SessionManager:
    return SessionManager(tmp_path / "sessions")


def turn(text: str = "", *calls: tuple[str, dict[str, Any]] | dict[str, Any]) -> ScriptedTurn:
    """A scripted turn: ``turn("hi", ("read", {"file_path": "a"}))``."""
    tool_calls = []
    for i, c in enumerate(calls):
        if isinstance(c, dict):
            tool_calls.append(c)
        else:
            tool_calls.append({"id": f"t{i + 1}_{c[0]}", "name": c[0], "args": c[1]})
    return ScriptedTurn(text=text, tool_calls=tool_calls)


@pytest.fixture
def make_session(manager: SessionManager, workspace: Path):  # type: ignore[no-untyped-def]
    """Build a session on the temp workspace that replays the given turns."""

    def make(
        turns: list[ScriptedTurn | str],
        *,
        allow: list[str] | None = None,
        deny: list[str] | None = None,
        ask: list[str] | None = None,
        timeout_ms: int = 30_000,
        confirmation: ConfirmationPolicy | None = None,
        session_id: str | None = None,
        **config: Any,
    ) -> Session:
        policy = PermissionPolicy(allow=allow or [], deny=deny or [], ask=ask or [])
        conf = confirmation or ConfirmationPolicy.enabled_policy().with_timeout(
            timeout_ms, ConfirmationPolicy().timeout_action
        )
        cfg = SessionConfig(
            workspace=str(workspace),
            permission_policy=policy,
            confirmation_policy=conf,
            **config,
        )
        return manager.create_session(cfg, llm=ScriptedClient(turns), session_id=session_id)

    return make
