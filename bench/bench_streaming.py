"""Benchmark 1: streaming to the front end through SessionView.

A scripted model streams 10,000 text deltas of 5 characters (50,000 characters) into a
session shown by a ``SessionView``. Every message the widgets send to the front end is
recorded by replacing ``ipywidgets.Widget._send`` (custom messages and trait syncs
alike); its size is the JSON of the comm message's data, without the Jupyter envelope
a kernel adds around each message (a few hundred bytes more per message, which makes
the message count matter as much as the bytes).

Two paces:

* engine speed: the scripted model with no latency, the real clock and the widgets'
  real timer on the event loop (the issue's scenario);
* a fast model in simulated time: one delta every 5 ms (200 deltas, 1,000 characters a
  second), with the coalescer's clock and timer injected as in the widget tests.

The baseline, in the same run: a naive widget whose synced ``text`` trait gets the
whole text so far on every delta (one message per delta). Its bytes do not depend on
the pace.

Without a built front end (``a3s_notebook/static/``, made by ``make js``) the widgets
cannot be imported; then placeholder ES modules stand in. The Python side, and so every
figure here, is the same either way.
"""

from __future__ import annotations

import asyncio
import heapq
import importlib.util
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import WORK_DIR, Row, emit, parse_args, row

import a3s_notebook

BENCH = "1 streaming"
DELTAS = 10_000
CHUNK = 5
BYTES_TARGET = 1.2
RATE_TARGET = 21
"""About 20 messages a second at most (the coalescer's 50 ms interval), 5% slack."""
PACE = 0.005
"""Seconds between deltas of the simulated fast model."""


def ensure_front_end() -> str:
    """Make ``a3s_notebook.widgets`` importable; returns how (for the notes)."""
    package = Path(a3s_notebook.__file__).resolve().parent
    static_py = package / "widgets" / "_static.py"
    spec = importlib.util.spec_from_file_location("a3s_notebook.widgets._static", static_py)
    assert spec is not None and spec.loader is not None
    static = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(static)
    try:
        static.check_assets()
        return "built front end"
    except ImportError:
        pass
    # Not built: point the asset paths at placeholder files before the widget modules
    # are imported (they read the paths when their classes are defined).
    placeholder = WORK_DIR / "static-placeholder"
    placeholder.mkdir(parents=True, exist_ok=True)
    for name in static.WIDGET_MODULES:
        (placeholder / f"{name}.js").write_text("export default { render() {} };\n")
        (placeholder / f"{name}.css").write_text("/* placeholder */\n")
    (placeholder / static.THEME).write_text("/* placeholder */\n")
    static.STATIC_DIR = placeholder
    static.check_assets.__defaults__ = (placeholder,)
    sys.modules["a3s_notebook.widgets._static"] = static
    return "front end not built: placeholder ES modules (same Python-side traffic)"


class Traffic:
    """Records every message any widget sends, with its time and JSON size."""

    def __init__(self) -> None:
        self.clock: Callable[[], float] = time.monotonic
        self.log: list[tuple[float, str, str, int]] = []
        """(time, widget class, kind, bytes); kind is the custom message's kind or
        ``update`` for a trait sync."""
        self.on = False

    def install(self) -> None:
        """Replace ``Widget._send`` (the one path to the comm) with a recorder."""
        import ipywidgets

        traffic = self

        def _send(widget: Any, msg: dict[str, Any], buffers: Any = None) -> None:
            if not traffic.on:
                return
            size = len(json.dumps(msg, separators=(",", ":")))
            if msg.get("method") == "custom":
                kind = str(msg.get("content", {}).get("kind", "custom"))
            else:
                kind = str(msg.get("method"))
            traffic.log.append((traffic.clock(), type(widget).__name__, kind, size))

        ipywidgets.Widget._send = _send

    def start(self, clock: Callable[[], float]) -> None:
        """Forget what was recorded and record from now on with ``clock``."""
        self.log, self.clock, self.on = [], clock, True

    def stop(self) -> list[tuple[float, str, str, int]]:
        """Stop recording and return the log."""
        self.on = False
        return self.log


class SimClock:
    """Simulated time with a timer queue (the DeltaCoalescer's clock and scheduler)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, list[Any]]] = []
        self._ids = itertools.count()

    def clock(self) -> float:
        """The simulated time in seconds."""
        return self.now

    def schedule(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` after ``delay`` simulated seconds; returns a cancel function."""
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


def model_text() -> str:
    """10,000 words of 4 letters, each with its separator one 5-character delta."""
    letters = "etaoinshrdlucmfw"
    words = []
    for i in range(DELTAS):
        word = "".join(letters[(i * 7 + k * 3) % len(letters)] for k in range(4))
        words.append(word + ("\n" if i % 20 == 19 else " "))  # a line break now and then
    return "".join(words)


def new_session(text: str) -> Any:
    """A session whose scripted model streams ``text`` in 5-character deltas."""
    from a3s_notebook.engine import SessionConfig, SessionManager
    from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn

    manager = SessionManager("memory")
    llm = ScriptedClient(turns=[ScriptedTurn(text=text)], chunk_chars=CHUNK)
    return manager.create_session(SessionConfig(workspace=str(WORK_DIR / "ws")), llm=llm)


def delta_times(session: Any, clock: Callable[[], float]) -> list[float]:
    """Subscribe a recorder of when each text delta arrives (before any widget)."""
    times: list[float] = []
    session.subscribe(lambda e: times.append(clock()) if e.type == "text_delta" else None)
    return times


def run_view(traffic: Traffic, text: str, sim: SimClock | None) -> dict[str, Any]:
    """Stream ``text`` through a SessionView; returns the recorded traffic and timings."""
    from a3s_notebook.widgets import SessionView
    from a3s_notebook.widgets._coalesce import DeltaCoalescer

    session = new_session(text)
    clock = sim.clock if sim is not None else time.monotonic
    if sim is not None:
        # time passes before each delta arrives: subscribed before the view, so it runs first
        session.subscribe(lambda e: sim.advance(PACE) if e.type == "text_delta" else None)
    arrivals = delta_times(session, clock)
    view = SessionView()
    if sim is not None:
        events = view.events_widget
        events._coalescer = DeltaCoalescer(
            events._send_parts, clock=sim.clock, schedule=sim.schedule
        )
    traffic.start(clock)
    view.attach(session)
    result = asyncio.run(session.send_async("write a long answer"))
    log = traffic.stop()
    view.close()
    if result.text != text or len(arrivals) != DELTAS:
        raise RuntimeError(f"the stream was not as scripted: {len(arrivals)} deltas")
    return {"log": log, "first": arrivals[0], "last": arrivals[-1]}


def run_naive(traffic: Traffic, text: str) -> dict[str, Any]:
    """The baseline: one trait sync with the whole text so far per delta."""
    import anywidget
    import traitlets

    class NaiveText(anywidget.AnyWidget):  # type: ignore[misc]
        _esm = "export default { render({ model, el }) { el.textContent = model.get('text'); } };"
        text = traitlets.Unicode("").tag(sync=True)

    session = new_session(text)
    widget = NaiveText()

    def on_event(event: Any) -> None:
        if event.type == "text_delta":
            widget.text += event.text

    session.subscribe(on_event)
    traffic.start(time.monotonic)
    asyncio.run(session.send_async("write a long answer"))
    log = traffic.stop()
    widget.close()
    if widget.text != text:
        raise RuntimeError("the naive widget did not receive the whole text")
    return {"log": log}


def busiest_second(times: list[float]) -> int:
    """The most messages sent within any window shorter than one second."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def summarise(log: list[tuple[float, str, str, int]]) -> dict[str, Any]:
    """Delta messages (count, bytes, busiest second) and all traffic."""
    deltas = [(t, size) for t, _, kind, size in log if kind == "delta"]
    times = [t for t, _ in deltas]
    return {
        "delta_messages": len(deltas),
        "delta_bytes": sum(size for _, size in deltas),
        "rate": busiest_second(times),
        "span": times[-1] - times[0] if times else 0.0,
        "all_messages": len(log),
        "row_bytes": sum(
            size for _, w, kind, size in log if w == "EventStream" and kind == "update"
        ),
        "all_bytes": sum(size for *_, size in log),
    }


def main() -> None:
    """Measure and print the rows."""
    parse_args(__doc__ or "")  # --quick changes nothing: the whole benchmark takes seconds
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    how = ensure_front_end()
    traffic = Traffic()
    traffic.install()
    text = model_text()
    chars = len(text)

    fast = run_view(traffic, text, None)
    sim = SimClock()
    paced = run_view(traffic, text, sim)
    naive = run_naive(traffic, text)
    ours, slow = summarise(fast["log"]), summarise(paced["log"])
    naive_bytes = sum(size for *_, size in naive["log"])
    naive_messages = len(naive["log"])

    stream_s = fast["last"] - fast["first"]
    per_char = ours["delta_bytes"] / chars
    rows: list[Row] = [
        row(
            BENCH,
            f"bytes per text character, {DELTAS:,} deltas at engine speed (delta messages)",
            per_char,
            "B/char",
            baseline=naive_bytes / chars,
            ratio=naive_bytes / ours["delta_bytes"],
            target=f"< {BYTES_TARGET:g}",
            met=per_char < BYTES_TARGET,
            note=f"{chars:,} characters streamed in {stream_s:.2f} s; {how}",
        ),
        row(
            BENCH,
            "delta messages sent, engine speed",
            ours["delta_messages"],
            "msgs",
            baseline=naive_messages,
            ratio=naive_messages / ours["delta_messages"],
        ),
        row(
            BENCH,
            "delta messages in the busiest second, engine speed",
            ours["rate"],
            "msg/s",
            target=f"about 20 at most (<= {RATE_TARGET:g})",
            met=ours["rate"] <= RATE_TARGET,
            note=(
                f"most messages within any 1 s window; the stream lasted {ours['span']:.2f} s "
                "from the first to the last delta message"
            ),
        ),
        row(
            BENCH,
            "all front-end traffic per text character, engine speed",
            ours["all_bytes"] / chars,
            "B/char",
            baseline=naive_bytes / chars,
            ratio=naive_bytes / ours["all_bytes"],
            note=(
                f"{ours['all_messages']} messages; EventStream's trait syncs alone are "
                f"{ours['row_bytes'] / chars:.2f} B/char: the committed row (the durable state "
                "a reload shows) holds the whole text, and every later sync of `rows` "
                "(here the run's end row) sends every live row again"
            ),
        ),
        row(
            BENCH,
            f"bytes per text character, {1 / PACE:.0f} deltas/s (simulated fast model)",
            slow["delta_bytes"] / chars,
            "B/char",
            baseline=naive_bytes / chars,
            ratio=naive_bytes / slow["delta_bytes"],
            note=(
                f"{slow['delta_messages']} messages of ~{chars / slow['delta_messages']:.0f} "
                f"characters over {DELTAS * PACE:.0f} simulated s: the ~"
                f"{(slow['delta_bytes'] - chars) / slow['delta_messages']:.0f}-byte JSON "
                "envelope of each message is the excess over 1 B/char"
            ),
        ),
        row(
            BENCH,
            f"delta messages in the busiest second, {1 / PACE:.0f} deltas/s (simulated)",
            slow["rate"],
            "msg/s",
            target=f"about 20 at most (<= {RATE_TARGET:g})",
            met=slow["rate"] <= RATE_TARGET,
        ),
    ]
    emit(rows)


if __name__ == "__main__":
    sys.exit(main())
