"""Benchmark 7: the live path (widgets, budget, first ``%%ask``) stays O(1) per event.

Figures, each measured for this tree and, in the same run, for the baseline tree (the
package as it was before this benchmark was added, extracted from git into
``bench/_work/``; ``--baseline-ref`` picks another commit):

* the SessionView's cost per event and bytes per event over a run of 100 and of 1,000
  tool rounds (both measured over 1,000 rounds, ten runs of 100 or one of 1,000, the
  two sizes taking turns; the best of three such samples; scripted model, a real
  ``SessionView`` whose messages go to a recording ``Widget._send`` that JSON-encodes
  them as a comm would). The cost is the CPU time of the thread spent in the widgets'
  event handlers, in their timed sends (throttled traits, coalesced deltas) and in the
  view's ``detach`` at the run's end (what ``%%ask`` does), over the session's events;
  CPU time, because the machine may be shared. The bytes are every custom message and
  trait sync, over the summed JSON size of the events themselves;
* the same cost per event in the 1st and the 200th ``%%ask`` cell of one session, run by
  the real magics in an IPython shell that looks like a kernel (so each cell displays a
  new SessionView, as in Jupyter);
* the budget check (``token_limit`` set) per round at 100 and 1,000 rounds;
* the first scripted ``%%ask`` in a fresh process: its time and how many modules it
  imports (terminal IPython, no widgets: the engine and provider path alone).

Each figure runs in its own process (``--child``), so the two trees never share modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from _common import BENCH_DIR, MARKER, WORK_DIR, Row, emit, run_marked

BENCH = "7 live path"
ROOT = BENCH_DIR.parent
PER_EVENT_US = 20.0
BYTES_FACTOR = 2.0
FLAT_LIMIT = 1.25
FIRST_ASK_S = 0.3


# --- the child side: one figure, in this process ------------------------------------------


class _Meter:
    """Time spent in widget event handlers and bytes the widgets send."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.bytes = 0
        self.messages = 0
        self.on = False
        self.clock_cost = 0.0

    def install(self, *, time_handlers: bool = True) -> None:
        import ipywidgets

        from a3s_notebook.widgets._base import SessionWidget

        meter = self
        original = SessionWidget._on_event

        def _send(widget: Any, msg: dict[str, Any], buffers: Any = None) -> None:
            # what a comm does with every message: encode it
            size = len(json.dumps(msg, separators=(",", ":")))
            if meter.on:
                meter.bytes += size
                meter.messages += 1

        def _on_event(widget: Any, event: Any) -> None:
            start = time.thread_time()
            try:
                original(widget, event)
            finally:
                if meter.on:
                    meter.seconds += time.thread_time() - start - meter.clock_cost

        ipywidgets.Widget._send = _send
        if time_handlers:
            SessionWidget._on_event = _on_event  # type: ignore[method-assign]

    def reset(self) -> None:
        self.seconds, self.bytes, self.messages, self.on = 0.0, 0, 0, True


class _Events:
    """Counts a session's events and sums their JSON size."""

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0

    def __call__(self, event: Any) -> None:
        self.count += 1
        self.bytes += len(event.model_dump_json())


def _ping_tool() -> Any:
    from a3s_notebook.engine.tools import ToolContext, ToolResult

    class Ping:
        name = "ping"
        description = "Return pong."
        parameters: ClassVar[dict[str, Any]] = {
            "type": "object",
            "properties": {"i": {"type": "integer"}},
        }

        async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            return ToolResult(name=self.name, output=f"pong {args.get('i')}")

    return Ping()


def _rounds_session(folder: Path, rounds: int, **config: Any) -> Any:
    from a3s_notebook.engine import PermissionPolicy, SessionConfig, SessionManager
    from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn

    turns = [
        ScriptedTurn(text=f"step {i}", tool_calls=[{"name": "ping", "args": {"i": i}}])
        for i in range(rounds)
    ]
    session = SessionManager(folder).create_session(
        SessionConfig(
            workspace=str(folder / "ws"),
            permission_policy=PermissionPolicy(allow=["ping"]),
            max_tool_rounds=rounds + 5,
            **config,
        ),
        llm=ScriptedClient(turns=[*turns, ScriptedTurn(text="done")]),
    )
    session.tools.register(_ping_tool())
    return session


def _time_widgets(session: Any, meter: _Meter) -> None:
    """Call the session's widget subscribers through one timed subscriber.

    Those are the widgets' own and the SessionView's (its display refresh, and in a tree
    where the view dispatches the events to its parts, all of them): the view's cost is
    every one of them. The clock is the thread's CPU time, read once per event: the
    machine may be shared, and CPU time does not count the time other processes run.
    """
    from a3s_notebook.widgets import SessionView
    from a3s_notebook.widgets._base import SessionWidget

    subs = session._subscribers
    ours = (SessionWidget, SessionView)
    widgets = [cb for cb in subs if isinstance(getattr(cb, "__self__", None), ours)]
    for cb in widgets:
        subs.remove(cb)

    def timed(event: Any) -> None:
        start = time.thread_time()
        for cb in widgets:
            cb(event)
        if meter.on:
            meter.seconds += time.thread_time() - start - meter.clock_cost

    subs.append(timed)


def _time_timers(meter: _Meter) -> None:
    """Count the widgets' timer-driven sends too (they run between events)."""
    from a3s_notebook.widgets import _coalesce

    for name in ("DeltaCoalescer", "LatestValues"):
        cls = getattr(_coalesce, name, None)  # the baseline has no LatestValues
        if cls is None:
            continue
        original = cls._on_timer

        def timed(self: Any, token: int, original: Any = original) -> None:
            start = time.thread_time()
            try:
                original(self, token)
            finally:
                if meter.on:
                    meter.seconds += time.thread_time() - start - meter.clock_cost

        cls._on_timer = timed


def _clock_cost() -> float:
    """What reading the CPU clock twice costs (a system call here), to subtract."""
    n = 20_000
    start = time.thread_time()
    for _ in range(n):
        time.thread_time()
    return (time.thread_time() - start) / n


def _view_sample(rounds: int, runs: int, meter: _Meter) -> dict[str, Any]:
    """``runs`` runs of ``rounds`` tool rounds, each with a new SessionView; the cost is
    the sum over them, the other figures (events, messages, bytes in all) are per run."""
    from a3s_notebook.widgets import SessionView

    seconds, count, event_bytes, sent, messages = 0.0, 0, 0, 0, 0
    for _ in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="view-", dir=WORK_DIR))
        try:
            session = _rounds_session(folder, rounds)
            view = SessionView(session)
            _time_widgets(session, meter)
            events = _Events()
            session.subscribe(events)
            meter.reset()
            session.send("go")
            start = time.thread_time()
            view.detach()  # what %%ask does once the run is over (the old magics did not)
            meter.seconds += time.thread_time() - start
            meter.on = False
            seconds += meter.seconds
            count += events.count
            event_bytes += events.bytes
            sent += meter.bytes
            messages += meter.messages
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "events": count // runs,
        "runs": runs,
        "us_per_event": seconds * 1e6 / count,
        "bytes_per_event": sent / count,
        "event_bytes": event_bytes / count,
        "messages": messages // runs,
        "total_bytes": sent // runs,
    }


def child_views(sizes: list[int], repeat: int = 3) -> list[dict[str, Any]]:
    """A SessionView over runs of each size (tool rounds); per size, the best of
    ``repeat`` samples.

    A sample is as many runs as make the largest size (one run of 1,000 rounds, ten of
    100), so every size is measured over the same amount of work, and the sizes' samples
    take turns, so they share the same moments of a shared machine's load. (Measured one
    size after the other, in separate processes, with one run per sample, the best of
    three short runs dodged the load more easily than the best of three long ones, and
    the load moved between the two: the growth figure showed a growth that was not there,
    1.37 once on a tree where the interleaved figures are flat.)
    """
    meter = _Meter()
    meter.install(time_handlers=False)
    meter.clock_cost = _clock_cost()
    _time_timers(meter)
    _view_sample(20, 1, meter)  # warm-up: imports, first validators
    largest = max(sizes)
    best: list[dict[str, Any]] = [{} for _ in sizes]
    for _ in range(repeat):
        for i, rounds in enumerate(sizes):
            result = _view_sample(rounds, max(1, -(-largest // rounds)), meter)
            if not best[i] or result["us_per_event"] < best[i]["us_per_event"]:
                best[i] = result
    return best


def _shell(folder: Path) -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    os.chdir(folder)  # the magics write .a3s/ under the working directory
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "a3s_notebook")
    magics = shell.magics_manager.registry["A3sMagics"]
    magics.sessions_dir = str(folder / "sessions")
    magics.default_workspace = str(folder / "ws")
    magics.default_model = "scripted/echo"
    return shell


def child_cells(cells: int) -> dict[str, Any]:
    """``cells`` one-round ``%%ask`` cells in one session, each displaying a SessionView."""
    meter = _Meter()
    meter.install()
    folder = Path(tempfile.mkdtemp(prefix="cells-", dir=WORK_DIR))
    try:
        shell = _shell(folder)
        shell.kernel = object()  # the magics show the widget view only inside a kernel
        shell.run_line_magic("a3s_session", "new many")
        session = shell.magics_manager.registry["A3sMagics"].current
        events = _Events()
        session.subscribe(events)
        meter.clock_cost = _clock_cost()
        # CPU time in every widget handler, over the session's events, for the first and
        # the last few cells (a one-round cell has ten events: one cell is too few)
        spans: dict[str, list[float]] = {"first": [0.0, 0, 0.0], "last": [0.0, 0, 0.0]}
        ends = 5
        for i in range(cells):
            span = spans["first"] if i < ends else spans["last"] if i >= cells - ends else None
            meter.reset()
            events.count = 0
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                shell.run_cell_magic("ask", "", f"hello {i}")
            wall = time.perf_counter() - start
            if span is not None:
                span[0] += meter.seconds
                span[1] += events.count
                span[2] += wall
        first, last = spans["first"], spans["last"]
        subscribers = len(session._subscribers) - 1  # not counting ours
        os.chdir(ROOT)
        return {
            "first_us": first[0] * 1e6 / first[1],
            "last_us": last[0] * 1e6 / last[1],
            "first_wall_ms": first[2] * 1000 / ends,
            "last_wall_ms": last[2] * 1000 / ends,
            "subscribers": subscribers,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def child_budget(rounds: int) -> dict[str, Any]:
    """Time inside the budget check per round, with a token_limit never reached."""
    from a3s_notebook.engine.session import Session

    spent = [0.0, 0]
    original = Session._check_budget
    clock_cost = _clock_cost()

    def timed(self: Any) -> None:
        start = time.thread_time()  # CPU time: the machine may be shared
        try:
            original(self)
        finally:
            spent[0] += time.thread_time() - start - clock_cost
            spent[1] += 1

    Session._check_budget = timed  # type: ignore[method-assign]
    folder = Path(tempfile.mkdtemp(prefix="budget-", dir=WORK_DIR))
    try:
        session = _rounds_session(folder, rounds, token_limit=10**12, cost_limit_usd=10**6)
        start = time.perf_counter()
        session.send("go")
        wall = time.perf_counter() - start
        return {"us_per_check": spent[0] * 1e6 / spent[1], "ms_per_round": wall * 1e3 / rounds}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def child_first_ask() -> dict[str, Any]:
    """The first scripted ``%%ask`` of a fresh process (after ``%load_ext``)."""
    folder = Path(tempfile.mkdtemp(prefix="first-", dir=WORK_DIR))
    try:
        shell = _shell(folder)
        before = len(sys.modules)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            shell.run_cell_magic("ask", "", "hello")
        elapsed = time.perf_counter() - start
        os.chdir(ROOT)
        return {
            "seconds": elapsed,
            "modules": len(sys.modules) - before,
            "sdks": sorted(m for m in ("openai", "anthropic") if m in sys.modules),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def child(what: str, n: int, *more: int) -> None:
    """Run one figure and print it (the ``--child`` mode)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    result: Any
    if what == "views":
        result = child_views([n, *more])
    elif what == "cells":
        result = child_cells(n)
    elif what == "budget":
        child_budget(20)
        result = child_budget(n)
    else:
        result = child_first_ask()
    print(MARKER + json.dumps(result))


# --- the parent side: both trees, the rows ------------------------------------------------


def baseline_tree(ref: str | None) -> tuple[Path | None, str]:
    """Extract the baseline package from git; (its folder, the commit) or (None, why)."""
    try:
        if ref is None:
            added = subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "log",
                    "--diff-filter=A",
                    "--format=%H",
                    "--",
                    "bench/bench_view.py",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            ref = f"{added[-1]}^" if added else "HEAD"
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"no git history for a baseline ({exc})"
    target = WORK_DIR / f"view-baseline-{sha}"
    if not (target / "a3s_notebook").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", sha, "a3s_notebook"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    static = ROOT / "a3s_notebook" / "static"
    if static.is_dir():  # build output, not in git; the Python-side figures do not use it
        shutil.copytree(static, target / "a3s_notebook" / "static", dirs_exist_ok=True)
        # the baseline reads one stylesheet for every widget (today's build writes one per
        # widget): the joined sheets stand in for it
        joined = target / "a3s_notebook" / "static" / "widgets.css"
        if not joined.exists():
            joined.write_text("\n".join(f.read_text() for f in sorted(static.glob("*.css"))))
    return target, sha


def run_child(tree: Path, what: str, *n: int) -> Any:
    """One figure in a fresh process importing the package from ``tree``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(BENCH_DIR)])}
    sizes = [str(x) for x in n] or ["0"]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", what, *sizes]
    return run_marked(cmd, timeout=900, env=env)


def ratio(base: float | None, ours: float) -> float | None:
    """How many times better (baseline / ours)."""
    return base / ours if base is not None and ours else None


def main() -> None:
    """Measure both trees and print the rows."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--baseline-ref", default=None, help="git commit of the baseline")
    parser.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    parser.add_argument("--cells", type=int, default=200, help="%%%%ask cells in one session")
    parser.add_argument("--baseline-python", default="", help="(unused; for run.py)")
    parser.add_argument("--child", nargs="+", metavar="WHAT N", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], *(int(x) for x in args.child[1:]))
        return
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    small, large = (20, 100) if args.quick else (100, 1000)
    cells = 20 if args.quick else args.cells
    trees: dict[str, Path] = {"ours": ROOT}
    why = ""
    if not args.no_baseline:
        base_path, why = baseline_tree(args.baseline_ref)
        if base_path is not None:
            trees["base"] = base_path
            why = f"baseline: the package at {why}"
    figures: dict[str, dict[str, Any]] = {}
    for name, tree in trees.items():
        view_small, view_large = run_child(tree, "views", small, large)
        figures[name] = {
            "view_small": view_small,
            "view_large": view_large,
            "cells": run_child(tree, "cells", cells),
            "budget_small": run_child(tree, "budget", small),
            "budget_large": run_child(tree, "budget", large),
            "first": run_child(tree, "first"),
        }
    emit(make_rows(figures, small, large, cells, why))


def make_rows(
    figures: dict[str, dict[str, Any]], small: int, large: int, cells: int, why: str
) -> list[Row]:
    """The table rows of both trees' figures."""
    ours, base = figures["ours"], figures.get("base")

    def b(key: str, field: str) -> float | None:
        return float(base[key][field]) if base is not None else None

    rows: list[Row] = []
    for key, n in (("view_small", small), ("view_large", large)):
        f = ours[key]
        last = key == "view_large"
        counted = f"{f['events']:,} events a run"
        if f.get("runs", 1) > 1:
            counted += f", a sample is {f['runs']} runs"
        rows.append(
            row(
                BENCH,
                f"SessionView cost per event, {n} tool rounds",
                f["us_per_event"],
                "us",
                baseline=b(key, "us_per_event"),
                ratio=ratio(b(key, "us_per_event"), f["us_per_event"]),
                target=f"< {PER_EVENT_US:g} us",
                met=f["us_per_event"] < PER_EVENT_US,
                note=f"{counted}; {why}" if last else counted,
            )
        )
        limit = BYTES_FACTOR * f["event_bytes"]
        rows.append(
            row(
                BENCH,
                f"bytes to the front end per event, {n} tool rounds",
                f["bytes_per_event"],
                "B",
                baseline=b(key, "bytes_per_event"),
                ratio=ratio(b(key, "bytes_per_event"), f["bytes_per_event"]),
                target=f"< {BYTES_FACTOR:g}x the event ({limit:,.0f} B)",
                met=f["bytes_per_event"] < limit,
                note=f"events average {f['event_bytes']:,.0f} B of JSON; {f['messages']:,} "
                f"messages, {f['total_bytes'] / 1e6:,.2f} MB in all",
            )
        )
    growth = ours["view_large"]["us_per_event"] / ours["view_small"]["us_per_event"]
    rows.append(
        row(
            BENCH,
            f"growth of the view's cost per event, {large} / {small} rounds",
            growth,
            "x",
            baseline=(b("view_large", "us_per_event") or 0) / (b("view_small", "us_per_event") or 1)
            if base
            else None,
            target=f"<= {FLAT_LIMIT:g} (flat)",
            met=growth <= FLAT_LIMIT,
        )
    )
    c = ours["cells"]
    for label, field, wall in (
        ("1st to 5th", "first_us", "first_wall_ms"),
        (f"{cells - 4}th to {cells}th", "last_us", "last_wall_ms"),
    ):
        note = f"whole cell {c[wall]:.1f} ms"
        if field == "last_us":
            note += f"; widget subscribers left on the session: {c['subscribers']}"
        rows.append(
            row(
                BENCH,
                f"view cost per event in the {label} %%ask cells of a session",
                c[field],
                "us",
                baseline=b("cells", field),
                ratio=ratio(b("cells", field), c[field]),
                note=note,
            )
        )
    cell_growth = c["last_us"] / c["first_us"]
    rows.append(
        row(
            BENCH,
            f"growth of the view's cost per event, last / first %%ask cells ({cells} cells)",
            cell_growth,
            "x",
            baseline=(b("cells", "last_us") or 0) / (b("cells", "first_us") or 1) if base else None,
            target=f"<= {FLAT_LIMIT:g} (flat)",
            met=cell_growth <= FLAT_LIMIT,
            note=f"baseline keeps {int(base['cells']['subscribers'])} subscribers" if base else "",
        )
    )
    for key, n in (("budget_small", small), ("budget_large", large)):
        f = ours[key]
        rows.append(
            row(
                BENCH,
                f"budget check per round, {n} rounds (token_limit and cost_limit_usd)",
                f["us_per_check"],
                "us",
                baseline=b(key, "us_per_check"),
                ratio=ratio(b(key, "us_per_check"), f["us_per_check"]),
                note=f"whole round {f['ms_per_round']:.2f} ms",
            )
        )
    bgrowth = ours["budget_large"]["us_per_check"] / ours["budget_small"]["us_per_check"]
    rows.append(
        row(
            BENCH,
            f"growth of the budget check, {large} / {small} rounds",
            bgrowth,
            "x",
            baseline=(b("budget_large", "us_per_check") or 0)
            / (b("budget_small", "us_per_check") or 1)
            if base
            else None,
            target=f"<= {FLAT_LIMIT:g} (flat)",
            met=bgrowth <= FLAT_LIMIT,
        )
    )
    f = ours["first"]
    rows.append(
        row(
            BENCH,
            "first scripted %%ask in a fresh process (after %load_ext)",
            f["seconds"],
            "s",
            baseline=b("first", "seconds"),
            ratio=ratio(b("first", "seconds"), f["seconds"]),
            target=f"< {FIRST_ASK_S:g} s",
            met=f["seconds"] < FIRST_ASK_S,
            note=f"provider SDKs imported: {', '.join(f['sdks']) or 'none'}",
        )
    )
    rows.append(
        row(
            BENCH,
            "modules the first scripted %%ask imports",
            f["modules"],
            "modules",
            baseline=b("first", "modules"),
            ratio=ratio(b("first", "modules"), f["modules"]),
            note=f"baseline imports {', '.join(base['first']['sdks'])}" if base else "",
        )
    )
    return rows


def row(bench: str, figure: str, value: float, unit: str, **kw: Any) -> Row:
    """:func:`_common.row`, imported late so ``--child`` never needs it."""
    from _common import row as make

    return make(bench, figure, value, unit, **kw)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
