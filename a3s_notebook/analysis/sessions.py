"""Read a folder of session logs into pandas frames, for analysis across sessions.

Every ``<id>.jsonl`` file in the folder is one session's event log: one JSON object per
line, an event of :mod:`a3s_notebook.engine.events` (its ``"type"``) plus its ``"ts"``
(unix time). Files written before the event log (format 1: ``{"kind": "header" | "message"
| "usage" | "state" | "model" | "config" | "event" | ...}`` records) give the same frames.

Each line is parsed whole (orjson; the standard library's parser for the rare line orjson
refuses, such as an escaped lone surrogate the store writes for undecodable tool output)
and dispatched on the *value* of its ``type`` (or ``kind``), whatever the order of its
keys. Lines are read as plain dicts (no pydantic per line) and the typed columns are built
once at the end.

What the frames hold, per kind of event:

- ``usage_recorded`` is one row of ``calls``. A ``history_replaced`` event never adds or
  removes calls: a fork's copy of its parent's ledger is the parent's calls (in the
  parent's file already), and a compaction or a clear keeps the ledger whole. A
  sub-agent's call that a parent's file repeats (``parent_id`` set, another
  ``session_id``) is not a row there: it is one in the sub-agent's own file.
- ``message_added`` is one row of ``messages``: the conversation as it happened, nothing
  dropped by a compaction or a clear. ``replaced`` says whether a later
  ``history_replaced`` (a compaction, a clear) replaced the history the message was added
  to, so ``messages[~messages.replaced]`` are the messages added since the last one (a
  compaction may carry a few of the replaced messages over, verbatim, into the new
  history). Messages that exist only inside a ``history_replaced`` (a compaction's
  summary, a fork's copy of its parent's history) are not rows.
- ``tool_end`` is one row of ``tool_calls``; ``confirmation_required`` starts a row of
  ``confirmations`` and ``confirmation_received`` / ``confirmation_timeout`` /
  ``confirmations_cancelled`` decide it.
- ``session_created`` (then ``config_changed``, ``model_changed``, ``state_changed``) make
  a session's row of ``sessions``.

``session_id`` is the file's session id (its name without ``.jsonl``) in every frame, so
the frames join on it, and a renamed or archived file's calls count under the name the
file has now (not under the ``session_id`` inside its records). In a format-1 file, the
messages are the history as it was last written (``replaced`` is False), and a fork's
file began with a copy of its parent's ledger: its records of another session id are the
parent's calls and are skipped, as a fork's ``history_replaced`` copy is.

A line that cannot be read (torn by a crash, not JSON, not UTF-8, not an object, nested
too deep) or a known event with malformed fields (say a ``record`` that is not an object,
or a token count that is a string) is skipped with a
:class:`~a3s_notebook.engine.store.SessionFileWarning` naming the file and the line (one
warning per file lists its lines; a ledger record with a value of the wrong type is found
when the columns are built, and gets a warning of its own). Events of a type this version
does not know are skipped silently (a newer writer).
A folder named ``x.jsonl``, a file that is not a regular file, an unreadable or an empty
file is skipped with a warning. Nothing on disk is ever changed.
"""

from __future__ import annotations

import json
import math
import stat
import warnings
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a3s_notebook.analysis.costs import RECORD_FIELDS, _gc_paused, frame_from_columns
from a3s_notebook.engine.store import SessionFileWarning

__all__ = ["SessionFrames", "load_sessions"]

_loads: Callable[[bytes], Any]
try:  # orjson parses JSONL several times faster; json is the fallback
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency, but stay importable
    _loads = json.loads

_REST_FIELDS = RECORD_FIELDS[1:]
"""A ledger record's fields after ``session_id`` (the row's first value is the file's id)."""
assert RECORD_FIELDS[0] == "session_id"

_MAX_LISTED = 5
"""Lines named one by one in a file's warning; the rest are counted."""


@dataclass
class SessionFrames:
    """What :func:`load_sessions` returns: one DataFrame per kind of record.

    ``session_id`` is the file's session id (its name without ``.jsonl``) in every frame,
    so the frames join on it.

    - ``sessions``: one row per session file: ``session_id``, ``name``, ``model``,
      ``state``, ``created``, ``updated`` (the latest event), ``messages`` (how many
      messages the history holds now, as a restore shows it: a compaction, a clear or a
      fork's copy sets it), ``workspace``, ``parent_id``.
    - ``calls``: one row per LLM call (the cost ledger, same columns as
      ``session.costs()``); a fork's copy of its parent's ledger is not counted again.
    - ``messages``: one row per message added (``index``, ``role``, ``timestamp``,
      ``text``, ``tool_calls``, ``tool_results``), in log order, and ``replaced``: a later
      compaction or clear replaced the history it was added to.
    - ``tool_calls``: one row per finished tool call (name, exit code, duration, arguments)
    - ``confirmations``: one row per approval request and its outcome (the audit trail):
      what was asked and why (``asked_because``), ``decision`` (``approved``, ``denied``,
      ``timeout (rejected)``, ``timeout (auto_approved)``, ``cancelled`` or ``pending``),
      ``decided_by``, ``reason``, ``rule_added``, ``requested_at``, ``decided_at``.
    - ``skipped_lines``: how many lines of each file could not be read (by file name)
    - ``skipped_files``: the files skipped as a whole, with why (a folder, empty, ...)
    """

    sessions: pd.DataFrame
    calls: pd.DataFrame
    messages: pd.DataFrame
    tool_calls: pd.DataFrame
    confirmations: pd.DataFrame
    skipped_lines: dict[str, int]
    skipped_files: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"SessionFrames(sessions={len(self.sessions)}, calls={len(self.calls)}, "
            f"messages={len(self.messages)}, tool_calls={len(self.tool_calls)}, "
            f"confirmations={len(self.confirmations)})"
        )


_SESSION_COLUMNS = {
    "session_id": "string",
    "name": "string",
    "model": "string",
    "state": "string",
    "created": "ts",
    "updated": "ts",
    "messages": "Int64",
    "workspace": "string",
    "parent_id": "string",
}
_MESSAGE_COLUMNS = {
    "session_id": "string",
    "index": "Int64",
    "role": "string",
    "timestamp": "ts",
    "text": "string",
    "tool_calls": "Int64",
    "tool_results": "Int64",
    "replaced": "boolean",
}
_TOOL_COLUMNS = {
    "session_id": "string",
    "tool_id": "string",
    "name": "string",
    "exit_code": "Int64",
    "duration_ms": "Float64",
    "timestamp": "ts",
    "args": "object",
}
_CONFIRMATION_COLUMNS = {
    "session_id": "string",
    "tool_id": "string",
    "tool_name": "string",
    "args": "object",
    "asked_because": "string",
    "requested_at": "ts",
    "decision": "string",
    "decided_by": "string",
    "reason": "string",
    "rule_added": "string",
    "decided_at": "ts",
}
_CONFIRMATION_FIELDS = tuple(_CONFIRMATION_COLUMNS)


# --- small checks (rare events only: the hot path reads dicts as they are) --------------


def _str(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _int(value: Any) -> int | None:
    if value is None or (type(value) is int and -(2**63) <= value < 2**63):
        return value
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _num(value: Any) -> float | None:
    if value is None or type(value) in (int, float):
        return float(value) if value is not None else None
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _dict(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _text_of(message: dict[str, Any]) -> tuple[str, int, int]:
    text: list[str] = []
    calls = results = 0
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            text.append(_str(block.get("text")) or "")
        elif kind == "tool_use":
            calls += 1
        elif kind == "tool_result":
            results += 1
    return "".join(text), calls, results


def _slow_loads(raw: bytes) -> tuple[Any, str | None]:
    """A line orjson refused: the standard library's reading of it, or why it has none."""
    try:
        return json.loads(raw.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 ({exc})"
    except RecursionError:
        return None, "nested too deep to read"
    except ValueError as exc:
        if not raw.strip():
            return None, ""  # a blank line: nothing to read, nothing lost
        return None, f"not JSON ({exc})"


# --- one file ----------------------------------------------------------------------------


class _Collector:
    """Rows of every file, as tuples; one instance per :func:`load_sessions` call."""

    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []
        # ledger rows as field tuples, never dicts: a million dicts cost gigabytes
        self.calls: list[tuple[Any, ...]] = []
        self.call_lines = array("q")  # where each ledger row came from, for warnings
        self.call_files = array("q")
        self.messages: list[tuple[Any, ...]] = []
        self.replaced: list[bool] = []
        self.tools: list[tuple[Any, ...]] = []
        self.confirmations: list[dict[str, Any]] = []
        self.files: list[Path] = []


class _File:
    """The state of one file while it is read: its session row and open confirmations."""

    def __init__(self, path: Path, out: _Collector) -> None:
        self.sid = path.stem
        self.out = out
        self.info: dict[str, Any] = {
            "session_id": self.sid,
            "name": None,
            "model": None,
            "state": "Active",
            "created": None,
            "updated": None,
            "messages": 0,
            "workspace": None,
            "parent_id": None,
        }
        self.history = 0  # messages in the history now
        self.first_message = len(out.messages)
        self.replaced_upto = len(out.messages)  # rows before this were replaced
        self.asked: dict[str, dict[str, Any]] = {}  # tool id -> its latest request's row
        self.legacy_id: str | None = None  # a format-1 fork's own id (its header's)

    def finish(self) -> None:
        out = self.out
        out.replaced += [True] * (self.replaced_upto - self.first_message)
        out.replaced += [False] * (len(out.messages) - self.replaced_upto)
        self.info["messages"] = self.history
        out.sessions.append(self.info)

    # --- events (everything but the ledger) ----------------------------------------------

    def message(self, message: Any, ts: float | None) -> None:
        msg = _dict(message)
        text, n_calls, n_results = _text_of(msg)
        role = _str(msg.get("role"))
        index = len(self.out.messages) - self.first_message
        self.out.messages.append((self.sid, index, role, ts, text, n_calls, n_results))
        self.history += 1

    def config(self, config: Any) -> None:
        config = _dict(config)
        values = {
            "name": _str(config.get("name")) or self.sid,
            "workspace": _str(config.get("workspace")),
            "parent_id": _str(config.get("parent_id")),
        }
        self.info.update(values)

    def event(self, kind: Any, ev: dict[str, Any], ts: float | None, line: int) -> None:
        """Any event but a ledger row (and a message, which the hot loop also reads)."""
        if kind == "message_added":
            self.message(ev["message"], ts)
        elif kind == "tool_end":
            self.out.tools.append(
                (
                    self.sid,
                    _str(ev.get("id")),
                    _str(ev.get("name")),
                    _int(ev.get("exit_code")),
                    _num(ev.get("duration_ms")),
                    ts,
                    ev.get("args"),
                )
            )
        elif kind in ("confirmation_received", "confirmation_timeout", "confirmation_required"):
            self.confirmation(kind, ev, ts)
        elif kind == "confirmations_cancelled":
            tool_ids = ev["tool_ids"]
            if type(tool_ids) is not list:
                raise TypeError("tool_ids is not a list")
            reason = _str(ev.get("reason"))
            for tool_id in tool_ids:
                row = self.asked.get(tool_id) if type(tool_id) is str else None
                if row is not None and row["decision"] == "pending":
                    row.update(decision="cancelled", decided_by="cancel", reason=reason)
                    row["decided_at"] = ts
        elif kind == "state_changed":
            self.info["state"] = _str(ev["state"])
        elif kind == "session_created":
            self.created(ev)
        elif kind == "history_replaced":
            # a compaction, a clear or a fork's copy: no call rows either way (see the
            # module's docstring); the history is the given one from here on
            messages = ev["messages"]
            if type(messages) is not list:
                raise TypeError("messages is not a list")
            self.history = len(messages)
            self.replaced_upto = len(self.out.messages)
        elif kind == "model_changed":
            self.info["model"] = _str(ev["model"])
        elif kind == "config_changed":
            self.config(ev["config"])
        elif kind == "usage_recorded":  # inside a format-1 "event" record (never written)
            self.usage(ev["record"], line)

    def created(self, ev: dict[str, Any]) -> None:
        created = _num(ev.get("created_at"))
        model = _str(ev.get("model"))
        self.config(ev.get("config") or {})
        self.info.update(created=created, model=model)

    def confirmation(self, kind: str, ev: dict[str, Any], ts: float | None) -> None:
        tool_id = _str(ev.get("tool_id")) or ""
        if kind == "confirmation_required":
            values = (
                _str(ev.get("tool_name")),
                ev.get("args"),
                _str(ev.get("reason")),
            )
            # a tool id seen before (ids may repeat across turns) starts a new row
            row = self._new_confirmation(tool_id)
            row.update(tool_name=values[0], args=values[1], asked_because=values[2])
            row["requested_at"] = ts
            return
        if kind == "confirmation_received":
            decided = {
                "decision": "approved" if ev.get("approved") is True else "denied",
                "decided_by": _str(ev.get("decided_by")),
                "reason": _str(ev.get("reason")),
                "rule_added": _str(ev.get("rule_added")),
            }
        else:
            action = _str(ev.get("action_taken"))
            decided = {"decision": f"timeout ({action})", "decided_by": "timeout"}
        # a decision whose request line is missing (torn, or an older file) gets a row too
        row = self.asked.get(tool_id) or self._new_confirmation(tool_id)
        row.update(decided)
        row["decided_at"] = ts

    def _new_confirmation(self, tool_id: str) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(_CONFIRMATION_FIELDS)
        row.update(session_id=self.sid, tool_id=tool_id, decision="pending")
        self.asked[tool_id] = row
        self.out.confirmations.append(row)
        return row

    def usage(self, record: Any, line: int) -> None:
        get = record.get  # AttributeError when the record is not an object
        out = self.out
        out.calls.append((self.sid, *map(get, _REST_FIELDS)))
        out.call_lines.append(line)
        out.call_files.append(len(out.files) - 1)

    # --- format 1 ----------------------------------------------------------------------

    def legacy(self, kind: Any, rec: dict[str, Any], ts: float | None, line: int) -> None:
        if kind == "usage":
            record = rec["record"]
            if self.legacy_id is not None:
                # a format-1 fork's file starts with its parent's ledger, copied: those
                # calls are the parent's (in the parent's file already)
                owner = record.get("session_id")
                if owner is not None and owner != self.legacy_id:
                    return
            self.usage(record, line)
        elif kind == "message":
            self.message(rec["message"], ts)
        elif kind == "event":
            ev = _dict(rec["event"])
            self.event(ev.get("type"), ev, ts, line)
        elif kind == "header":
            config = rec.get("config")
            fork = isinstance(config, dict) and config.get("parent_id") is not None
            own_id = _str(rec.get("id")) or self.sid
            self.created(rec)
            if fork:
                self.legacy_id = own_id
        elif kind == "state":
            self.info["state"] = _str(rec["state"])
        elif kind == "model":
            self.info["model"] = _str(rec["model"])
        elif kind == "config":
            self.config(rec["config"])


def _read_file(path: Path, data: bytes, out: _Collector) -> list[tuple[int, str]]:
    """Fold one file's lines into ``out``; returns the lines skipped (number, why)."""
    out.files.append(path)
    f = _File(path, out)
    sid, loads, rest = f.sid, _loads, _REST_FIELDS
    file_index = len(out.files) - 1
    add_call, add_line, add_file = out.calls.append, out.call_lines.append, out.call_files.append
    bad: list[tuple[int, str]] = []
    records = 0
    latest: float | None = None
    lines = data.split(b"\n")
    torn = not data.endswith(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw:
            continue
        try:
            rec = loads(raw)
        except ValueError:
            rec, problem = _slow_loads(raw)
            if problem is not None:
                if problem:
                    if torn and number == len(lines):
                        problem = f"a torn last line (an interrupted write): {problem}"
                    bad.append((number, problem))
                continue
        if type(rec) is not dict:
            bad.append((number, f"a line must be a JSON object, got {_json_kind(rec)}"))
            continue
        records += 1
        ts = rec.get("ts")
        if type(ts) is not float:
            ts = float(ts) if type(ts) is int else None
        if ts is not None and (latest is None or ts > latest) and math.isfinite(ts):
            latest = ts
        kind = rec.get("type")
        try:
            if kind == "usage_recorded":  # the ledger: most lines of a big folder
                get = rec["record"].get  # AttributeError when the record is not an object
                if get("parent_id") is not None and get("session_id") != sid:
                    continue  # a sub-agent's call rolled up here: counted in its own file
                add_call((sid, *map(get, rest)))
                add_line(number)
                add_file(file_index)
            elif kind == "message_added":
                f.message(rec["message"], ts)
            elif kind is None:
                f.legacy(rec.get("kind"), rec, ts, number)
            else:
                f.event(kind, rec, ts, number)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            name = kind if kind is not None else rec.get("kind")
            bad.append((number, f"a malformed {name!r} line ({type(exc).__name__}: {exc})"))
    if records:  # a file of nothing but unreadable lines is no session
        f.info["updated"] = latest
        f.finish()
    return bad


# --- the folder --------------------------------------------------------------------------


def _file_problem(path: Path) -> tuple[bytes | None, str | None]:
    """The file's bytes, or why it is skipped as a whole."""
    try:
        info = path.stat()
    except OSError as exc:
        return None, f"it cannot be read ({exc})"
    if stat.S_ISDIR(info.st_mode):
        return None, "it is a folder, not a session file"
    if not stat.S_ISREG(info.st_mode):
        return None, "it is not a regular file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"it cannot be read ({exc})"
    if not data.strip():
        return None, "the file is empty"
    return data, None


def _describe(bad: list[tuple[int, str]]) -> str:
    listed = "; ".join(f"line {n}: {why}" for n, why in bad[:_MAX_LISTED])
    more = len(bad) - _MAX_LISTED
    return listed + (f"; and {more} more line(s)" if more > 0 else "")


def load_sessions(folder: str | Path = ".a3s/sessions") -> SessionFrames:
    """Read every ``*.jsonl`` session log in ``folder`` into frames (see
    :class:`SessionFrames`; the module's docstring says what each event becomes).

    A line that cannot be read is skipped with a
    :class:`~a3s_notebook.engine.store.SessionFileWarning` naming the file and the line
    (one warning per file) and counted in ``skipped_lines``; every other line is kept.
    Nothing on disk is changed.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"no session folder at {root}: pass the folder that holds the .jsonl files "
            "(by default .a3s/sessions next to your notebook)"
        )
    out = _Collector()
    skipped: dict[str, int] = {}
    skipped_files: dict[str, str] = {}
    with _gc_paused():  # millions of short-lived containers: the cyclic GC only slows this
        for path in sorted(root.glob("*.jsonl")):
            data, why = _file_problem(path)
            if data is None:
                skipped_files[path.name] = why or "unreadable"
                warnings.warn(f"{path}: skipped: {why}", SessionFileWarning, stacklevel=2)
                continue
            bad = _read_file(path, data, out)
            if bad:
                skipped[path.name] = len(bad)
                warnings.warn(
                    f"{path}: skipped {len(bad)} line(s) that could not be read "
                    f"({_describe(bad)}). Every other line was kept.",
                    SessionFileWarning,
                    stacklevel=2,
                )
        calls, bad_calls = _calls_frame(out)
    for name, line, problem in bad_calls:
        skipped[name] = skipped.get(name, 0) + 1
        warnings.warn(
            f"{root / name}: skipped line {line}: a malformed 'usage_recorded' record "
            f"({problem}). Every other line was kept.",
            SessionFileWarning,
            stacklevel=2,
        )
    messages = _frame(out.messages, _MESSAGE_COLUMNS, extra={"replaced": out.replaced})
    return SessionFrames(
        sessions=_frame(
            [tuple(s[c] for c in _SESSION_COLUMNS) for s in out.sessions], _SESSION_COLUMNS
        ),
        calls=calls,
        messages=messages,
        tool_calls=_frame(out.tools, _TOOL_COLUMNS),
        confirmations=_frame(
            [tuple(r[c] for c in _CONFIRMATION_FIELDS) for r in out.confirmations],
            _CONFIRMATION_COLUMNS,
        ),
        skipped_lines=skipped,
        skipped_files=skipped_files,
    )


# --- typed frames ------------------------------------------------------------------------


def _ledger_columns(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    if not rows:
        return {f: () for f in RECORD_FIELDS}
    # a 2-D object array transposes a million rows in C; zip(*rows) is 5x slower
    table = np.empty((len(rows), len(RECORD_FIELDS)), dtype=object)
    try:
        table[:] = rows
    except ValueError:  # a row numpy would not take as flat: the plain way
        return dict(zip(RECORD_FIELDS, zip(*rows, strict=True), strict=True))
    return {f: table[:, i] for i, f in enumerate(RECORD_FIELDS)}


def _calls_frame(out: _Collector) -> tuple[pd.DataFrame, list[tuple[str, int, str]]]:
    """The ledger frame, and the rows left out as malformed (file name, line, why).

    The frame is built from all rows at once; only when that fails (a value of the wrong
    type somewhere) is every row checked, and the bad ones left out.
    """
    columns = _ledger_columns(out.calls)
    out.calls.clear()  # the tuples are no longer needed once the columns exist
    try:
        return frame_from_columns(columns), []
    except (TypeError, ValueError, AttributeError, OverflowError):
        pass
    good: list[tuple[Any, ...]] = []
    bad: list[tuple[str, int, str]] = []
    rows = zip(*(columns[f] for f in RECORD_FIELDS), strict=True)
    for row, line, file_index in zip(rows, out.call_lines, out.call_files, strict=True):
        problem = _record_problem(row)
        if problem is None:
            good.append(tuple(row))
        else:
            bad.append((out.files[file_index].name, line, problem))
    return frame_from_columns(_ledger_columns(good)), bad


_RECORD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "session_id": _str,
    "turn": _int,
    "model": _str,
    "provider": _str,
    "purpose": _str,
    **dict.fromkeys(
        (
            "prompt_tokens",
            "completion_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "total_tokens",
        ),
        _int,
    ),
    **dict.fromkeys(("cost_usd", "latency_ms", "ttft_ms"), _num),
}


def _record_problem(row: Sequence[Any]) -> str | None:
    """Why a ledger row cannot be a row of the calls frame, or None."""
    for name, value in zip(RECORD_FIELDS, row, strict=True):
        try:
            check = _RECORD_CHECKS.get(name)
            if check is not None:
                check(value)
            elif name == "timestamp" and value is not None:
                _str(value)  # a string, then one pandas reads
                pd.to_datetime([value], utc=True, format="ISO8601").as_unit("ns")
            elif name == "tool_names" and value is not None and type(value) is not list:
                raise TypeError(f"expected a list, got {type(value).__name__}")
            elif name == "estimated" and value is not None and type(value) is not bool:
                raise TypeError(f"expected true or false, got {type(value).__name__}")
            elif name == "provenance" and value is not None:
                _str(_dict(value).get("cell_id"))
                _int(value.get("execution_count"))
        except (TypeError, ValueError, OverflowError) as exc:
            return f"{name}: {exc}"
    return None


def _to_ts(values: Sequence[Any]) -> Any:
    """Unix seconds as a ``datetime64[ns, UTC]`` array; missing or absurd times are NaT."""
    seconds = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    seconds[~(np.abs(seconds) < 9.2e9)] = np.nan  # beyond the ns range (year 2262) or NaN
    stamps = pd.to_datetime(pd.Series(seconds, dtype="float64"), unit="s", utc=True)
    return stamps.dt.as_unit("ns").array


def _frame(
    rows: list[tuple[Any, ...]],
    columns: dict[str, str],
    *,
    extra: dict[str, list[Any]] | None = None,
) -> pd.DataFrame:
    """A typed frame from row tuples (``extra`` gives whole columns kept apart)."""
    extra = extra or {}
    names = [n for n in columns if n not in extra]
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    given: dict[str, Sequence[Any]] = dict(zip(names, cols, strict=True))
    given.update(extra)
    data: dict[str, Any] = {}
    for name, dtype in columns.items():
        values = list(given[name])
        if dtype == "ts":
            data[name] = _to_ts(values)
        elif dtype == "object":
            data[name] = pd.Series(values, dtype=object).array
        else:
            data[name] = pd.array(values, dtype=dtype)  # type: ignore[call-overload]
    return pd.DataFrame(data, columns=list(columns))
