"""TaskTable: the agent's task list, live from ``task_updated``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from a3s_notebook.widgets._base import SessionWidget
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._text import md_escape

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session
    from a3s_notebook.engine.tasks import Task

__all__ = ["TaskTable"]

_MARK = {
    "pending": "○",
    "in_progress": "◐",
    "completed": "✓",
    "failed": "✗",
    "skipped": "-",
    "cancelled": "-",
}


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


def task_dicts(tasks: list[Task]) -> list[dict[str, Any]]:
    """The JSON rows of the task table."""
    return [
        {
            "id": t.id,
            "content": t.content,
            "status": _value(t.status),
            "priority": _value(t.priority),
        }
        for t in tasks
    ]


class TaskTable(SessionWidget):
    """The agent's tasks with their status and priority, updated on every
    ``task_updated`` event (the agent's ``todo_write`` tool)."""

    _esm = asset("task_table")
    _events: ClassVar[frozenset[str] | None] = frozenset({"task_updated"})

    tasks = traitlets.List(traitlets.Dict()).tag(sync=True)
    """``[{id, content, status, priority}]``"""

    def _reset(self, session: Session) -> None:
        self.tasks = task_dicts(session.tasks)

    def _handle_event(self, event: AgentEvent) -> None:
        if event.type == "task_updated":
            self.tasks = task_dicts(event.tasks)

    def _markdown(self) -> str:
        if not self.tasks:
            return "tasks: none yet"
        done = sum(1 for t in self.tasks if t["status"] == "completed")
        lines = [
            f"**Tasks** ({done}/{len(self.tasks)} done)",
            "",
            "| | task | status | priority |",
            "|---|---|---|---|",
        ]
        for t in self.tasks:
            status = t["status"]
            lines.append(
                f"| {_MARK.get(status, '?')} | {md_escape(t['content'])} | "
                f"{status.replace('_', ' ')} | {t['priority']} |"
            )
        return "\n".join(lines)
