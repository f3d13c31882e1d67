"""The tool interface: what a tool is, what it gets, what it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine.tasks import Task
from a3s_notebook.llm.types import ToolDefinition

__all__ = ["Tool", "ToolContext", "ToolResult"]


class ToolResult(BaseModel):
    """What a tool returns: its output text and an exit code (0 ok, 1 error)."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    name: str
    output: str
    exit_code: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        """True when the exit code is not 0."""
        return self.exit_code != 0

    @classmethod
    def error(cls, name: str, message: str) -> ToolResult:
        """A failed result with exit code 1."""
        return cls(name=name, output=message, exit_code=1)


@dataclass
class ToolContext:
    """What a running tool may use.

    ``emit_output`` streams a piece of output to the event stream (``tool_output_delta``);
    ``set_tasks`` replaces the session's task list (``todo_write``).

    ``env`` is the environment of subprocesses (``bash``); None means the scrubbed default of
    :func:`~a3s_notebook.engine.tools.scrubbed_environ`, never the whole ``os.environ``.
    ``can_read`` says, for a workspace-relative POSIX path of a file or directory, whether the
    read-family tools (read, grep, glob, ls) may read or list it; None allows everything.
    ``run_subagent(tool_id, args)`` runs a ``task`` call's sub-agent to its answer (None:
    the session was not made by a manager, so it has none).
    """

    workspace: Path
    session_id: str = ""
    tool_id: str = ""
    emit_output: Callable[[str], None] = field(default=lambda _text: None)
    set_tasks: Callable[[list[Task]], None] | None = None
    get_tasks: Callable[[], list[Task]] | None = None
    env: Mapping[str, str] | None = None
    can_read: Callable[[str], bool] | None = None
    run_subagent: Callable[[str, dict[str, Any]], Awaitable[ToolResult]] | None = None


@runtime_checkable
class Tool(Protocol):
    """A tool the agent can call."""

    name: str
    description: str
    parameters: dict[str, Any]

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run the tool; expected failures return an error result, bugs raise."""
        ...


def definition(tool: Tool) -> ToolDefinition:
    """The definition the model sees."""
    return ToolDefinition(name=tool.name, description=tool.description, parameters=tool.parameters)
