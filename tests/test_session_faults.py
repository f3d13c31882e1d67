"""Sessions under faults, through the public API: never hang, never lose a line.

Every test drives real sessions on real files in a temp folder:

- a disk that fails on the Nth write, for every N of a scripted run;
- torn tails at every byte offset of the last three records of a real session file;
- two processes, two threads, a background run plus a sync call on one session;
- pause, cancel and destroy at every event of a scripted run;
- the queue's timeout per command; hostile ids, headers, files and tool arguments.

No test sleeps to synchronise: threads meet on ``threading.Event`` and subscribers, loops
on ``asyncio.Event``; the one state no event announces (a send waiting for the Generate
lane) is awaited as a condition on the public ``queue_stats()`` (:func:`eventually`). The
only sleeps are the scenario itself (a tool that takes 0.2 s, a human slower than the
command limit). Timeouts (``GUARD``) exist only to turn a hang into a failure; no test
asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.analysis.sessions import load_sessions
from a3s_notebook.engine import (
    ConfirmationPolicy,
    PermissionPolicy,
    Session,
    SessionConfig,
    SessionManager,
    SessionPausedError,
    SessionQueueConfig,
    SessionState,
)
from a3s_notebook.engine.errors import (
    CommandTimeoutError,
    InvalidSessionIdError,
    SessionLockedError,
    StoreError,
    SyncDeadlockError,
)
from a3s_notebook.engine.events import DURABLE_TYPES, AgentEvent, event_to_dict
from a3s_notebook.engine.store import FileSessionStore, SessionFileWarning
from a3s_notebook.engine.tools import ToolContext, ToolRegistry, ToolResult, default_registry
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn
from a3s_notebook.llm.types import Message

from .conftest import turn

ROOT = Path(__file__).resolve().parents[1]
GUARD = 60  # seconds: only ever reached when something hangs
SID = "run"

# --- the scripted run ---------------------------------------------------------------------
#
# text, an allowed tool call (read), an approval decided by a subscriber (write), a denied
# call (bash rm), then the answer


def run_turns() -> list[ScriptedTurn | str]:
    return [
        turn("Let me look.", ("read", {"file_path": "hello.txt"})),
        turn("", ("write", {"file_path": "out.txt", "content": "x"})),
        turn("", ("bash", {"command": "rm hello.txt"})),
        turn("All done."),
    ]


FINAL = "All done."


def run_config(workspace: Path, **fields: Any) -> SessionConfig:
    return SessionConfig(
        workspace=str(workspace),
        permission_policy=PermissionPolicy(allow=["read"], deny=["Bash(rm:*)"]),
        confirmation_policy=ConfirmationPolicy.enabled_policy(),
        **fields,
    )


def approve_from_subscriber(session: Session) -> Callable[[], None]:
    """A subscriber that approves every confirmation as soon as it is asked."""

    def on_event(event: AgentEvent) -> None:
        if event.type == "confirmation_required":
            session.confirm(event.tool_id, True)

    return session.subscribe(on_event)


def new_run(
    manager: SessionManager, workspace: Path, *, session_id: str = SID
) -> tuple[Session, list[AgentEvent]]:
    """A session set up for the scripted run, with a subscriber recording every event."""
    session = manager.create_session(
        run_config(workspace), llm=ScriptedClient(run_turns()), session_id=session_id
    )
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    approve_from_subscriber(session)
    return session, seen


def logged(events: list[AgentEvent]) -> list[dict[str, Any]]:
    """The events a live session wrote (or tried to write) to its log, as dicts."""
    return [
        event_to_dict(e)
        for e in events
        if e.type in DURABLE_TYPES and e.type != "persistence_failed"
    ]


def file_events(session: Session) -> list[dict[str, Any]]:
    """The events in a session's log file after its ``session_created`` line."""
    events = [event_to_dict(e) for e in session.events()]
    assert events and events[0]["type"] == "session_created"
    return events[1:]


def assert_closed_off(messages: list[Message]) -> None:
    """Every tool_use is answered by a tool_result in the next message (a provider would
    reject the history otherwise)."""
    for i, message in enumerate(messages):
        calls = [c.id for c in message.tool_calls()] if message.role == "assistant" else []
        if not calls:
            continue
        assert i + 1 < len(messages), f"message {i}: tool calls {calls} were never answered"
        answer = messages[i + 1]
        answered = {b.tool_use_id for b in answer.tool_results()}
        assert answer.role == "user" and set(calls) <= answered, (
            f"message {i}: tool calls {calls} answered only by {answered}"
        )


def restore(folder: Path, session_id: str = SID) -> tuple[SessionManager, Session]:
    """A new manager (as after a kernel restart) and the session restored from its file."""
    manager = SessionManager(folder)
    with warnings.catch_warnings():
        # a clean file: any warning of a skipped line is a failure here
        warnings.simplefilter("error", SessionFileWarning)
        return manager, manager.restore_session(session_id)


# --- a disk that fails on the Nth write ----------------------------------------------------


class DiskFull:
    """A session file whose write puts out a few bytes, then fails with ENOSPC."""

    def __init__(self, fh: Any, budget: int = 7) -> None:
        self._fh = fh
        self._budget = budget

    def write(self, data: Any) -> int:
        if self._budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n: int = self._fh.write(bytes(data[: self._budget]))
        self._budget -= n
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> DiskFull:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


class FailingDisk:
    """A ``FileSessionStore`` opener that fails the Nth append to a session file.

    ``stuck=False``: only that one write fails (the disk had a moment); ``stuck=True``: that
    write and every later one fail (the disk stays full). ``refuse=True``: the file cannot
    even be opened (the folder became read-only) instead of a write that stops part way.
    Appends are counted as the store makes them: one open in ``"a+b"`` mode per line.
    """

    def __init__(
        self, fail_at: int | None = None, *, stuck: bool = False, refuse: bool = False
    ) -> None:
        self.fail_at = fail_at
        self.stuck = stuck
        self.refuse = refuse
        self.appends = 0

    def __call__(self, path: Path, mode: str) -> Any:
        if mode != "a+b" or path.suffix != ".jsonl":
            return open(path, mode, buffering=0)
        self.appends += 1
        n = self.fail_at
        failing = n is not None and (self.appends == n or (self.stuck and self.appends > n))
        if failing and self.refuse:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        fh = open(path, mode, buffering=0)  # noqa: SIM115 - the store closes it
        return DiskFull(fh) if failing else fh


FAULTS = {
    "one-write-fails": ({"stuck": False}, "No space left on device"),
    "disk-stays-full": ({"stuck": True}, "No space left on device"),
    "folder-turns-read-only": ({"stuck": True, "refuse": True}, "Permission denied"),
}


def count_writes(tmp_path: Path, workspace: Path) -> int:
    """How many lines the scripted run writes, its header included."""
    disk = FailingDisk()
    manager = SessionManager(FileSessionStore(tmp_path / "count", opener=disk))
    session, _ = new_run(manager, workspace)
    assert session.send("go").text == FINAL
    manager.close()
    return disk.appends


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_write_failing_at_any_point_of_a_run_loses_nothing_written_before(
    tmp_path: Path, workspace: Path, fault: str
) -> None:
    kind, says = FAULTS[fault]
    stuck = kind["stuck"]
    total = count_writes(tmp_path, workspace)
    assert total > 20  # header, messages, usage, tool ends, confirmations, ...
    for n in range(1, total + 1):
        folder = tmp_path / f"write-{n}"
        manager = SessionManager(FileSessionStore(folder, opener=FailingDisk(n, **kind)))
        if n == 1:
            # the header: a session never starts without its file
            with pytest.raises(StoreError, match=says):
                new_run(manager, workspace)
            assert sorted(p.name for p in folder.iterdir()) == [], "a failed create left files"
            assert manager.list_sessions() == []
            if not stuck:  # the id is free: once the disk has room, the same id works
                new_run(manager, workspace)
                manager.close()
            continue
        session, seen = new_run(manager, workspace)
        result = session.send("go")  # a write that fails never fails the run
        assert result.text == FINAL, n
        failures = [e for e in seen if e.type == "persistence_failed"]
        assert failures, f"write {n}: no persistence_failed event"
        assert says in failures[0].error
        live = session.snapshot()
        live_log = logged(seen)
        manager.close()
        assert not (folder / f"{SID}.jsonl.lock").exists()

        manager2, restored = restore(folder)
        written = file_events(restored)
        if stuck:
            # every line written before the disk filled up is there, nothing after
            assert written == live_log[: n - 2], n
        else:
            # the line that failed was written with the next one: nothing is lost
            assert written == live_log, n
            assert restored.snapshot() == live, n
        snap = restored.snapshot()
        assert snap["messages"] == live["messages"][: len(snap["messages"])], n
        assert snap["cost_records"] == live["cost_records"][: len(snap["cost_records"])], n

        # the restored session is usable: a further send works and is appended
        client = ScriptedClient(["again"])
        manager2.configure(SID, llm=client)
        assert restored.send("more").text == "again", n
        assert_closed_off(client.requests[0])
        after = restored.snapshot()
        manager2.close()
        manager3, again = restore(folder)
        assert again.snapshot() == after, n
        assert again.messages[-1].text() == "again"
        manager3.close()


# --- torn tails ----------------------------------------------------------------------------


def skipped_line_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, SessionFileWarning)]


def test_a_torn_tail_at_any_byte_of_the_last_three_records(tmp_path: Path, workspace: Path) -> None:
    manager = SessionManager(tmp_path / "made")
    session, _ = new_run(manager, workspace)
    assert session.send("go").text == FINAL
    manager.close()
    data = (tmp_path / "made" / f"{SID}.jsonl").read_bytes()
    ends = [i for i, byte in enumerate(data) if byte == ord("\n")]
    starts = [0, *(e + 1 for e in ends[:-1])]
    assert ends[-1] == len(data) - 1
    folder = tmp_path / "torn"
    folder.mkdir()
    path = folder / f"{SID}.jsonl"
    manager = SessionManager(folder)  # one manager restores every version in turn

    # what the first k whole lines restore to
    expected: dict[int, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
    for k in range(len(ends) - 3, len(ends) + 1):
        path.write_bytes(data[: ends[k - 1] + 1])
        with warnings.catch_warnings():
            warnings.simplefilter("error", SessionFileWarning)
            s = manager.restore_session(SID)
            expected[k] = (file_events(s), s.snapshot())
        manager.close()

    cuts = range(starts[-3], len(data))
    every = tmp_path / "every"  # each torn version as its own session, for load_sessions
    every.mkdir()
    for cut in cuts:
        torn = data[:cut]
        path.write_bytes(torn)
        (every / f"cut-{cut}.jsonl").write_bytes(torn)
        whole = sum(1 for e in ends if e <= cut)  # lines whose JSON text is all there
        is_torn = cut not in starts and cut not in ends
        events, snapshot = expected[whole]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = manager.restore_session(SID)
        said = skipped_line_warnings(caught)
        if is_torn:
            assert len(said) == 1, (cut, said)
            assert "torn last line" in said[0] and str(path) in said[0], said
        else:
            assert said == [], cut
        assert s.snapshot() == snapshot, cut
        assert path.read_bytes() == torn, "a reader changed the file"
        # the next record starts on a fresh line and is kept
        assert s.pause()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SessionFileWarning)
            paused = {"type": "state_changed", "state": "Paused"}
            assert file_events(s) == [*events, paused], cut
        manager.close()

    # load_sessions keeps the same complete records and skips the same torn lines
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = load_sessions(every)
    said = skipped_line_warnings(caught)
    for cut in cuts:
        name = f"cut-{cut}"
        whole = sum(1 for e in ends if e <= cut)
        is_torn = cut not in starts and cut not in ends
        events = expected[whole][0]
        assert (frames.messages.session_id == name).sum() == sum(
            e["type"] == "message_added" for e in events
        ), cut
        assert (frames.calls.session_id == name).sum() == sum(
            e["type"] == "usage_recorded" for e in events
        ), cut
        assert frames.skipped_lines.get(f"{name}.jsonl", 0) == int(is_torn), cut
        assert sum(f"{name}.jsonl:" in w for w in said) == int(is_torn), cut


# --- two processes, two writers -------------------------------------------------------------


class Child:
    """A second Python process running ``script``; its output lines are read with a guard."""

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def line(self) -> str:
        """The child's next output line (fails, with its stderr, if it ended instead)."""
        try:
            got = self._lines.get(timeout=GUARD)
        except queue.Empty:
            pytest.fail("the child process hung")
        if got is None:
            self.proc.wait(GUARD)
            assert self.proc.stderr is not None
            pytest.fail(f"the child process ended: {self.proc.stderr.read()}")
        return got

    def say(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        """Wait for the child to end (killed if it hangs); its exit code. Idempotent."""
        try:
            self.proc.wait(GUARD)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(GUARD)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return self.proc.returncode


WRITER = """
    import os, sys
    from a3s_notebook.engine import SessionConfig, SessionManager
    from a3s_notebook.engine.errors import SessionLockedError
    from a3s_notebook.llm.scripted import ScriptedClient
    folder, workspace = sys.argv[1], sys.argv[2]
    manager = SessionManager(folder)
    session = manager.create_session(
        SessionConfig(workspace=workspace), llm=ScriptedClient(["c1", "c2"]), session_id="shared"
    )
    session.send("child 1")
    print("ready", os.getpid(), flush=True)
    sys.stdin.readline()  # the parent tried, and was refused
    session.send("child 2")
    manager.close()  # lets go of the file; this process lives on
    print("closed", flush=True)
    sys.stdin.readline()  # the parent has the session now
    try:
        SessionManager(folder).restore_session("shared")
    except SessionLockedError as exc:
        print("refused", exc.pid, flush=True)
    sys.stdin.readline()
"""


def test_two_processes_on_one_session(tmp_path: Path, workspace: Path) -> None:
    folder = tmp_path / "s"
    child = Child(WRITER, str(folder), str(workspace))
    try:
        assert child.line() == f"ready {child.pid}"
        path = folder / "shared.jsonl"
        before = path.read_bytes()
        manager = SessionManager(folder)
        attempts: list[Callable[[], object]] = [
            lambda: manager.restore_session("shared"),
            lambda: manager.get_session("shared"),
            lambda: manager.create_session(
                SessionConfig(workspace=str(workspace)), session_id="shared"
            ),
        ]
        for attempt in attempts:
            with pytest.raises(SessionLockedError) as exc:
                attempt()
            assert exc.value.pid == child.pid
            assert f"pid {child.pid}" in str(exc.value) and "'shared'" in str(exc.value)
        assert manager.list_sessions() == []
        assert path.read_bytes() == before, "a refused manager wrote to the file"

        child.say("go on")
        assert child.line() == "closed"
        session = manager.restore_session("shared")  # the first one closed: now it works
        manager.configure("shared", llm=ScriptedClient(["p1"]))
        assert session.send("parent 1").text == "p1"
        child.say("try")
        assert child.line() == f"refused {os.getpid()}"  # and now the child is refused
        child.say("bye")
        assert child.finish() == 0
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
        child.finish()
    manager.close()
    reader, restored = restore(folder, "shared")  # every line whole, or a warning fails here
    reader.close()
    assert [m.text() for m in restored.messages] == [
        "child 1",
        "c1",
        "child 2",
        "c2",
        "parent 1",
        "p1",
    ]
    assert restored.snapshot() == session.snapshot()


class LateWriter:
    """An opener whose first read of the session file lets the session's current writer
    (another manager) write one more exchange and close, right after the bytes were read."""

    def __init__(self, holder: SessionManager, store: FileSessionStore, session: Session) -> None:
        self.holder = holder
        self.store = store
        self.session = session
        self.fired = False

    def __call__(self, path: Path, mode: str) -> Any:
        fh = open(path, mode, buffering=0)  # noqa: SIM115 - the store closes it
        if mode != "rb" or path.name != f"{SID}.jsonl":
            return fh
        sneak = self

        class Read:
            def read(self) -> bytes:
                data: bytes = fh.read()
                if not sneak.fired and sneak.store.is_open_for_writing(SID):
                    sneak.fired = True
                    sneak.session.send("late")
                    sneak.holder.close()
                return data

            def __enter__(self) -> Read:
                return self

            def __exit__(self, *exc: object) -> None:
                fh.close()

        return Read()


def test_a_restore_reads_the_log_under_the_lock(tmp_path: Path, workspace: Path) -> None:
    folder = tmp_path / "s"
    store = FileSessionStore(folder)
    first = SessionManager(store)
    live = first.create_session(
        SessionConfig(workspace=str(workspace)),
        llm=ScriptedClient(["one", "late answer"]),
        session_id=SID,
    )
    live.send("hi")
    second = SessionManager(FileSessionStore(folder, opener=LateWriter(first, store, live)))
    try:
        restored = second.restore_session(SID)
    except SessionLockedError:
        first.close()  # refused while the first wrote; once it let go, a restore works
        restored = second.restore_session(SID)
    second.configure(SID, llm=ScriptedClient(["two"]))
    restored.send("more")
    second.close()
    # the restored session's state was the file's: a restore of the file equals it
    reader, again = restore(folder)
    reader.close()
    assert again.snapshot() == restored.snapshot()


# --- threads and loops on one session -------------------------------------------------------


class Gate:
    """A tool that says it is running, then waits until the test opens it."""

    name = "gate"
    description = "Waits until it is opened."
    parameters: dict[str, Any] = {"type": "object", "properties": {}}

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        self.entered.set()
        assert await asyncio.to_thread(self.opened.wait, GUARD), "the gate was never opened"
        return ToolResult(name=self.name, output="opened")


def gated_model(fail_after_gate: bool = False) -> ScriptedClient:
    """``first`` calls the gate, then answers ``first done`` (or fails); any other prompt
    gets ``answer to <prompt>``."""

    def behaviour(messages: list[Message]) -> ScriptedTurn:
        last = messages[-1]
        if last.tool_results():
            if fail_after_gate:
                raise RuntimeError("the model went away")
            return ScriptedTurn(text="first done")
        if last.text() == "first":
            return ScriptedTurn(tool_calls=[{"id": "g1", "name": "gate", "args": {}}])
        return ScriptedTurn(text=f"answer to {last.text()}")

    return ScriptedClient(behaviour=behaviour)


def gated_session(
    folder: Path, workspace: Path, client: ScriptedClient
) -> tuple[SessionManager, Session, Gate]:
    gate = Gate()
    manager = SessionManager(folder)
    session = manager.create_session(
        SessionConfig(workspace=str(workspace), permission_policy=PermissionPolicy(allow=["gate"])),
        llm=client,
        tools=ToolRegistry([gate]),
        session_id=SID,
    )
    return manager, session, gate


def eventually(condition: Callable[[], bool]) -> None:
    """Wait for a condition another thread will make true (a hang fails after GUARD)."""
    pause = threading.Event()
    for _ in range(GUARD * 1000):
        if condition():
            return
        pause.wait(0.001)
    pytest.fail("the condition never came true")


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Start ``target`` in a thread; its result or error lands in the returned dict."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["result"] = target()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    return thread, box


def lane_is_free(session: Session) -> bool:
    generate = session.queue_stats().lanes["Generate"]
    return generate.active == 0 and generate.pending == 0


def generate_waiting(session: Session) -> bool:
    return session.queue_stats().lanes["Generate"].pending == 1


def assert_restores_equal(manager: SessionManager, session: Session, folder: Path) -> None:
    """Close the live session's manager; a restore of its file equals its state."""
    snapshot = session.snapshot()
    manager.close()
    reader = SessionManager(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SessionFileWarning)
        restored = reader.restore_session(session.id)
    reader.close()
    assert restored.snapshot() == snapshot


def test_two_threads_sending_on_one_session_both_return_in_turn(
    tmp_path: Path, workspace: Path
) -> None:
    manager, session, gate = gated_session(tmp_path / "s", workspace, gated_model())
    first, first_box = in_thread(lambda: session.send("first"))
    assert gate.entered.wait(GUARD)  # the first run holds the Generate lane, in its tool
    second, second_box = in_thread(lambda: session.send("second"))
    eventually(lambda: generate_waiting(session))  # the second waits its turn
    gate.opened.set()
    for thread in (first, second):
        thread.join(GUARD)
        assert not thread.is_alive(), "a send never returned"
    assert "error" not in first_box and "error" not in second_box, (first_box, second_box)
    assert first_box["result"].text == "first done"
    assert second_box["result"].text == "answer to second"
    assert lane_is_free(session)
    assert [(m.role, m.text()) for m in session.messages] == [
        ("user", "first"),
        ("assistant", ""),  # the gate call
        ("user", ""),  # its result
        ("assistant", "first done"),
        ("user", "second"),
        ("assistant", "answer to second"),
    ]
    assert_closed_off(session.messages)
    assert_restores_equal(manager, session, tmp_path / "s")


def test_a_run_that_dies_lets_the_waiting_thread_go_on(tmp_path: Path, workspace: Path) -> None:
    manager, session, gate = gated_session(
        tmp_path / "s", workspace, gated_model(fail_after_gate=True)
    )
    first, first_box = in_thread(lambda: session.send("first"))
    assert gate.entered.wait(GUARD)
    second, second_box = in_thread(lambda: session.send("second"))
    eventually(lambda: generate_waiting(session))
    gate.opened.set()
    for thread in (first, second):
        thread.join(GUARD)
        assert not thread.is_alive(), "a send never returned"
    assert isinstance(first_box.get("error"), RuntimeError), first_box
    assert second_box["result"].text == "answer to second"
    assert lane_is_free(session)
    assert session.state is SessionState.ACTIVE  # the run that worked came after the error
    assert_closed_off(session.messages)
    assert_restores_equal(manager, session, tmp_path / "s")


def test_a_background_run_and_a_sync_send_on_one_loop(tmp_path: Path, workspace: Path) -> None:
    manager, session, gate = gated_session(tmp_path / "s", workspace, gated_model())

    async def cell() -> tuple[str, str, str]:
        # `%%ask --background`: the run is a task on this (the kernel's) loop
        background = asyncio.ensure_future(session.send_async("first"))
        assert await asyncio.to_thread(gate.entered.wait, GUARD)
        # a sync call on this thread would block the loop the run needs: it raises at once
        with pytest.raises(SyncDeadlockError, match=r"`await send_async\(\.\.\.\)`"):
            session.send("now")
        with pytest.raises(SyncDeadlockError, match=r"`await stream_async\(\.\.\.\)`"):
            session.stream("now")
        # from another thread the sync send waits its turn, then runs (on this loop)
        other, box = in_thread(lambda: session.send("second"))
        await asyncio.wait_for(
            asyncio.to_thread(eventually, lambda: generate_waiting(session)), GUARD
        )
        gate.opened.set()
        first = await asyncio.wait_for(background, GUARD)
        await asyncio.to_thread(other.join, GUARD)
        assert not other.is_alive(), "the other thread's send never returned"
        assert "error" not in box, box
        # with nothing running in the background, a sync send here works again
        after = session.send("after")
        return first.text, box["result"].text, after.text

    assert asyncio.run(cell()) == ("first done", "answer to second", "answer to after")
    assert lane_is_free(session)
    assert [m.text() for m in session.messages if m.role == "user" and m.text()] == [
        "first",
        "second",
        "after",
    ]  # the refused calls left nothing behind
    assert_closed_off(session.messages)
    assert_restores_equal(manager, session, tmp_path / "s")


# --- pause, cancel and destroy at every event of a run ---------------------------------------


def count_events(tmp_path: Path, workspace: Path) -> int:
    manager = SessionManager(tmp_path / "count-events")
    session, seen = new_run(manager, workspace)
    assert session.send("go").text == FINAL
    manager.close()
    return len(seen)


def run_and_trigger(
    folder: Path, workspace: Path, k: int, action: Callable[[SessionManager, Session], object]
) -> tuple[SessionManager, Session, ScriptedClient, list[AgentEvent], object]:
    """The scripted run, with ``action`` taken by a subscriber at its k-th event; returns
    the manager, the session, its model, every event seen and what ``send`` gave (a
    result or the exception)."""
    manager = SessionManager(folder)
    session, seen = new_run(manager, workspace)
    client = session.llm
    assert isinstance(client, ScriptedClient)
    count = 0

    def trigger(event: AgentEvent) -> None:
        nonlocal count
        count += 1
        if count == k:
            action(manager, session)

    session.subscribe(trigger)
    outcome: object
    try:
        outcome = session.send("go")
    except BaseException as exc:  # CancelledError is a BaseException
        outcome = exc
    assert count >= k, "the run emitted fewer events than the clean run"
    return manager, session, client, seen, outcome


def continue_restored(
    manager: SessionManager, session: Session, client: ScriptedClient, folder: Path
) -> tuple[SessionManager, Session]:
    """Close the live session; restore it from its file (equal to the live state) with the
    rest of the script as its model and the approving subscriber."""
    snapshot = session.snapshot()
    manager.close()
    manager, restored = restore(folder)
    assert restored.snapshot() == snapshot
    manager.configure(SID, llm=ScriptedClient(run_turns()[client.calls :]))
    approve_from_subscriber(restored)
    return manager, restored


def test_pause_at_every_event_stops_at_a_turn_boundary(tmp_path: Path, workspace: Path) -> None:
    clean = SessionManager(tmp_path / "clean")
    session, order = new_run(clean, workspace)
    session.send("go")
    clean.close()
    for k in range(1, len(order) + 1):
        folder = tmp_path / f"pause-{k}"
        manager, session, client, _seen, outcome = run_and_trigger(
            folder, workspace, k, lambda _m, s: s.pause()
        )
        # a turn still to start in the clean run means a boundary to stop at
        boundary_ahead = any(e.type == "turn_start" for e in order[k:])
        if boundary_ahead:
            assert isinstance(outcome, SessionPausedError), (k, outcome)
            assert "turn boundary" in str(outcome)
        else:
            assert getattr(outcome, "text", None) == FINAL, (k, outcome)
        assert session.state is SessionState.PAUSED, k
        assert_closed_off(session.messages)
        manager, restored = continue_restored(manager, session, client, folder)
        assert restored.state is SessionState.PAUSED
        with pytest.raises(SessionPausedError):
            restored.send("not yet")
        assert restored.resume()
        result = restored.send("go on")
        assert result.text == (
            FINAL if boundary_ahead else "[scripted model: no more scripted turns]"
        )
        assert_closed_off(restored.messages)
        assert_restores_equal(manager, restored, folder)


def test_cancel_at_every_event_closes_the_history_off(tmp_path: Path, workspace: Path) -> None:
    total = count_events(tmp_path, workspace)
    for k in range(1, total + 1):
        folder = tmp_path / f"cancel-{k}"
        manager, session, client, seen, outcome = run_and_trigger(
            folder, workspace, k, lambda _m, s: s.cancel()
        )
        if isinstance(outcome, asyncio.CancelledError):
            errors = [e for e in seen if e.type == "error"]
            assert [e.message for e in errors] == ["Run cancelled"], k
        else:
            assert getattr(outcome, "text", None) == FINAL, (k, outcome)  # it had finished
        assert session.state is not SessionState.PAUSED
        assert_closed_off(session.messages)
        assert lane_is_free(session)
        manager, restored = continue_restored(manager, session, client, folder)
        result = restored.send("again")  # a new send works
        assert result.text
        assert_closed_off(restored.messages)
        assert_restores_equal(manager, restored, folder)


def test_destroy_at_every_event_leaves_nothing_behind(tmp_path: Path, workspace: Path) -> None:
    total = count_events(tmp_path, workspace)
    cleanup_after_destroy = 0
    for k in range(1, total + 1):
        folder = tmp_path / f"destroy-{k}"
        manager, session, _client, seen, outcome = run_and_trigger(
            folder, workspace, k, lambda m, s: m.destroy_session(s.id)
        )
        assert isinstance(outcome, asyncio.CancelledError) or (
            getattr(outcome, "text", None) == FINAL
        ), (k, outcome)
        if isinstance(outcome, asyncio.CancelledError):
            assert seen[-1].type == "error"  # the cancelled run's cleanup, after the destroy
            cleanup_after_destroy += 1
        # no file and no lock file, though the cancelled run's cleanup emitted afterwards
        assert sorted(p.name for p in folder.iterdir()) == [], k
        assert manager.list_sessions() == []
        assert lane_is_free(session)
        manager.close()
    assert cleanup_after_destroy > total // 2


def test_destroy_from_another_thread_while_a_run_waits_in_a_tool(
    tmp_path: Path, workspace: Path
) -> None:
    folder = tmp_path / "s"
    manager, session, gate = gated_session(folder, workspace, gated_model())
    seen: list[str] = []
    session.subscribe(lambda e: seen.append(e.type))
    run, box = in_thread(lambda: session.send("first"))
    assert gate.entered.wait(GUARD)
    assert manager.destroy_session(SID)
    assert sorted(p.name for p in folder.iterdir()) == []
    gate.opened.set()
    run.join(GUARD)
    assert not run.is_alive(), "the destroyed session's send never returned"
    assert isinstance(box.get("error"), asyncio.CancelledError), box
    assert seen[-1] == "error"  # its cleanup ran after the destroy ...
    assert sorted(p.name for p in folder.iterdir()) == []  # ... and wrote nothing
    assert lane_is_free(session)


# --- the queue's timeout bounds each command -------------------------------------------------


class Nap:
    """A tool that takes a moment (0.2 s), well within the limit on its own."""

    name = "nap"
    description = "Rests a moment."
    parameters: dict[str, Any] = {"type": "object", "properties": {}}

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        await asyncio.sleep(0.2)
        return ToolResult(name=self.name, output="rested")


class Hang:
    """A tool that never finishes on its own (only a timeout or a cancel ends it)."""

    name = "hang"
    description = "Never returns."
    parameters: dict[str, Any] = {"type": "object", "properties": {}}

    def __init__(self) -> None:
        self.cleaned_up = threading.Event()

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            await asyncio.Event().wait()
        finally:
            self.cleaned_up.set()
        raise AssertionError("unreachable")  # pragma: no cover


def timed_session(
    folder: Path, workspace: Path, turns: list[ScriptedTurn | str], **client: Any
) -> tuple[SessionManager, Session, Hang]:
    hang = Hang()
    tools = default_registry()
    tools.register(Nap())
    tools.register(hang)
    manager = SessionManager(folder)
    session = manager.create_session(
        SessionConfig(
            workspace=str(workspace),
            queue_config=SessionQueueConfig(default_timeout_ms=400),
            permission_policy=PermissionPolicy(allow=["nap", "hang"]),
            confirmation_policy=ConfirmationPolicy.enabled_policy(),
        ),
        llm=ScriptedClient(turns, **client),
        tools=tools,
        session_id=SID,
    )
    return manager, session, hang


def test_the_queue_timeout_bounds_each_command_not_the_run(tmp_path: Path, workspace: Path) -> None:
    naps = [{"id": f"n{i}", "name": "nap", "args": {}} for i in range(3)]
    manager, session, _ = timed_session(
        tmp_path / "s",
        workspace,
        [
            ScriptedTurn(tool_calls=naps),  # three commands of 0.2 s: 0.6 s in all
            turn("", ("write", {"file_path": "a.txt", "content": "x"})),  # a slow human
            turn("rested"),
        ],
    )

    def slow_human(event: AgentEvent) -> None:
        if event.type == "confirmation_required":
            # the human takes longer than the command limit: waiting for them is bounded by
            # the confirmation timeout alone
            loop = asyncio.get_running_loop()
            loop.call_later(0.5, session.confirm, event.tool_id, True)

    session.subscribe(slow_human)
    result = session.send("rest three times, then write")
    assert result.text == "rested"
    assert result.tool_calls_count == 4
    assert (workspace / "a.txt").read_text() == "x"
    assert lane_is_free(session)
    assert_restores_equal(manager, session, tmp_path / "s")


@pytest.mark.parametrize("where", ["tool", "model"])
def test_one_command_over_the_limit_fails_naming_its_lane(
    tmp_path: Path, workspace: Path, where: str
) -> None:
    if where == "tool":
        turns: list[ScriptedTurn | str] = [
            ScriptedTurn(tool_calls=[{"id": "h1", "name": "hang", "args": {}}]),
            "after",
        ]
        client: dict[str, Any] = {}
        lane = "Execute"
    else:
        turns = ["never seen", "after"]
        client = {"delay": GUARD}  # the model never answers in time
        lane = "Generate"
    manager, session, hang = timed_session(tmp_path / "s", workspace, turns, **client)
    with pytest.raises(CommandTimeoutError) as exc:
        session.send("go")
    assert exc.value.lane == lane and exc.value.timeout_ms == 400
    assert f"{lane} lane" in str(exc.value) and "400 ms" in str(exc.value)
    assert isinstance(exc.value, TimeoutError)
    if where == "tool":
        assert hang.cleaned_up.is_set()  # the command was stopped, its cleanup ran
    assert session.state is SessionState.ERROR
    assert_closed_off(session.messages)
    assert lane_is_free(session)
    if where == "model":
        session.llm.delay = 0  # type: ignore[attr-defined]
    assert session.send("again").text == "after"  # the session goes on
    assert session.snapshot()["state"] == "Active"  # out of Error
    assert_restores_equal(manager, session, tmp_path / "s")


# --- hostile ids, headers, files and arguments ------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("a\nb", "control character"),
        ("x" * 250, "at most 128"),
        ("../x", "unsafe characters"),
    ],
    ids=["newline", "250-chars", "dot-dot-slash"],
)
def test_a_bad_session_id_is_a_clear_error(tmp_path: Path, bad: str, says: str) -> None:
    manager = SessionManager(tmp_path / "s")
    attempts: list[Callable[[], object]] = [
        lambda: manager.create_session(session_id=bad),
        lambda: manager.restore_session(bad),
        lambda: manager.get_session(bad),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidSessionIdError, match=says):
            attempt()
    assert list((tmp_path / "s").iterdir()) == []  # nothing written, nothing outside
    assert list(tmp_path.iterdir()) == [tmp_path / "s"]


def header(**changes: Any) -> str:
    line = {
        "type": "session_created",
        "session_id": "x",
        "format": 2,
        "created_at": 1.0,
        "model": "scripted/replay",
        "config": {},
        **changes,
    }
    return json.dumps(line) + "\n"


HELLO = json.dumps(
    {
        "type": "message_added",
        "message": {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    }
)


def restore_with_warnings(folder: Path) -> tuple[Session | Exception, list[str]]:
    """Restore session ``x``: the session or the error, and the warnings on the way."""
    manager = SessionManager(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome: Session | Exception = manager.restore_session("x")
        except Exception as exc:
            outcome = exc
    manager.close()
    return outcome, skipped_line_warnings(caught)


def load_with_warnings(folder: Path) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = load_sessions(folder)
    return frames, skipped_line_warnings(caught)


def test_a_header_whose_config_is_a_list(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    path = folder / "x.jsonl"
    path.write_text(header(config=["not", "a", "dict"]) + HELLO + "\n")
    before = path.read_bytes()
    outcome, said = restore_with_warnings(folder)
    assert isinstance(outcome, StoreError), outcome
    assert "no session_created line" in str(outcome)
    assert len(said) == 1
    assert "record 1 skipped" in said[0]
    assert "session_created.config: Input should be a valid dictionary" in said[0], said
    assert len(said[0]) < 300, "the warning should say what is wrong, briefly"
    frames, _ = load_with_warnings(folder)  # the analysis reader survives it too
    assert len(frames.messages) == 1
    assert path.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["x.jsonl"]


def test_a_session_file_that_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    (folder / "x.jsonl").mkdir(parents=True)
    manager = SessionManager(folder)
    attempts: list[Callable[[], object]] = [
        lambda: manager.restore_session("x"),
        lambda: manager.get_session("x"),
        lambda: manager.create_session(session_id="x"),
    ]
    for attempt in attempts:
        with pytest.raises(StoreError, match="is a folder"):
            attempt()
    assert manager.load_all_sessions() == 0
    frames, said = load_with_warnings(folder)
    assert len(frames.sessions) == 0
    assert frames.skipped_files == {"x.jsonl": "it is a folder, not a session file"}
    assert any("is a folder" in w for w in said)
    assert sorted(p.name for p in folder.iterdir()) == ["x.jsonl"]  # nothing else made


def test_lines_nested_100000_deep_or_not_utf8_are_skipped_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    deep_list = "[" * 100_000 + "]" * 100_000
    deep_object = '{"a":' * 100_000 + "1" + "}" * 100_000
    lines = [header(), deep_list + "\n", deep_object + "\n", HELLO + "\n"]
    (folder / "x.jsonl").write_bytes("".join(lines).encode() + b"\xff\xfe not UTF-8\n")
    outcome, said = restore_with_warnings(folder)
    assert isinstance(outcome, Session), outcome
    assert [m.text() for m in outcome.messages] == ["hi"]  # every other line was kept
    assert any("line 2: nested too deep" in w for w in said), said
    assert any("line 3: nested too deep" in w for w in said), said
    assert any("line 5: not valid UTF-8" in w for w in said), said
    frames, said = load_with_warnings(folder)
    assert len(frames.messages) == 1
    assert frames.skipped_lines["x.jsonl"] == 3


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("form", ["object", "json-text"])
def test_tool_arguments_nested_600_deep_get_an_error_result(
    tmp_path: Path, workspace: Path, form: str
) -> None:
    if form == "object":
        call = {"id": "d1", "name": "read", "args": {"file_path": nested(600)}}
    else:
        call = {
            "id": "d1",
            "name": "read",
            "raw_args": '{"file_path":' + "[" * 600 + "]" * 600 + "}",
        }
    manager = SessionManager(tmp_path / "s")
    session = manager.create_session(
        SessionConfig(workspace=str(workspace), permission_policy=PermissionPolicy(allow=["read"])),
        llm=ScriptedClient([ScriptedTurn(tool_calls=[call]), "flatter next time"]),
        session_id=SID,
    )
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    result = session.send("read it")  # the run goes on: the model is told what was wrong
    assert result.text == "flatter next time"
    ends = [e for e in seen if e.type == "tool_end"]
    assert len(ends) == 1 and ends[0].exit_code == 1
    assert "nested" in ends[0].output and "deep" in ends[0].output, ends[0].output
    assert not [e for e in seen if e.type in ("persistence_failed", "error")]
    assert_closed_off(session.messages)
    assert_restores_equal(manager, session, tmp_path / "s")


# --- a session let go of writes no more ---------------------------------------------------------


def test_a_closed_session_never_writes_into_the_next_owner_of_its_file(
    tmp_path: Path, workspace: Path
) -> None:
    # `%a3s_session new NAME` while NAME runs in the background: the old session is let go
    # (its run cancelled), its file archived, and a new session takes the id
    folder = tmp_path / "s"
    manager, old, gate = gated_session(folder, workspace, gated_model())
    run, box = in_thread(lambda: old.send("first"))
    assert gate.entered.wait(GUARD)
    assert manager.forget_session(SID)
    store = manager.store
    assert isinstance(store, FileSessionStore)
    archived = store.archive(SID)
    store.delete(SID)
    new = manager.create_session(
        SessionConfig(workspace=str(workspace)), llm=ScriptedClient(["new"]), session_id=SID
    )
    gate.opened.set()  # the old run's cleanup happens now, after the new session started
    run.join(GUARD)
    assert not run.is_alive()
    assert isinstance(box.get("error"), asyncio.CancelledError), box
    old.pause()  # a stale reference used later: still nothing reaches the new file
    assert new.send("hello").text == "new"
    assert_restores_equal(manager, new, folder)
    # the archive is the old session as it was let go: it restores, and goes on
    reader = SessionManager(folder)
    restored = reader.restore_session(archived)
    assert [m.text() for m in restored.messages][:2] == ["first", ""]
    reader.close()
