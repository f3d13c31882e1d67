"""Tools the agent can call: the interface, the registry and the built-in tools (spec section 11).

``default_registry()`` gives the 10 built-ins (read, write, edit, patch, bash, grep, glob, ls,
web_fetch, todo_write); :func:`tool` / :class:`FunctionTool` make a Python function a tool, and
:func:`lane_of` / :func:`needs_approval_of` read what a tool declares. File tools are
confined to the session's workspace (:func:`resolve_in_workspace`);
``bash`` only starts there, with a scrubbed environment (:func:`scrubbed_environ`). The
read-family tools (read, grep, glob, ls) honour ``ToolContext.can_read``; ``write`` and
``edit`` refuse a file with more than one hard link (:func:`hard_link_count`); ``grep`` runs in
a thread that stops on cancellation, each line's search bounded by :data:`GREP_LINE_TIMEOUT_S`.
"""

from __future__ import annotations

from a3s_notebook.engine.tools._base import Tool, ToolContext, ToolResult, definition
from a3s_notebook.engine.tools._bash import DEFAULT_BASH_TIMEOUT_MS
from a3s_notebook.engine.tools._common import (
    MAX_LINE_LENGTH,
    MAX_OUTPUT_SIZE,
    MAX_READ_LINES,
    BuiltinTool,
    ToolFailure,
    truncate_output,
)
from a3s_notebook.engine.tools._env import BASE_ENV_VARS, scrubbed_environ
from a3s_notebook.engine.tools._function import (
    FunctionTool,
    lane_of,
    needs_approval_of,
    render_value,
    tool,
)
from a3s_notebook.engine.tools._registry import ToolRegistry, default_registry
from a3s_notebook.engine.tools._search import GREP_LINE_TIMEOUT_S, GREP_TIMEOUT_S
from a3s_notebook.engine.tools._task import AGENT_TYPES, TaskTool
from a3s_notebook.engine.tools._workspace import (
    WorkspaceViolation,
    hard_link_count,
    resolve_in_workspace,
)
from a3s_notebook.engine.tools.builtin import (
    BashTool,
    EditTool,
    GlobTool,
    GrepTool,
    LsTool,
    ReadTool,
    TodoWriteTool,
    WriteTool,
    builtin_tools,
)

__all__ = [
    "AGENT_TYPES",
    "BASE_ENV_VARS",
    "DEFAULT_BASH_TIMEOUT_MS",
    "GREP_LINE_TIMEOUT_S",
    "GREP_TIMEOUT_S",
    "MAX_LINE_LENGTH",
    "MAX_OUTPUT_SIZE",
    "MAX_READ_LINES",
    "BashTool",
    "BuiltinTool",
    "EditTool",
    "FunctionTool",
    "GlobTool",
    "GrepTool",
    "LsTool",
    "ReadTool",
    "TaskTool",
    "TodoWriteTool",
    "Tool",
    "ToolContext",
    "ToolFailure",
    "ToolRegistry",
    "ToolResult",
    "WorkspaceViolation",
    "WriteTool",
    "builtin_tools",
    "default_registry",
    "definition",
    "hard_link_count",
    "lane_of",
    "needs_approval_of",
    "render_value",
    "resolve_in_workspace",
    "scrubbed_environ",
    "tool",
    "truncate_output",
]
