"""Sessions under faults, through the public API: never hang, never lose a line.

Every test drives real sessions on real files in a temp folder:

- a disk that fails on the Nth write, for every N of a scripted run;
- torn tails at every byte offset of the last three records of a real session file;
- two processes, two threads, a background run plus a sync call on one session;
- pause, cancel and destroy at every event of a scripted run;
- the queue's timeout per command; hostile ids, headers, files and tool arguments.

No test sleeps to synchronise: threads meet on ``threading.Event``/``Barrier`` and
subscribers, loops on ``asyncio.Event``. Timeouts (``GUARD``) exist only to turn a hang
into a failure; no test asserts how long anything took.
"""

from __future__ import annotations

import errno
import warnings
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
)
from a3s_notebook.engine.errors import (
    StoreError,
)
from a3s_notebook.engine.events import DURABLE_TYPES, AgentEvent, event_to_dict
from a3s_notebook.engine.store import FileSessionStore, SessionFileWarning
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


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "hello.txt").write_text("hello world\n")
    return ws


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
    write and every later one fail (the disk stays full). Appends are counted as the store
    makes them: one open in ``"a+b"`` mode per line.
    """

    def __init__(self, fail_at: int | None = None, *, stuck: bool = False) -> None:
        self.fail_at = fail_at
        self.stuck = stuck
        self.appends = 0

    def __call__(self, path: Path, mode: str) -> Any:
        fh = open(path, mode, buffering=0)  # noqa: SIM115 - the store closes it
        if mode != "a+b" or path.suffix != ".jsonl":
            return fh
        self.appends += 1
        n = self.fail_at
        if n is not None and (self.appends == n or (self.stuck and self.appends > n)):
            return DiskFull(fh)
        return fh


def count_writes(tmp_path: Path, workspace: Path) -> int:
    """How many lines the scripted run writes, its header included."""
    disk = FailingDisk()
    manager = SessionManager(FileSessionStore(tmp_path / "count", opener=disk))
    session, _ = new_run(manager, workspace)
    assert session.send("go").text == FINAL
    manager.close()
    return disk.appends


@pytest.mark.parametrize("stuck", [False, True], ids=["one-write-fails", "disk-stays-full"])
def test_a_write_failing_at_any_point_of_a_run_loses_nothing_written_before(
    tmp_path: Path, workspace: Path, stuck: bool
) -> None:
    total = count_writes(tmp_path, workspace)
    assert total > 20  # header, messages, usage, tool ends, confirmations, ...
    for n in range(1, total + 1):
        folder = tmp_path / f"write-{n}"
        manager = SessionManager(FileSessionStore(folder, opener=FailingDisk(n, stuck=stuck)))
        if n == 1:
            # the header: a session never starts without its file
            with pytest.raises(StoreError, match="No space left on device"):
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
        assert "No space left on device" in failures[0].error
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
