"""What the agent is doing right now, derived from events (shown by the stream and header)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent

__all__ = ["IDLE", "STATUS_EVENTS", "next_status", "status_text"]

IDLE: dict[str, Any] = {"phase": "idle"}

STATUS_EVENTS = frozenset(
    {
        "agent_start",
        "turn_start",
        "text_delta",
        "reasoning_delta",
        "tool_start",
        "confirmation_required",
        "confirmation_received",
        "confirmation_timeout",
        "agent_end",
        "error",
        "budget_exceeded",
    }
)
"""The events :func:`next_status` reacts to (keep the two in step)."""


def next_status(event: AgentEvent, current: dict[str, Any]) -> dict[str, Any] | None:
    """The status after ``event``, or None when it does not change (deltas stay cheap).

    A status has no None values: a missing turn or detail is left out."""
    t = event.type
    if t == "text_delta" or t == "reasoning_delta":
        if current.get("phase") == "writing":
            return None  # the common case (a delta per token): nothing to build
        new: dict[str, Any] = {"phase": "writing"}
        turn = current.get("turn")
    elif t == "turn_start":
        new = {"phase": "thinking"}
        turn = event.turn  # type: ignore[union-attr]
    elif t == "tool_start":
        new = {"phase": "tool", "detail": event.name}  # type: ignore[union-attr]
        turn = current.get("turn")
    elif t == "confirmation_required":
        new = {"phase": "waiting", "detail": event.tool_name}  # type: ignore[union-attr]
        turn = current.get("turn")
    elif t in ("confirmation_received", "confirmation_timeout"):
        new = {"phase": "tool"}
        turn = current.get("turn")
    elif t == "agent_start":
        new, turn = {"phase": "running"}, None
    elif t == "agent_end":
        new, turn = {"phase": "done"}, None
    elif t == "error":
        new, turn = {"phase": "error", "detail": str(getattr(event, "message", ""))[:120]}, None
    elif t == "budget_exceeded":
        new, turn = {"phase": "error", "detail": "budget reached"}, None
    else:
        return None
    if new.get("detail", "") is None:
        del new["detail"]
    if turn is not None:
        new["turn"] = turn
    return None if new == current else new


_TEXT = {
    "idle": "idle",
    "running": "starting",
    "thinking": "thinking",
    "writing": "writing",
    "tool": "running a tool",
    "waiting": "waiting for approval",
    "done": "done",
    "error": "failed",
}


def status_text(status: dict[str, Any]) -> str:
    """ "thinking (turn 2)", "waiting for approval: write", ..."""
    text = _TEXT.get(str(status.get("phase")), str(status.get("phase")))
    if status.get("detail"):
        text += f": {status['detail']}"
    if status.get("turn") and status.get("phase") not in ("done", "error", "idle"):
        text += f" (turn {status['turn']})"
    return text
