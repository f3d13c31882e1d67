"""EventStream: the run as it happens.

Durable state is the list of committed rows. While a run goes on, each boundary (a tool
starts, a turn ends, ...) sends only what changed: one "rows" message with the rows
appended, inserted or replaced, numbered by a revision ``rev`` so a view notices a gap.
The traits ``rows`` and ``archive`` (with ``rows_rev``) hold every row too, for a page
reload without a kernel (saved widget state), but they are set only when no run is going
on: at the run's end, on detach, for an event outside a run. So the cost and the bytes of
an event do not grow with the run. A view that renders says "hello" and gets a
"snapshot": the live text and, when the traits are behind, every row.

Streamed text travels as coalesced "delta" messages that carry only new text; at a
boundary the pending text is flushed and committed as a row with the id the deltas used,
so the front end swaps its live text for the row without a flicker.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from a3s_notebook._markdown import safe_markdown
from a3s_notebook.engine.events import MessageAdded
from a3s_notebook.widgets._base import SessionWidget, now_ms
from a3s_notebook.widgets._coalesce import DeltaCoalescer, Part
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._status import IDLE, STATUS_EVENTS
from a3s_notebook.widgets._text import args_summary, clip, duration, md_escape, num, pct

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session
    from a3s_notebook.llm.types import Message

__all__ = ["EventStream", "clip_value", "rows_from_messages"]

ARCHIVE_CHUNK = 100
"""``rows`` holds between this many and twice this many rows; older ones move to
``archive`` in chunks, so a sync outside a run re-sends a short list, not the whole
transcript."""

OUTPUT_HEAD = 8_000
OUTPUT_TAIL = 12_000
"""A tool output longer than head + tail is cut in the middle for display (the end of an
output, where errors are, matters most)."""

_ROW_OPS = "<row ops>"
"""The name under which row changes wait for the next throttled send (not a trait)."""

ARG_STRING_MAX = 4_000
"""Longer string arguments (a file's content) are cut in the rows."""

# events that end the text being streamed: it is committed as a row before they are shown
_BOUNDARIES = frozenset(
    {
        "agent_start",
        "turn_start",
        "turn_end",
        "agent_end",
        "tool_start",
        "tool_end",
        "error",
        "permission_denied",
        "confirmation_required",
        "confirmation_received",
        "confirmation_timeout",
        "context_compacted",
        "budget_exceeded",
        "security",
        "hook_decision",
        "subagent_start",
        "subagent_progress",
        "subagent_end",
        "memory_stored",
        "memory_recalled",
        "context_resolving",
        "context_resolved",
    }
)
# planning and goal tracking: note rows
_BOUNDARIES |= frozenset(
    {"planning_end", "step_start", "step_end", "goal_extracted", "goal_progress", "goal_achieved"}
)
# the queue's notices (engine/lanes.py): note rows with topic "queue"
_BOUNDARIES = _BOUNDARIES | {
    "external_task_pending",
    "external_task_completed",
    "command_retry",
    "command_dead_lettered",
    "queue_alert",
}

_EVENTS = (
    _BOUNDARIES
    | STATUS_EVENTS
    | {
        "text_delta",
        "reasoning_delta",
        "tool_output_delta",
        "message_added",
    }
)
"""What ``_handle_event`` reacts to (the usage and context events are the others' job)."""

_HANDLERS = {t: f"_on_{t}" for t in _BOUNDARIES}
"""The method that makes a boundary's row, if the stream has one."""


def clip_output(text: str) -> tuple[str, bool]:
    """Cut a long output in the middle; returns (text, truncated)."""
    if len(text) <= OUTPUT_HEAD + OUTPUT_TAIL:
        return text, False
    cut = len(text) - OUTPUT_HEAD - OUTPUT_TAIL
    return (
        f"{text[:OUTPUT_HEAD]}\n… ({cut:,} characters not shown) …\n{text[-OUTPUT_TAIL:]}",
        True,
    )


def clip_value(value: Any, limit: int = ARG_STRING_MAX) -> Any:
    """A copy of a JSON value with long strings cut (arguments can hold whole files)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[:limit]}… ({len(value) - limit:,} more characters)"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            # numbers and short strings (most arguments) as they are, without a call
            if isinstance(v, (dict, list, tuple)) or (isinstance(v, str) and len(v) > limit):
                v = clip_value(v, limit)
            out[str(k)] = v
        return out
    if isinstance(value, (list, tuple)):
        return [clip_value(v, limit) for v in value]
    return value


def rows_from_messages(messages: list[Message], first_id: int = 0) -> list[dict[str, Any]]:
    """Rows for a conversation that happened before the widget was attached."""
    rows: list[dict[str, Any]] = []
    tools: dict[str, int] = {}
    n = first_id
    for m in messages:
        if m.role == "user":
            for r in m.tool_results():
                i = tools.get(r.tool_use_id)
                if i is None:
                    continue
                output, truncated = clip_output(r.content)
                rows[i] = {
                    **rows[i],
                    "output": output,
                    "output_truncated": truncated,
                    "exit_code": 1 if r.is_error else 0,
                    "status": "error" if r.is_error else "ok",
                }
            text = m.text()
            if text:
                rows.append({"id": f"r{n}", "kind": "user", "text": text})
                n += 1
        else:
            text = m.text()
            if text or m.reasoning_content:
                row: dict[str, Any] = {"id": f"r{n}", "kind": "assistant", "text": text}
                if m.reasoning_content:
                    row["reasoning"] = m.reasoning_content
                rows.append(row)
                n += 1
            for call in m.tool_calls():
                tools[call.id] = len(rows)
                rows.append(
                    {
                        "id": f"r{n}",
                        "kind": "tool",
                        "tool_id": call.id,
                        "name": call.name,
                        "args": clip_value(call.args),
                        "status": "running",
                    }
                )
                n += 1
    return rows


class EventStream(SessionWidget):
    """The run as it happens: streamed Markdown text, tool calls, denials, errors,
    compactions and confirmation outcomes.

    ``EventStream(session)`` shows the session's conversation so far and follows its
    events. Text deltas reach the front end coalesced (at most about 20 messages a
    second, each with only new text); everything committed lives in synced traits, so a
    re-rendered view shows it all. Long runs stay responsive: a view renders the last
    ``page_size`` rows and offers "show earlier", and during a run each boundary sends
    only the rows it changed (a "rows" message), never the transcript.
    """

    _esm = asset("event_stream")
    _events: ClassVar[frozenset[str] | None] = _EVENTS

    # lists of row dicts; the element type is not declared, because traitlets would
    # validate every row of the list at each assignment (a millisecond per 200 rows)
    rows: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    """The most recent committed rows (dicts)."""
    archive: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    """Older committed rows (moved here in chunks of ``ARCHIVE_CHUNK``)."""
    rows_rev = traitlets.Int(0).tag(sync=True)
    """The revision of the rows ``archive`` + ``rows`` hold (see the "rows" messages)."""
    status = traitlets.Dict(IDLE).tag(sync=True)
    """What the agent is doing: ``{"phase", "detail", "turn"}``."""
    page_size = traitlets.Int(100).tag(sync=True)
    """Rows a view renders at first; "show earlier" adds as many again."""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self._all: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._archived = 0
        self._archive_dirty = False
        self._rev = 0
        self._ops: list[dict[str, Any]] = []
        self._unsent: list[dict[str, Any]] = []
        self._tool_rows: dict[str, str] = {}
        self._asked: dict[str, str] = {}
        self._next = 0
        self._seq = 0
        self._seg: str | None = None
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._outputs: dict[str, list[str]] = {}
        self._turn_text = False
        self._turn_start = 0
        self._last_message: Message | None = None
        self._resolving_context = False  # memory_recalled rows wait for context_resolved
        self._recall_row: str | None = None
        self._turns = 0
        self._coalescer = DeltaCoalescer(self._send_parts)
        super().__init__(session, **kwargs)

    # --- rows ----------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next += 1
        return f"r{self._next}"

    def _append(self, row: dict[str, Any]) -> str:
        row_id = row.get("id")
        if row_id is None:
            row_id = row["id"] = self._new_id()
        if "ts" not in row:
            row["ts"] = self._now()
        self._index[row_id] = len(self._all)
        self._all.append(row)
        self._ops.append({"op": "append", "row": row})
        return str(row_id)

    def _insert(self, pos: int, row: dict[str, Any]) -> str:
        """Put a row before position ``pos`` (a turn's text that arrived after its tools)."""
        if pos >= len(self._all):
            return self._append(row)
        row.setdefault("id", self._new_id())
        row.setdefault("ts", self._now())
        self._ops.append({"op": "insert", "before": self._all[pos]["id"], "row": row})
        self._all.insert(pos, row)
        for i in range(pos, len(self._all)):
            self._index[self._all[i]["id"]] = i
        if pos < self._archived:
            self._archived += 1
            self._archive_dirty = True
        return str(row["id"])

    def _note(
        self,
        topic: str,
        title: str,
        detail: str | None = None,
        *,
        tone: str = "info",
        items: list[str] | None = None,
    ) -> str:
        """Append a ``note`` row: a subsystem's notice (memory, plan, goal, sub-agent...).

        The front end renders every note the same way, so a new subsystem needs a handler
        here and nothing in ``js/``.
        """
        row: dict[str, Any] = {"kind": "note", "topic": topic, "title": title, "tone": tone}
        if detail:
            row["detail"] = detail
        if items:
            row["items"] = [clip(str(item), 500) for item in items[:50]]
        return self._append(row)

    def _update(self, row_id: str, **changes: Any) -> bool:
        """Replace a row by an updated copy (traits compare by value: never mutate)."""
        i = self._index.get(row_id)
        if i is None:
            return False
        old = self._all[i]
        new = {**old, **changes, "v": int(old.get("v", 0)) + 1}
        self._all[i] = new
        self._ops.append({"op": "update", "row": new})
        if i < self._archived:
            self._archive_dirty = True
        return True

    def _sync_rows(self) -> None:
        """Tell the views what the last boundary changed: a "rows" message during a run,
        the traits outside one (they then carry the new revision)."""
        if self._replay_ms is not None:
            self._ops.clear()
            return  # a replay syncs once, at its end
        if not self._ops:
            return
        if self._in_run:
            # at most ~20 "rows" messages a second, with the status (see _set_soon);
            # rows already waiting mean the send that takes them is already due
            due = bool(self._unsent)
            self._unsent.extend(self._ops)
            self._ops = []
            if not due:
                self._soon.put(_ROW_OPS, True)
        else:
            self._soon.flush()  # what a run left queued goes first, in order
            self._rev += 1
            self._sync_traits()

    def _apply_soon(self, values: dict[str, Any]) -> None:
        if values.pop(_ROW_OPS, None):
            ops, self._unsent = self._unsent, []
            try:
                self._coalescer.flush()  # a segment's last text before the row that ends it
            finally:
                if ops:
                    self._rev += 1
                    self.send({"kind": "rows", "rev": self._rev, "ops": ops})
        super()._apply_soon(values)

    def _sync_traits(self) -> None:
        """Put every row into the traits (O(rows): only outside a run)."""
        self._ops.clear()
        n = len(self._all)
        if n - self._archived > 2 * ARCHIVE_CHUNK:
            self._archived = n - ARCHIVE_CHUNK
            self._archive_dirty = True
        with self.hold_sync():
            self.rows_rev = self._rev
            if self._archive_dirty:
                self._archive_dirty = False
                self.archive = self._all[: self._archived]
            self.rows = self._all[self._archived :]

    # --- streaming -----------------------------------------------------------------------

    def _send_parts(self, parts: list[Part]) -> None:
        self._seq += 1
        self.send({"kind": "delta", "seq": self._seq, "parts": parts})

    def _stream(self, field: str, text: str) -> None:
        if self._seg is None:
            self._seg = self._new_id()
        (self._text if field == "text" else self._reasoning).append(text)
        self._coalescer.add(self._seg, field, text)

    def _commit_live(self) -> bool:
        """Flush pending deltas and turn the live text into a row; True if a row was added.

        During a run the deltas go with the next "rows" message instead (still before
        it), so a fast run does not send a message per segment."""
        if not self._in_run:
            self._coalescer.flush()
        if self._seg is None:
            return False
        row: dict[str, Any] = {"id": self._seg, "kind": "assistant", "text": "".join(self._text)}
        if self._reasoning:
            row["reasoning"] = "".join(self._reasoning)
        self._seg, self._text, self._reasoning = None, [], []
        self._append(row)
        self._turn_text = True
        return True

    def _on_hello(self) -> None:
        self._coalescer.flush()
        self._soon.flush()
        live: dict[str, dict[str, str]] = {}
        if self._seg is not None:
            seg: dict[str, str] = {"text": "".join(self._text)}
            if self._reasoning:
                seg["reasoning"] = "".join(self._reasoning)
            live[self._seg] = seg
        for row_id, chunks in self._outputs.items():
            live[row_id] = {"output": "".join(chunks)}
        snapshot: dict[str, Any] = {"kind": "snapshot", "seq": self._seq, "live": live}
        snapshot["rev"] = self._rev
        if self.rows_rev != self._rev:
            # mid-run the traits are behind: the view gets every row once, here
            snapshot["rows"] = self._all
        self.send(snapshot)

    # --- session -------------------------------------------------------------------------

    def _reset(self, session: Session) -> None:
        self._coalescer.flush()
        self._all, self._index, self._archived, self._tool_rows = [], {}, 0, {}
        self._asked = {}
        self._archive_dirty = True
        self._seg, self._text, self._reasoning, self._outputs = None, [], [], {}
        self._last_message = None
        # the same rows, approvals and timings as the live view had: replay the log
        if not self._replay(session):
            now = now_ms()
            for row in rows_from_messages(session.messages):
                row["id"] = self._new_id()
                row["ts"] = now
                if row["kind"] == "tool":
                    self._tool_rows[row["tool_id"]] = row["id"]
                self._append(row)
        self._rev += 1  # a view compares revisions: a new state must be a newer one
        if len(self._all) > ARCHIVE_CHUNK:
            # a long history goes to the archive whole (sent once, now): the runs this
            # view follows then re-send only their own rows at their end, not the tail
            # of the history (the 200th %%ask cell costs what the first did)
            self._archived = len(self._all)
        with self.hold_sync():
            self._sync_traits()
            self._reset_status()

    def _on_detach(self) -> None:
        self._commit_live()
        self._soon.flush()  # rows a run left queued go out first
        self._sync_rows()
        if self.rows_rev != self._rev:  # a run that ended without its end (a pause)
            self._sync_traits()

    def _handle_event(self, event: AgentEvent) -> None:
        t = event.type
        if t == "text_delta" or t == "reasoning_delta":
            self._stream("text" if t == "text_delta" else "reasoning", event.text)  # type: ignore[union-attr]
            self._follow_status(event)
            return
        if isinstance(event, MessageAdded):
            if event.message.role == "assistant":
                self._last_message = event.message
            return
        if t == "tool_output_delta":
            row_id = self._tool_rows.get(event.id)  # type: ignore[union-attr]
            if row_id is not None:
                self._outputs.setdefault(row_id, []).append(event.delta)  # type: ignore[union-attr]
                self._coalescer.add(row_id, "output", event.delta)  # type: ignore[union-attr]
            return
        if t not in _BOUNDARIES:
            return  # (every status event but the deltas is a boundary)
        if self._in_run:
            # during a run nothing here syncs a trait at once: hold_sync would cost more
            # than the event (ipywidgets sends an empty state when it ends)
            self._boundary(t, event)
        else:
            with self.hold_sync():
                self._boundary(t, event)

    def _boundary(self, t: str, event: AgentEvent) -> None:
        self._commit_live()
        handler = getattr(self, _HANDLERS[t], None)
        if handler is not None:
            handler(event)
        self._sync_rows()
        if t in STATUS_EVENTS:
            self._follow_status(event)

    # --- one method per event type --------------------------------------------------------

    def _on_agent_start(self, ev: Any) -> None:
        self._turns = 0
        self._append({"kind": "user", "text": ev.prompt})

    def _on_turn_start(self, ev: Any) -> None:
        self._turns = ev.turn
        self._turn_text = False
        self._turn_start = len(self._all)

    def _on_turn_end(self, ev: Any) -> None:
        # a provider that does not stream sends no deltas: show the message's text anyway
        last = self._last_message
        if self._turn_text or last is None:
            return
        if last.text() or last.reasoning_content:
            row: dict[str, Any] = {"kind": "assistant", "text": last.text()}
            if last.reasoning_content:
                row["reasoning"] = last.reasoning_content
            # no deltas (a replayed log, a provider that does not stream): the text goes
            # where the stream would have put it, before the turn's tool rows
            self._insert(self._turn_start, row)
            self._turn_text = True

    def _on_tool_start(self, ev: Any) -> None:
        row_id = self._append(
            {"kind": "tool", "tool_id": ev.id, "name": ev.name, "args": None, "status": "running"}
        )
        self._tool_rows[ev.id] = row_id

    def _on_tool_end(self, ev: Any) -> None:
        output, truncated = clip_output(ev.output)
        changes = {
            "output": output,
            "output_truncated": truncated,
            "exit_code": ev.exit_code,
            "duration_ms": ev.duration_ms,
            "args": clip_value(ev.args) if ev.args is not None else None,
            "status": "ok" if ev.exit_code == 0 else "error",
        }
        if ev.media:
            changes["media"] = ev.media
        row_id = self._tool_rows.get(ev.id)
        if row_id is None or not self._update(row_id, **changes):
            row_id = self._append({"kind": "tool", "tool_id": ev.id, "name": ev.name, **changes})
            self._tool_rows[ev.id] = row_id
        self._outputs.pop(row_id, None)

    def _tool_name(self, tool_id: str, default: str = "tool") -> str:
        row_id = self._tool_rows.get(tool_id)
        i = self._index.get(row_id) if row_id else None
        return str(self._all[i]["name"]) if i is not None else default

    def _on_permission_denied(self, ev: Any) -> None:
        self._append(
            {
                "kind": "denied",
                "tool_id": ev.tool_id,
                "tool_name": ev.tool_name,
                "args": clip_value(ev.args),
                "reason": ev.reason,
            }
        )

    def _on_error(self, ev: Any) -> None:
        self._append({"kind": "error", "message": ev.message})

    def _on_context_compacted(self, ev: Any) -> None:
        self._append(
            {
                "kind": "compacted",
                "before_messages": ev.before_messages,
                "after_messages": ev.after_messages,
                "percent_before": ev.percent_before,
            }
        )

    def _set_tool_status(self, tool_id: str, status: str) -> None:
        row_id = self._tool_rows.get(tool_id)
        if row_id is not None:
            self._update(row_id, status=status)

    def _on_confirmation_required(self, ev: Any) -> None:
        # the tool's row says it waits for a human, not that it runs
        self._set_tool_status(ev.tool_id, "waiting")
        self._asked[ev.tool_id] = self._append(
            {
                "kind": "confirmation",
                "tool_id": ev.tool_id,
                "tool_name": ev.tool_name,
                "outcome": "requested",
                "reason": ev.reason,
            }
        )

    def _settle(self, tool_id: str, row: dict[str, Any]) -> None:
        """The request's row becomes its outcome, in place: a decided request must not stay
        a "waiting" row below the tool that has since run."""
        row_id = self._asked.pop(tool_id, None)
        if row_id is None or not self._update(row_id, **{"reason": None, **row}):
            self._append(row)

    def _on_confirmation_received(self, ev: Any) -> None:
        if ev.approved:
            self._set_tool_status(ev.tool_id, "running")
        self._settle(
            ev.tool_id,
            {
                "kind": "confirmation",
                "tool_id": ev.tool_id,
                "tool_name": self._tool_name(ev.tool_id),
                "outcome": "approved" if ev.approved else "denied",
                "decided_by": ev.decided_by,
                "reason": ev.reason,
                "rule_added": ev.rule_added,
            },
        )

    def _on_confirmation_timeout(self, ev: Any) -> None:
        self._settle(
            ev.tool_id,
            {
                "kind": "confirmation",
                "tool_id": ev.tool_id,
                "tool_name": self._tool_name(ev.tool_id),
                "outcome": "timeout",
                "action_taken": ev.action_taken,
            },
        )

    def _on_budget_exceeded(self, ev: Any) -> None:
        self._append({"kind": "budget", "message": ev.message})

    def _on_security(self, ev: Any) -> None:
        self._append(
            {
                "kind": "security",
                "action": ev.action,
                "rule": ev.rule,
                "where": ev.where,
                "message": ev.message,
                "tool_name": ev.tool_name,
            }
        )

    def _on_hook_decision(self, ev: Any) -> None:
        self._append(
            {
                "kind": "hook",
                "hook": ev.hook,
                "event": ev.event,
                "decision": ev.decision,
                "reason": ev.reason,
                "tool_id": ev.tool_id,
                "tool_name": ev.tool_name,
            }
        )

    # --- sub-agents: a note row at start and end, their steps inside the task's row -----

    def _task_row(self, task_id: str) -> dict[str, Any] | None:
        row_id = self._tool_rows.get(task_id)
        i = self._index.get(row_id) if row_id else None
        return self._all[i] if i is not None else None

    def _set_children(self, task_id: str, children: list[dict[str, Any]], **more: Any) -> None:
        row = self._task_row(task_id)
        if row is not None:
            self._update(row["id"], children=children, **more)

    def _on_subagent_start(self, ev: Any) -> None:
        self._note(
            "subagent",
            f"Sub-agent started: {ev.description}",
            f"{ev.agent} · session {ev.session_id}",
        )
        sub = {"session_id": ev.session_id, "description": ev.description, "agent": ev.agent}
        self._set_children(ev.task_id, [], subagent=sub)

    def _on_subagent_progress(self, ev: Any) -> None:
        row = self._task_row(ev.task_id)
        if row is None or ev.status not in ("tool_start", "tool_end"):
            return
        meta = ev.metadata
        children = list(row.get("children") or [])
        line: dict[str, Any] = {
            "kind": "tool",
            "tool_id": meta.get("tool_id"),
            "name": meta.get("tool"),
        }
        if ev.status == "tool_start":
            children.append({**line, "args": None, "status": "running"})
        else:
            line.update(
                args=clip_value(meta.get("args")) if meta.get("args") is not None else None,
                text=str(meta.get("output", "")),
                status="ok" if meta.get("exit_code", 0) == 0 else "error",
            )
            at = next(
                (i for i, c in enumerate(children) if c.get("tool_id") == line["tool_id"]), None
            )
            if at is None:
                children.append(line)
            else:
                children[at] = line
        self._set_children(ev.task_id, children)

    def _on_subagent_end(self, ev: Any) -> None:
        row = self._task_row(ev.task_id)
        answer = {
            "kind": "answer",
            "text": clip(ev.output, 2000),
            "status": "ok" if ev.success else "error",
        }
        if row is not None:
            self._set_children(ev.task_id, [*(row.get("children") or []), answer])
        self._note(
            "subagent",
            f"Sub-agent {'finished' if ev.success else 'failed'}: {self._subagent_name(ev)}",
            clip(ev.output, 200),
            tone="ok" if ev.success else "danger",
        )

    def _subagent_name(self, ev: Any) -> str:
        row = self._task_row(ev.task_id)
        sub = (row or {}).get("subagent") or {}
        return str(sub.get("description") or ev.session_id)

    def _on_planning_end(self, ev: Any) -> None:
        if ev.error:
            self._note("plan", "No plan", ev.error, tone="warn")
            return
        steps = ev.plan.steps
        items = [
            f"{s.id}: {s.content}"
            + (f" (after {', '.join(s.dependencies)})" if s.dependencies else "")
            for s in steps
        ]
        title = f"Plan: {len(steps)} step{'s' if len(steps) != 1 else ''}"
        self._note("plan", title, ev.plan.goal, items=items)

    def _on_step_start(self, ev: Any) -> None:
        self._note("plan", f"Step {ev.step_number}/{ev.total_steps}: {ev.description}")

    def _on_step_end(self, ev: Any) -> None:
        status = str(getattr(ev.status, "value", ev.status))
        tone = {"completed": "ok", "failed": "danger"}.get(status, "warn")
        title = f"Step {ev.step_number}/{ev.total_steps} {status.replace('_', ' ')}"
        self._note("plan", title, ev.step_id, tone=tone)

    def _on_goal_extracted(self, ev: Any) -> None:
        self._note("goal", f"Goal: {ev.goal.description}", items=list(ev.goal.success_criteria))

    def _on_goal_progress(self, ev: Any) -> None:
        detail = f"{ev.completed_steps}/{ev.total_steps} done" if ev.total_steps else None
        self._note("goal", f"Goal progress: {round(ev.progress * 100)}%", detail)

    def _on_goal_achieved(self, ev: Any) -> None:
        self._note("goal", "Goal achieved", ev.goal, tone="ok")

    # memory and context providers (engine/memory.py, engine/context.py)

    def _on_memory_stored(self, ev: Any) -> None:
        tags = f"tags: {', '.join(ev.tags)}" if ev.tags else None
        self._note(
            "memory",
            f"remembered ({ev.memory_type}, importance {ev.importance:g})",
            ev.content,
            items=[tags] if tags else None,
        )

    def _on_memory_recalled(self, ev: Any) -> None:
        if self._resolving_context:
            return  # the context_resolved row lists what was injected, and why
        line = f"relevance {ev.relevance:.2f} · {ev.content}"
        last = self._all[-1] if self._all else None
        if last is not None and last.get("id") == self._recall_row:
            items = [*last.get("items", []), clip(line, 500)]
            self._update(last["id"], title=f"recalled {len(items)} memories", items=items)
            return
        self._recall_row = self._note("memory", "recalled 1 memory", None, items=[line])

    def _on_context_resolving(self, ev: Any) -> None:
        self._resolving_context = True

    def _on_context_resolved(self, ev: Any) -> None:
        self._resolving_context = False
        if not ev.total_items and not ev.failed:
            return
        items = [
            f"{item.get('source') or item.get('provider')} · {item.get('type')} · relevance "
            f"{float(item.get('relevance', 0)):.2f} · {item.get('tokens')} tokens: "
            f"{item.get('preview', '')}"
            for item in ev.items
        ]
        items += [f"provider '{name}' failed: {error}" for name, error in ev.failed.items()]
        detail = "added to the system prompt: the most relevant items to this prompt"
        if ev.truncated:
            detail += " (some were left out to stay within the token budget)"
        self._note(
            "context",
            f"context: {ev.total_items} items, {ev.total_tokens} tokens injected",
            detail,
            tone="warn" if ev.failed else "info",
            items=items,
        )

    def _on_external_task_pending(self, ev: Any) -> None:
        args = json.dumps(ev.payload, ensure_ascii=False, default=str)
        self._note(
            "queue",
            f"{ev.command_type} handed to an external handler",
            f"task {ev.task_id} in the {ev.lane} lane, waits up to {ev.timeout_ms / 1000:g} s",
            items=[args] if ev.payload else None,
        )

    def _on_external_task_completed(self, ev: Any) -> None:
        self._note(
            "queue",
            f"external task {ev.task_id} " + ("completed" if ev.success else "failed"),
            tone="ok" if ev.success else "danger",
        )

    def _on_command_retry(self, ev: Any) -> None:
        self._note(
            "queue",
            f"{ev.command_type} failed: try {ev.attempt} in {ev.delay_ms} ms",
            f"command {ev.command_id} in the {ev.lane} lane",
            tone="warn",
        )

    def _on_command_dead_lettered(self, ev: Any) -> None:
        self._note(
            "queue",
            f"{ev.command_type} failed for good after {ev.attempts} tries",
            f"command {ev.command_id} in the {ev.lane} lane: {ev.error}",
            tone="danger",
        )

    def _on_queue_alert(self, ev: Any) -> None:
        self._note(
            "queue",
            f"queue {ev.level}: {ev.alert_type.replace('_', ' ')}",
            ev.message,
            tone="danger" if ev.level == "critical" else "warn",
        )

    def _on_agent_end(self, ev: Any) -> None:
        self._append(
            {
                "kind": "end",
                "turns": self._turns,
                "total_tokens": ev.usage.total_tokens,
                "estimated": bool(ev.usage.estimated),
            }
        )

    # --- text representation ---------------------------------------------------------------

    def tool_value(self, tool_id: str) -> Any:
        """The whole value a tool row's call returned (a DataFrame...), which the row shows
        as text: ``view.events_widget.tool_value(row["tool_id"])``."""
        if self._session is None:
            raise KeyError(tool_id)
        return self._session.tool_value(tool_id)

    def transcript(self) -> list[dict[str, Any]]:
        """Every committed row (a copy), oldest first."""
        with self._lock:
            return [dict(r) for r in self._all]

    def _markdown(self, limit: int = 40) -> str:
        rows = self._all[-limit:]
        lines: list[str] = []
        if len(self._all) > limit:
            lines.append(f"*… {len(self._all) - limit:,} earlier rows*\n")
        for r in rows:
            lines.append(_row_markdown(r))
        if self._seg is not None:
            lines.append(safe_markdown("".join(self._text)) + " ▍")
        if not lines:
            return "*No events yet.*"
        return "\n\n".join(lines)


def _row_markdown(r: dict[str, Any]) -> str:
    kind = r.get("kind")
    if kind == "user":
        text = safe_markdown(str(r.get("text", "")))
        return "> **You:** " + "\n> ".join(text.splitlines() or [""])
    if kind == "assistant":
        return safe_markdown(str(r.get("text", "")))
    if kind == "tool":
        status = r.get("status")
        mark = {"ok": "✓", "error": "✗"}.get(str(status), "…")
        parts = ["running"] if status == "running" else []
        if status != "running" and r.get("name") == "bash" and r.get("exit_code") is not None:
            parts.append(f"exit {r['exit_code']}")  # exit codes belong to commands
        if r.get("duration_ms") is not None and status != "running":
            parts.append(duration(r["duration_ms"]))
        if r.get("media"):
            parts.append(f"{len(r['media'])} image{'s' if len(r['media']) > 1 else ''}")
        meta = " · ".join(parts) or str(status)
        summary = md_escape(args_summary(r.get("args")))
        return f"- {mark} `{r.get('name')}` {summary} ({meta})".replace("  ", " ")
    if kind == "denied":
        reason = md_escape(str(r.get("reason")))
        return f"- ⊘ **permission denied:** `{r.get('tool_name')}`: {reason}"
    if kind == "error":
        return f"- ✗ **error:** {md_escape(clip(str(r.get('message')), 300))}"
    if kind == "compacted":
        return (
            f"- ⇣ context compacted: {num(r.get('before_messages'))} → "
            f"{num(r.get('after_messages'))} messages (was {pct(r.get('percent_before'))} full)"
        )
    if kind == "confirmation":
        name = f"`{r.get('tool_name')}`"
        outcome = r.get("outcome")
        if outcome == "requested":
            return f"- ⏸ {name} needs approval ({md_escape(str(r.get('reason') or 'policy'))})"
        if outcome == "timeout":
            return f"- ⏱ {name}: approval timed out, {r.get('action_taken')}"
        by = f" by {r.get('decided_by')}" if r.get("decided_by") else ""
        text = f"- {'✓' if outcome == 'approved' else '✗'} {name} {outcome}{by}"
        if r.get("rule_added"):
            text += f" (always allow: rule `{r['rule_added']}` added)"
        if r.get("reason") and outcome == "denied":
            text += f": {md_escape(str(r['reason']))}"
        return text
    if kind == "budget":
        return f"- ! **budget reached:** {md_escape(str(r.get('message')))}"
    if kind == "security":
        return (
            f"- ⚠ **{r.get('action')} by the guard** ({md_escape(str(r.get('rule')))}, "
            f"{r.get('where')}): {md_escape(str(r.get('message')))}"
        )
    if kind == "hook":
        tool = f" `{r.get('tool_name')}`" if r.get("tool_name") else ""
        why = f": {md_escape(str(r.get('reason')))}" if r.get("reason") else ""
        return (
            f"- ⚑ **hook {md_escape(str(r.get('hook')))}** ({r.get('event')}) "
            f"{r.get('decision')}{tool}{why}"
        )
    if kind == "note":
        detail = f": {md_escape(str(r['detail']))}" if r.get("detail") else ""
        text = f"- *{r.get('topic')}* **{md_escape(str(r.get('title')))}**{detail}"
        for item in r.get("items") or []:
            text += f"\n  - {md_escape(str(item))}"
        return text
    if kind == "end":
        est = " (estimated)" if r.get("estimated") else ""
        tokens = num(r.get("total_tokens"))
        return f"*— run finished · {r.get('turns')} LLM calls · {tokens} tokens{est} —*"
    return f"- ({kind})"
