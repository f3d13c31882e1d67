"""JSONL persistence: append-only records, restore, torn lines, atomic rewrites, no keys."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import (
    FileSessionStore,
    SessionConfig,
    SessionManager,
    SessionNotFoundError,
    SessionState,
    StoreError,
)
from a3s_notebook.engine.store import SessionFileWarning
from a3s_notebook.llm.scripted import ScriptedClient

from .conftest import turn


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


async def test_a_run_is_appended_record_by_record(
    make_session: Any, manager: SessionManager
) -> None:
    session = make_session(
        [turn("", ("read", {"file_path": "hello.txt"})), turn("answer")], allow=["read"]
    )
    path = manager.store.directory / f"{session.id}.jsonl"  # type: ignore[attr-defined]
    assert [r["type"] for r in lines(path)] == ["session_created"]
    await session.send_async("read hello")
    kinds = [r["type"] for r in lines(path)]
    assert kinds.count("message_added") == 4
    assert kinds.count("usage_recorded") == 2
    header = lines(path)[0]
    assert header["format"] == 2 and header["session_id"] == session.id
    assert header["config"]["permission_policy"]["allow"] == [{"rule": "read"}]
    # the file is the event log: one line per durable event, each with its time;
    # deltas are transient
    assert all(isinstance(r["ts"], float) for r in lines(path))
    assert "text_delta" not in kinds and "tool_end" in kinds and "agent_end" in kinds


async def test_restore_rebuilds_everything(
    make_session: Any, manager: SessionManager, tmp_path: Path
) -> None:
    todos = [{"id": "1", "content": "a", "status": "completed"}]
    session = make_session(
        [turn("", ("todo_write", {"todos": todos})), turn("final words")],
        allow=["todo_write"],
        session_id="keep-me",
        name="my session",
        max_context_length=1000,
    )
    await session.send_async("hello")
    session.allow("Bash(git:*)")
    session.pause()

    fresh = SessionManager(manager.store)  # a new kernel: nothing in memory
    restored = fresh.restore_session("keep-me")
    assert restored.config.name == "my session"
    assert restored.state is SessionState.PAUSED
    assert [m.model_dump() for m in restored.messages] == [m.model_dump() for m in session.messages]
    assert [r.model_dump() for r in restored.cost_records] == [
        r.model_dump() for r in session.cost_records
    ]
    assert [t.content for t in restored.tasks] == ["a"]
    assert restored.context_usage.max_tokens == 1000
    assert restored.context_usage.used_tokens == session.context_usage.used_tokens
    assert restored.rules()["allow"] == ["todo_write", "Bash(git:*)"]
    assert restored.total_usage.total_tokens == session.total_usage.total_tokens
    assert fresh.load_all_sessions() == 0  # already loaded
    other = SessionManager(manager.store)
    assert other.load_all_sessions() == 1


async def test_torn_last_line_is_skipped_and_earlier_records_kept(
    make_session: Any, manager: SessionManager
) -> None:
    session = make_session([turn("one"), turn("two")], session_id="torn")
    await session.send_async("first")
    await session.send_async("second")
    path = manager.store.directory / "torn.jsonl"  # type: ignore[attr-defined]
    whole = path.read_bytes()
    n_messages = sum(1 for r in lines(path) if r["type"] == "message_added")
    # a crash in the middle of writing one more record
    path.write_bytes(whole + b'{"type":"message_added","message":{"role":"user","cont')
    with pytest.warns(SessionFileWarning, match="torn last line"):
        restored = SessionManager(manager.store).restore_session("torn")
    assert len(restored.messages) == n_messages == 4
    assert restored.messages[-1].text() == "two"
    # appending after the crash starts on a fresh line, and the file stays readable
    restored.allow("read")
    with pytest.warns(SessionFileWarning):
        again = SessionManager(manager.store).restore_session("torn")
    assert again.rules()["allow"] == ["read"]
    assert len(again.messages) == 4


async def test_a_broken_middle_line_names_the_line_and_loses_nothing_else(
    make_session: Any, manager: SessionManager
) -> None:
    session = make_session([turn("one")], session_id="mid")
    await session.send_async("first")
    path = manager.store.directory / "mid.jsonl"  # type: ignore[attr-defined]
    rows = path.read_text().splitlines()
    rows.insert(2, "this is not json")
    path.write_text("\n".join(rows) + "\n")
    with pytest.warns(SessionFileWarning, match=r"mid.jsonl: skipped unreadable line 3"):
        restored = SessionManager(manager.store).restore_session("mid")
    assert len(restored.messages) == 2


def test_no_api_key_is_ever_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = SessionManager(tmp_path / "s")
    secret = "sk-test-SECRET-1234567890abcdef"
    session = manager.create_session(
        SessionConfig(workspace=str(tmp_path)),
        model="openai/gpt-4o-mini",
        api_key=secret,
        base_url="http://127.0.0.1:9/v1",
    )
    session.allow("read")
    manager.fork_session(session.id, "forked")
    for f in (tmp_path / "s").iterdir():
        assert secret not in f.read_text()
    assert secret not in repr(session.llm)
    # and the store scrubs key fields that a caller might add by mistake
    store = FileSessionStore(tmp_path / "t")
    store.append("x", {"kind": "note", "llm_config": {"api_key": secret}})
    assert secret not in (tmp_path / "t" / "x.jsonl").read_text()


async def test_compaction_appends_a_snapshot_and_keeps_the_audit_trail(
    make_session: Any, manager: SessionManager
) -> None:
    turns = [turn(f"answer {i}") for i in range(20)]
    session = make_session(turns, session_id="big", timeout_ms=30)
    for i in range(20):
        await session.send_async(f"question {i}")
    path = manager.store.directory / "big.jsonl"  # type: ignore[attr-defined]
    session.deny("bash")
    assert session.compact() is True
    assert len(session.messages) == 2 + 1 + 20
    assert not list(path.parent.glob("*.tmp"))
    restored = SessionManager(manager.store).restore_session("big")
    assert [m.text() for m in restored.messages] == [m.text() for m in session.messages]
    assert restored.rules()["deny"] == ["bash"]
    assert len(restored.cost_records) == 21  # 20 answers + the summary call
    assert any(e.type == "context_compacted" for e in restored.events())


def test_restore_of_unknown_or_unsafe_ids(manager: SessionManager) -> None:
    with pytest.raises(SessionNotFoundError, match="^Session not found: nope$"):
        manager.get_session("nope")
    with pytest.raises(ValueError, match="unsafe characters"):
        manager.get_session("../../etc/passwd")


def test_a_file_without_header_is_a_clear_error(manager: SessionManager) -> None:
    path = manager.store.directory / "nohead.jsonl"  # type: ignore[attr-defined]
    path.write_text('{"type":"message_added","message":{"role":"user","content":[]}}\n')
    with pytest.raises(StoreError, match="no session_created line"):
        manager.restore_session("nohead")


def test_memory_sessions_are_never_written(tmp_path: Path) -> None:
    manager = SessionManager(tmp_path / "s")
    session = manager.create_session(
        SessionConfig(storage_type="memory", workspace=str(tmp_path)), llm=ScriptedClient(["hi"])
    )
    session.send("hello")
    assert list((tmp_path / "s").iterdir()) == []


def test_persistence_failure_is_an_event_not_a_crash(tmp_path: Path) -> None:
    manager = SessionManager(tmp_path / "s")
    session = manager.create_session(
        SessionConfig(workspace=str(tmp_path)), llm=ScriptedClient(["hi"])
    )
    seen: list[str] = []
    session.subscribe(lambda e: seen.append(e.type))
    os.chmod(tmp_path / "s", 0o500)
    try:
        path = tmp_path / "s" / f"{session.id}.jsonl"
        os.chmod(path, 0o400)
        if os.access(path, os.W_OK):  # root ignores permissions: use a folder in the way
            os.chmod(path, 0o600)
            path.unlink()
            path.mkdir()
        result = session.send("hello")
    finally:
        os.chmod(tmp_path / "s", 0o700)
    assert result.text == "hi"
    assert "persistence_failed" in seen


def test_appending_costs_the_same_at_any_length(tmp_path: Path) -> None:
    # appends never read or rewrite the file: its size grows by one line per record
    store = FileSessionStore(tmp_path)
    store.append("s", {"kind": "header"})
    sizes = []
    for i in range(200):
        store.append("s", {"kind": "message", "i": i})
        sizes.append((tmp_path / "s.jsonl").stat().st_size)
    steps = {b - a for a, b in itertools.pairwise(sizes[10:])}
    assert max(steps) - min(steps) <= 2  # only the digits of i differ


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_rename_keeps_every_record_under_the_new_id(tmp_path: Path, kind: str) -> None:
    from a3s_notebook.engine import MemorySessionStore

    store = FileSessionStore(tmp_path) if kind == "file" else MemorySessionStore()
    store.append("old", {"kind": "header", "id": "old"})
    store.append("old", {"kind": "message", "n": 1})
    store.rename("old", "new")
    assert not store.exists("old")
    assert store.load("new") == [{"kind": "header", "id": "new"}, {"kind": "message", "n": 1}]
    store.rename("missing", "x")  # nothing to move: no error
    assert not store.exists("x")
