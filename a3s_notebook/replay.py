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

With ``interactive=True`` the class decides too: when the recording reaches a
confirmation request, the replay stops and the approval card waits for a click on
Approve, Deny or Always allow. The recording's outcome is what plays next either way (the
replayed run cannot change), and the card then says both: "the recording approved this
call; you chose deny". Tests (and code) pass ``decide=`` instead of clicking.

The log keeps whole messages, not the streamed tokens: with ``stream_text=True`` (the
default) each turn's text is streamed again in small pieces, spread over the time the
turn's answer took when recorded (the total time is unchanged).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine import _sync
from a3s_notebook.engine.errors import ConfigError, SessionNotFoundError, StoreError

if TYPE_CHECKING:
    from a3s_notebook.engine import Session, SessionManager
    from a3s_notebook.engine._log import LogEntry

__all__ = ["Replay", "ReplayChoice", "load_recording"]

Sleep = Callable[[float], Awaitable[Any]]

Choice = str
"""A class's choice on a replayed card: ``"approve"``, ``"deny"`` or ``"always"``."""

Decide = Callable[[Any], "Choice | Awaitable[Choice]"]
"""``decide(confirmation_required_event)``: the choice, instead of a click on the card."""

CHOICES = ("approve", "deny", "always")


@dataclass(frozen=True)
class ReplayChoice:
    """What the class chose on one replayed approval card, beside what the recording did."""

    tool_id: str
    tool_name: str
    chosen: Choice
    """``"approve"``, ``"deny"`` or ``"always"`` (always allow)."""
    reason: str | None
    """The reason typed with a denial, if any."""
    recorded: str
    """What the recording did: ``"approved"``, ``"denied"``, ``"timed out"``, ..."""
    note: str
    """The card's sentence, e.g. "The recording approved this call; you chose deny."."""


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
        interactive: stop at each confirmation request until the class decides on the
            card (or ``decide`` does); the recorded outcome plays next either way, and
            the card shows both. Each choice is kept in :attr:`choices`.
        decide: ``decide(event)`` returns ``"approve"``, ``"deny"`` or ``"always"`` (or
            an awaitable of it) for a ``ConfirmationRequired`` event, instead of a click.
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
        interactive: bool = False,
        decide: Decide | None = None,
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
        if decide is not None and not interactive:
            raise ConfigError(
                "replay(decide=...) is only used with interactive=True: add interactive=True"
            )
        if decide is not None and not callable(decide):
            raise ConfigError("replay(decide=...) must be a function of the request event")
        self.interactive = bool(interactive)
        """Stop at each confirmation request until the class decides."""
        self._decide = decide
        self.choices: list[ReplayChoice] = []
        """The class's choices so far, in order."""
        self.waiting: Any = None
        """The ``ConfirmationRequired`` event waiting for the class's choice, or None."""
        self._lock = threading.RLock()
        self._future: asyncio.Future[tuple[Choice, str | None]] | None = None
        self._rush_until = -1  # steps up to this index play without a pause (see _chosen)
        self._listeners: list[Callable[[], None]] = []
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
        self.session = _player(f"replay-{source}"[:128], config, created, self)
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
        """Play every step not played yet into the player session, with its timing
        (interactive: waiting for the class's choice at each confirmation request)."""
        while self._next < len(self._steps):
            if self.waiting is not None:
                await self._choice_async()
                continue
            pause = self._steps[self._next][0]
            if pause > 0 and self._next > self._rush_until:
                self.pauses.append(pause)
                await self._sleep(pause)
            self._play_one()
        return self

    def _play_one(self) -> None:
        """Emit the next step; an interactive request then waits for a choice."""
        _pause, event, recorded = self._steps[self._next]
        self.session._emit(event)
        self._next += 1
        self.played += recorded
        if self.interactive and recorded and _is_request(event):
            self.waiting = event

    async def _choice_async(self) -> None:
        event = self.waiting
        if self._decide is not None:
            choice = self._decide(event)
            if inspect.isawaitable(choice):
                choice = await choice
            self._chosen(event.tool_id, str(choice), None)
            return
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.waiting is None:
                return  # a click came before this wait began: it is decided already
            self._future = loop.create_future()
        try:
            chosen, reason = await self._future
        finally:
            with self._lock:
                self._future = None
        self._chosen(event.tool_id, chosen, reason)

    def _click(self, tool_id: str, chosen: Choice, reason: str | None) -> bool:
        """A click on a replayed card (the player's ``confirm``): True when it was the
        request the replay waits for."""
        with self._lock:
            if self.waiting is None or self.waiting.tool_id != tool_id:
                return False
            future = self._future
            if future is not None:
                # the timed replay runs on its loop, maybe in another thread than the click
                if not future.done():
                    future.get_loop().call_soon_threadsafe(_resolve, future, (chosen, reason))
                return True
            # no wait in progress: a step-by-step replay (or a timed one between two
            # events) takes the choice now
            self._chosen(tool_id, chosen, reason)
            if self.step_by_step:
                self._play_through_outcome()
            return True

    def _chosen(self, tool_id: str, chosen: str, reason: str | None) -> None:
        """Keep the class's choice, say it on the card, and let the recorded outcome
        follow at once (the class's thinking replaces the recorded human's)."""
        with self._lock:
            self._chosen_locked(tool_id, chosen, reason)

    def _chosen_locked(self, tool_id: str, chosen: str, reason: str | None) -> None:
        event = self.waiting
        if event is None or event.tool_id != tool_id:
            return
        if chosen not in CHOICES:
            raise ConfigError(
                f"replay: the choice for {event.tool_name} was {chosen!r}; use one of "
                f"{', '.join(CHOICES)}"
            )
        outcome_at, recorded = self._outcome(tool_id)
        said = {"approve": "approve", "deny": "deny", "always": "always allow"}[chosen]
        if chosen == "deny" and reason:
            said += f" ({reason})"
        verb = next(
            (v for v in ("always allowed", "approved", "denied") if recorded.startswith(v)), ""
        )
        head = (
            f"The recording {verb} this call{recorded[len(verb) :]}"
            if verb
            else f"In the recording this call {recorded}"
        )
        note = f"{head}; you chose {said}. The replay follows the recording."
        self.choices.append(ReplayChoice(tool_id, event.tool_name, chosen, reason, recorded, note))
        self.session._notes[tool_id] = note  # type: ignore[attr-defined]
        self._rush_until = outcome_at
        self.waiting = None
        for listener in list(self._listeners):
            listener()

    def _outcome(self, tool_id: str) -> tuple[int, str]:
        """The step index that settles ``tool_id`` in the recording, and what it did."""
        from a3s_notebook.engine.events import (
            ConfirmationReceived,
            ConfirmationsCancelled,
            ConfirmationTimeout,
            ToolEnd,
        )

        for i in range(self._next, len(self._steps)):
            event = self._steps[i][1]
            if isinstance(event, ConfirmationReceived) and event.tool_id == tool_id:
                by = f" (by {event.decided_by})" if event.decided_by else ""
                if event.approved and event.rule_added:
                    return i, f"always allowed{by}, adding the rule {event.rule_added}"
                if event.approved:
                    return i, f"approved{by}"
                said = ": ".join(
                    x
                    for x in (
                        f"by {event.decided_by}" if event.decided_by else "",
                        event.reason or "",
                    )
                    if x
                )
                return i, f"denied ({said})" if said else "denied"
            if isinstance(event, ConfirmationTimeout) and event.tool_id == tool_id:
                action = "approved" if event.action_taken == "auto_approved" else "rejected"
                return i, f"timed out and the policy {action} it"
            if (isinstance(event, ConfirmationsCancelled) and tool_id in event.tool_ids) or (
                isinstance(event, ToolEnd) and event.id == tool_id
            ):
                return i, "was cancelled: the run stopped before a decision"
        return len(self._steps) - 1, "was never decided: the recording ends here"

    def _play_through_outcome(self) -> None:
        """Step mode after a choice: play up to the recorded outcome at once (stopping at
        another request, which waits in its turn)."""
        while self._next <= self._rush_until and self._next < len(self._steps):
            if self.waiting is not None:
                return
            self._play_one()

    def step(self) -> bool:
        """Play the next recorded event at once (with its streamed text), no pause; False
        when nothing is left. For a class that goes at its own pace. Interactive, a
        request waits for the choice on its card: ``step()`` then plays nothing (and
        returns True) until the class decides, or asks ``decide``."""
        if self.waiting is not None:
            if self._decide is None:
                return True
            self._decide_now()
            return True
        if self._next >= len(self._steps):
            return False
        first = True
        while self._next < len(self._steps):
            recorded = self._steps[self._next][2]
            if recorded and not first:
                break
            self._play_one()
            first = False
        if self.waiting is not None and self._decide is not None:
            self._decide_now()
        return True

    def _decide_now(self) -> None:
        event = self.waiting
        assert self._decide is not None and event is not None
        choice = self._decide(event)
        if inspect.isawaitable(choice):
            close = getattr(choice, "close", None)
            if close is not None:
                close()  # never awaited: say so plainly instead of a warning later
            raise ConfigError(
                "replay(step_by_step=True, decide=...): decide must return the choice at "
                "once, not an awaitable"
            )
        self._chosen(event.tool_id, str(choice), None)
        self._play_through_outcome()

    def controls(self) -> Any:
        """A "Next" button that plays one recorded event per click, and a counter (which
        says so when a card waits for the class's choice)."""
        import ipywidgets as widgets

        button = widgets.Button(description="Next", icon="step-forward")
        label = widgets.Label(value=f"0 / {len(self.entries)} events")

        def update() -> None:
            text = f"{self.played} / {len(self.entries)} events"
            if self.waiting is not None:
                text += ": decide on the approval card to go on"
            label.value = text
            button.disabled = self.waiting is not None or self._next >= len(self._steps)

        def on_click(_button: Any) -> None:
            self.step()
            update()

        button.on_click(on_click)
        self._listeners.append(update)
        box = widgets.HBox([button, label])
        box.add_class("a3s-replay-controls")
        return box

    def play(self) -> Replay:
        """:meth:`play_async` from sync code (any thread, also inside a running loop).

        Interactive without ``decide``, it refuses at once: blocking here would also block
        the kernel that delivers the clicks on the cards."""
        if self.interactive and self._decide is None:
            raise ConfigError(
                "replay(interactive=True).play() would wait for clicks while blocking the "
                "kernel that delivers them: show the replay (a cell's value) or "
                "`await replay.play_async()`, or pass decide=..."
            )
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


def _is_request(event: Any) -> bool:
    from a3s_notebook.engine.events import ConfirmationRequired

    return isinstance(event, ConfirmationRequired)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _player(sid: str, config: Any, created: Any, replay: Replay) -> Session:
    """A session that only shows events: no store, no model, no tools. Its ``confirm``
    (what a card's click calls) hands an interactive replay the class's choice."""
    from a3s_notebook.engine import Session
    from a3s_notebook.engine.tools import ToolRegistry

    class _Player(Session):
        _notes: dict[str, str]

        def confirm(
            self,
            tool_id: str,
            approved: bool = True,
            reason: str | None = None,
            *,
            always: bool = False,
            rule: str | None = None,
            decided_by: str = "user",
        ) -> bool:
            """A click on a replayed card: the choice of the class, if the replay waits
            for it (the recording's outcome plays either way); else it changes nothing."""
            chosen = "deny" if not approved else ("always" if always else "approve")
            return replay._click(tool_id, chosen, reason if not approved else None)

        def pending_confirmations(self) -> list[Any]:
            """The request the replay waits for, so a view made meanwhile shows its card."""
            from a3s_notebook.engine.hitl import PendingConfirmationInfo

            ev = replay.waiting
            if ev is None:
                return []
            return [
                PendingConfirmationInfo(
                    tool_id=ev.tool_id,
                    tool_name=ev.tool_name,
                    args=ev.args,
                    remaining_ms=ev.timeout_ms,
                    timeout_ms=ev.timeout_ms,
                    reason=ev.reason,
                    suggested_rule=ev.suggested_rule,
                    created_at=time.time(),
                )
            ]

        def decision_note(self, tool_id: str) -> str | None:
            """What an approval card adds to a decided replayed call: the recorded
            outcome beside the class's choice (None: the class was not asked)."""
            return self._notes.get(tool_id)

    player = _Player(
        sid,
        config,
        model_name=created.model or "scripted/replay",
        tools=ToolRegistry(),
        store=None,
        llm_config=created.llm_config,
        created_at=created.created_at,
    )
    player._notes = {}
    return player
