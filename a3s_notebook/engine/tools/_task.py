"""The ``task`` tool: hand a piece of work to a sub-agent (a child session) and get its answer.

The tool itself touches nothing: it checks the arguments and asks the session (through
``ToolContext.run_subagent``) to run the child. Every call the child makes passes the
child's own gate, with rules never wider than the parent's (see
:mod:`a3s_notebook.engine.subagents`). So the tool runs in the Query lane without an
approval, and several ``task`` calls of one response run side by side.
"""

from __future__ import annotations

from typing import Any

from a3s_notebook.engine.tools._base import ToolContext, ToolResult

__all__ = ["AGENT_TYPES", "TaskTool"]

AGENT_TYPES: dict[str, tuple[frozenset[str] | None, str]] = {
    "general": (
        None,
        "You are a sub-agent working on one task for another agent. Do the task with the "
        "tools you have, then answer with a short, self-contained report: the other agent "
        "sees only your final answer.",
    ),
    "explore": (
        frozenset({"read", "grep", "glob", "ls"}),
        "You are an exploration sub-agent: find things in the workspace with the read-only "
        "tools you have (you cannot change anything) and answer with what you found, "
        "naming files and lines.",
    ),
    "plan": (
        frozenset({"read", "grep", "glob", "ls"}),
        "You are a planning sub-agent: look at the workspace with the read-only tools you "
        "have (you cannot change anything) and answer with a numbered plan of steps.",
    ),
}
"""Sub-agent kinds: name -> (the tools it keeps of its parent's, None for all; its system
prompt)."""

_KNOWN_ARGS = frozenset({"description", "prompt", "agent", "max_steps", "model"})


def _schema() -> dict[str, Any]:
    """The arguments the model sees."""
    return {
        "type": "object",
        "properties": {
            "description": {
                "type": "string",
                "description": "A short (3-6 words) name for the task, shown to the user.",
            },
            "prompt": {
                "type": "string",
                "description": "The whole task for the sub-agent: it sees nothing else.",
            },
            "agent": {
                "type": "string",
                "enum": sorted(AGENT_TYPES),
                "description": "The kind of sub-agent (default 'general').",
            },
            "max_steps": {
                "type": "integer",
                "description": "At most this many LLM calls for the sub-agent.",
            },
            "model": {
                "type": "string",
                "description": "Another model (provider/model) for the sub-agent, when the "
                "session allows it.",
            },
        },
        "required": ["description", "prompt"],
    }


class TaskTool:
    """Start a sub-agent on a task and return its final answer (and what it cost)."""

    name = "task"
    description = (
        "Hand a self-contained task to a sub-agent, which works in its own session with "
        "its own history and returns only its final answer. Use it for work that can be "
        "done independently (searching, reading many files, a separate change); call it "
        "several times in one response to run sub-agents in parallel. Kinds: 'general' "
        "(your tools), 'explore' and 'plan' (read-only)."
    )
    lane = "query"
    needs_approval = False

    def __init__(self) -> None:
        self.parameters: dict[str, Any] = _schema()

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Check the arguments, then run the sub-agent through the session."""
        unknown = sorted(set(args) - _KNOWN_ARGS)
        if unknown:
            return ToolResult.error(
                self.name,
                f"Tool 'task' does not take {', '.join(map(repr, unknown))}: use "
                f"{', '.join(sorted(_KNOWN_ARGS))}",
            )
        for key in ("description", "prompt"):
            if not str(args.get(key, "")).strip():
                return ToolResult.error(self.name, f"Tool 'task' needs a non-empty '{key}'")
        agent = args.get("agent", "general")
        if agent not in AGENT_TYPES:
            return ToolResult.error(
                self.name,
                f"Tool 'task': unknown agent {agent!r}; use one of "
                f"{', '.join(sorted(AGENT_TYPES))}",
            )
        steps = args.get("max_steps")
        if steps is not None and int(steps) < 1:
            return ToolResult.error(self.name, "Tool 'task': max_steps must be at least 1")
        if ctx.run_subagent is None:
            return ToolResult.error(
                self.name,
                "Tool 'task' needs a session made by a SessionManager (it starts the "
                "sub-agent's session); this session has none",
            )
        return await ctx.run_subagent(ctx.tool_id, args)
