"""The cost ledger (load_calls), SQL over a folder (query) and listing from headers.

Every log is written by the real engine (scripted sessions through ``SessionManager``);
damage is appended byte for byte. The ledger's frames are compared with today's loader
(``load_sessions``, which reads the logs and writes nothing) on the same files.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from a3s_notebook import load_sessions
from a3s_notebook.analysis import (
    COLUMNS,
    TABLES,
    QueryError,
    cost_by_model,
    load_calls,
    query,
)
from a3s_notebook.analysis import ledger as ledger_module
from a3s_notebook.engine import SessionManager
from a3s_notebook.engine.events import ConfirmationRequired
from a3s_notebook.engine.store import FileSessionStore, SessionFileWarning

from .conftest import turn

ROOT = Path(__file__).resolve().parents[1]


def folder_of(manager: SessionManager) -> Path:
    store = manager.store
    assert isinstance(store, FileSessionStore)
    return store.directory


def warned(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """fn's result and its warnings' messages (each must be a SessionFileWarning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    for w in caught:
        assert issubclass(w.category, SessionFileWarning), w
    return result, sorted(str(w.message) for w in caught)


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def same_as_today(folder: Path) -> pd.DataFrame:
    """load_calls, checked against load_sessions().calls (frame and warnings)."""
    old, old_warnings = warned(load_sessions, folder)
    new, new_warnings = warned(load_calls, folder)
    pd.testing.assert_frame_equal(new, old.calls)
    assert new_warnings == old_warnings
    assert {c: str(t) for c, t in new.dtypes.items()} == {
        **COLUMNS,
        "timestamp": "datetime64[ns, UTC]",
    }
    return new


async def fill(make_session: Any, count: int, calls: int = 2) -> list[Any]:
    sessions = []
    for i in range(count):
        s = make_session([turn(f"answer {i}.{k}") for k in range(calls)], session_id=f"s{i:02d}")
        for k in range(calls):
            await s.send_async(f"question {i}.{k}")
        sessions.append(s)
    return sessions


async def approvals_session(make_session: Any) -> Any:
    """A session with tool calls, an approval and a denial (every table has rows)."""
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
    return a


# --- the ledger ------------------------------------------------------------------------


async def test_the_ledger_gives_today_s_frame_cold_warm_and_after_a_change(
    make_session: Any, manager: SessionManager
) -> None:
    await approvals_session(make_session)
    sessions = await fill(make_session, 3)
    folder = folder_of(manager)

    same_as_today(folder)  # cold: every entry built
    entries = sorted((folder / ".a3s" / "ledger" / "logs").iterdir())
    assert [p.name for p in entries] == ["alpha", "s00", "s01", "s02"]
    before = {p: sorted(q.name for q in p.iterdir()) for p in entries}
    assert len(same_as_today(folder)) == 3 + 3 * 2  # warm: nothing rebuilt
    assert {p: sorted(q.name for q in p.iterdir()) for p in entries} == before

    # a log newer than its entry: rebuilt, with the new call
    await sessions[1].send_async("one more")
    calls = same_as_today(folder)
    assert calls.groupby("session_id").size().to_dict() == {
        "alpha": 3,
        "s00": 2,
        "s01": 3,
        "s02": 2,
    }
    assert before[entries[2]] != sorted(q.name for q in entries[2].iterdir())
    assert len(list(entries[2].iterdir())) == 2  # the old entry was removed


async def test_the_segment_merges_entries_and_a_changed_log_still_wins(
    make_session: Any, manager: SessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "_COMPACT_AT", 2)
    sessions = await fill(make_session, 4)
    folder = folder_of(manager)
    same_as_today(folder)
    cache = folder / ".a3s" / "ledger"
    manifest = json.loads((cache / "segment.json").read_text())
    assert sorted(manifest["entries"]) == ["s00", "s01", "s02", "s03"]
    assert not list((cache / "logs").rglob("*.parquet"))  # merged
    assert [p.name for p in cache.glob("segment-*.parquet")] == [manifest["file"]]

    await sessions[2].send_async("again")  # s02 changes: read from its own entry now
    calls = same_as_today(folder)
    assert calls.groupby("session_id").size().to_dict() == {"s00": 2, "s01": 2, "s02": 3, "s03": 2}
    assert [p.parent.name for p in (cache / "logs").rglob("*.parquet")] == ["s02"]

    manager.destroy_session("s00")  # a log gone: its rows leave the frame
    calls = same_as_today(folder)
    assert "s00" not in set(calls["session_id"])
    # 2 changes since the segment (one loose, one gone): merged again
    assert sorted(json.loads((cache / "segment.json").read_text())["entries"]) == [
        "s01",
        "s02",
        "s03",
    ]
    assert len(list(cache.glob("segment-*.parquet"))) == 1
    same_as_today(folder)


async def test_torn_and_garbage_lines_are_skipped_with_the_same_warnings_every_read(
    make_session: Any, manager: SessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(make_session, 2)
    folder = folder_of(manager)
    same_as_today(folder)  # entries exist before the damage: the damage must rebuild them
    one = folder / "s00.jsonl"
    lines = one.read_bytes().splitlines(keepends=True)
    bad_usage = orjson.dumps(
        {"type": "usage_recorded", "record": {"session_id": "s00", "prompt_tokens": "many"}}
    )
    one.write_bytes(
        b"".join([*lines[:2], b"garbage {\n", b"[1, 2]\n", bad_usage + b"\n", *lines[2:]])
    )
    with (folder / "s01.jsonl").open("ab") as fh:
        fh.write(b'{"type":"usage_recorded","record":{"mod')  # torn by a crash
    (folder / "empty.jsonl").write_bytes(b"")

    for compact_at in (32, 0):  # loose entries, then merged into a segment
        monkeypatch.setattr(ledger_module, "_COMPACT_AT", compact_at)
        for _ in range(2):  # built, then read from the ledger: the warnings stay
            calls, messages = warned(load_calls, folder)
            assert len(calls) == 4
            text = "\n".join(messages)
            assert "s00.jsonl: skipped 2 line(s)" in text and "line 3: not JSON" in text
            assert "s00.jsonl: skipped line 5: a malformed 'usage_recorded' record" in text
            assert "a torn last line (an interrupted write)" in text
            assert "empty.jsonl: skipped: the file is empty" in text
            same_as_today(folder)
    frame, messages = warned(query, "SELECT count(*) AS n FROM calls", folder=folder)
    assert frame["n"].tolist() == [4] and len(messages) == 4


async def test_two_processes_rebuilding_the_ledger_at_once(
    make_session: Any, manager: SessionManager
) -> None:
    await fill(make_session, 6, calls=1)
    folder = folder_of(manager)
    # both build every entry and race to merge them (the segment is made at 3 loose)
    code = (
        "import sys\n"
        "from a3s_notebook.analysis import ledger\n"
        "ledger._COMPACT_AT = 3\n"
        "print(len(ledger.load_calls(sys.argv[1])))\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "6"
    same_as_today(folder)
    cache = folder / ".a3s" / "ledger"
    assert not list(cache.rglob(".*.tmp"))  # no temp file left behind


def test_an_empty_folder(tmp_path: Path) -> None:
    calls = quiet(load_calls, tmp_path)
    pd.testing.assert_frame_equal(calls, load_sessions(tmp_path).calls)
    for table, columns in TABLES.items():
        frame = quiet(query, f"SELECT * FROM {table}", folder=tmp_path)
        assert list(frame.columns) == list(columns) and frame.empty
    assert quiet(query, "SELECT count(*) AS n FROM calls", folder=tmp_path)["n"].tolist() == [0]
    with pytest.raises(FileNotFoundError, match="no session folder"):
        load_calls(tmp_path / "missing")


# --- query -----------------------------------------------------------------------------


async def test_query_tables_match_the_frames(make_session: Any, manager: SessionManager) -> None:
    await approvals_session(make_session)
    await fill(make_session, 2)
    folder = folder_of(manager)
    frames = quiet(load_sessions, folder)

    by_model = quiet(
        query,
        "SELECT model, count(*) AS calls, sum(total_tokens) AS total_tokens, "
        "sum(cost_usd) AS cost_usd FROM calls GROUP BY model ORDER BY model",
        folder=folder,
    )
    expected = cost_by_model(frames.calls).sort_index()
    assert by_model["model"].tolist() == expected.index.tolist()
    assert by_model["calls"].tolist() == expected["calls"].tolist()
    assert by_model["total_tokens"].tolist() == expected["total_tokens"].tolist()
    assert str(by_model["total_tokens"].dtype) == "int64"  # a sum stays an integer

    sessions = quiet(query, "SELECT * FROM sessions ORDER BY session_id", folder=folder)
    assert sessions["session_id"].tolist() == ["alpha", "s00", "s01"]
    assert sessions["name"].tolist() == frames.sessions["name"].tolist()
    # SQL timestamps are microseconds (the frames' are nanoseconds)
    assert sessions["created"].tolist() == frames.sessions["created"].dt.floor("us").tolist()

    writes = quiet(
        query,
        "SELECT args->>'file_path' AS path, exit_code FROM tool_calls ORDER BY timestamp",
        folder=folder,
    )
    assert writes.to_dict("list") == {"path": ["a.txt", "b.txt"], "exit_code": [0, 1]}
    decisions = quiet(
        query,
        "SELECT decision, reason FROM confirmations ORDER BY requested_at",
        folder=folder,
    )
    assert decisions["decision"].tolist() == ["approved", "denied"]
    roles = quiet(
        query,
        "SELECT role, count(*) AS n FROM messages GROUP BY role ORDER BY role",
        folder=folder,
    )
    assert dict(zip(roles["role"], roles["n"], strict=True)) == (
        frames.messages.groupby("role").size().to_dict()
    )
    joined = quiet(
        query,
        "SELECT s.name, count(*) AS calls FROM calls c JOIN sessions s USING (session_id) "
        "GROUP BY s.name ORDER BY s.name",
        folder=folder,
    )
    assert joined.to_dict("list") == {"name": ["Alpha", "s00", "s01"], "calls": [3, 2, 2]}


def test_bad_sql_names_the_tables(tmp_path: Path) -> None:
    for sql, problem in (
        ("SELECT * FROM call", "call does not exist"),
        ("SELEC 1", "syntax error"),
        ("SELECT nope FROM calls", "nope"),
    ):
        with pytest.raises(QueryError) as info:
            query(sql, folder=tmp_path)
        text = str(info.value)
        assert problem in text
        assert "Tables: sessions(session_id, name" in text and "calls(session_id, turn" in text
        assert "confirmations(" in text and "\n" not in text
    with pytest.raises(QueryError, match="needs an SQL statement"):
        query("  ", folder=tmp_path)


# --- listing from headers --------------------------------------------------------------


async def test_listing_from_headers_matches_the_restored_sessions(
    make_session: Any, manager: SessionManager, tmp_path: Path
) -> None:
    a = await approvals_session(make_session)
    b = make_session([turn("hi")], session_id="beta")
    await b.send_async("hello")
    fork = manager.fork_session("alpha", "alpha-fork", name="Alpha 2")
    manager.close()

    fresh = SessionManager(folder_of(manager))
    listed = fresh.stored_sessions()
    assert fresh.session_count() == 0  # nothing was restored to list them
    assert [i.id for i in listed] == ["alpha", "beta", "alpha-fork"]  # oldest first
    for info in listed:
        assert not info.open
        assert info.modified == (folder_of(manager) / f"{info.id}.jsonl").stat().st_mtime
        s = fresh.restore_session(info.id)
        assert (info.name, info.model, info.created_at) == (s.name, s.model_name, s.created_at)
        assert (info.workspace, info.parent_id) == (s.config.workspace, s.config.parent_id)
    assert listed[2].parent_id == "alpha" and listed[2].name == fork.name == "Alpha 2"
    assert listed[0].name == a.name == "Alpha"
    assert all(i.open for i in fresh.stored_sessions())
    fresh.close()

    # found by name without a listing's restore of every session
    other = SessionManager(folder_of(manager))
    assert other.find("Alpha 2").id == "alpha-fork" and other.session_count() == 1
    other.close()


def test_a_damaged_first_line_is_skipped_by_the_listing(tmp_path: Path) -> None:
    manager = SessionManager(tmp_path / "s")
    s = manager.create_session(session_id="one")
    manager.close()
    path = tmp_path / "s" / "one.jsonl"
    path.write_bytes(b"garbage\n" + path.read_bytes())
    (tmp_path / "s" / "headless.jsonl").write_bytes(b'{"type":"agent_start","prompt":"x"}\n')
    listed = SessionManager(tmp_path / "s").stored_sessions()
    assert [(i.id, i.created_at) for i in listed] == [("one", s.created_at)]


async def test_listing_shows_titles_renames_and_model_switches_of_stored_sessions(
    make_session: Any, manager: SessionManager
) -> None:
    s = make_session([turn("hi"), turn("again")], session_id="talk")
    await s.send_async('say "config_changed" and "model_changed" in a message')
    s.update_config(title="A chat about logs", name="Renamed")
    manager.configure("talk", model="scripted/echo")
    manager.close()
    folder = folder_of(manager)
    log, index = folder / "talk.jsonl", folder / ".a3s" / "index" / "talk.json"
    # its writer left the index at close: a listing reads none of the log again
    assert json.loads(index.read_text())["offset"] == log.stat().st_size
    assert json.loads(index.read_text())["title"] == "A chat about logs"
    index.unlink()  # and without it, the listing scans the log

    def listed() -> Any:
        fresh = SessionManager(folder)
        (info,) = fresh.stored_sessions()
        assert fresh.session_count() == 0  # nothing was restored to list it
        fresh.close()
        return info

    info = listed()
    assert (info.name, info.title, info.model) == ("Renamed", "A chat about logs", "scripted/echo")
    restored = SessionManager(folder)
    r = restored.restore_session("talk")
    assert (r.name, r.config.title, r.model_name) == (info.name, info.title, info.model)
    restored.close()

    # the index remembers how far it read: the next listing reads only what was appended
    assert json.loads(index.read_text())["offset"] == log.stat().st_size
    with log.open("ab") as fh:  # another kernel's writer, still open
        fh.write(b'{"type":"config_changed","config":{"name":"Renamed","title":"Second title"}}\n')
    assert listed().title == "Second title"
    assert json.loads(index.read_text())["offset"] == log.stat().st_size

    # an unfinished last line is left for the next listing, then read when it is whole
    line = b'{"type":"config_changed","config":{"name":"Torn","title":"Late"}}'
    with log.open("ab") as fh:
        fh.write(line[:30])
    assert listed().title == "Second title"
    with log.open("ab") as fh:
        fh.write(line[30:] + b"\n")
    assert (listed().name, listed().title) == ("Torn", "Late")

    # a log rewritten under the index (not appended to) is scanned again from the start
    kept = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(ln for ln in kept if b'"Late"' not in ln) + b"garbage\n")
    assert (listed().name, listed().title) == ("Renamed", "Second title")
    index.write_text("{not json")  # a damaged index is rebuilt
    assert listed().title == "Second title" and json.loads(index.read_text())["offset"]
    # found by its current name, restoring only that session
    other = SessionManager(folder)
    with pytest.warns(SessionFileWarning, match="garbage|unreadable"):
        assert other.find("Renamed").id == "talk" and other.session_count() == 1
    other.close()


def test_a_folder_where_the_index_cannot_be_written_is_listed_all_same(tmp_path: Path) -> None:
    manager = SessionManager(tmp_path / "s")
    manager.create_session(session_id="one").update_config(title="Kept")
    manager.close()
    shutil.rmtree(tmp_path / "s" / ".a3s")  # the index its writer left at close
    (tmp_path / "s" / ".a3s").write_text("a file where the index folder would go")
    (info,) = SessionManager(tmp_path / "s").stored_sessions()
    assert info.title == "Kept"
