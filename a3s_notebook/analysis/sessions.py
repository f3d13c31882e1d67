"""Read a folder of session JSONL files into pandas frames, for analysis across sessions."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a3s_notebook.analysis.costs import (
    RECORD_FIELDS,
    _gc_paused,
    frame_from_columns,
    get_record_fields,
)

__all__ = ["SessionFrames", "load_sessions"]

_loads: Callable[[bytes], Any]
try:  # orjson parses JSONL several times faster; json is the fallback
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency, but stay importable
    _loads = json.loads


@dataclass
class SessionFrames:
    """What :func:`load_sessions` returns: one DataFrame per kind of record.

    - ``sessions``: one row per file (id, name, model, state, created, messages, ...)
    - ``calls``: one row per LLM call (the cost ledger, same columns as ``session.costs()``)
    - ``messages``: one row per message (role, text, tool calls and results)
    - ``tool_calls``: one row per finished tool call (name, exit code, duration, arguments)
    - ``confirmations``: one row per approval request and its outcome (the audit trail)
    - ``skipped_lines``: how many lines could not be read (torn writes), per file
    """

    sessions: pd.DataFrame
    calls: pd.DataFrame
    messages: pd.DataFrame
    tool_calls: pd.DataFrame
    confirmations: pd.DataFrame
    skipped_lines: dict[str, int]

    def __repr__(self) -> str:
        return (
            f"SessionFrames(sessions={len(self.sessions)}, calls={len(self.calls)}, "
            f"messages={len(self.messages)}, tool_calls={len(self.tool_calls)}, "
            f"confirmations={len(self.confirmations)})"
        )


def _text_of(message: dict[str, Any]) -> tuple[str, int, int]:
    text, calls, results = [], 0, 0
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind == "tool_use":
            calls += 1
        elif kind == "tool_result":
            results += 1
    return "".join(text), calls, results


_USAGE_PREFIX = b'{"kind":"usage"'


def _parse(raw: bytes, path: Path, skipped: dict[str, int]) -> dict[str, Any] | None:
    try:
        rec = _loads(raw)
    except ValueError:
        skipped[path.name] = skipped.get(path.name, 0) + 1
        return None
    return rec if isinstance(rec, dict) else None


def load_sessions(folder: str | Path = ".a3s/sessions") -> SessionFrames:
    """Read every ``*.jsonl`` session file in ``folder``.

    Lines that do not parse (a torn last line after a crash) are skipped and counted in
    ``skipped_lines``, with one warning for the whole folder; every other record is kept.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"no session folder at {root}: pass the folder that holds the .jsonl files "
            "(by default .a3s/sessions next to your notebook)"
        )
    skipped: dict[str, int] = {}
    sessions: list[dict[str, Any]] = []
    # ledger rows are kept as field tuples, never as dicts: a million dicts cost gigabytes
    usage: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    tools: list[tuple[Any, ...]] = []
    confirmations: dict[tuple[str, str], dict[str, Any]] = {}
    with _gc_paused():  # millions of short-lived containers: the cyclic GC only slows this
        for path in sorted(root.glob("*.jsonl")):
            _read_file(path, skipped, sessions, usage, messages, tools, confirmations)
    if skipped:
        total = sum(skipped.values())
        warnings.warn(
            f"{root}: skipped {total} unreadable line(s) in {len(skipped)} file(s) (torn "
            "writes); every other record was kept. See .skipped_lines for the files.",
            UserWarning,
            stacklevel=2,
        )
    return SessionFrames(
        sessions=_sessions_frame(sessions),
        calls=_calls_frame(usage),
        messages=_frame(
            messages,
            {
                "session_id": "string",
                "index": "Int64",
                "role": "string",
                "timestamp": "ts",
                "text": "string",
                "tool_calls": "Int64",
                "tool_results": "Int64",
            },
        ),
        tool_calls=_frame(
            tools,
            {
                "session_id": "string",
                "tool_id": "string",
                "name": "string",
                "exit_code": "Int64",
                "duration_ms": "Float64",
                "timestamp": "ts",
                "args": "object",
            },
        ),
        confirmations=_confirmations_frame(list(confirmations.values())),
        skipped_lines=skipped,
    )


def _read_file(
    path: Path,
    skipped: dict[str, int],
    sessions: list[dict[str, Any]],
    usage: list[tuple[Any, ...]],
    messages: list[tuple[Any, ...]],
    tools: list[tuple[Any, ...]],
    confirmations: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Fold one session file into the collections."""
    sid = path.stem
    info: dict[str, Any] = {"session_id": sid, "name": None, "model": None, "state": "Active"}
    n_messages = 0
    loads, append, fields = _loads, usage.append, get_record_fields
    for raw in path.read_bytes().split(b"\n"):
        if raw.startswith(_USAGE_PREFIX):
            # the hot path: a ledger row; parse only its record, keep only its fields
            start = raw.find(b'"record":')
            try:
                row = loads(raw[start + 9 : -1]) if start > 0 else None
                values = fields(row)
            except (ValueError, TypeError, KeyError):
                row = _parse(raw, path, skipped)
                if row is None:
                    continue
                rec = row.get("record")
                if not isinstance(rec, dict):
                    continue
                values = tuple(rec.get(f) for f in RECORD_FIELDS)
            if values[0] is None:
                values = (sid, *values[1:])
            append(values)
            continue
        if not raw.strip():
            continue
        rec = _parse(raw, path, skipped)
        if rec is None:
            continue
        kind = rec.get("kind")
        ts = rec.get("ts")
        if kind == "message":
            msg = rec.get("message") or {}
            text, n_calls, n_results = _text_of(msg)
            messages.append((sid, n_messages, msg.get("role"), ts, text, n_calls, n_results))
            n_messages += 1
        elif kind == "event":
            _event(sid, rec.get("event") or {}, ts, tools, confirmations)
        elif kind == "header":
            config = rec.get("config") or {}
            info.update(
                name=config.get("name") or sid,
                model=rec.get("model"),
                created=rec.get("created_at"),
                workspace=config.get("workspace"),
                parent_id=config.get("parent_id"),
            )
            n_messages = 0
        elif kind == "state":
            info["state"] = rec.get("state")
        elif kind == "model":
            info["model"] = rec.get("model")
        if isinstance(ts, (int, float)):
            info["updated"] = ts
    info["messages"] = n_messages
    sessions.append(info)


def _event(
    sid: str,
    ev: dict[str, Any],
    ts: Any,
    tools: list[tuple[Any, ...]],
    confirmations: dict[tuple[str, str], dict[str, Any]],
) -> None:
    kind = ev.get("type")
    if kind == "tool_end":
        tools.append(
            (
                sid,
                ev.get("id"),
                ev.get("name"),
                ev.get("exit_code"),
                ev.get("duration_ms"),
                ts,
                ev.get("args"),
            )
        )
        return
    if kind not in ("confirmation_required", "confirmation_received", "confirmation_timeout"):
        return
    key = (sid, str(ev.get("tool_id")))
    if kind == "confirmation_required" and key in confirmations:
        # a tool id seen before (ids may repeat across turns): keep the old row, start anew
        confirmations[(sid, f"{key[1]}#{len(confirmations)}")] = confirmations.pop(key)
    row = confirmations.setdefault(
        key,
        {
            "session_id": sid,
            "tool_id": key[1],
            "tool_name": None,
            "args": None,
            "asked_because": None,
            "requested_at": None,
            "decision": "pending",
            "decided_by": None,
            "reason": None,
            "rule_added": None,
            "decided_at": None,
        },
    )
    if kind == "confirmation_required":
        row.update(
            tool_name=ev.get("tool_name"),
            args=ev.get("args"),
            asked_because=ev.get("reason"),
            requested_at=ts,
        )
    elif kind == "confirmation_received":
        row.update(
            decision="approved" if ev.get("approved") else "denied",
            decided_by=ev.get("decided_by"),
            reason=ev.get("reason"),
            rule_added=ev.get("rule_added"),
            decided_at=ts,
        )
    else:
        row.update(
            decision=f"timeout ({ev.get('action_taken')})", decided_by="timeout", decided_at=ts
        )


def _calls_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    columns: dict[str, Any]
    if not rows:
        columns = {f: () for f in RECORD_FIELDS}
    else:
        # a 2-D object array transposes a million rows in C; zip(*rows) is 5x slower
        table = np.empty((len(rows), len(RECORD_FIELDS)), dtype=object)
        try:
            table[:] = rows
            columns = {f: table[:, i] for i, f in enumerate(RECORD_FIELDS)}
        except ValueError:  # a row numpy would not take as flat: the plain way
            columns = dict(zip(RECORD_FIELDS, zip(*rows, strict=True), strict=True))
    rows.clear()  # the tuples are no longer needed once the columns exist
    return frame_from_columns(columns)


def _to_ts(values: list[Any]) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="Float64"), unit="s", utc=True)


def _frame(rows: list[tuple[Any, ...]], columns: dict[str, str]) -> pd.DataFrame:
    names = list(columns)
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    data: dict[str, Any] = {}
    for name, values in zip(names, cols, strict=True):
        dtype = columns[name]
        if dtype == "ts":
            data[name] = _to_ts(list(values)).array
        elif dtype == "object":
            data[name] = pd.Series(list(values), dtype=object).array
        else:
            data[name] = pd.array(list(values), dtype=dtype)
    return pd.DataFrame(data, columns=names)


def _sessions_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = [
        "session_id",
        "name",
        "model",
        "state",
        "created",
        "updated",
        "messages",
        "workspace",
        "parent_id",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    for c in ("session_id", "name", "model", "state", "workspace", "parent_id"):
        frame[c] = frame[c].astype("string")
    for c in ("created", "updated"):
        frame[c] = _to_ts(list(frame[c])).array
    frame["messages"] = frame["messages"].astype("Int64")
    return frame


def _confirmations_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = [
        "session_id",
        "tool_id",
        "tool_name",
        "args",
        "asked_because",
        "requested_at",
        "decision",
        "decided_by",
        "reason",
        "rule_added",
        "decided_at",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    for c in cols:
        if c in ("args",):
            continue
        if c in ("requested_at", "decided_at"):
            frame[c] = _to_ts(list(frame[c])).array
        else:
            frame[c] = frame[c].astype("string")
    return frame
