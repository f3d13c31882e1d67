"""The tool registry: lookup, argument checks against each schema, error capture, truncation."""

from __future__ import annotations

import logging
from typing import Any

from a3s_notebook.engine.tools._base import Tool, ToolContext, ToolResult, definition
from a3s_notebook.engine.tools._common import truncate_output
from a3s_notebook.engine.tools.builtin import builtin_tools
from a3s_notebook.llm.types import ToolDefinition

__all__ = ["ToolRegistry", "default_registry"]

logger = logging.getLogger(__name__)

# JSON schema type name -> check. bool is an int in Python, so it is excluded from the numbers.
_JSON_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class ToolRegistry:
    """The tools a session offers, by name.

    Lookup is case-insensitive (models sometimes write ``Read``). Registering a tool under a
    name that exists replaces the earlier one, so a session can override a built-in.
    """

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add ``tool``, replacing any tool with the same (case-insensitive) name."""
        self._tools[tool.name.lower()] = tool

    def unregister(self, name: str) -> bool:
        """Remove a tool; True if there was one."""
        return self._tools.pop(name.lower(), None) is not None

    def get(self, name: str) -> Tool | None:
        """The tool called ``name`` (any case), or None."""
        return self._tools.get(name.lower())

    def names(self) -> list[str]:
        """Names of the registered tools, in registration order."""
        return [tool.name for tool in self._tools.values()]

    def definitions(self) -> list[ToolDefinition]:
        """What the model sees of each tool, in registration order."""
        return [definition(tool) for tool in self._tools.values()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()!r})"

    async def execute(self, name: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run a tool by name and always return a result (exit code 1 on any failure).

        Unknown tools, missing required arguments and arguments of the wrong JSON type are
        reported without running the tool; an exception from the tool becomes
        ``Tool execution error: ...``. Outputs over MAX_OUTPUT_SIZE are truncated.
        Cancellation is not caught: it propagates to the caller.
        """
        tool = self.get(name)
        if tool is None:
            available = ", ".join(sorted(self.names()))
            return ToolResult.error(name, f"Unknown tool: {name}. Available tools: {available}")
        problem = _check_arguments(tool, args)
        if problem is not None:
            return ToolResult.error(tool.name, problem)
        # Nulls are dropped: models send them for optional arguments they mean to leave out.
        cleaned = {key: value for key, value in args.items() if value is not None}
        try:
            result = await tool.execute(cleaned, ctx)
        except Exception as exc:
            logger.warning("tool %s raised", tool.name, exc_info=True)
            detail = str(exc) or type(exc).__name__
            return ToolResult.error(tool.name, f"Tool execution error: {detail}")
        output = truncate_output(result.output)
        if output is not result.output or result.name != tool.name:
            result = result.model_copy(update={"output": output, "name": tool.name})
        return result


def _check_arguments(tool: Tool, args: object) -> str | None:
    """The first problem with ``args`` against the tool's schema, or None."""
    if not isinstance(args, dict):
        return f"Tool '{tool.name}' arguments must be a JSON object, got {_json_type_name(args)}"
    schema = tool.parameters
    for required in schema.get("required", []):
        if args.get(required) is None:
            return f"Tool '{tool.name}' is missing required argument '{required}'"
    properties: dict[str, Any] = schema.get("properties", {})
    for key, value in args.items():
        spec = properties.get(key)
        if value is None or not isinstance(spec, dict) or "type" not in spec:
            continue
        declared = spec["type"]
        expected = [declared] if isinstance(declared, str) else list(declared)
        checks = [_JSON_TYPES[t] for t in expected if t in _JSON_TYPES]
        if checks and not any(check(value) for check in checks):
            return (
                f"Tool '{tool.name}' argument '{key}' must be of type {' or '.join(expected)}, "
                f"got {_json_type_name(value)}"
            )
    return None


def default_registry() -> ToolRegistry:
    """A registry with the 10 built-in tools: read, write, edit, patch, bash, grep, glob, ls,
    web_fetch, todo_write."""
    return ToolRegistry(builtin_tools())
