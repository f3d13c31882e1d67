"""Reading a folder of session files into frames, and exporting one session."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook import export_session, load_sessions
from a3s_notebook.engine import SessionManager
from a3s_notebook.engine.events import ConfirmationRequired

from .conftest import turn


async def test_frames_from_a_folder(make_session: Any, manager: SessionManager, workspace: Path) -> None:
    a = make_session(
        [turn("", ("write", {"file_path": "a.txt", "content": "a"})),
         turn("", ("write", {"file_path": "b.txt", "content": "b"})), turn("done")],
        session_id="alpha", name="Alpha", timeout_ms=2000,
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

    frames = load_sessions(manager.store.directory)  # type: ignore[attr-defined]
    assert sorted(frames.sessions["session_id"]) == ["alpha", "beta"]
    assert frames.sessions.set_index("session_id").loc["alpha", "name"] == "Alpha"
    assert len(frames.calls) == 4 and str(frames.calls["cost_usd"].dtype) == "Float64"
    assert frames.calls.groupby("session_id").size().to_dict() == {"alpha": 3, "beta": 1}
    assert list(frames.messages.query("session_id == 'beta'")["role"]) == ["user", "assistant"]
    assert len(frames.tool_calls) == 2
    conf = frames.confirmations.sort_values("requested_at")
    assert list(conf["decision"]) == ["approved", "denied"]
    assert list(conf["reason"].fillna("")) == ["", "no thanks"]
    assert conf["tool_name"].tolist() == ["write", "write"]
    assert str(conf["requested_at"].dtype) == "datetime64[ns, UTC]"

    md = export_session(a, workspace / "alpha.md").read_text()
    assert "## Approvals and denials" in md
    assert "denied by user; reason: no thanks" in md
    assert "approved by user" in md and "## Cost" in md


async def test_torn_lines_in_any_file_are_skipped(make_session: Any, manager: SessionManager) -> None:
    for sid in ("one", "two"):
        await make_session([turn("x")], session_id=sid).send_async("q")
    folder: Path = manager.store.directory  # type: ignore[attr-defined]
    for sid in ("one", "two"):
        with (folder / f"{sid}.jsonl").open("ab") as fh:
            fh.write(b'{"kind":"usage","record":{"mod')
    with pytest.warns(UserWarning, match="skipped 2 unreadable line"):
        frames = load_sessions(folder)
    assert frames.skipped_lines == {"one.jsonl": 1, "two.jsonl": 1}
    assert len(frames.calls) == 2


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no session folder"):
        load_sessions(tmp_path / "nope")


def test_export_refuses_unknown_extensions(make_session: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"use a path ending in \.md"):
        export_session(make_session([]), tmp_path / "x.pdf")
