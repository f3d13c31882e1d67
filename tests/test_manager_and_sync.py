"""SessionManager operations, sync entry points in every context, and the demo command."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import (
    ConfigError,
    SessionConfig,
    SessionManager,
    SessionPausedError,
    SessionState,
)
from a3s_notebook.engine.errors import BudgetExceededError
from a3s_notebook.llm.errors import UnknownModelError
from a3s_notebook.llm.scripted import ScriptedClient

from .conftest import turn

ROOT = Path(__file__).resolve().parents[1]


def test_create_get_list_destroy(manager: SessionManager, tmp_path: Path) -> None:
    s = manager.create_session(SessionConfig(name="one", workspace=str(tmp_path)), session_id="one")
    assert manager.get_session("one") is s
    assert manager.find("one") is s
    assert [x.id for x in manager.list_sessions()] == ["one"]
    assert s.model_name == "scripted/demo"
    with pytest.raises(ConfigError, match="already exists"):
        manager.create_session(session_id="one")
    assert manager.destroy_session("one") is True
    assert manager.list_sessions() == []
    assert not (tmp_path / "sessions" / "one.jsonl").exists()


def test_unsafe_session_id_is_refused(manager: SessionManager) -> None:
    with pytest.raises(ValueError, match="unsafe characters: '../x'"):
        manager.create_session(session_id="../x")


def test_unknown_model_is_a_clear_error(manager: SessionManager) -> None:
    with pytest.raises(UnknownModelError, match="scripted/demo"):
        manager.create_session(model="scripted/nope")


def test_pause_and_resume_transitions(make_session: Any) -> None:
    s = make_session([turn("hi")])
    assert s.state is SessionState.ACTIVE
    assert s.resume() is False  # only from Paused
    assert s.pause() is True and s.state is SessionState.PAUSED
    assert s.pause() is False  # only from Active
    with pytest.raises(
        SessionPausedError, match=f"^Session {s.id} is paused. Call Resume before generating.$"
    ):
        s.send("x")
    assert s.resume() is True
    assert s.send("x").text == "hi"


def test_clear_keeps_the_configured_window(make_session: Any) -> None:
    s = make_session([turn("hi")], max_context_length=5000)
    s.send("x")
    assert s.context_usage.used_tokens > 0
    s.clear()
    assert s.messages == []
    assert s.context_usage.max_tokens == 5000  # quirk 4 fixed
    assert s.context_usage.used_tokens == 0


def test_fork_copies_history_and_links_parent(make_session: Any, manager: SessionManager) -> None:
    s = make_session([turn("hi"), turn("from the fork")], name="base")
    s.send("x")
    f = manager.fork_session(s.id, "forked")
    assert f.config.parent_id == s.id
    assert f.config.name == "base (fork)"
    assert [m.text() for m in f.messages] == [m.text() for m in s.messages]
    assert len(f.cost_records) == 1
    assert manager.get_child_sessions(s.id) == [f]
    # the fork is independent
    f.messages.clear()
    assert len(s.messages) == 2


def test_budget_stops_before_a_request_is_sent(make_session: Any) -> None:
    s = make_session([turn("a" * 400), turn("b" * 400), turn("c")])
    s.send("first")
    s.config.token_limit = s.total_usage.total_tokens + 1
    client = s.llm
    calls_before = client.calls
    events: list[Any] = []
    s.subscribe(events.append)
    s.send("second")  # still under the limit at its start
    with pytest.raises(BudgetExceededError, match="token_limit") as exc:
        s.send("third")
    assert client.calls == calls_before + 1  # the third call was never made
    assert exc.value.limit == "token_limit"
    assert any(e.type == "budget_exceeded" for e in events)


def test_sync_send_in_a_plain_script(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from a3s_notebook import SessionManager, SessionConfig, ScriptedClient
        m = SessionManager({str(tmp_path / "s")!r})
        s = m.create_session(SessionConfig(workspace={str(tmp_path)!r}), llm=ScriptedClient(["hello"]))
        print(s.send("hi").text)
        print(s.send("again").text)
        print(len(list(s.stream("third"))) > 0)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "hello",
        "[scripted",
        "model:",
        "no",
        "more",
        "scripted",
        "turns]",
        "True",
    ]


async def test_sync_entry_points_inside_a_running_loop(make_session: Any) -> None:
    # this test body runs inside an event loop, as a Jupyter cell does
    s = make_session([turn("one"), turn("two"), turn("three")])
    assert s.send("a").text == "one"  # no "event loop is already running"
    kinds = [e.type for e in s.stream("b")]
    assert kinds[0] == "agent_start" and kinds[-1] == "agent_end"
    assert s.compact() is False
    assert (await s.send_async("c")).text == "three"


def test_sync_and_async_in_a_real_ipython_shell(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        cells = [
            "from a3s_notebook import SessionManager, SessionConfig, ScriptedClient",
            "m = SessionManager({str(tmp_path / "s")!r})",
            "s = m.create_session(SessionConfig(workspace={str(tmp_path)!r}), llm=ScriptedClient(['x', 'y', 'z']))",
            "r1 = s.send('hi')",
            "r2 = await s.send_async('hi')",
            "events = [e.type async for e in s.stream_async('hi')]",
        ]
        for cell in cells:
            res = shell.run_cell(cell)
            assert res.success, (cell, res.error_in_exec, res.error_before_exec)
        print(shell.user_ns['r1'].text, shell.user_ns['r2'].text, shell.user_ns['events'][-1])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["x", "y", "agent_end"]


def test_demo_command_approves(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "a3s_notebook",
            "demo",
            "--approve",
            "--workspace",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for needle in (
        "agent_start",
        "tasks: [~] Look at the workspace",
        "tool_end ls",
        "approval needed: write",
        "approved by demo user",
        "tool_end write",
        "agent_end",
        "notes.md:       written",
        "(estimated)",
        "cost:           no price for this model",
    ):
        assert needle in text, needle
    assert (tmp_path / "w" / "notes.md").read_text().startswith("# Notes")


def test_demo_command_denies(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "a3s_notebook",
            "demo",
            "--deny",
            "--workspace",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "denied by demo user (reason: the demo was run with --deny)" in out.stdout
    assert "I did not write `notes.md`" in out.stdout
    assert "notes.md:       not written" in out.stdout
    assert not (tmp_path / "w" / "notes.md").exists()


def test_scripted_demo_asks_only_for_the_write(tmp_path: Path) -> None:
    from a3s_notebook.engine import PermissionPolicy

    m = SessionManager(tmp_path / "s")
    s = m.create_session(
        SessionConfig(workspace=str(tmp_path), permission_policy=PermissionPolicy.notebook()),
        model="scripted/demo-fast",
    )
    asked: list[str] = []

    def on(e: Any) -> None:
        if e.type == "confirmation_required":
            asked.append(e.tool_name)
            asyncio.get_running_loop().call_soon(s.confirm, e.tool_id, True)

    s.subscribe(on)
    result = asyncio.run(s.send_async("hello"))
    assert asked == ["write"]
    assert result.text.startswith("**Done.**")
    assert [t.status.value for t in s.tasks] == ["completed", "completed", "completed"]
    assert all(r.estimated for r in s.cost_records) and all(
        r.cost_usd is None for r in s.cost_records
    )
    assert isinstance(s.llm, ScriptedClient)


def test_provenance_belongs_to_one_run(make_session: Any) -> None:
    s = make_session([turn("one"), turn("two")])
    s.send("from a cell", provenance={"source": "%%ask", "execution_count": 7})
    s.send("from plain Python")
    assert [r.provenance for r in s.cost_records] == [
        {"source": "%%ask", "execution_count": 7},
        None,
    ]
    assert s.provenance is None
