"""A real MCP server for tests/test_mcp_tools.py, written with the `mcp` SDK.

``python tests/mcp_server.py`` serves over stdio; ``python tests/mcp_server.py --http-fd FD``
serves streamable HTTP on a socket the test already bound and listens on (so the test never
waits for the server to come up: connections queue in the backlog until it accepts).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]

server: Any = _Server("test-server")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail(message: str) -> str:
    """Always fails with the message."""
    raise ToolError(message)


@server.tool()
def crash() -> str:
    """Kill the server process in the middle of the call."""
    sys.stdout.flush()
    os._exit(3)


@server.tool()
async def hang() -> str:
    """Never answers (waits on an event nobody sets)."""
    await asyncio.Event().wait()
    return "unreachable"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def env_names() -> list[str]:
    """The names of the server's environment variables."""
    return sorted(os.environ)


@server.tool(name="weird.name!")
def weird() -> str:
    """A tool whose name needs sanitising."""
    return "weird ok"


@server.resource("notes://readme")
def readme() -> str:
    """A readme."""
    return "hello from a resource"


@server.prompt()
def greet(name: str) -> str:
    """A greeting prompt."""
    return f"Say hello to {name}"


def _serve_http(fd: int) -> None:
    import uvicorn

    sock = socket.socket(fileno=fd)
    app = server.streamable_http_app()
    config = uvicorn.Config(app, log_level="warning")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http-fd":
        _serve_http(int(sys.argv[2]))
    else:
        server.run()
