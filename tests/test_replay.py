"""Replay a recorded session: its events, timed, into a fresh view; nothing runs again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from a3s_notebook.engine import (
    ConfigError,
    PermissionPolicy,
    SessionConfig,
    SessionManager,
    SessionNotFoundError,
)
from a3s_notebook.engine.events import ConfirmationRequired
from a3s_notebook.llm.errors import UnknownModelError
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn
from a3s_notebook.widgets import ApprovalCards, EventStream

from .test_magics import ip, magics, run  # noqa: F401  (ip is a fixture)


def _record(folder: Path, workspace: Path) -> tuple[SessionManager, str, ScriptedClient]:
    """A real run: one write approved, one denied by the human, then an answer."""
    manager = SessionManager(folder)
    client = ScriptedClient(
        turns=[
            ScriptedTurn(
                text="Writing a.",
                tool_calls=[{"name": "write", "args": {"file_path": "a.txt", "content": "A"}}],
            ),
            ScriptedTurn(
                text="Writing b.",
                tool_calls=[{"name": "write", "args": {"file_path": "b.txt", "content": "B"}}],
            ),
            ScriptedTurn(text="All done."),
        ]
    )
    session = manager.create_session(
        SessionConfig(name="lesson", workspace=str(workspace)), llm=client
    )
    decisions = iter([(True, None), (False, "not today")])

    def human(event: Any) -> None:
        if isinstance(event, ConfirmationRequired):
            approved, reason = next(decisions)
            session.confirm(event.tool_id, approved, reason)

    session.subscribe(human)
    assert session.send("make two files").text == "All done."
    manager.forget_session(session.id)
    return manager, session.id, client


def _retime(path: Path, gaps: list[float]) -> int:
    """Give the log's lines known times: line i+1 comes gaps[i] seconds after line i."""
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    ts = 1000.0
    for i, record in enumerate(lines):
        if i:
            ts += gaps[(i - 1) % len(gaps)]
        record["ts"] = ts
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return len(lines)


class _Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_timing_is_scaled_and_capped_with_an_injected_sleep(tmp_path: Path) -> None:
    manager, sid, _ = _record(tmp_path / "s", tmp_path / "ws")
    n = _retime(tmp_path / "s" / f"{sid}.jsonl", [2.0, 2.0, 100.0])
    sleeps = _Sleeps()
    replay = manager.replay(sid, speed=4, sleep=sleeps, stream_text=False)
    replay.play()
    assert replay.played == n - 1  # every event but session_created
    # the first event plays at once; then each gap / 4, the 100 s one capped at 5 s
    expected = [[0.5, 0.5, 5.0][i % 3] for i in range(1, n - 1)]
    assert sleeps.calls == expected == replay.pauses
    uncapped = manager.replay(sid, speed=2, max_pause=None, sleep=_Sleeps())
    assert uncapped.pause_before(2) == 50.0
    # streamed text shares the gaps: more, shorter pauses, the same total
    streamed_sleeps = _Sleeps()
    streamed = manager.replay(sid, speed=4, sleep=streamed_sleeps).play()
    assert streamed.played == n - 1
    assert len(streamed_sleeps.calls) > len(expected)
    assert sum(streamed_sleeps.calls) == pytest.approx(sum(expected))


def test_nothing_runs_again_and_the_view_shows_the_recorded_run(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    manager, sid, client = _record(tmp_path / "s", ws)
    (ws / "a.txt").unlink()
    calls = client.calls
    replay = manager.replay(tmp_path / "s" / f"{sid}.jsonl", speed=1000, sleep=_Sleeps())
    stream = EventStream(replay.session)
    cards = ApprovalCards(replay.session)
    replay.play()
    assert not (ws / "a.txt").exists() and not (ws / "b.txt").exists()  # no tool ran
    assert client.calls == calls  # no model call; the player has no model at all
    outcomes = [
        (r["outcome"], r.get("decided_by"), r.get("reason"))
        for r in stream.rows
        if r["kind"] == "confirmation" and r["outcome"] != "requested"
    ]
    assert outcomes == [("approved", "user", None), ("denied", "user", "not today")]
    assert [c["status"] for c in cards.cards] == ["approved", "denied"]
    texts = [r["text"] for r in stream.rows if r["kind"] == "assistant"]
    assert texts == ["Writing a.", "Writing b.", "All done."]
    # the player session holds the replayed history; it keeps no log and is not managed
    assert replay.session.messages[-1].text() == "All done."
    assert replay.session.log() == []
    assert replay.session.id not in manager


def test_replay_by_name_and_bad_input(tmp_path: Path) -> None:
    manager, sid, _ = _record(tmp_path / "s", tmp_path / "ws")
    manager.get_session(sid)  # in memory again: found by its name
    assert manager.replay("lesson", sleep=_Sleeps()).source == sid
    with pytest.raises(SessionNotFoundError, match="no session 'nope'"):
        manager.replay("nope")
    with pytest.raises(SessionNotFoundError, match="no session log"):
        manager.replay(tmp_path / "missing.jsonl")
    for bad in (0, -1, float("nan"), "4"):
        with pytest.raises(ConfigError, match="speed"):
            manager.replay(sid, speed=bad)  # type: ignore[arg-type]


def test_magic_replays_into_the_terminal(
    ip: InteractiveShell,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(ip, "%a3s_session new taught --model scripted/echo")
    run(ip, "%%ask --quiet\nwhat is replay")
    capsys.readouterr()
    run(ip, "%a3s_session replay taught --speed 1000000")
    out = capsys.readouterr().out
    assert "Echo: what is replay" in out
    run(ip, "%a3s_session replay taught --speed 0")
    assert "replay(speed=0.0): use a number > 0" in capsys.readouterr().err


# --- scripted/replay:<file>: the recorded model, the tools for real ------------------------


def test_replayed_model_answers_and_the_tools_really_run(tmp_path: Path) -> None:
    manager, sid, _ = _record(tmp_path / "s", tmp_path / "ws")
    log = tmp_path / "s" / f"{sid}.jsonl"
    fresh = tmp_path / "fresh"
    # this time a rule allows the writes: both files are written, in the fresh workspace
    session = manager.create_session(
        SessionConfig(workspace=str(fresh), permission_policy=PermissionPolicy(allow=["write"])),
        model=f"scripted/replay:{log}",
    )
    assert session.send("make two files").text == "All done."
    assert (fresh / "a.txt").read_text() == "A" and (fresh / "b.txt").read_text() == "B"
    # and when a rule denies them, the same answers meet a different outcome
    denied = tmp_path / "denied"
    other = manager.create_session(
        SessionConfig(workspace=str(denied), permission_policy=PermissionPolicy(deny=["write"])),
        model=f"scripted/replay:{log}",
    )
    other.send("make two files")
    assert not (denied / "a.txt").exists()
    ends = [e for e in other.events() if e.type == "tool_end"]
    assert [e.exit_code for e in ends] == [1, 1]  # type: ignore[union-attr]


def test_replayed_model_needs_a_log_with_answers(tmp_path: Path) -> None:
    manager = SessionManager(tmp_path / "s")
    with pytest.raises(UnknownModelError, match="no session log there"):
        manager.create_session(model=f"scripted/replay:{tmp_path / 'none.jsonl'}")
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"type": "agent_start", "prompt": "a question, no answer", "ts": 1}\n')
    with pytest.raises(UnknownModelError, match="no answer of a model"):
        manager.create_session(model=f"scripted/replay:{empty}")


async def test_sync_play_inside_a_running_loop(tmp_path: Path) -> None:
    import asyncio

    manager, sid, _ = await asyncio.to_thread(_record, tmp_path / "s", tmp_path / "ws")
    replay = manager.replay(sid, speed=4, sleep=_Sleeps())
    assert replay.play().played == len(replay.entries)
    again = manager.replay(sid, speed=4, sleep=_Sleeps())
    assert (await again.play_async()).played == len(again.entries)


def test_step_by_step_with_a_next_button(tmp_path: Path) -> None:
    manager, sid, _ = _record(tmp_path / "s", tmp_path / "ws")
    sleeps = _Sleeps()
    replay = manager.replay(sid, step_by_step=True, sleep=sleeps)
    stream = EventStream(replay.session)
    box = replay.controls()
    button, label = box.children
    button.click()
    assert replay.played == 1 and label.value == f"1 / {len(replay.entries)} events"
    assert [r["kind"] for r in stream.rows] == ["user"]  # agent_start: the prompt
    while not button.disabled:
        button.click()
    assert replay.played == len(replay.entries) and sleeps.calls == []
    assert [r["text"] for r in stream.rows if r["kind"] == "assistant"] == [
        "Writing a.",
        "Writing b.",
        "All done.",
    ]
    assert replay.step() is False


# --- interactive: the class decides on the real cards; the recording's outcome plays ---------


def _request_ids(replay: Any) -> list[str]:
    return [e.tool_id for _ts, e in replay.entries if isinstance(e, ConfirmationRequired)]


def test_interactive_step_by_step_with_the_real_cards(tmp_path: Path) -> None:
    from a3s_notebook.widgets import SessionView

    from .test_widgets import click

    ws = tmp_path / "ws"
    manager, sid, _ = _record(tmp_path / "s", ws)
    (ws / "a.txt").unlink()
    replay = manager.replay(sid, step_by_step=True, interactive=True, sleep=_Sleeps())
    view = SessionView(replay.session)
    cards, stream = view.approvals_widget, view.events_widget
    button, label = replay.controls().children
    first, second = _request_ids(replay)
    while not button.disabled:
        button.click()
    # stopped at the first request: its card is live, Next waits for the class
    assert replay.waiting is not None and replay.waiting.tool_id == first
    assert [(c["tool_id"], c["status"]) for c in cards.cards] == [(first, "pending")]
    assert label.value.endswith("decide on the approval card to go on")
    assert [p.tool_id for p in replay.session.pending_confirmations()] == [first]
    assert replay.step() is True and replay.waiting.tool_id == first  # Next does nothing
    # the recording approved a.txt; the class denies it through the card's Deny button
    click(cards, kind="confirm", tool_id=first, decision="deny", reason="too risky")
    card = cards._card(first)
    assert card is not None and card["status"] == "approved" and card["decided_by"] == "user"
    assert card["notice"] == (
        "The recording approved this call (by user); you chose deny (too risky). "
        "The replay follows the recording."
    )
    assert replay.waiting is None and not button.disabled
    while not button.disabled:
        button.click()
    assert replay.waiting.tool_id == second
    # the recording denied b.txt; the class approves it
    click(cards, kind="confirm", tool_id=second, decision="approve", reason="")
    card = cards._card(second)
    assert card is not None and card["status"] == "denied"
    assert card["notice"] == (
        "The recording denied this call (by user: not today); you chose approve. "
        "The replay follows the recording."
    )
    assert "you chose approve" in cards._markdown()
    while not button.disabled:
        button.click()
    assert replay.played == len(replay.entries) and replay.step() is False
    assert [(c.chosen, c.reason, c.recorded) for c in replay.choices] == [
        ("deny", "too risky", "approved (by user)"),
        ("approve", None, "denied (by user: not today)"),
    ]
    # the run is the recorded one: same answers, and nothing was written
    assert [r["text"] for r in stream.rows if r["kind"] == "assistant"] == [
        "Writing a.",
        "Writing b.",
        "All done.",
    ]
    assert not (ws / "a.txt").exists() and not (ws / "b.txt").exists()
    assert cards.errors == [] and stream.errors == []


async def test_interactive_timed_replay_waits_for_the_click(tmp_path: Path) -> None:
    import asyncio

    from .test_widgets import click

    manager, sid, _ = await asyncio.to_thread(_record, tmp_path / "s", tmp_path / "ws")
    n = _retime(tmp_path / "s" / f"{sid}.jsonl", [2.0])
    sleeps = _Sleeps()
    replay = manager.replay(sid, interactive=True, sleep=sleeps, stream_text=False)
    cards = ApprovalCards(replay.session)
    loop = asyncio.get_running_loop()
    seen: list[str] = []

    def the_class(event: Any) -> None:
        # the click arrives later, as a comm message would, while the replay waits
        if isinstance(event, ConfirmationRequired):
            seen.append(event.tool_id)
            decision = "always" if len(seen) == 1 else "deny"
            loop.call_soon(
                lambda: click(cards, kind="confirm", tool_id=event.tool_id, decision=decision)
            )

    replay.session.subscribe(the_class)
    await replay.play_async()
    assert replay.played == n - 1 and replay.waiting is None
    assert [c.chosen for c in replay.choices] == ["always", "deny"]
    assert [c["status"] for c in cards.cards] == ["approved", "denied"]
    notes = [c["notice"] for c in cards.cards]
    assert notes[0].startswith("The recording approved this call (by user); you chose always")
    assert notes[1].startswith(
        "The recording denied this call (by user: not today); you chose deny"
    )
    # the class's thinking replaces the recorded human's: no pause before each outcome
    assert len(sleeps.calls) == n - 2 - 2 and set(sleeps.calls) == {2.0}


def test_interactive_with_an_injected_decider_and_bad_input(tmp_path: Path) -> None:
    manager, sid, _ = _record(tmp_path / "s", tmp_path / "ws")
    asked: list[str] = []

    def decide(event: ConfirmationRequired) -> str:
        asked.append(event.tool_name)
        return "approve"

    replay = manager.replay(sid, interactive=True, decide=decide, sleep=_Sleeps()).play()
    assert asked == ["write", "write"]
    assert [c.note.split(";")[1].strip() for c in replay.choices] == [
        "you chose approve. The replay follows the recording.",
        "you chose approve. The replay follows the recording.",
    ]
    stepped = manager.replay(sid, step_by_step=True, interactive=True, decide=lambda e: "deny")
    while stepped.step():
        pass
    assert [c.chosen for c in stepped.choices] == ["deny", "deny"]
    assert stepped.played == len(stepped.entries)
    # without a decider, a blocking play() would stall the kernel that delivers clicks
    with pytest.raises(ConfigError, match="play_async"):
        manager.replay(sid, interactive=True).play()
    with pytest.raises(ConfigError, match="only used with interactive=True"):
        manager.replay(sid, decide=decide)
    with pytest.raises(ConfigError, match="use one of approve, deny, always"):
        manager.replay(sid, interactive=True, decide=lambda e: "yes", sleep=_Sleeps()).play()

    async def later(event: Any) -> str:
        return "deny"

    awaiting = manager.replay(sid, step_by_step=True, interactive=True, decide=later)
    with pytest.raises(ConfigError, match="not an awaitable"):
        while awaiting.step():
            pass


def test_non_interactive_replay_ignores_clicks(tmp_path: Path) -> None:
    from .test_widgets import click

    manager, sid, _ = _record(tmp_path / "s", tmp_path / "ws")
    replay = manager.replay(sid, step_by_step=True)
    cards = ApprovalCards(replay.session)
    while replay.waiting is None and not cards.cards:
        replay.step()
    tool_id = cards.cards[0]["tool_id"]
    click(cards, kind="confirm", tool_id=tool_id, decision="deny")
    assert cards.cards[0]["status"] == "stale" and replay.choices == []
    while replay.step():
        pass
    assert cards.cards[0]["notice"] is None  # the recorded outcome, nothing added


def test_magic_interactive_needs_a_notebook(
    ip: InteractiveShell,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(ip, "%a3s_session new taught2 --model scripted/echo")
    run(ip, "%%ask --quiet\nhello")
    capsys.readouterr()
    run(ip, "%a3s_session replay taught2 --interactive")
    assert "--interactive needs a notebook" in capsys.readouterr().err
