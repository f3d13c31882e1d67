"""A tiny MCP server for notebook 06: unit conversions over stdio (`python units_server.py`)."""

from __future__ import annotations

from typing import Any

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]

server: Any = _Server("units")


@server.tool()
def km_to_miles(km: float) -> float:
    """Convert kilometres to miles."""
    return round(km * 0.621371, 2)


if __name__ == "__main__":
    server.run()
