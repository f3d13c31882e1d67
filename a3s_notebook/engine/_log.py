"""Reading a session's event log: one JSON object per line, an event plus its ``ts``.

Every line is read through the one ``TypeAdapter`` of the event union
(:func:`a3s_notebook.engine.events.parse_event`), whatever the order of its keys. A line of
an event type this version does not know is skipped silently (a newer writer); a line that
does not validate is skipped with a warning naming the log and the record. Files written
before the event log (format 1: ``{"kind": "header" | "message" | "usage" | ...}`` records)
are read by turning each record into the event that now carries the same fact.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from pydantic import ValidationError

from a3s_notebook.engine.events import (
    AgentEvent,
    ConfigChanged,
    ContextUsageUpdated,
    MessageAdded,
    ModelChanged,
    SessionCreated,
    StateChanged,
    TaskUpdated,
    UsageRecorded,
    parse_event,
)
from a3s_notebook.engine.store import SessionFileWarning

__all__ = ["LogEntry", "read_log"]

logger = logging.getLogger(__name__)

LogEntry = tuple[float | None, AgentEvent]
"""One line of a log: its time (None when the line has none) and its event."""


def _legacy(record: dict[str, Any]) -> AgentEvent | None:
    """The event that carries a format-1 record's fact (None for one that carries none)."""
    kind = record.get("kind")
    if kind == "header":
        return SessionCreated(
            session_id=str(record.get("id", "")),
            format=int(record.get("format", 1)),
            created_at=float(record.get("created_at") or 0.0),
            model=str(record.get("model") or ""),
            llm_config=record.get("llm_config"),
            config=record.get("config") or {},
        )
    if kind == "message":
        return MessageAdded.model_validate({"message": record["message"]})
    if kind == "usage":
        return UsageRecorded.model_validate({"record": record["record"]})
    if kind == "state":
        return StateChanged(state=str(record["state"]))
    if kind == "tasks":
        return TaskUpdated.model_validate({"session_id": "", "tasks": record["tasks"]})
    if kind == "context":
        cu = record["context_usage"]
        return ContextUsageUpdated(
            used_tokens=int(cu.get("used_tokens", 0)),
            max_tokens=int(cu.get("max_tokens", 0)),
            percent=float(cu.get("percent", 0.0)),
            turns=int(cu.get("turns", 0)),
        )
    if kind == "config":
        return ConfigChanged(config=record["config"])
    if kind == "model":
        return ModelChanged(model=str(record["model"]), llm_config=record.get("llm_config"))
    if kind == "event":
        return parse_event(record["event"])
    return None


def _problem(exc: Exception) -> str:
    """What is wrong with a record, in one short line: for a validation error, the first
    field and what is wrong with it (pydantic's own first line only names the union)."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False)
        if errors:
            where = ".".join(str(part) for part in errors[0]["loc"]) or "(record)"
            more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            return f"{where}: {errors[0]['msg']}{more}"
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__


def read_log(records: list[dict[str, Any]], *, source: str) -> list[LogEntry]:
    """The events of a log's records, in order, each with its time.

    ``source`` names the log in warnings (``session abc``, a file path).
    """
    out: list[LogEntry] = []
    for index, record in enumerate(records, 1):
        if not isinstance(record, dict):
            continue
        try:
            event = parse_event(record) if "type" in record else _legacy(record)
        except Exception as exc:
            # one bad record costs that record only, never the session
            warnings.warn(
                f"{source}: record {index} skipped ({record.get('type') or record.get('kind')}): "
                f"{_problem(exc)}",
                SessionFileWarning,
                stacklevel=2,
            )
            continue
        if event is None:
            continue
        ts = record.get("ts")
        out.append((float(ts) if isinstance(ts, (int, float)) else None, event))
    return out
