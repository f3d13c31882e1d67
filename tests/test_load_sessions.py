"""Reading a folder of session logs into frames (and exporting one session).

The logs are written by the real engine (scripted sessions through ``SessionManager``);
format-1 files and damaged lines are written by hand, byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import warnings
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from a3s_notebook import export_session, load_sessions
from a3s_notebook.analysis import COLUMNS, SessionFrames, load_calls, query
from a3s_notebook.engine import SessionManager
from a3s_notebook.engine.events import (
    ConfirmationRequired,
    ConfirmationsCancelled,
    MessageAdded,
    event_to_dict,
)
from a3s_notebook.engine.store import FileSessionStore, SessionFileWarning
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.llm.types import Message

from .conftest import turn

TS = "datetime64[ns, UTC]"
DTYPES: dict[str, dict[str, str]] = {
    "sessions": {
        "session_id": "string",
        "name": "string",
        "model": "string",
        "state": "string",
        "created": TS,
        "updated": TS,
        "messages": "Int64",
        "workspace": "string",
        "parent_id": "string",
    },
    "calls": {**COLUMNS, "timestamp": TS},
    "messages": {
        "session_id": "string",
        "index": "Int64",
        "role": "string",
        "timestamp": TS,
        "text": "string",
        "tool_calls": "Int64",
        "tool_results": "Int64",
        "replaced": "boolean",
    },
    "tool_calls": {
        "session_id": "string",
        "tool_id": "string",
        "name": "string",
        "exit_code": "Int64",
        "duration_ms": "Float64",
        "timestamp": TS,
        "args": "object",
    },
    "confirmations": {
        "session_id": "string",
        "tool_id": "string",
        "tool_name": "string",
        "args": "object",
        "asked_because": "string",
        "requested_at": TS,
        "decision": "string",
        "decided_by": "string",
        "reason": "string",
        "rule_added": "string",
        "decided_at": TS,
    },
}


def folder_of(manager: SessionManager) -> Path:
    store = manager.store
    assert isinstance(store, FileSessionStore)
    return store.directory


def load_quietly(folder: Path) -> SessionFrames:
    """load_sessions, failing on any warning at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_sessions(folder)


def load_warned(folder: Path) -> tuple[SessionFrames, list[str]]:
    """load_sessions and the messages of its warnings (each must be a SessionFileWarning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = load_sessions(folder)
    for w in caught:
        assert issubclass(w.category, SessionFileWarning), w
    return frames, [str(w.message) for w in caught]


def check_dtypes(frames: SessionFrames) -> None:
    for name, expected in DTYPES.items():
        frame: pd.DataFrame = getattr(frames, name)
        assert list(frame.columns) == list(expected), name
        assert {c: str(t) for c, t in frame.dtypes.items()} == expected, name


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry under the folder with a hash of its bytes (folders as 'dir')."""
    return {
        str(p.relative_to(folder)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
    }


def append_event(manager: SessionManager, session_id: str, event: Any, ts: float) -> None:
    """One more line, written by the session's own store."""
    manager.store.append(session_id, {**event_to_dict(event), "ts": ts})


# --- real logs ----------------------------------------------------------------------


async def test_frames_from_a_folder(
    make_session: Any, manager: SessionManager, workspace: Path
) -> None:
    a = make_session(
        [
            turn("", ("write", {"file_path": "a.txt", "content": "a"})),
            turn("", ("write", {"file_path": "b.txt", "content": "b"})),
            turn("done"),
        ],
        session_id="alpha",
        name="Alpha",
        timeout_ms=2000,
    )
    answers = iter([(True, None), (False, "no thanks")])

    def decide(e: Any) -> None:
        if isinstance(e, ConfirmationRequired):
            ok, reason = next(answers)
            asyncio.get_running_loop().call_soon(lambda: a.confirm(e.tool_id, ok, reason))

    a.subscribe(decide)
    await a.send_async("write two files")
    b = make_session([turn("hi")], session_id="beta")
    await b.send_async("hello")

    frames = load_quietly(folder_of(manager))
    check_dtypes(frames)
    assert sorted(frames.sessions["session_id"]) == ["alpha", "beta"]
    sessions = frames.sessions.set_index("session_id")
    assert sessions.loc["alpha", "name"] == "Alpha"
    assert sessions.loc["beta", "name"] == "beta"  # no name: the id
    assert sessions.loc["alpha", "state"] == "Active"
    assert sessions.loc["alpha", "model"] == a.model_name
    assert sessions.loc["alpha", "messages"] == len(a.messages) == 6
    assert sessions.loc["alpha", "workspace"] == str(workspace)
    assert sessions.loc["alpha", "created"] == pd.Timestamp(a.created_at, unit="s", tz="UTC")
    assert sessions.loc["alpha", "updated"] >= sessions.loc["alpha", "created"]

    assert len(frames.calls) == 4 and str(frames.calls["cost_usd"].dtype) == "Float64"
    assert frames.calls.groupby("session_id").size().to_dict() == {"alpha": 3, "beta": 1}
    assert list(frames.calls.query("session_id == 'alpha'")["turn"]) == [1, 2, 3]
    assert frames.calls["input_tokens"].sum() == sum(
        r.prompt_tokens for s in (a, b) for r in s.cost_records
    )

    beta = frames.messages.query("session_id == 'beta'")
    assert list(beta["role"]) == ["user", "assistant"]
    assert list(beta["text"]) == ["hello", "hi"] and list(beta["index"]) == [0, 1]
    alpha = frames.messages.query("session_id == 'alpha'")
    assert list(alpha["tool_calls"]) == [0, 1, 0, 1, 0, 0]
    assert list(alpha["tool_results"]) == [0, 0, 1, 0, 1, 0]
    assert not frames.messages["replaced"].any()

    assert len(frames.tool_calls) == 2
    assert list(frames.tool_calls["exit_code"]) == [0, 1]  # written; then refused
    assert frames.tool_calls["args"].iloc[0] == {"file_path": "a.txt", "content": "a"}

    conf = frames.confirmations.sort_values("requested_at")
    assert list(conf["decision"]) == ["approved", "denied"]
    assert list(conf["decided_by"]) == ["user", "user"]
    assert list(conf["reason"].fillna("")) == ["", "no thanks"]
    assert conf["tool_name"].tolist() == ["write", "write"]
    assert conf["asked_because"].notna().all()
    assert (conf["decided_at"] >= conf["requested_at"]).all()
    assert str(conf["requested_at"].dtype) == TS

    md = export_session(a, workspace / "alpha.md").read_text()
    assert "## Approvals and denials" in md
    assert "denied by user; reason: no thanks" in md
    assert "approved by user" in md and "## Cost" in md


def test_an_empty_folder_gives_empty_typed_frames(tmp_path: Path) -> None:
    frames = load_quietly(tmp_path)
    check_dtypes(frames)
    assert all(len(getattr(frames, name)) == 0 for name in DTYPES)
    assert frames.skipped_lines == {} and frames.skipped_files == {}


async def test_a_fork_does_not_count_its_parents_calls_again(
    make_session: Any, manager: SessionManager
) -> None:
    parent = make_session([turn("one"), turn("two")], session_id="parent")
    await parent.send_async("first")
    await parent.send_async("second")
    fork = manager.fork_session("parent", new_id="child")
    fork._llm = ScriptedClient([turn("three")])
    await fork.send_async("third")
    assert len(fork.cost_records) == 3  # the copy of the parent's two, and its own

    frames = load_quietly(folder_of(manager))
    check_dtypes(frames)
    assert frames.calls.groupby("session_id").size().to_dict() == {"child": 1, "parent": 2}
    sessions = frames.sessions.set_index("session_id")
    assert sessions.loc["child", "parent_id"] == "parent"
    assert pd.isna(sessions.loc["parent", "parent_id"])
    # its history holds the parent's messages; its rows are only the ones it added
    assert sessions.loc["child", "messages"] == len(fork.messages) == 6
    assert list(frames.messages.query("session_id == 'child'")["text"]) == ["third", "three"]
    assert not frames.messages["replaced"].any()


async def test_calls_count_under_the_files_own_id(
    make_session: Any, manager: SessionManager
) -> None:
    # an archive (or a renamed file) holds records that name the session it was copied from
    await make_session([turn("x")], session_id="orig").send_async("q")
    archived = manager.store.archive("orig")  # type: ignore[attr-defined]
    frames = load_quietly(folder_of(manager))
    assert frames.calls.groupby("session_id").size().to_dict() == {archived: 1, "orig": 1}
    assert sorted(frames.sessions["session_id"]) == sorted([archived, "orig"])


async def test_compaction_and_clear_keep_every_call_and_mark_the_replaced_messages(
    make_session: Any, manager: SessionManager
) -> None:
    s = make_session([turn(f"answer {i}") for i in range(18)], session_id="long")
    for i in range(16):
        await s.send_async(f"question {i}")
    assert await s.compact_async()
    compacted = len(s.messages)
    await s.send_async("after")

    frames = load_quietly(folder_of(manager))
    assert len(frames.calls) == len(s.cost_records) == 18
    assert frames.calls["purpose"].value_counts().to_dict() == {"generate": 17, "compaction": 1}
    rows = frames.messages
    assert len(rows) == 34 and list(rows["index"]) == list(range(34))
    assert list(rows["replaced"]) == [True] * 32 + [False] * 2
    assert list(rows.loc[~rows["replaced"], "text"]) == [
        "after",
        "answer 17",
    ]  # the summary call took a turn
    assert frames.sessions["messages"].tolist() == [compacted + 2] == [len(s.messages)]

    s.clear()
    frames = load_quietly(folder_of(manager))
    assert len(frames.calls) == 18  # the ledger keeps every call
    assert frames.messages["replaced"].all() and len(frames.messages) == 34
    assert frames.sessions["messages"].tolist() == [0]


async def test_model_config_and_state_changes_show_in_the_sessions_row(
    make_session: Any, manager: SessionManager
) -> None:
    s = make_session([turn("x")], session_id="s1", name="Before")
    await s.send_async("q")
    manager.configure("s1", llm=ScriptedClient([turn("y")], model="other"))
    s.update_config(name="After")
    assert s.pause()

    row = load_quietly(folder_of(manager)).sessions.iloc[0]
    assert (row["model"], row["name"], row["state"]) == ("scripted/other", "After", "Paused")


async def test_timeouts_and_cancellations_in_the_audit_trail(
    make_session: Any, manager: SessionManager
) -> None:
    s = make_session(
        [turn("", ("write", {"file_path": "a.txt", "content": "a"})), turn("gave up")],
        session_id="t1",
        timeout_ms=1,
    )
    await s.send_async("write it")
    folder = folder_of(manager)
    asked = ConfirmationRequired(
        tool_id="late",
        tool_name="bash",
        args={"command": "ls"},
        timeout_ms=1000,
        reason="ask rule Bash(*)",
    )
    append_event(manager, "t1", asked, 2_000_000_000.0)
    append_event(
        manager,
        "t1",
        ConfirmationsCancelled(tool_ids=["late", "never-asked"], reason="interrupted"),
        2_000_000_001.0,
    )

    conf = load_quietly(folder).confirmations
    assert list(conf["tool_id"]) == ["t1_write", "late"]
    first, late = conf.iloc[0], conf.iloc[1]
    assert (first["decision"], first["decided_by"]) == ("timeout (rejected)", "timeout")
    assert (late["decision"], late["decided_by"], late["reason"]) == (
        "cancelled",
        "cancel",
        "interrupted",
    )
    assert late["asked_because"] == "ask rule Bash(*)" and late["args"] == {"command": "ls"}
    assert late["decided_at"] == pd.Timestamp(2_000_000_001, unit="s", tz="UTC")


async def test_the_order_of_keys_does_not_matter(
    make_session: Any, manager: SessionManager, tmp_path: Path
) -> None:
    s = make_session(
        [turn("", ("write", {"file_path": "a.txt", "content": "a"})), turn("ok")],
        session_id="k",
        allow=["write"],
    )
    await s.send_async("go")
    folder = folder_of(manager)
    reordered = tmp_path / "reordered"
    reordered.mkdir()

    def backwards(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: backwards(value[k]) for k in reversed(list(value))}
        return [backwards(v) for v in value] if isinstance(value, list) else value

    lines = (folder / "k.jsonl").read_bytes().splitlines()
    assert orjson.loads(lines[0])["type"] == "session_created"
    (reordered / "k.jsonl").write_bytes(
        b"".join(orjson.dumps(backwards(orjson.loads(raw))) + b"\n" for raw in lines)
    )
    assert (reordered / "k.jsonl").read_bytes() != (folder / "k.jsonl").read_bytes()
    before, after = load_quietly(folder), load_quietly(reordered)
    assert len(before.calls) == 2 and len(before.tool_calls) == 1
    for name in DTYPES:
        pd.testing.assert_frame_equal(getattr(before, name), getattr(after, name))


# --- format 1 -----------------------------------------------------------------------

CONFIG = {"name": "Old one", "workspace": "/ws", "parent_id": None}


def usage_record(session_id: str, turn: int, **over: Any) -> dict[str, Any]:
    record = {
        "session_id": session_id,
        "turn": turn,
        "model": "gpt-4o",
        "provider": "openai",
        "prompt_tokens": 100 * turn,
        "completion_tokens": 10,
        "total_tokens": 100 * turn + 10,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": 0.001,
        "latency_ms": 5.0,
        "ttft_ms": 1.0,
        "timestamp": f"2025-01-0{turn}T00:00:00Z",
        "tool_names": ["read"],
        "estimated": False,
        "provenance": {"execution_count": turn, "cell_id": f"c{turn}"},
        "purpose": "generate",
    }
    return {**record, **over}


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def test_format_1_files_give_the_same_frames(tmp_path: Path) -> None:
    msg = {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    answer = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "let me "},
            {"type": "text", "text": "look"},
            {"type": "tool_use", "id": "t1", "name": "read", "input": {"file_path": "a"}},
        ],
    }
    (tmp_path / "old.jsonl").write_bytes(
        jsonl(
            {
                "kind": "header",
                "format": 1,
                "id": "old",
                "created_at": 1_700_000_000.0,
                "model": "openai/gpt-4o",
                "llm_config": None,
                "config": CONFIG,
            },
            {"kind": "message", "message": msg, "ts": 1_700_000_001.0},
            # the writer put "kind" first, then "record", then "ts": no byte prefix is assumed
            {"kind": "usage", "record": usage_record("old", 1), "ts": 1_700_000_002.0},
            {
                "ts": 1_700_000_003.0,
                "record": usage_record("old", 2, cost_usd=None),
                "kind": "usage",
            },
            {"kind": "message", "message": answer, "ts": 1_700_000_004.0},
            {
                "kind": "event",
                "ts": 1_700_000_005.0,
                "event": {
                    "type": "confirmation_required",
                    "tool_id": "t1",
                    "tool_name": "read",
                    "args": {"file_path": "a"},
                    "timeout_ms": 1000,
                    "reason": "ask rule Read(*)",
                },
            },
            {
                "kind": "event",
                "ts": 1_700_000_006.0,
                "event": {
                    "type": "confirmation_received",
                    "tool_id": "t1",
                    "approved": True,
                    "decided_by": "user",
                    "rule_added": "Read(a)",
                },
            },
            {
                "kind": "event",
                "ts": 1_700_000_007.0,
                "event": {
                    "type": "tool_end",
                    "id": "t1",
                    "name": "read",
                    "output": "x",
                    "exit_code": 0,
                    "duration_ms": 3,
                    "args": {"file_path": "a"},
                },
            },
            {"kind": "tasks", "ts": 1_700_000_008.0, "tasks": []},
            {"kind": "context", "ts": 1_700_000_008.0, "context_usage": {"used_tokens": 5}},
            {
                "kind": "model",
                "model": "openai/gpt-4o-mini",
                "llm_config": None,
                "ts": 1_700_000_009.0,
            },
            {"kind": "config", "config": {**CONFIG, "name": "Renamed"}, "ts": 1_700_000_010.0},
            {"kind": "state", "state": "Completed", "ts": 1_700_000_011.0},
        )
    )
    # a format-1 fork's file began with a copy of its parent's ledger
    (tmp_path / "oldfork.jsonl").write_bytes(
        jsonl(
            {
                "kind": "header",
                "format": 1,
                "id": "oldfork",
                "created_at": 1_700_000_020.0,
                "model": "openai/gpt-4o",
                "config": {**CONFIG, "name": None, "parent_id": "old"},
            },
            {"kind": "usage", "record": usage_record("old", 1), "ts": 1_700_000_021.0},
            {"kind": "usage", "record": usage_record("old", 2), "ts": 1_700_000_021.0},
            {"kind": "message", "message": msg, "ts": 1_700_000_021.0},
            {"kind": "usage", "record": usage_record("oldfork", 3), "ts": 1_700_000_022.0},
        )
    )

    frames = load_quietly(tmp_path)
    check_dtypes(frames)
    sessions = frames.sessions.set_index("session_id")
    old = sessions.loc["old"]
    assert (old["name"], old["model"], old["state"], old["messages"]) == (
        "Renamed",
        "openai/gpt-4o-mini",
        "Completed",
        2,
    )
    assert old["created"] == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")
    assert old["updated"] == pd.Timestamp(1_700_000_011, unit="s", tz="UTC")
    assert (sessions.loc["oldfork", "name"], sessions.loc["oldfork", "parent_id"]) == (
        "oldfork",
        "old",
    )

    calls = frames.calls
    assert calls.groupby("session_id").size().to_dict() == {"old": 2, "oldfork": 1}
    assert list(calls["turn"]) == [1, 2, 3] and list(calls["input_tokens"]) == [100, 200, 300]
    assert calls["cost_usd"].isna().tolist() == [False, True, False]
    assert list(calls["cell_id"]) == ["c1", "c2", "c3"] and calls["tool_names"].iloc[0] == ["read"]
    # the ledger reads format-1 files the same way (built, then read back)
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pd.testing.assert_frame_equal(load_calls(tmp_path), calls)

    texts = frames.messages.query("session_id == 'old'")
    assert list(texts["text"]) == ["hi", "let me look"] and list(texts["tool_calls"]) == [0, 1]
    assert not frames.messages["replaced"].any()

    conf = frames.confirmations.iloc[0]
    assert (conf["decision"], conf["decided_by"], conf["rule_added"], conf["asked_because"]) == (
        "approved",
        "user",
        "Read(a)",
        "ask rule Read(*)",
    )
    tool = frames.tool_calls.iloc[0]
    assert (tool["name"], tool["exit_code"], tool["duration_ms"]) == ("read", 0, 3.0)


# --- damage -------------------------------------------------------------------------


async def test_damaged_lines_and_files_are_skipped_with_a_warning_and_left_alone(
    make_session: Any, manager: SessionManager, tmp_path: Path
) -> None:
    for sid in ("one", "two"):
        await make_session([turn("x")], session_id=sid).send_async("q")
    folder = folder_of(manager)
    clean = load_quietly(folder)

    lines = (folder / "one.jsonl").read_bytes().splitlines(keepends=True)
    bad_usage = orjson.dumps(
        {"type": "usage_recorded", "record": usage_record("one", 9, prompt_tokens="many")}
    )
    damage = [
        b"not json at all\n",  # line 4
        b"[1, 2, 3]\n",  # 5: not an object
        b'"a string"\n',  # 6
        b'{"type":"message_added","message":{"role":"user","content":"\xff\xfe"}}\n',  # 7: not UTF-8
        b"[" * 100_000 + b"\n",  # 8: too deep
        b'{"type":"message_added","message":5}\n',  # 9: malformed event
        b'{"type":"usage_recorded","record":[1]}\n',  # 10: malformed record
        b'{"type":"tool_end","id":"t","name":"bash","output":"","exit_code":"zero"}\n',  # 11
        bad_usage + b"\n",  # 12: a count that is a string
        b"   \n",  # 13: blank: nothing lost
    ]
    (folder / "one.jsonl").write_bytes(b"".join(lines[:3] + damage + lines[3:]))
    torn_line = len((folder / "two.jsonl").read_bytes().splitlines()) + 1
    with (folder / "two.jsonl").open("ab") as fh:
        fh.write(b'{"type":"usage_recorded","record":{"mod')  # torn by a crash
    (folder / "x.jsonl").mkdir()
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "blank.jsonl").write_bytes(b"\n\n")
    before = fingerprint(folder)

    frames, messages = load_warned(folder)

    assert fingerprint(folder) == before  # nothing on disk changed
    for name in DTYPES:  # every readable line was kept, and nothing else
        pd.testing.assert_frame_equal(getattr(frames, name), getattr(clean, name))
    assert frames.skipped_lines == {"one.jsonl": 9, "two.jsonl": 1}
    assert set(frames.skipped_files) == {"x.jsonl", "empty.jsonl", "blank.jsonl"}
    assert "folder" in frames.skipped_files["x.jsonl"]
    assert "empty" in frames.skipped_files["empty.jsonl"]

    text = "\n".join(messages)
    one = next(m for m in messages if "one.jsonl: skipped 8 line(s)" in m)
    for number in (4, 5, 6, 7, 8):
        assert f"line {number}:" in one
    assert "not JSON" in one and "got an array" in one and "got a string" in one
    assert "not valid UTF-8" in one and "nested too deep" in one
    assert "and 3 more line(s)" in one
    assert (
        f"{folder / 'one.jsonl'}: skipped line 12: a malformed 'usage_recorded' record (prompt_tokens"
        in text
    )
    two = next(m for m in messages if "two.jsonl" in m)
    assert f"line {torn_line}: a torn last line (an interrupted write)" in two
    assert f"{folder / 'x.jsonl'}: skipped: it is a folder" in text
    assert f"{folder / 'empty.jsonl'}: skipped: the file is empty" in text
    assert len(messages) == 6


def test_a_lone_surrogate_line_is_read(tmp_path: Path) -> None:
    # undecodable tool output: the store writes it \u-escaped, which orjson refuses
    store = FileSessionStore(tmp_path)
    message = Message.model_validate(
        {"role": "user", "content": [{"type": "text", "text": "a\udcffb"}]}
    )
    store.append("s", {**event_to_dict(MessageAdded(message=message)), "ts": 1.0})
    assert b"\\udcff" in (tmp_path / "s.jsonl").read_bytes()
    frames = load_quietly(tmp_path)
    assert frames.messages["text"].tolist() == ["a\udcffb"]
    assert frames.sessions["session_id"].tolist() == ["s"]  # no session_created: still a row
    # SQL strings are UTF-8: the undecodable character is U+FFFD there
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        texts = query("SELECT text FROM messages", folder=tmp_path)["text"].tolist()
    assert texts == ["a\ufffdb"]


async def test_unknown_events_are_skipped_silently(
    make_session: Any, manager: SessionManager
) -> None:
    await make_session([turn("x")], session_id="u").send_async("q")
    folder = folder_of(manager)
    clean = load_quietly(folder)
    with (folder / "u.jsonl").open("ab") as fh:
        fh.write(
            jsonl(
                {"type": "from_the_future", "record": [1], "ts": 5.0},
                {"kind": "from_the_past", "ts": 5.0},
                {"type": "text_delta", "text": "transient"},
                {"no": "type"},
                {"type": ["not", "a", "name"]},
            )
        )
    frames = load_quietly(folder)
    for name in ("calls", "messages", "tool_calls", "confirmations"):
        pd.testing.assert_frame_equal(getattr(frames, name), getattr(clean, name))


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no session folder"):
        load_sessions(tmp_path / "nope")


def test_export_refuses_unknown_extensions(make_session: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"use a path ending in \.md"):
        export_session(make_session([]), tmp_path / "x.pdf")
