"""Replay a recorded session for teaching: its events, with their timing, into a fresh view.

``manager.replay(session_id_or_file, speed=1.0)`` reads a session's JSONL log and returns
a :class:`Replay`. Displayed in a notebook, it shows a fresh SessionView and plays the
recorded events into it, each after the pause it had when recorded, divided by ``speed``
(a pause longer than ``max_pause`` seconds after scaling, such as a human thinking
about an approval for minutes, is shortened to ``max_pause``). ``replay.play()`` (or
``await replay.play_async()``) plays it without a view.

Nothing is run again: the events go to a player session that has no model and no tools,
so a replay needs no network and no key, and changes no file. Approvals appear as they
were decided when recorded (the card shows who decided and why); a click on a replayed
card changes nothing. The player session keeps no log (it is not in the manager).

The log keeps whole messages, not the streamed tokens: with ``stream_text=True`` (the
default) each turn's text is streamed again in small pieces, spread over the time the
turn's answer took when recorded (the total time is unchanged).
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine import _sync
from a3s_notebook.engine.errors import ConfigError, SessionNotFoundError, StoreError

if TYPE_CHECKING:
    from a3s_notebook.engine import Session, SessionManager
    from a3s_notebook.engine._log import LogEntry

__all__ = ["Replay", "load_recording"]

Sleep = Callable[[float], Awaitable[Any]]


def load_recording(
    source: str | os.PathLike[str], manager: SessionManager | None = None
) -> tuple[str, list[LogEntry]]:
    """The recorded events of a session: ``source`` is a ``.jsonl`` file, or the id of a
    session in ``manager``'s store (then its name among the sessions in memory)."""
    from a3s_notebook.engine._log import read_log
    from a3s_notebook.engine.store import read_records

    text = os.fspath(source)
    path = Path(text).expanduser()
    if text.endswith(".jsonl") or path.is_file():
        if not path.is_file():
            raise SessionNotFoundError(f"replay: no session log at {path}")
        return path.stem, read_log(read_records(path), source=str(path))
    if manager is None:
        raise SessionNotFoundError(f"replay: {text!r} is not a .jsonl file")
    sid = text
    if not manager.store.exists(sid):
        named = [s.id for s in manager.list_sessions() if s.config.name == text]
        if not named:
            raise SessionNotFoundError(
                f"replay: no session {text!r} (neither an id in the store nor a name in "
                "memory); give its id, its name or the path of its .jsonl file"
            )
        sid = named[-1]
    records = manager.store.load(sid) or []
    return sid, read_log(records, source=f"session {sid}")


class Replay:
    """A recorded session, ready to be played into a fresh view.

    Args:
        entries: the recorded ``(ts, event)`` pairs (``session_created`` first).
        speed: how much faster than recorded (2.0: twice as fast).
        max_pause: the longest pause between two events, in seconds after scaling
            (``None``: as recorded).
        sleep: how to wait (default ``asyncio.sleep``); tests inject one that records.
        source: the recorded session's id, for the player's name.
        stream_text: stream each turn's text in pieces, as it was shown live.
        step_by_step: displayed, a "Next" button plays one event per click (see
            :meth:`step`) instead of the recorded timing.
    """

    def __init__(
        self,
        entries: list[LogEntry],
        *,
        speed: float = 1.0,
        max_pause: float | None = 5.0,
        sleep: Sleep | None = None,
        source: str = "recording",
        stream_text: bool = True,
        step_by_step: bool = False,
    ) -> None:
        from a3s_notebook.engine import SessionConfig
        from a3s_notebook.engine.events import SessionCreated

        _check_positive("speed", speed, "e.g. speed=4 for four times as fast")
        if max_pause is not None:
            _check_positive("max_pause", max_pause, "seconds, or None for no limit")
        created = next((e for _ts, e in entries if isinstance(e, SessionCreated)), None)
        if created is None:
            raise StoreError(
                f"replay: the log of {source} has no session_created line, so it is not a "
                "session recorded by a3s_notebook (or its first line is damaged)"
            )
        self.speed = float(speed)
        self.step_by_step = step_by_step
        """Displayed, show a "Next" button instead of playing with the recorded timing."""
        self.max_pause = max_pause
        self._sleep: Sleep = sleep or asyncio.sleep
        self.source = source
        self.entries = [(ts, e) for ts, e in entries if e is not created]
        self.pauses: list[float] = []
        """The pauses made so far, in seconds (after scaling and the cap)."""
        self.played = 0
        """How many recorded events were played so far."""
        self._next = 0
        self._steps = self._plan(stream_text)
        config = SessionConfig.from_dict(created.config)
        config.name = f"{config.name or source} (replay)"
        self.session = _player(f"replay-{source}"[:128], config, created)
        """The player session: the view follows it; it has no model and no tools."""

    def __repr__(self) -> str:
        return (
            f"Replay({self.source!r}, events={len(self.entries)}, speed={self.speed}, "
            f"played={self.played})"
        )

    def pause_before(self, index: int) -> float:
        """Seconds to wait before event ``index``: its recorded gap / speed, capped."""
        if index == 0:
            return 0.0
        before, now = self.entries[index - 1][0], self.entries[index][0]
        if before is None or now is None or now <= before:
            return 0.0
        pause = (now - before) / self.speed
        if self.max_pause is not None:
            pause = min(pause, self.max_pause)
        return pause

    def _plan(self, stream_text: bool) -> list[tuple[float, Any, bool]]:
        """(pause, event, recorded?) for each step: the recorded events and, after each
        turn_start, the pieces of that turn's text, which share the gap that follows."""
        from a3s_notebook.engine.events import (
            MessageAdded,
            TextDeltaEvent,
            TurnEnd,
            TurnStart,
        )
        from a3s_notebook.llm.scripted import _chunks

        steps: list[tuple[float, Any, bool]] = []
        carry: float | None = None
        for i, (_ts, event) in enumerate(self.entries):
            pause = self.pause_before(i) if carry is None else carry
            carry = None
            steps.append((pause, event, True))
            if not (stream_text and isinstance(event, TurnStart)):
                continue
            text = ""
            for _t, later in self.entries[i + 1 :]:
                if isinstance(later, TurnEnd):
                    break
                if isinstance(later, MessageAdded) and later.message.role == "assistant":
                    text = later.message.text()
                    break
            pieces = _chunks(text, 16) if text else []
            if pieces and i + 1 < len(self.entries):
                share = self.pause_before(i + 1) / (len(pieces) + 1)
                steps.extend((share, TextDeltaEvent(text=p), False) for p in pieces)
                carry = share
        return steps

    async def play_async(self) -> Replay:
        """Play every step not played yet into the player session, with its timing."""
        while self._next < len(self._steps):
            pause, event, recorded = self._steps[self._next]
            if pause > 0:
                self.pauses.append(pause)
                await self._sleep(pause)
            self.session._emit(event)
            self._next += 1
            self.played += recorded
        return self

    def step(self) -> bool:
        """Play the next recorded event at once (with its streamed text), no pause; False
        when nothing is left. For a class that goes at its own pace."""
        if self._next >= len(self._steps):
            return False
        first = True
        while self._next < len(self._steps):
            _pause, event, recorded = self._steps[self._next]
            if recorded and not first:
                break
            self.session._emit(event)
            self._next += 1
            self.played += recorded
            first = False
        return True

    def controls(self) -> Any:
        """A "Next" button that plays one recorded event per click, and a counter."""
        import ipywidgets as widgets

        button = widgets.Button(description="Next", icon="step-forward")
        label = widgets.Label(value=f"0 / {len(self.entries)} events")

        def on_click(_button: Any) -> None:
            if not self.step():
                button.disabled = True
            label.value = f"{self.played} / {len(self.entries)} events"
            if self.played >= len(self.entries):
                button.disabled = True

        button.on_click(on_click)
        box = widgets.HBox([button, label])
        box.add_class("a3s-replay-controls")
        return box

    def play(self) -> Replay:
        """:meth:`play_async` from sync code (any thread, also inside a running loop)."""
        return _sync.run_sync(self.play_async)

    def view(self) -> Any:
        """A fresh SessionView following the player session."""
        from a3s_notebook.widgets import SessionView

        return SessionView(self.session)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.step_by_step:
            display(self.controls(), self.view())  # type: ignore[no-untyped-call,unused-ignore]
            return
        display(self.view())  # type: ignore[no-untyped-call,unused-ignore]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.play()
            return
        # a notebook cell: the replay goes on as a task, the cell returns at once
        task = loop.create_task(self.play_async())
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Task[Any]] = set()


def _check_positive(name: str, value: object, hint: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"replay({name}={value!r}): use a number > 0 ({hint})")


def _player(sid: str, config: Any, created: Any) -> Session:
    """A session that only shows events: no store, no model, no tools."""
    from a3s_notebook.engine import Session
    from a3s_notebook.engine.tools import ToolRegistry

    return Session(
        sid,
        config,
        model_name=created.model or "scripted/replay",
        tools=ToolRegistry(),
        store=None,
        llm_config=created.llm_config,
        created_at=created.created_at,
    )
