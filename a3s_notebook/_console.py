"""Plain-text rendering of events, for terminals, logs and exported notebooks."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from a3s_notebook.engine.events import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    BudgetExceeded,
    ConfirmationReceived,
    ConfirmationRequired,
    ConfirmationTimeout,
    ContextCompacted,
    ContextUsageUpdated,
    ErrorEvent,
    GoalAchieved,
    GoalExtracted,
    GoalProgress,
    PermissionDenied,
    PlanningEnd,
    StepEnd,
    StepStart,
    TaskUpdated,
    TextDeltaEvent,
    ToolEnd,
    ToolOutputDelta,
    ToolStart,
    TurnEnd,
    TurnStart,
)

__all__ = ["ConsolePrinter", "format_args", "short"]

_STATUS_MARK = {
    "pending": "[ ]",
    "in_progress": "[~]",
    "completed": "[x]",
    "failed": "[!]",
    "skipped": "[-]",
    "cancelled": "[-]",
}


def short(text: str, limit: int = 120) -> str:
    """One line, at most ``limit`` characters."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


def format_args(args: dict[str, Any], limit: int = 120) -> str:
    """Tool arguments as short JSON."""
    return short(json.dumps(args, ensure_ascii=False), limit)


class ConsolePrinter:
    """Prints a session's events as they come: streamed text inline, one line per step."""

    def __init__(self, out: TextIO | None = None, *, show_output: bool = True) -> None:
        self.out = out or sys.stdout
        self.show_output = show_output
        self._in_text = False

    def _line(self, text: str) -> None:
        if self._in_text:
            self.out.write("\n")
            self._in_text = False
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, event: AgentEvent) -> None:
        """Print one event (use as a session subscriber)."""
        if isinstance(event, TextDeltaEvent):
            if not self._in_text:
                self.out.write("  ")
            self.out.write(event.text.replace("\n", "\n  "))
            self.out.flush()
            self._in_text = True
        elif isinstance(event, AgentStart):
            self._line(f"> agent_start: {short(event.prompt)}")
        elif isinstance(event, TurnStart):
            self._line(f"- turn {event.turn}")
        elif isinstance(event, ToolStart):
            self._line(f"  tool_start {event.name} ({event.id})")
        elif isinstance(event, ToolOutputDelta):
            if self.show_output:
                self._line("    | " + event.delta.rstrip("\n").replace("\n", "\n    | "))
        elif isinstance(event, ToolEnd):
            mark = "ok" if event.exit_code == 0 else f"exit {event.exit_code}"
            args = format_args(event.args or {}, 80)
            self._line(f"  tool_end {event.name} {args} -> {mark}, {event.duration_ms} ms")
            if self.show_output:
                self._line(f"    {short(event.output, 160)}")
        elif isinstance(event, TurnEnd):
            est = " (estimated)" if event.usage.estimated else ""
            self._line(
                f"- turn {event.turn} done: {event.usage.prompt_tokens} in / "
                f"{event.usage.completion_tokens} out tokens{est}"
            )
        elif isinstance(event, ConfirmationRequired):
            self._line(
                f"? approval needed: {event.tool_name} {format_args(event.args, 100)} "
                f"[{event.reason or 'ask'}; times out in {event.timeout_ms} ms]"
            )
        elif isinstance(event, ConfirmationReceived):
            verdict = "approved" if event.approved else "denied"
            extra = f" (reason: {event.reason})" if event.reason else ""
            rule = f"; rule added: allow {event.rule_added}" if event.rule_added else ""
            self._line(f"  {verdict} by {event.decided_by or 'user'}{extra}{rule}")
        elif isinstance(event, ConfirmationTimeout):
            self._line(f"  confirmation timed out: {event.action_taken}")
        elif isinstance(event, PermissionDenied):
            self._line(f"! permission denied: {event.tool_name}: {event.reason}")
        elif isinstance(event, TaskUpdated):
            items = "  ".join(
                f"{_STATUS_MARK.get(t.status.value, '[?]')} {t.content}" for t in event.tasks
            )
            self._line(f"  tasks: {items}")
        elif isinstance(event, ContextUsageUpdated):
            self._line(
                f"  context: {event.used_tokens}/{event.max_tokens} tokens "
                f"({event.percent:.1%}), history: {event.turns} messages"
            )
        elif isinstance(event, ContextCompacted):
            self._line(
                f"  compacted: {event.before_messages} -> {event.after_messages} messages "
                f"(was {event.percent_before:.0%} full)"
            )
        elif isinstance(event, (ErrorEvent, BudgetExceeded)):
            self._line(f"! error: {event.message}")
        elif isinstance(event, PlanningEnd):
            if event.error:
                self._line(f"  plan: {event.error}")
            else:
                self._line(f"  plan: {event.estimated_steps} steps for: {short(event.plan.goal)}")
                for s in event.plan.steps:
                    after = f" (after {', '.join(s.dependencies)})" if s.dependencies else ""
                    self._line(f"    {s.id}: {short(s.content, 100)}{after}")
        elif isinstance(event, StepStart):
            self._line(
                f"  step {event.step_number}/{event.total_steps}: {short(event.description)}"
            )
        elif isinstance(event, StepEnd):
            self._line(f"  step {event.step_number}/{event.total_steps} {event.status.value}")
        elif isinstance(event, GoalExtracted):
            criteria = "; ".join(event.goal.success_criteria)
            self._line(f"  goal: {short(event.goal.description)} [{short(criteria, 100)}]")
        elif isinstance(event, GoalProgress):
            self._line(f"  goal progress: {event.progress:.0%}")
        elif isinstance(event, GoalAchieved):
            self._line(f"  goal achieved: {short(event.goal)}")
        elif isinstance(event, AgentEnd):
            est = " (estimated)" if event.usage.estimated else ""
            self._line(f"> agent_end: {event.usage.total_tokens} tokens{est}")
