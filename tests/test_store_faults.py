"""FileSessionStore under faults: one writer per file, failed appends, torn tails, any input.

Every test here works on real files in a temp folder. Faults are injected through the
store's ``opener`` (a file object that fills the disk part way through a write, a file
that cannot be read, a folder that cannot be written); the two-process cases start a
real second Python process.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine.config import validate_session_id
from a3s_notebook.engine.errors import (
    InvalidSessionIdError,
    SessionLockedError,
    SessionNotFoundError,
    StoreError,
)
from a3s_notebook.engine.store import (
    FileSessionStore,
    LockingSessionStore,
    MemorySessionStore,
    SessionFileWarning,
    read_records,
)

ROOT = Path(__file__).resolve().parents[1]

# --- fault-injecting file objects --------------------------------------------------------


class DiskFull:
    """A real file whose writes stop after ``budget`` bytes with ENOSPC (a partial write)."""

    def __init__(self, fh: Any, budget: int) -> None:
        self._fh = fh
        self.budget = budget

    def write(self, data: Any) -> int:
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        chunk = bytes(data[: self.budget])
        n: int = self._fh.write(chunk)
        self.budget -= n
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> DiskFull:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def opener_with(fault: Callable[[Path, str], Any | None]) -> Callable[[Path, str], Any]:
    """An opener that asks ``fault(path, mode)`` first: it may raise, or return a file."""

    def opener(path: Path, mode: str) -> Any:
        replaced = fault(path, mode)
        if replaced is not None:
            return replaced
        return open(path, mode, buffering=0)

    return opener


def snapshot(folder: Path) -> dict[str, Any]:
    """Every entry of a folder with its kind, mode, bytes and mtime."""
    out: dict[str, Any] = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        data = p.read_bytes() if p.is_file() and st.st_mode & 0o444 else None
        out[str(p.relative_to(folder))] = (st.st_mode, st.st_mtime_ns, data)
    return out


def rec(i: int, text: str = "") -> dict[str, Any]:
    return {"kind": "message", "i": i, "text": text or f"message number {i}"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileSessionStore]:
    s = FileSessionStore(tmp_path / "s")
    yield s
    s.close_all()


# --- one writer per file ---------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys
    from a3s_notebook.engine.store import FileSessionStore
    store = FileSessionStore(sys.argv[1])
    store.open_for_writing(sys.argv[2])
    store.append(sys.argv[2], {"kind": "header", "id": sys.argv[2]})
    print("ready", flush=True)
    sys.stdin.readline()  # hold the session until the parent says so
    store.append(sys.argv[2], {"kind": "message", "from": "child"})
    store.close(sys.argv[2])
    print("closed", flush=True)
    """
)


def test_a_second_process_gets_a_clear_error_naming_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), "shared"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        store = FileSessionStore(folder)
        with pytest.raises(SessionLockedError) as exc:
            store.open_for_writing("shared")
        assert exc.value.pid == child.pid
        assert exc.value.session_id == "shared"
        assert f"another process (pid {child.pid})" in str(exc.value)
        assert "'shared'" in str(exc.value) and "one writer at a time" in str(exc.value)
        # an append without opening first is refused too: no interleaved histories
        with pytest.raises(SessionLockedError):
            store.append("shared", {"kind": "message", "from": "parent"})
        with pytest.raises(SessionLockedError):
            store.delete("shared")
        # reading needs no lock
        assert store.load("shared") == [{"kind": "header", "id": "shared"}]
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
        assert child.wait() == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        # close the pipes here, not at garbage collection (a ResourceWarning later on)
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
    # the child let go: now this process may write, and nothing was lost or interleaved
    store.open_for_writing("shared")
    store.append("shared", {"kind": "message", "from": "parent"})
    assert [r.get("from") for r in store.load("shared") or []] == [None, "child", "parent"]
    store.close("shared")


def test_a_second_process_is_refused_while_this_one_writes(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path / "s")
    store.open_for_writing("mine")
    store.append("mine", {"kind": "header", "id": "mine"})
    script = textwrap.dedent(
        """
        import sys
        from a3s_notebook.engine.errors import SessionLockedError
        from a3s_notebook.engine.store import FileSessionStore
        store = FileSessionStore(sys.argv[1])
        for attempt in (lambda: store.open_for_writing("mine"),
                        lambda: store.append("mine", {"kind": "message"})):
            try:
                attempt()
            except SessionLockedError as exc:
                print(exc.pid)
        print(len(store.load("mine")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(os.getpid()), str(os.getpid()), "1"]
    store.close("mine")


def test_a_second_store_in_this_process_is_refused_at_once(tmp_path: Path) -> None:
    first = FileSessionStore(tmp_path / "s")
    second = FileSessionStore(tmp_path / "s")
    first.open_for_writing("a")
    with pytest.raises(SessionLockedError, match=r"another session store in this process"):
        second.open_for_writing("a")
    with pytest.raises(SessionLockedError, match=f"pid {os.getpid()}"):
        second.append("a", rec(1))
    with pytest.raises(SessionLockedError):
        second.rewrite("a", [rec(1)])
    with pytest.raises(SessionLockedError):
        second.archive("a")
    second.open_for_writing("b")  # other sessions are free
    first.close("a")
    second.open_for_writing("a")
    second.close_all()


def test_writer_is_counted_and_leaves_no_lock_file(store: FileSessionStore) -> None:
    lock = store.lock_path("s1")
    store.open_for_writing("s1")
    store.open_for_writing("s1")  # re-entrant: the same store may open it again
    assert store.is_open_for_writing("s1")
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    store.append("s1", rec(1))
    store.close("s1")
    assert store.is_open_for_writing("s1") and lock.exists()
    store.close("s1")
    assert not store.is_open_for_writing("s1")
    assert not lock.exists()
    store.close("s1")  # closing again is fine
    # an append without a writer takes the lock for that append only
    store.append("s1", rec(2))
    assert not lock.exists()
    with store.writer("s1"):
        store.delete("s1")
    assert sorted(p.name for p in store.directory.iterdir()) == []
    assert isinstance(store, LockingSessionStore)
    assert isinstance(MemorySessionStore(), LockingSessionStore)


def test_a_stale_lock_file_from_a_dead_process_does_not_block(store: FileSessionStore) -> None:
    store.lock_path("s").write_text('{"pid": 999999999}\n')  # left by a crash
    store.open_for_writing("s")
    assert json.loads(store.lock_path("s").read_text())["pid"] == os.getpid()
    store.close("s")


def test_rewrites_keep_the_lock_across_the_new_file(tmp_path: Path) -> None:
    # the lock is on a side file: an atomic rewrite (a new inode) does not drop it
    first = FileSessionStore(tmp_path / "s")
    second = FileSessionStore(tmp_path / "s")
    first.open_for_writing("a")
    first.append("a", rec(1))
    first.rewrite("a", [rec(2), rec(3)])
    with pytest.raises(SessionLockedError):
        second.append("a", rec(4))
    first.append("a", rec(4))
    assert [r["i"] for r in first.load("a") or []] == [2, 3, 4]
    first.close("a")


def test_threads_appending_through_one_store_keep_every_line_whole(
    store: FileSessionStore,
) -> None:
    store.open_for_writing("t")
    barrier = threading.Barrier(4)

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(50):
            store.append("t", rec(n * 1000 + i, "x" * (i * 37 % 300)))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = store.load("t") or []
    assert sorted(r["i"] for r in got) == sorted(n * 1000 + i for n in range(4) for i in range(50))
    store.close("t")


# --- failed appends ----------------------------------------------------------------------


def test_a_failed_append_leaves_a_whole_line_file_at_every_byte(tmp_path: Path) -> None:
    budget: list[int | None] = [None]

    def fault(path: Path, mode: str) -> Any | None:
        if "a" in mode and budget[0] is not None:
            return DiskFull(open(path, mode, buffering=0), budget[0])
        return None

    store = FileSessionStore(tmp_path / "s", opener=opener_with(fault))
    store.open_for_writing("d")
    store.append("d", {"kind": "header", "id": "d"})
    store.append("d", rec(1))
    path = store.path("d")
    before = path.read_bytes()
    line = json.dumps(rec(2, "é unicode ✓"), ensure_ascii=False, separators=(",", ":"))
    line_len = len(line.encode()) + 1
    for cut in range(line_len):
        budget[0] = cut
        with pytest.raises(StoreError, match="ending on a whole line"):
            store.append("d", rec(2, "é unicode ✓"))
        assert path.read_bytes() == before, cut  # cut back: no half line left behind
    budget[0] = None
    store.append("d", rec(3))  # the next record is kept whole
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r.get("i") for r in store.load("d") or []] == [None, 1, 3]
    store.close("d")


def test_fail_on_the_nth_write_then_recover(tmp_path: Path) -> None:
    # a store that fails on the Nth write, for every N: each earlier record is there
    records = [{"kind": "header", "id": "n"}, *(rec(i) for i in range(1, 8))]
    for n in range(len(records)):
        writes = [0]

        def fault(path: Path, mode: str, n: int = n, writes: list[int] = writes) -> Any | None:
            if "a" in mode:
                writes[0] += 1
                if writes[0] == n + 1:
                    return DiskFull(open(path, mode, buffering=0), 7)
            return None

        folder = tmp_path / f"n{n}"
        store = FileSessionStore(folder, opener=opener_with(fault))
        written = []
        for r in records:
            try:
                store.append("n", r)
                written.append(r)
            except StoreError:
                pass
        assert written == [r for i, r in enumerate(records) if i != n]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert FileSessionStore(folder).load("n") == written


def test_a_torn_tail_from_a_crash_is_closed_off_by_the_next_append(
    store: FileSessionStore,
) -> None:
    store.append("t", rec(1))
    path = store.path("t")
    with path.open("ab") as fh:
        fh.write(b'{"kind":"message","i":2,"te')  # a crash mid-write
    store.append("t", rec(3))
    with pytest.warns(SessionFileWarning, match=r"t\.jsonl: skipped unreadable line 2"):
        assert [r["i"] for r in store.load("t") or []] == [1, 3]


def test_torn_tails_at_every_byte_of_the_last_three_records(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path / "s")
    records = [{"kind": "header", "id": "x"}, *(rec(i, "ü" * (i % 3)) for i in range(1, 7))]
    for r in records:
        store.append("x", r)
    whole = store.path("x").read_bytes()
    ends = [i + 1 for i, b in enumerate(whole) if b == ord("\n")]
    start = ends[-4]  # the byte where the third record from the end begins
    target = tmp_path / "cut"
    for cut in range(start, len(whole) + 1):
        if target.exists():
            for p in target.iterdir():
                p.unlink()
        cut_store = FileSessionStore(target)
        path = cut_store.path("x")
        path.write_bytes(whole[:cut])
        # a line whose JSON is whole but whose newline is missing is a whole record
        complete = [r for r, end in zip(records, ends, strict=True) if end - 1 <= cut]
        torn = cut not in ends and cut + 1 not in ends
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert cut_store.load("x") == complete, cut
        if torn:
            line = len(complete) + 1
            assert len(seen) == 1, cut
            msg = str(seen[0].message)
            assert f"{path}: skipped torn last line (an interrupted write) {line}" in msg
        else:
            assert seen == [], cut
        # the next record is kept whole after any tear
        cut_store.append("x", rec(99))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert cut_store.load("x") == [*complete, rec(99)], cut


def test_a_record_that_cannot_be_json_changes_nothing(store: FileSessionStore) -> None:
    store.append("j", rec(1))
    before = store.path("j").read_bytes()
    with pytest.raises(StoreError, match="cannot be written as JSON"):
        store.append("j", {"kind": "message", "bad": object()})
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(StoreError, match="cannot be written as JSON"):
        store.append("j", {"kind": "message", "deep": deep})
    assert store.path("j").read_bytes() == before


def test_lone_surrogates_are_kept_escaped(store: FileSessionStore) -> None:
    text = "bad byte \udcff here"
    store.append("u", {"kind": "message", "text": text})
    assert store.load("u") == [{"kind": "message", "text": text}]


# --- readers survive any input ----------------------------------------------------------


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_readers_survive_any_line_and_change_nothing(store: FileSessionStore) -> None:
    good = [json.dumps(rec(i)).encode() for i in range(4)]
    lines = [
        good[0],
        b"[" * 100_000 + b"]" * 100_000,  # nesting depth 100,000
        good[1],
        b'["a", "list"]',  # JSON, but not an object
        b"42",
        b'{"kind": "message", "text": "\xff\xfe broken utf-8"}',
        good[2],
        b"{" * 100_000,  # deep and torn
        b"not json at all",
        good[3],
    ]
    _write(store.directory, "any.jsonl", b"\n".join(lines) + b"\n")
    before = snapshot(store.directory)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = store.load("any")
    assert got == [rec(i) for i in range(4)]
    messages = [str(w.message) for w in seen]
    assert [m.split(": skipped unreadable line ")[1].split(":")[0] for m in messages] == [
        "2",
        "4",
        "5",
        "6",
        "8",
        "9",
    ]
    assert all(m.startswith(f"{store.path('any')}: ") for m in messages)
    assert "nested too deep" in messages[0]
    assert "must be a JSON object, got list" in messages[1]
    assert "not valid UTF-8" in messages[3]
    assert all(w.category is SessionFileWarning for w in seen)
    assert snapshot(store.directory) == before


def test_readers_survive_any_file_and_change_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "s"

    def unreadable(path: Path, mode: str) -> Any | None:
        if path.name == "locked.jsonl" and "r" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return None

    store = FileSessionStore(folder, opener=opener_with(unreadable))
    (folder / "folder.jsonl").mkdir()
    _write(folder, "empty.jsonl", b"")
    _write(folder, "locked.jsonl", b'{"kind":"header"}\n')
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.jsonl")  # opening it to read would block forever
    os.symlink(folder / "nowhere", folder / "dangling.jsonl")
    before = snapshot(folder)
    cases = {
        "folder": "it is a folder, not a session file",
        "empty": "the file is empty",
        "locked": "it cannot be read",
        "dangling": "it cannot be read",
    }
    if hasattr(os, "mkfifo"):
        cases["pipe"] = "it is not a regular file"
    for sid, why in cases.items():
        with pytest.warns(SessionFileWarning, match=rf"{sid}\.jsonl: skipped.*{why}"):
            assert store.load(sid) == [], sid
        assert store.exists(sid)
    assert store.load("missing") is None
    assert snapshot(folder) == before
    # read_records itself, on a path given as a string
    with pytest.warns(SessionFileWarning, match="it is a folder"):
        assert read_records(str(folder / "folder.jsonl")) == []


# --- writes that cannot happen ------------------------------------------------------------


def test_a_read_only_folder_fails_at_creation_not_silently(tmp_path: Path) -> None:
    # tests run as root, which may write anywhere: the read-only folder is injected
    def read_only(path: Path, mode: str) -> Any | None:
        if any(m in mode for m in "wax+"):
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return None

    store = FileSessionStore(tmp_path / "s", opener=opener_with(read_only))
    with pytest.raises(StoreError, match="is not writable .*Read-only file system"):
        store.health_check()
    with pytest.raises(StoreError, match="is not writable"):
        store.open_for_writing("ro")
    assert not store.is_open_for_writing("ro")
    with pytest.raises(StoreError, match="cannot write the session file"):
        store.append("ro", {"kind": "header"})
    with pytest.raises(StoreError, match="Nothing was changed"):
        store.rewrite("ro", [{"kind": "header"}])
    assert not store.exists("ro")
    assert list(store.directory.iterdir()) == []  # no lock or probe left behind


def test_a_folder_under_a_regular_file_fails_at_creation(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the session folder"):
        FileSessionStore(tmp_path / "file" / "sessions")
    with pytest.raises(StoreError):
        FileSessionStore(tmp_path / "file")


def test_a_folder_where_the_file_should_be_is_a_clear_error(store: FileSessionStore) -> None:
    store.path("dir").mkdir()
    with pytest.raises(StoreError, match="is a folder"):
        store.open_for_writing("dir")
    with pytest.raises(StoreError, match="is a folder"):
        store.append("dir", rec(1))
    with pytest.raises(StoreError):
        store.rewrite("dir", [rec(1)])
    with pytest.raises(StoreError):
        store.delete("dir")
    assert store.path("dir").is_dir()


def test_a_failed_rewrite_keeps_the_old_file(tmp_path: Path) -> None:
    full = [False]

    def fault(path: Path, mode: str) -> Any | None:
        if full[0] and "x" in mode:
            return DiskFull(open(path, mode, buffering=0), 10)
        return None

    store = FileSessionStore(tmp_path / "s", opener=opener_with(fault))
    store.append("r", rec(1))
    before = store.path("r").read_bytes()
    full[0] = True
    with pytest.raises(StoreError, match="Nothing was changed"):
        store.rewrite("r", [rec(2), rec(3)])
    assert store.path("r").read_bytes() == before
    assert sorted(p.name for p in store.directory.iterdir()) == ["r.jsonl"]  # no temp left


# --- archives -----------------------------------------------------------------------------


def test_archive_is_a_byte_copy_under_a_unique_id(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    store = FileSessionStore(tmp_path / "s", clock=lambda: now[0])
    store.append("nb", {"kind": "header", "id": "nb"})
    with store.path("nb").open("ab") as fh:
        fh.write(b"a line no reader can parse \xff\n")
    store.append("nb", rec(1))
    original = store.path("nb").read_bytes()
    stamp = __import__("time").strftime("%Y%m%d-%H%M%S", __import__("time").localtime(now[0]))
    first = store.archive("nb")
    assert first == f"nb-{stamp}"
    assert store.path(first).read_bytes() == original  # not re-serialised
    second = store.archive("nb")  # the same second: never overwritten
    assert second == f"nb-{stamp}-2"
    # a file that already has the next name is left alone
    taken = store.path(f"nb-{stamp}-3")
    taken.write_bytes(b"someone else's\n")
    third = store.archive("nb")
    assert third == f"nb-{stamp}-4"
    assert taken.read_bytes() == b"someone else's\n"
    assert store.path("nb").read_bytes() == original  # the source stays
    assert store.path(first).read_bytes() == store.path(third).read_bytes() == original
    assert not any(p.name.endswith((".tmp", ".lock")) for p in store.directory.iterdir())
    with pytest.raises(SessionNotFoundError):
        store.archive("missing")


def test_archive_ids_stay_within_the_length_limit(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path / "s", clock=lambda: 0.0)
    long_id = "L" * 128
    store.append(long_id, {"kind": "header"})
    new = store.archive(long_id)
    assert len(new) <= 128 and validate_session_id(new) == new
    assert store.archive(long_id) != new


def test_memory_store_archive_copies_records() -> None:
    store = MemorySessionStore(clock=lambda: 0.0)
    store.append("m", {"kind": "header", "id": "m"})
    a = store.archive("m")
    b = store.archive("m")
    assert a != b and store.load(a) == store.load(b) == store.load("m")
    with pytest.raises(SessionNotFoundError):
        store.archive("nope")


# --- session ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sid", "why"),
    [
        ("a\n", "control character"),
        ("a\nb", "control character"),
        ("tab\there", "control character"),
        ("del\x7f", "control character"),
        ("nul\x00", "control character"),
        ("x" * 129, "at most 128"),
        ("y" * 250, "250 characters long: at most 128"),
    ],
)
def test_bad_session_ids_are_clear_errors_not_os_errors(
    store: FileSessionStore, sid: str, why: str
) -> None:
    with pytest.raises(InvalidSessionIdError, match=why):
        validate_session_id(sid)
    with pytest.raises(InvalidSessionIdError, match=why):
        store.append(sid, {"kind": "header"})
    with pytest.raises(InvalidSessionIdError):
        store.open_for_writing(sid)


def test_the_longest_id_works(store: FileSessionStore) -> None:
    sid = "z" * 128
    store.append(sid, rec(1))
    assert store.load(sid) == [rec(1)]
    assert store.list() == [sid]


def test_a_store_dropped_without_close_lets_go(tmp_path: Path) -> None:
    first = FileSessionStore(tmp_path / "s")
    first.open_for_writing("g")
    del first
    gc.collect()
    second = FileSessionStore(tmp_path / "s")
    second.open_for_writing("g")  # no SessionLockedError: the lock went with the store
    second.close("g")
    assert list((tmp_path / "s").iterdir()) == []


@pytest.mark.parametrize(
    ("header", "id_key"),
    [
        ({"kind": "header", "id": "old"}, "id"),
        ({"type": "session_created", "session_id": "old"}, "session_id"),
    ],
)
def test_rename_updates_the_header_of_either_format(
    store: FileSessionStore, header: dict[str, Any], id_key: str
) -> None:
    store.append("old", header)
    store.rename("old", "new")
    assert (store.load("new") or [{}])[0][id_key] == "new"
    assert not store.exists("old")
