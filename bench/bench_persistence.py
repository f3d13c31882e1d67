"""Benchmark 2: persistence in the JSONL store.

* the time to append one message (``session._add_message``: the in-memory update and
  one line appended to the session's file) with 100 and with 10,000 messages of
  history: the store is append-only, so the two should match;
* the time to restore a 10,000-message session from its file;
* bytes on disk per message.

The messages cycle through what a real run writes: a user prompt, an assistant answer
with a tool call, and a tool result, with a few hundred characters of text each.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import WORK_DIR, Row, emit, median_time, parse_args, row

from a3s_notebook.engine import SessionConfig, SessionManager
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.llm.types import Message, TextBlock, ToolResultBlock, ToolUseBlock

BENCH = "2 persistence"
RATIO_LIMIT = 1.25
"""Append time at the large history over the small one: "about 1" up to this."""

_SENTENCE = "the session engine appends one json line per record and never rewrites"
_WORDS = _SENTENCE.split()


def _text(i: int, words: int) -> str:
    return " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(words))


def make_message(i: int) -> Message:
    """The i-th message of a plausible conversation (a few hundred characters of text)."""
    kind = i % 3
    if kind == 0:
        return Message.user(f"Question {i}: " + _text(i, 30))
    if kind == 1:
        return Message(
            role="assistant",
            content=[
                TextBlock(text=_text(i, 40)),
                ToolUseBlock(id=f"call_{i}", name="grep", input={"pattern": f"needle{i}"}),
            ],
        )
    return Message(
        role="user",
        content=[ToolResultBlock(tool_use_id=f"call_{i - 1}", content=_text(i, 60))],
    )


def fill(session: object, count: int) -> None:
    """Give ``session`` a history of ``count`` messages."""
    for i in range(count):
        session._add_message(make_message(i))  # type: ignore[attr-defined]


def timed_append(session: object, i: int) -> float:
    """Seconds to append message number ``i`` (built outside the timed part)."""
    message = make_message(i)
    t0 = time.perf_counter()
    session._add_message(message)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def main() -> None:
    """Measure and print the rows."""
    args = parse_args(__doc__ or "")
    small, large = (100, 2_000) if args.quick else (100, 10_000)
    sample = 200 if args.quick else 500
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="persist-", dir=WORK_DIR))
    try:
        manager = SessionManager(folder)
        workspace = str(folder / "ws")
        short = manager.create_session(SessionConfig(workspace=workspace), llm=ScriptedClient())
        long = manager.create_session(SessionConfig(workspace=workspace), llm=ScriptedClient())
        fill(short, small)
        fill(long, large)
        # alternate the timed appends between the two sessions, so that both samples see
        # the same warm caches, CPU state and disk; the short one grows a little meanwhile
        at_small_all, at_large_all = [], []
        for k in range(sample):
            at_small_all.append(timed_append(short, small + k))
            at_large_all.append(timed_append(long, large + k))
        at_small, at_large = statistics.median(at_small_all), statistics.median(at_large_all)
        # bytes and restore on a session of exactly `large` messages: a copy of the long
        # session's file without the sample's lines
        path = folder / f"{long.id}.jsonl"
        lines = path.read_bytes().splitlines(keepends=True)
        kept = lines[: len(lines) - sample]
        restore_dir = folder / "restore"
        restore_dir.mkdir()
        (restore_dir / path.name).write_bytes(b"".join(kept))
        size = sum(len(line) for line in kept[1:])  # the header is per session, not per message

        def restore() -> None:
            # closed after each restore: a session file has one writer at a time, so the
            # next repeat could not open it while this manager holds it
            with SessionManager(restore_dir) as manager:
                restored = manager.restore_session(long.id)
                if len(restored.messages) != large:
                    raise RuntimeError(f"restored {len(restored.messages)} of {large} messages")

        restore_time = median_time(restore, 1 if args.quick else 3)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratio = at_large / at_small
    chars = statistics.mean(make_message(i).char_count() for i in range(300))
    rows: list[Row] = [
        row(
            BENCH,
            f"append one message, {small} messages of history",
            at_small * 1e3,
            "ms",
            note=f"median of {sample} appends (history {small} to {small + sample})",
        ),
        row(
            BENCH,
            f"append one message, {large:,} messages of history",
            at_large * 1e3,
            "ms",
            note=f"median of {sample} appends, alternating with the row above",
        ),
        row(
            BENCH,
            f"append time ratio, {large:,} / {small} messages of history",
            ratio,
            "x",
            target=f"about 1 (<= {RATIO_LIMIT:g})",
            met=ratio <= RATIO_LIMIT,
        ),
        row(
            BENCH,
            f"restore a {large:,}-message session",
            restore_time,
            "s",
            note="SessionManager(folder).restore_session(id): read, parse, validate",
        ),
        row(
            BENCH,
            "bytes on disk per message",
            size / large,
            "B",
            note=f"JSONL; messages of {chars:.0f} characters of text on average",
        ),
    ]
    emit(rows)


if __name__ == "__main__":
    sys.exit(main())
