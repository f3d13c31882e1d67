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
    """The status after ``event``, or None when it does not change (deltas stay cheap)."""
    t = event.type
    turn = current.get("turn")
    new: dict[str, Any] | None = None
    if t == "agent_start":
        new = {"phase": "running"}
    elif t == "turn_start":
        new = {"phase": "thinking", "turn": event.turn}  # type: ignore[union-attr]
    elif t in ("text_delta", "reasoning_delta"):
        if current.get("phase") != "writing":
            new = {"phase": "writing", "turn": turn}
    elif t == "tool_start":
        new = {"phase": "tool", "detail": event.name, "turn": turn}  # type: ignore[union-attr]
    elif t == "confirmation_required":
        new = {"phase": "waiting", "detail": event.tool_name, "turn": turn}  # type: ignore[union-attr]
    elif t in ("confirmation_received", "confirmation_timeout"):
        new = {"phase": "tool", "turn": turn}
    elif t == "agent_end":
        new = {"phase": "done"}
    elif t == "error":
        new = {"phase": "error", "detail": str(getattr(event, "message", ""))[:120]}
    elif t == "budget_exceeded":
        new = {"phase": "error", "detail": "budget reached"}
    if new is None:
        return None
    new = {k: v for k, v in new.items() if v is not None}
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
