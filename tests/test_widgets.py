"""The widget suite without a browser: drive the handlers, record what is sent.

Front-end messages are simulated by calling the widgets' message dispatcher with the
content a view would send; what Python sends back is recorded by replacing ``send``.
Streaming is checked in simulated time (an injected clock and timer).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import (
    ConfirmationPolicy,
    PermissionPolicy,
    Session,
    SessionConfig,
    SessionManager,
    TimeoutAction,
)
from a3s_notebook.engine.events import (
    AgentEnd,
    AgentStart,
    ContextCompacted,
    ErrorEvent,
    TextDeltaEvent,
    ToolEnd,
    ToolOutputDelta,
    ToolStart,
    TurnEnd,
    TurnStart,
)
from a3s_notebook.llm.scripted import ScriptedTurn
from a3s_notebook.llm.types import TokenUsage
from a3s_notebook.widgets import (
    ApprovalCards,
    ContextBar,
    EventStream,
    SessionView,
    TaskTable,
    UsagePanel,
)
from a3s_notebook.widgets._approvals import NOT_PENDING, diff_for
from a3s_notebook.widgets._base import SessionWidget
from a3s_notebook.widgets._coalesce import DeltaCoalescer, LatestValues
from a3s_notebook.widgets._event_stream import ARCHIVE_CHUNK
from a3s_notebook.widgets._memory_table import MemoryTable
from a3s_notebook.widgets._session_view import SessionHeader
from a3s_notebook.widgets._static import STATIC_DIR, WIDGET_MODULES, check_assets

ROOT = Path(__file__).resolve().parent.parent

WIDGETS: list[type[SessionWidget]] = [EventStream, ContextBar, TaskTable, ApprovalCards, UsagePanel]


# --- helpers ------------------------------------------------------------------------------


class SimClock:
    """A clock and a timer queue in simulated time (for DeltaCoalescer)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, list[Any]]] = []
        self._ids = itertools.count()

    def clock(self) -> float:
        return self.now

    def schedule(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        entry: list[Any] = [callback, True]
        heapq.heappush(self._timers, (self.now + delay, next(self._ids), entry))

        def cancel() -> None:
            entry[1] = False

        return cancel

    def advance(self, dt: float) -> None:
        """Move time forward, firing due timers in order."""
        end = self.now + dt
        while self._timers and self._timers[0][0] <= end:
            when, _, entry = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if entry[1]:
                entry[0]()
        self.now = end


class Recorder:
    """Replaces ``widget.send``; keeps (simulated time, message) pairs."""

    def __init__(self, widget: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self._clock = clock
        widget.send = self.send

    def send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.messages.append((self._clock(), json.loads(json.dumps(content))))

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("kind") == kind]


def front_end_text(messages: list[dict[str, Any]], seg: str, field: str = "text") -> str:
    """What a front end rebuilds from delta messages (mirrors js/lib/stream.ts)."""
    out = []
    last_seq = 0
    for m in messages:
        if m["kind"] != "delta":
            continue
        assert m["seq"] > last_seq, "sequence numbers must increase"
        last_seq = m["seq"]
        out += [p["text"] for p in m["parts"] if p["seg"] == seg and p["field"] == field]
    return "".join(out)


def click(widget: Any, **content: Any) -> None:
    """Deliver a custom message from the front end through ipywidgets' comm handler,
    exactly as the kernel does with a ``comm_msg`` from a view."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def usage(total: int = 10) -> TokenUsage:
    return TokenUsage(prompt_tokens=total - 2, completion_tokens=2, total_tokens=total)


@pytest.fixture
def demo(tmp_path: Path, workspace: Path) -> Callable[..., Session]:
    """A ``scripted/demo-fast`` session on the notebook policy (write needs approval)."""

    def make(timeout_ms: int = 30_000, **config: Any) -> Session:
        policy = ConfirmationPolicy.enabled_policy().with_timeout(timeout_ms, TimeoutAction.REJECT)
        cfg = SessionConfig(
            name="demo",
            workspace=str(workspace),
            permission_policy=PermissionPolicy.notebook(),
            confirmation_policy=policy,
            **config,
        )
        return SessionManager(tmp_path / "s").create_session(cfg, model="scripted/demo-fast")

    return make


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def assert_no_errors(*widgets: SessionWidget) -> None:
    for w in widgets:
        assert w.errors == [], (type(w).__name__, w.errors)


# --- assets and construction ------------------------------------------------------------


def test_every_widget_loads_its_bundle_and_the_stylesheet() -> None:
    for name in WIDGET_MODULES:
        assert (STATIC_DIR / f"{name}.js").is_file(), name
    for cls in [*WIDGETS, SessionView().header.__class__]:
        w = cls()
        assert "export" in w._esm or "render" in w._esm, cls.__name__
        assert w._css.startswith(".a3s-"), cls.__name__  # its own rules, minified
        w.close()


def test_missing_bundles_raise_an_error_that_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ImportError, match=r"make js"):
        check_assets(tmp_path)


def test_css_classes_are_prefixed() -> None:
    css = "\n".join(p.read_text() for p in sorted(STATIC_DIR.glob("*.css")))
    import re

    classes = set(re.findall(r"\.(-?[_a-zA-Z][\w-]*)", re.sub(r"/\*.*?\*/", "", css, flags=re.S)))
    # host theme markers we match on are not ours
    foreign = {"dark", "dark-theme", "vscode-dark", "vscode-light", "vscode-high-contrast"}
    foreign |= {"vscode-high-contrast-light"}
    ours = {c for c in classes if c not in foreign and not c[0].isdigit()}
    assert ours and all(c.startswith("a3s-") for c in ours), sorted(
        c for c in ours if not c.startswith("a3s-")
    )


def test_each_widget_ships_only_its_own_rules_and_the_theme_once() -> None:
    """One theme (in every ES module, injected once per page) plus a small sheet per
    widget class: no rule is shipped as the `_css` of two classes."""
    classes: list[type[SessionWidget]] = [*WIDGETS, MemoryTable, SessionHeader]
    sheets = {w.__name__: w()._css for w in classes}
    assert len(sheets) == 7 and len(set(sheets.values())) == 7
    theme = (STATIC_DIR / "theme.css").read_text()
    assert ".a3s-root{" in theme.replace(" ", "") and "--a3s-fb-bg" in theme
    for name, css in sheets.items():
        assert "--a3s-fb-bg" not in css and ".a3s-root{" not in css.replace(" ", ""), name
        assert len(css) < len(theme), name
    # the theme text travels in each ES module, which puts it into the page once
    for module in WIDGET_MODULES:
        assert "a3s-notebook-theme" in (STATIC_DIR / f"{module}.js").read_text()


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="page_sise"):
        EventStream(page_sise=10)
    assert EventStream(page_size=10).page_size == 10


# --- coalescing -----------------------------------------------------------------------------


def test_coalescer_sends_the_first_delta_at_once_then_batches() -> None:
    sim = SimClock()
    sent: list[list[dict[str, Any]]] = []
    c = DeltaCoalescer(sent.append, interval=0.05, clock=sim.clock, schedule=sim.schedule)
    c.add("r1", "text", "Hel")
    assert sent == [[{"seg": "r1", "field": "text", "text": "Hel"}]]
    c.add("r1", "text", "lo")
    c.add("r1", "text", " world")
    c.add("r2", "output", "x")
    assert len(sent) == 1
    sim.advance(0.05)
    assert sent[1] == [
        {"seg": "r1", "field": "text", "text": "lo world"},
        {"seg": "r2", "field": "output", "text": "x"},
    ]
    c.add("r1", "text", "!")
    c.flush()  # a boundary: nothing waits for the timer
    assert sent[2] == [{"seg": "r1", "field": "text", "text": "!"}]
    sim.advance(1)
    assert len(sent) == 3 and not c.pending


def test_5000_deltas_are_coalesced_and_the_front_end_text_equals_the_model_text() -> None:
    sim = SimClock()
    w = EventStream()
    rec = Recorder(w, sim.clock)
    w._coalescer = DeltaCoalescer(w._send_parts, clock=sim.clock, schedule=sim.schedule)
    pieces = [f"tok{i} " if i % 50 else f"\n\n**para {i}** " for i in range(5000)]
    model_text = "".join(pieces)

    w._on_event(AgentStart(prompt="write a lot"))
    w._on_event(TurnStart(turn=1))
    for piece in pieces:  # one token per millisecond: 5 s of simulated streaming
        w._on_event(TextDeltaEvent(text=piece))
        sim.advance(0.001)
    w._on_event(TurnEnd(turn=1, usage=usage()))
    w._on_event(AgentEnd(text=model_text, usage=usage()))

    deltas = [(t, m) for t, m in rec.messages if m["kind"] == "delta"]
    per_second: dict[int, int] = {}
    for t, _ in deltas:
        per_second[int(t)] = per_second.get(int(t), 0) + 1
    assert max(per_second.values()) <= 21, per_second
    assert len(deltas) <= 5 * 21
    # each message carries only new text: nothing is ever sent twice
    assert sum(len(p["text"]) for _, m in deltas for p in m["parts"]) == len(model_text)
    seg = deltas[0][1]["parts"][0]["seg"]
    assert front_end_text([m for _, m in deltas], seg) == model_text
    # and the committed row (the durable state) has the same id and text
    committed = [r for r in w.rows if r["kind"] == "assistant"]
    assert [(r["id"], r["text"]) for r in committed] == [(seg, model_text)]
    assert_no_errors(w)


def test_coalescer_without_a_running_loop_uses_a_timer_thread() -> None:
    sent: list[list[dict[str, Any]]] = []
    done = threading.Event()

    def send(parts: list[dict[str, Any]]) -> None:
        sent.append(parts)
        if len(sent) == 2:
            done.set()

    c = DeltaCoalescer(send, interval=0.03)

    def worker() -> None:
        c.add("r1", "text", "a")
        c.add("r1", "text", "b")
        c.add("r1", "text", "c")

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert done.wait(2), sent
    assert [p["text"] for batch in sent for p in batch] == ["a", "bc"]


async def test_coalescer_uses_the_running_loop() -> None:
    sent: list[list[dict[str, Any]]] = []
    c = DeltaCoalescer(sent.append, interval=0.02)
    c.add("r1", "text", "a")
    c.add("r1", "text", "b")
    assert len(sent) == 1
    await asyncio.sleep(0.06)
    assert [p["text"] for batch in sent for p in batch] == ["a", "b"]


# --- a real session --------------------------------------------------------------------------


async def run_with_decision(
    session: Session, view: SessionView, decision: str, reason: str = ""
) -> tuple[str, str]:
    task = asyncio.ensure_future(session.send_async("summarise the workspace"))
    cards = view.approvals_widget
    await wait_for(lambda: cards.cards and cards.cards[0]["status"] == "pending")
    tool_id = cards.cards[0]["tool_id"]
    click(cards, kind="confirm", tool_id=tool_id, decision=decision, reason=reason)
    result = await asyncio.wait_for(task, 10)
    return result.text, tool_id


async def test_approve_click_runs_the_tool_and_every_widget_follows(
    demo: Callable[..., Session], workspace: Path
) -> None:
    session = demo()
    view = SessionView(session)
    recs = {type(p).__name__: Recorder(p) for p in view.parts}
    assert view.header.info["model"] == "scripted/demo-fast" and view.header.info["scripted"]

    text, tool_id = await run_with_decision(session, view, "approve")

    assert (workspace / "notes.md").is_file()
    assert "wrote my notes" in text
    card = view.approvals_widget.cards[0]
    assert card["status"] == "approved" and card["decided_by"] == "user"
    assert card["decided_at"] and card["diff"]["kind"] == "write" and card["diff"]["new_file"]
    assert card["reason"] == "no rule allows this tool (default: ask)"

    rows = view.events_widget.rows
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "user" and kinds[-1] == "end"
    write = next(r for r in rows if r["kind"] == "tool" and r["name"] == "write")
    assert write["status"] == "ok" and write["exit_code"] == 0 and write["tool_id"] == tool_id
    assert write["args"]["file_path"] == "notes.md" and write["duration_ms"] is not None
    # the request's row became its outcome, in place, right below the write that ran
    outcomes = [r["outcome"] for r in rows if r["kind"] == "confirmation"]
    assert outcomes == ["approved"]
    approved = next(i for i, r in enumerate(rows) if r["kind"] == "confirmation")
    assert rows[approved - 1]["tool_id"] == tool_id and rows[approved]["v"] == 1
    assistant = [r["text"] for r in rows if r["kind"] == "assistant"]
    assert assistant[-1] == text
    # the streamed deltas rebuild the same text, segment by segment
    deltas = recs["EventStream"].kinds("delta")
    for r in rows:
        if r["kind"] == "assistant":
            assert front_end_text(deltas, r["id"]) == r["text"]

    ctx = view.context_widget.context
    # the last call's report, plus its answer (estimated until a next call measures it)
    assert ctx["measured_tokens"] == session.context_usage.used_tokens > 0
    last = session.cost_records[-1]
    assert ctx["used_tokens"] == last.prompt_tokens + last.completion_tokens
    assert ctx["turns"] == len(session.messages) and ctx["threshold"] == 0.8
    assert [t["status"] for t in view.tasks_widget.tasks] == ["completed"] * 3
    u = view.usage_widget.usage
    assert u["calls"] == len(session.cost_records) == 5
    assert u["cost_usd"] is None and u["scripted"] and u["estimated"]
    assert u["models"][0]["label"] == "scripted/demo-fast"
    assert view.header.status["phase"] == "done"
    assert_no_errors(*view.parts)


async def test_deny_with_a_reason_reaches_the_model(
    demo: Callable[..., Session], workspace: Path
) -> None:
    session = demo()
    view = SessionView(session)
    text, _ = await run_with_decision(session, view, "deny", "  not in this folder  ")
    assert not (workspace / "notes.md").exists()
    assert "not in this folder" in text
    card = view.approvals_widget.cards[0]
    assert card["status"] == "denied" and card["decision_reason"] == "not in this folder"
    row = [r for r in view.events_widget.rows if r["kind"] == "confirmation"][-1]
    assert row["outcome"] == "denied" and row["reason"] == "not in this folder"
    write = next(r for r in view.events_widget.rows if r.get("name") == "write")
    assert write["status"] == "error"
    assert_no_errors(*view.parts)


async def test_always_allow_adds_a_rule_that_is_listed_and_removable(
    demo: Callable[..., Session],
) -> None:
    session = demo()
    view = SessionView(session)
    await run_with_decision(session, view, "always")
    cards = view.approvals_widget
    # the card offered the narrow rule (that file), never the bare tool name
    rule = "Write(notes.md)"
    assert cards.cards[0]["suggested_rule"] == rule
    assert rule in session.rules()["allow"] and "write" not in session.rules()["allow"]
    assert cards.cards[0]["rule_added"] == rule and cards.cards[0]["status"] == "approved"
    assert rule in cards.rules["allow"] and cards.rules["added"] == [rule]
    click(cards, kind="remove_rule", rule=rule)
    assert rule not in session.rules()["allow"]
    assert rule not in cards.rules["allow"] and cards.rules["added"] == []
    assert_no_errors(cards)


async def test_a_click_on_a_card_that_is_no_longer_pending_does_nothing_and_says_so(
    demo: Callable[..., Session],
) -> None:
    session = demo()
    view = SessionView(session)
    _, tool_id = await run_with_decision(session, view, "approve")
    cards = view.approvals_widget
    click(cards, kind="confirm", tool_id=tool_id, decision="deny", reason="too late")
    card = cards.cards[0]
    assert card["status"] == "approved" and card["notice"] == NOT_PENDING
    click(cards, kind="confirm", tool_id="nope", decision="approve")  # unknown: ignored
    assert_no_errors(cards)


async def test_a_cancelled_card_closes_at_once_and_a_late_click_says_so(
    demo: Callable[..., Session],
) -> None:
    session = demo()
    cards = ApprovalCards(session)
    task = asyncio.ensure_future(session.send_async("go"))
    await wait_for(lambda: cards.cards)
    tool_id = cards.cards[0]["tool_id"]
    # a cancel is an event (confirmations_cancelled): the card closes without polling
    session.confirmations.cancel(tool_id)
    assert cards.cards[0]["status"] == "cancelled"
    # a click that arrives afterwards changes nothing and says so
    click(cards, kind="confirm", tool_id=tool_id, decision="approve")
    assert cards.cards[0]["status"] == "cancelled" and cards.cards[0]["notice"] == NOT_PENDING
    await asyncio.wait_for(task, 10)
    assert_no_errors(cards)


async def test_a_timeout_shows_as_such(demo: Callable[..., Session], workspace: Path) -> None:
    session = demo(timeout_ms=150)
    view = SessionView(session)
    result = await asyncio.wait_for(session.send_async("go"), 10)
    assert not (workspace / "notes.md").exists()
    card = view.approvals_widget.cards[0]
    assert card["status"] == "timeout" and card["action_taken"] == "rejected"
    assert card["timeout_ms"] == 150 and card["deadline"] >= card["created_at"]
    outcomes = [r["outcome"] for r in view.events_widget.rows if r["kind"] == "confirmation"]
    assert outcomes == ["timeout"]
    assert "did not write" in result.text
    assert_no_errors(*view.parts)


async def test_cancelled_run_closes_its_cards(demo: Callable[..., Session]) -> None:
    session = demo()
    view = SessionView(session)
    task = asyncio.ensure_future(session.send_async("go"))
    await wait_for(lambda: view.approvals_widget.cards)
    session.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert view.approvals_widget.cards[0]["status"] == "cancelled"
    assert any(
        r["kind"] == "error" and "cancelled" in r["message"] for r in view.events_widget.rows
    )
    assert view.header.status["phase"] == "error"


async def test_sync_send_from_a_worker_thread_still_updates_the_stream(
    make_session: Callable[..., Session],
) -> None:
    text = "A long answer, streamed in many small pieces by the scripted model. " * 20
    session = make_session([ScriptedTurn(text=text)])
    stream = EventStream(session)
    rec = Recorder(stream)
    main = threading.get_ident()
    threads: set[int] = set()
    session.subscribe(lambda _e: threads.add(threading.get_ident()))
    # inside a running loop, the sync API runs the session on a worker thread
    result = session.send("hi")
    assert result.text == text
    assert threads and main not in threads
    row = [r for r in stream.rows if r["kind"] == "assistant"][-1]
    assert row["text"] == text
    assert front_end_text(rec.kinds("delta"), row["id"]) == text
    assert_no_errors(stream)


# --- rows -----------------------------------------------------------------------------------


def test_tool_output_streams_into_the_running_row() -> None:
    sim = SimClock()
    w = EventStream()
    rec = Recorder(w, sim.clock)
    w._coalescer = DeltaCoalescer(w._send_parts, clock=sim.clock, schedule=sim.schedule)
    w._on_event(ToolStart(id="t1", name="bash"))
    row_id = w.rows[-1]["id"]
    assert w.rows[-1]["status"] == "running"
    for i in range(100):
        w._on_event(ToolOutputDelta(id="t1", name="bash", delta=f"line {i}\n"))
        sim.advance(0.002)
    full = "".join(f"line {i}\n" for i in range(100))
    w._on_event(
        ToolEnd(
            id="t1",
            name="bash",
            output=full,
            exit_code=2,
            duration_ms=200,
            args={"command": "make"},
        )
    )
    assert front_end_text(rec.kinds("delta"), row_id, "output") == full
    assert len(rec.kinds("delta")) <= 6
    row = w.rows[-1]
    assert (row["id"], row["status"], row["exit_code"], row["v"]) == (row_id, "error", 2, 1)
    assert row["args"] == {"command": "make"}


def test_a_tool_row_waits_for_approval_then_runs() -> None:
    from a3s_notebook.engine.events import ConfirmationReceived, ConfirmationRequired

    w = EventStream()
    w._on_event(ToolStart(id="w1", name="write"))
    w._on_event(ToolStart(id="w2", name="write"))

    def status(tool_id: str) -> str:
        return next(
            r["status"] for r in w.rows if r.get("tool_id") == tool_id and r["kind"] == "tool"
        )

    for tid in ("w1", "w2"):
        w._on_event(ConfirmationRequired(tool_id=tid, tool_name="write", args={}, timeout_ms=1000))
        assert status(tid) == "waiting"
    w._on_event(ConfirmationReceived(tool_id="w1", approved=True))
    w._on_event(ConfirmationReceived(tool_id="w2", approved=False, reason="no"))
    assert (status("w1"), status("w2")) == ("running", "waiting")
    w._on_event(ToolEnd(id="w1", name="write", output="Wrote 1 bytes", exit_code=0))
    w._on_event(ToolEnd(id="w2", name="write", output="rejected", exit_code=1))
    assert (status("w1"), status("w2")) == ("ok", "error")


def test_long_outputs_and_arguments_are_cut_for_display() -> None:
    w = EventStream()
    w._on_event(ToolStart(id="t1", name="write"))
    big = "x" * 100_000
    w._on_event(
        ToolEnd(id="t1", name="write", output=big + "END", exit_code=0, args={"content": big})
    )
    row = w.rows[-1]
    assert row["output_truncated"] and row["output"].endswith("END") and len(row["output"]) < 25_000
    assert len(row["args"]["content"]) < 5_000


def test_denials_errors_and_compactions_are_distinct_rows(
    make_session: Callable[..., Session],
) -> None:
    session = make_session(
        [
            ScriptedTurn(
                text="try",
                tool_calls=[{"id": "b1", "name": "bash", "args": {"command": "rm -rf /"}}],
            ),
            "ok",
        ],
        deny=["bash"],
    )
    view = SessionView(session)
    session.send("go")
    rows = view.events_widget.rows
    denied = next(r for r in rows if r["kind"] == "denied")
    assert denied["tool_name"] == "bash" and "deny rule" in denied["reason"]
    assert (
        next(r for r in rows if r.get("tool_id") == "b1" and r["kind"] == "tool")["status"]
        == "error"
    )
    view.events_widget._on_event(ErrorEvent(message="boom"))
    view.events_widget._on_event(
        ContextCompacted(
            session_id=session.id, before_messages=40, after_messages=6, percent_before=0.82
        )
    )
    view.context_widget._on_event(
        ContextCompacted(
            session_id=session.id, before_messages=40, after_messages=6, percent_before=0.82
        )
    )
    assert [r["kind"] for r in view.events_widget.rows[-2:]] == ["error", "compacted"]
    assert view.context_widget.context["compactions"] == 1
    assert "compacted 1x" in view.context_widget._repr_markdown_()


def test_rows_move_to_the_archive_in_chunks() -> None:
    w = EventStream()
    sizes = []
    for i in range(5 * ARCHIVE_CHUNK + 17):
        w._on_event(ErrorEvent(message=f"e{i}"))
        sizes.append(len(w.rows))
    assert max(sizes) <= 2 * ARCHIVE_CHUNK
    everything = w.archive + w.rows
    assert [r["message"] for r in everything] == [f"e{i}" for i in range(5 * ARCHIVE_CHUNK + 17)]
    assert len({r["id"] for r in everything}) == len(everything)


async def test_a_new_view_shows_everything(demo: Callable[..., Session]) -> None:
    """Durable state is in traits: a second widget on the same session rebuilds it."""
    session = demo()
    view = SessionView(session)
    await run_with_decision(session, view, "approve")
    later = EventStream(session)
    kinds = [r["kind"] for r in later.rows]
    assert kinds.count("user") == 1 and kinds.count("assistant") == 5
    tools = [r for r in later.rows if r["kind"] == "tool"]
    assert len(tools) == 5 and all(r["status"] == "ok" for r in tools)
    assert tools[-2]["name"] == "write" and "Wrote" in tools[-2]["output"]
    assert TaskTable(session).tasks == view.tasks_widget.tasks
    assert UsagePanel(session).usage == view.usage_widget.usage
    assert ContextBar(session).context == view.context_widget.context


def test_hello_gets_the_clock_and_the_live_text_mid_stream() -> None:
    sim = SimClock()
    w = EventStream()
    rec = Recorder(w, sim.clock)
    w._coalescer = DeltaCoalescer(w._send_parts, clock=sim.clock, schedule=sim.schedule)
    w._on_event(TurnStart(turn=1))
    for piece in ["Hel", "lo ", "wor"]:
        w._on_event(TextDeltaEvent(text=piece))
    before = len(rec.messages)
    click(w, kind="hello")  # a second view (or a reload) renders now
    reply = [m for _, m in rec.messages[before:]]
    # the clock, the text still queued in the coalescer, then the whole live state
    assert [m["kind"] for m in reply] == ["clock", "delta", "snapshot"]
    clock, snapshot = reply[0], reply[-1]
    assert clock["now"] > 1e12
    assert snapshot["seq"] == rec.kinds("delta")[-1]["seq"]
    assert list(snapshot["live"].values()) == [{"text": "Hello wor"}]


def test_detach_stops_following(demo: Callable[..., Session]) -> None:
    session = demo()
    bar = ContextBar(session)
    bar.detach()
    session._set_context_used(5000)
    assert bar.context["used_tokens"] == 0 and bar.session is None
    bar.attach(session)
    assert bar.context["used_tokens"] == 5000


def test_a_view_subscribes_once_and_hands_each_part_only_its_events(
    make_session: Callable[..., Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session(
        [ScriptedTurn(text="hi", tool_calls=[{"name": "ls"}]), "done"], allow=["ls"]
    )
    before = len(session._subscribers)
    view = SessionView(session)
    assert len(session._subscribers) == before + 1
    seen: dict[str, list[str]] = {}
    for part in view.parts:
        name = type(part).__name__
        seen[name] = []
        original = part._handle_event

        def spy(event: Any, name: str = name, original: Any = original) -> None:
            seen[name].append(event.type)
            original(event)

        monkeypatch.setattr(part, "_handle_event", spy)
    everything: list[str] = []
    session.subscribe(lambda e: everything.append(e.type))
    session.send("go")
    assert {"usage_recorded", "context_usage", "tool_end", "text_delta"} <= set(everything)
    for part in view.parts:
        # what the part's own subscription would have handed to _handle_event, in order
        wanted = [t for t in everything if part._wants(t)]
        assert seen[type(part).__name__] == wanted, type(part).__name__
    assert "usage_recorded" not in seen["EventStream"] and "tool_end" in seen["EventStream"]
    assert seen["TaskTable"] == ["agent_start", "agent_end"]
    # a part detached or attached on its own leaves the view's dispatch
    view.usage_widget.detach()
    other = make_session(["elsewhere"])
    view.tasks_widget.attach(other)
    seen["UsagePanel"].clear()
    seen["TaskTable"].clear()
    session.send("again")
    assert seen["UsagePanel"] == [] and seen["TaskTable"] == []
    other.send("there")
    assert seen["TaskTable"] == ["agent_start", "agent_end"]
    view.detach()
    assert len(session._subscribers) == before + 1  # only ours is left
    assert all(p.session is None for p in view.parts if p is not view.tasks_widget)


def test_a_part_that_fails_in_a_view_does_not_stop_the_others(
    make_session: Callable[..., Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session(["fine"])
    view = SessionView(session)

    def broken(event: Any) -> None:
        raise RuntimeError("dispatch bug")

    # outside the part's guard: what the view's dispatch itself must survive
    monkeypatch.setattr(view.header, "_on_event", broken)
    view.attach(session)
    assert session.send("go").text == "fine"
    assert view.usage_widget.usage["calls"] == 1
    assert view.events_widget.transcript()[-1]["kind"] == "end"


def test_a_value_set_later_is_built_when_it_is_applied_and_its_error_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = SimClock()
    bar = ContextBar()
    bar._soon = LatestValues(
        bar._apply_soon, clock=sim.clock, schedule=sim.schedule, lock=bar._lock
    )
    bar._on_event(AgentStart(prompt="go"))
    built: list[int] = []
    original = ContextBar._value

    def value(w: ContextBar) -> dict[str, Any]:
        built.append(w._measured)
        return original(w)

    monkeypatch.setattr(ContextBar, "_value", value)
    bar._measure(1)
    bar._publish()  # the first change after a quiet interval: applied at once
    for used in range(2, 50):
        bar._measure(used)
        bar._publish()  # within the interval: waits, and only the last is built
    assert built == [1] and bar.context["used_tokens"] == 1
    sim.advance(1.0)
    assert built == [1, 49] and bar.context["used_tokens"] == 49

    def broken(w: ContextBar) -> dict[str, Any]:
        raise RuntimeError("no context")

    bar._measure(50)
    bar._publish()  # applied at once
    monkeypatch.setattr(ContextBar, "_value", broken)
    bar._publish()
    assert bar.errors == []
    sim.advance(1.0)  # applied by the timer, outside any handler: the error shows anyway
    assert bar.context["used_tokens"] == 50
    assert len(bar.errors) == 1 and "update context" in bar.errors[0]


# --- errors -----------------------------------------------------------------------------------


def test_handler_errors_are_shown_beside_the_widget_and_logged(
    demo: Callable[..., Session], caplog: pytest.LogCaptureFixture
) -> None:
    cards = ApprovalCards(demo())
    with caplog.at_level(logging.ERROR, logger="a3s_notebook.widgets"):
        click(cards, kind="confirm", tool_id="x", decision="maybe")
    assert len(cards.errors) == 1 and "ValueError" in cards.errors[0] and "maybe" in cards.errors[0]
    assert any("message confirm" in r.getMessage() for r in caplog.records)
    click(cards, kind="clear_errors")
    assert cards.errors == []


def test_an_event_handler_failure_does_not_break_the_run(
    make_session: Callable[..., Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session(["fine"])
    table = TaskTable(session)

    def broken(event: Any) -> None:
        raise RuntimeError("render bug")

    monkeypatch.setattr(table, "_handle_event", broken)
    assert session.send("go").text == "fine"
    assert table.errors and "render bug" in table.errors[-1]


# --- budgets, panels and text ------------------------------------------------------------------


def test_usage_panel_shows_budget_left(make_session: Callable[..., Session]) -> None:
    session = make_session(["one", "two"], cost_limit_usd=1.0, token_limit=100_000)
    panel = UsagePanel(session)
    session.send("a")
    b = panel.usage["budget"]
    assert b["cost_limit_usd"] == 1.0 and b["cost_left_usd"] == 1.0
    assert b["tokens_left"] == 100_000 - panel.usage["total_tokens"]
    assert panel.usage["last"]["latency_ms"] is not None
    assert "budget left $1.00 of $1.00" in panel._repr_markdown_()


def test_text_representations(demo: Callable[..., Session]) -> None:
    session = demo()
    session._set_context_used(12_345)
    bar = ContextBar(session)
    assert bar._repr_markdown_().startswith("context: 12,345 / 200,000 tokens (6.2%) ▓░")
    data, _ = bar._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"] == data["text/markdown"] == bar._repr_markdown_()
    view = SessionView(session)
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "scripted/demo-fast (scripted, offline)" in data["text/markdown"]
    assert repr(view) == "SessionView(session='demo')"
    assert repr(bar) == "ContextBar(session='demo')"
    assert TaskTable()._repr_markdown_() == "tasks: none yet"


async def test_text_representation_after_a_run(demo: Callable[..., Session]) -> None:
    session = demo()
    view = SessionView(session)
    await run_with_decision(session, view, "approve")
    md = view._repr_markdown_()
    assert "| ✓ | Write notes.md | completed | medium |" in md
    assert "`write` approved by user" in md
    assert "cost no price (scripted)" in md
    assert "run finished · 5 LLM calls" in md


def test_write_and_edit_diffs(workspace: Path) -> None:
    d = diff_for(workspace, "write", {"file_path": "hello.txt", "content": "hello there\n"})
    assert d is not None and d["old"] == "hello world\n" and not d["new_file"]
    d = diff_for(
        workspace, "edit", {"file_path": "hello.txt", "old_string": "world", "new_string": "you"}
    )
    assert d is not None and (d["old"], d["new"]) == ("hello world\n", "hello you\n")
    d = diff_for(
        workspace, "edit", {"file_path": "hello.txt", "old_string": "zzz", "new_string": "y"}
    )
    assert d is not None and "not found" in d["note"]
    # never read outside the workspace
    d = diff_for(workspace, "write", {"file_path": "../../etc/passwd", "content": "x"})
    assert d is not None and d["old"] == "" and d["new_file"]
    assert diff_for(workspace, "bash", {"command": "ls"}) is None


def test_the_engine_does_not_import_ipywidgets() -> None:
    code = "import sys, a3s_notebook.engine; assert 'ipywidgets' not in sys.modules; assert 'IPython' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the wheel ----------------------------------------------------------------------------------


def _copy_tree(src: Path, dst: Path) -> None:
    ignore = shutil.ignore_patterns("static", "__pycache__", "node_modules", ".test-out", "*.pyc")
    shutil.copytree(src, dst, ignore=ignore)


def test_a_built_wheel_contains_the_widgets_js(tmp_path: Path) -> None:
    """Build a wheel from a clean copy of the sources: the hatch hook runs the npm build."""
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("npm is needed to build the widgets' front end")
        pytest.skip("npm not installed")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", ".gitignore"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    if not (src / "README.md").exists():
        (src / "README.md").write_text("a3s-notebook\n")
    _copy_tree(ROOT / "a3s_notebook", src / "a3s_notebook")
    _copy_tree(ROOT / "js", src / "js")
    if (ROOT / "js" / "node_modules").is_dir():
        # hard links: npm finds its packages in place and the test stays offline and fast
        try:
            shutil.copytree(
                ROOT / "js" / "node_modules", src / "js" / "node_modules", copy_function=os.link
            )
        except OSError:
            shutil.copytree(
                ROOT / "js" / "node_modules", src / "js" / "node_modules", symlinks=True
            )
    assert not (src / "a3s_notebook" / "static").exists()

    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        ".",
        "--no-deps",
        "-q",
        "-w",
        str(tmp_path / "dist"),
    ]
    try:
        import hatch_jupyter_builder  # noqa: F401

        cmd.append("--no-build-isolation")  # use the venv's hatchling + hook: no download
    except ImportError:
        pass
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("a3s_notebook-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in WIDGET_MODULES:
        assert f"a3s_notebook/static/{module}.js" in names
        assert f"a3s_notebook/static/{module}.css" in names
    assert "a3s_notebook/static/theme.css" in names
    assert not any(n.startswith("js/") for n in names)


def test_a_note_row_is_clipped_text_in_the_stream_and_its_markdown() -> None:
    stream = EventStream()
    stream._note("memory", "2 memories recalled", "for the prompt", items=["<b>a</b>", "x" * 900])
    row = stream.transcript()[-1]
    assert row["kind"] == "note" and row["topic"] == "memory" and row["tone"] == "info"
    assert len(row["items"][1]) < 600
    md = stream._markdown()
    assert "*memory* **2 memories recalled**: for the prompt" in md
    assert "<b>" not in md


def test_the_context_bar_counts_the_last_answer_as_an_estimate_until_the_next_call(
    make_session: Callable[..., Session],
) -> None:
    long_answer = "word " * 10_000  # a 12,500-token answer (characters / 4)
    session = make_session([long_answer, "short"])
    bar = ContextBar(session)
    session.send("write a lot")
    c = bar.context
    record = session.cost_records[-1]
    assert record.completion_tokens >= 12_000
    # the call reported its prompt only; the bar adds the answer and says it estimates
    assert c["measured_tokens"] == record.prompt_tokens
    assert c["used_tokens"] == record.prompt_tokens + record.completion_tokens
    assert c["estimated"] is True
    assert c["percent"] == c["used_tokens"] / c["max_tokens"]
    assert bar._markdown().startswith(f"context: ≈ {c['used_tokens']:,} / ")
    assert "tokens (estimated)" in bar._markdown()
    # a view opened now shows the same figure
    assert ContextBar(session).context == c
    # the next call's prompt includes the answer: the measure replaces the estimate
    session.send("and now?")
    nxt = session.cost_records[-1]
    assert nxt.prompt_tokens > record.completion_tokens
    assert bar.context["measured_tokens"] == nxt.prompt_tokens
    assert bar.context["used_tokens"] == nxt.prompt_tokens + nxt.completion_tokens


def test_the_context_bar_is_exact_when_the_call_reports_real_tokens(
    make_session: Callable[..., Session],
) -> None:
    session = make_session(["hi"])
    bar = ContextBar(session)
    session._set_context_used(5_000)  # an engine figure (a restore, a compaction)
    assert bar.context["used_tokens"] == 5_000 and bar.context["estimated"] is False
    assert bar._markdown().startswith("context: 5,000 / ")
