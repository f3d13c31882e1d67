"""The memory tools: ``remember`` and ``recall`` (given to the agent when memory is on).

Both go through the session's gate like any tool. They touch only the memory store (never
a file the agent names), so they declare ``needs_approval=False``: allowed without a
confirmation unless a rule says otherwise (``session.deny("remember")`` stops the agent
from writing memories). ``recall`` is read-only and runs in the Query lane.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._common import BuiltinTool, ToolFailure, get_int, get_str

if TYPE_CHECKING:
    from a3s_notebook.engine.memory import AgentMemory

__all__ = ["MEMORY_TOOL_NAMES", "RecallTool", "RememberTool", "memory_tools"]

MEMORY_TOOL_NAMES = ("remember", "recall")
_TYPES = ["episodic", "semantic", "procedural", "working"]


class RememberTool(BuiltinTool):
    """``remember {content*, importance, tags, memory_type}``: store a memory."""

    lane = "execute"
    needs_approval = False

    def __init__(self, memory: AgentMemory) -> None:
        super().__init__(
            "remember",
            "Store something worth remembering in later sessions on this workspace: a fact, "
            "a user preference, a pattern that worked, a mistake to avoid. Keep it short and "
            "self-contained.",
            {
                "type": "object",
                "properties": {
                    "content": {"type": "string", "description": "What to remember."},
                    "importance": {
                        "type": "number",
                        "description": "0..1, default 0.5; 0.8 or more for what matters.",
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "memory_type": {"type": "string", "enum": _TYPES},
                },
                "required": ["content"],
            },
        )
        self.memory = memory

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Store the memory; bad arguments come back as an error result."""
        content = get_str(args, "content")
        tags = args.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ToolFailure("Argument 'tags' must be an array of strings")
        options: dict[str, Any] = {"tags": tags}
        if "importance" in args:
            options["importance"] = args["importance"]
        if "memory_type" in args:
            options["memory_type"] = get_str(args, "memory_type")
        try:
            item = await self.memory.remember_async(content, **options)
        except ValueError as exc:
            raise ToolFailure(str(exc)) from None
        return ToolResult(
            name=self.name,
            output=f"Remembered ({item.memory_type.value}, importance {item.importance:g}): "
            f"id {item.id}",
            metadata={"memory_id": item.id},
        )


class RecallTool(BuiltinTool):
    """``recall {query*, limit}``: the memories most relevant to a query."""

    lane = "query"
    needs_approval = False

    def __init__(self, memory: AgentMemory) -> None:
        super().__init__(
            "recall",
            "Look up memories stored in earlier sessions on this workspace. Matches on the "
            "words of the query; most relevant first.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words to look for."},
                    "limit": {"type": "integer", "description": "At most this many (default 5)."},
                },
                "required": ["query"],
            },
        )
        self.memory = memory

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Recall and list the memories."""
        query = get_str(args, "query")
        limit = min(get_int(args, "limit", 5, minimum=1), 50)
        items = await self.memory.recall_async(query, limit)
        if not items:
            return ToolResult(name=self.name, output=f"No memory matches {query!r}.")
        lines = [
            f"{n}. [{i.memory_type.value}, importance {i.importance:g}"
            + (f", tags: {', '.join(i.tags)}" if i.tags else "")
            + f"] {i.content}"
            for n, i in enumerate(items, start=1)
        ]
        return ToolResult(
            name=self.name,
            output="\n".join(lines),
            metadata={"memory_ids": [i.id for i in items]},
        )


def memory_tools(memory: AgentMemory) -> list[BuiltinTool]:
    """The memory tools over ``memory``."""
    return [RememberTool(memory), RecallTool(memory)]
