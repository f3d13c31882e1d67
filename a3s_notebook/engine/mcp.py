"""MCP servers as tools: the public names of :mod:`a3s_notebook.engine.tools._mcp`.

Needs the ``mcp`` extra (``pip install a3s-notebook[mcp]``) only when a server is used::

    from a3s_notebook.engine.mcp import McpConnection, McpServer, add_mcp_tools

    conn = McpConnection(McpServer("files", command="npx", args=["-y", "some-mcp-server"]))
    names = await add_mcp_tools(registry, conn)  # ["mcp__files__read_file", ...]
    ...
    remove_mcp_tools(registry, "files")
    conn.close()
"""

from __future__ import annotations

from a3s_notebook.engine.tools._mcp import (
    DEFAULT_MCP_CALL_TIMEOUT_S,
    DEFAULT_MCP_STARTUP_TIMEOUT_S,
    MCP_TOOL_PREFIX,
    McpConnection,
    McpError,
    McpServer,
    McpTool,
    add_mcp_tools,
    mcp_tool_name,
    mcp_tool_prefix,
    remove_mcp_tools,
    sanitize_mcp_name,
)

__all__ = [
    "DEFAULT_MCP_CALL_TIMEOUT_S",
    "DEFAULT_MCP_STARTUP_TIMEOUT_S",
    "MCP_TOOL_PREFIX",
    "McpConnection",
    "McpError",
    "McpServer",
    "McpTool",
    "add_mcp_tools",
    "mcp_tool_name",
    "mcp_tool_prefix",
    "remove_mcp_tools",
    "sanitize_mcp_name",
]
