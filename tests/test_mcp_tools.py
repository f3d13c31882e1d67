"""MCP servers as tools: real servers (tests/mcp_server.py) over stdio and loopback HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from a3s_notebook.engine import PermissionPolicy, SessionConfig, SessionManager
from a3s_notebook.engine.events import AgentEvent, PermissionDenied, ToolEnd
from a3s_notebook.engine.mcp import (
    McpConnection,
    McpServer,
    add_mcp_tools,
    mcp_tool_name,
    remove_mcp_tools,
)
from a3s_notebook.engine.tools import ToolContext, ToolRegistry, default_registry
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn

from .conftest import turn

SERVER = str(Path(__file__).with_name("mcp_server.py"))

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is optional
    psutil = None


def stdio_server(name: str = "srv", **kw: Any) -> McpServer:
    return McpServer(name, command=sys.executable, args=[SERVER], **kw)


def children() -> set[int]:
    """Live (not zombie) descendants of this process."""
    assert psutil is not None
    alive = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def gone(pid: int) -> bool:
    if psutil is not None:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
async def conn() -> AsyncIterator[McpConnection]:
    c = McpConnection(stdio_server(timeout=30))
    yield c
    await c.aclose()


@pytest.fixture
def http_url() -> Iterator[str]:
    """The test server over streamable HTTP on 127.0.0.1, on a socket bound here.

    The socket listens before the server starts, so clients queue in its backlog: nothing
    waits for the server to come up. The poll below only proves the port answers, with a
    bounded number of tries.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--http-fd", str(sock.fileno())],
        pass_fds=(sock.fileno(),),
        stderr=subprocess.DEVNULL,
    )
    sock.close()  # the child holds the listening socket now
    try:
        for _attempt in range(50):  # guards against a hang only; the first try connects
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                assert proc.poll() is None, "the HTTP MCP server exited"
        else:
            pytest.fail("the HTTP MCP server's port never answered")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=tmp_path)


# -- names and descriptions ------------------------------------------------------------


def test_names_are_sanitised_and_bounded() -> None:
    assert mcp_tool_name("my server", "weird.name!") == "mcp__my_server__weird_name_"
    # "__" in a server name would move the permission boundary: it is collapsed
    assert mcp_tool_name("a__b", "t") == "mcp__a_b__t"
    long = mcp_tool_name("srv", "x" * 100)
    assert len(long) == 64 and long.startswith("mcp__srv__xxx")
    assert long != mcp_tool_name("srv", "x" * 101)
    with pytest.raises(ValueError):
        McpServer("!!!", command="x")
    with pytest.raises(ValueError, match="either command"):
        McpServer("s")
    with pytest.raises(ValueError, match="either command"):
        McpServer("s", command="x", url="http://127.0.0.1/")
    with pytest.raises(ValueError, match="pattern"):
        McpServer("s", command="x", env_passthrough=["AWS_*"])


def test_lazy_start_and_nothing_before_use() -> None:
    c = McpConnection(stdio_server())
    assert not c.is_running
    c.close()  # closing an unused connection starts nothing
    assert not c.is_running


# -- stdio ------------------------------------------------------------------------------


async def test_stdio_lists_tools_resources_prompts(conn: McpConnection) -> None:
    tools = {t.name: t for t in await conn.list_tools()}
    assert conn.is_running
    assert {"mcp__srv__echo", "mcp__srv__add", "mcp__srv__weird_name_"} <= set(tools)
    add = tools["mcp__srv__add"]
    assert add.parameters["type"] == "object"
    assert set(add.parameters["required"]) == {"a", "b"}
    assert "Add two integers" in add.description
    resources = await conn.list_resources()
    assert [r["uri"] for r in resources] == ["notes://readme"]
    prompts = await conn.list_prompts()
    assert [p["name"] for p in prompts] == ["greet"]


async def test_stdio_call_and_tool_error(conn: McpConnection, tmp_path: Path) -> None:
    registry = ToolRegistry()
    names = await add_mcp_tools(registry, conn)
    assert "mcp__srv__add" in names and all(n in registry for n in names)
    ok = await registry.execute("mcp__srv__add", {"a": 2, "b": 40}, ctx(tmp_path))
    assert (ok.exit_code, ok.output) == (0, "42")
    weird = await registry.execute("mcp__srv__weird_name_", {}, ctx(tmp_path))
    assert weird.output == "weird ok"
    bad = await registry.execute("mcp__srv__fail", {"message": "boom"}, ctx(tmp_path))
    assert bad.exit_code == 1 and "boom" in bad.output
    # the registry's own schema check runs before the server is called
    missing = await registry.execute("mcp__srv__add", {"a": 1}, ctx(tmp_path))
    assert missing.exit_code == 1 and "'b'" in missing.output
    assert sorted(remove_mcp_tools(registry, "srv")) == sorted(names)
    assert len(registry) == 0


async def test_remove_only_that_server(conn: McpConnection) -> None:
    registry = default_registry()
    builtin = set(registry.names())
    await add_mcp_tools(registry, conn)

    class Other:
        name = "mcp__srvx__tool"
        description = "another server's tool"
        parameters: dict[str, Any] = {"type": "object", "properties": {}}

        async def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
            raise AssertionError

    registry.register(Other())
    remove_mcp_tools(registry, "srv")
    assert set(registry.names()) == builtin | {"mcp__srvx__tool"}


async def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A3S_TEST_SECRET", "s3cret")
    monkeypatch.setenv("A3S_TEST_NAMED", "yes")
    c = McpConnection(stdio_server(env={"A3S_TEST_GIVEN": "1"}, env_passthrough=["A3S_TEST_NAMED"]))
    try:
        result = await c.call_tool("env_names", {})
    finally:
        await c.aclose()
    names = set(result.output.split("\n"))
    assert {"A3S_TEST_NAMED", "A3S_TEST_GIVEN"} <= names
    assert "A3S_TEST_SECRET" not in names


async def test_slow_tool_times_out_and_server_keeps_working(tmp_path: Path) -> None:
    c = McpConnection(stdio_server(timeout=0.5))
    try:
        slow = await c.call_tool("hang", {})
        assert slow.exit_code == 1
        assert "timed out after 0.5s" in slow.output and slow.metadata["timed_out"]
        after = await c.call_tool("echo", {"text": "still here"}, timeout=30)
        assert (after.exit_code, after.output) == (0, "still here")
        assert c.restarts == 0
    finally:
        await c.aclose()


async def test_crash_mid_call_then_restart(conn: McpConnection) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    conn.on_event = lambda kind, data: events.append((kind, data))
    first_pid = int((await conn.call_tool("pid", {})).output)
    crashed = await conn.call_tool("crash", {})
    assert crashed.exit_code == 1
    assert "MCP server 'srv' stopped during the call to crash" in crashed.output
    assert "restarted on the next call" in crashed.output
    assert gone(first_pid)
    again = await conn.call_tool("pid", {})
    assert again.exit_code == 0 and again.metadata["mcp_restarted"]
    note, new_pid = again.output.split("\n")
    assert note.startswith("[MCP server 'srv' had stopped") and "restarted it" in note
    assert int(new_pid) != first_pid
    assert conn.restarts == 1
    later = await conn.call_tool("echo", {"text": "fine"})
    assert later.output == "fine"  # the note is said once
    kinds = [k for k, _ in events]
    assert kinds == ["mcp_server_started", "mcp_server_failed", "mcp_server_restarted"]


async def test_server_that_cannot_start() -> None:
    c = McpConnection(McpServer("nope", command=sys.executable, args=["-c", "raise SystemExit(2)"]))
    try:
        result = await c.call_tool("x", {})
        assert result.exit_code == 1
        assert "MCP server 'nope'" in result.output and "failed to start" in result.output
    finally:
        await c.aclose()


@pytest.mark.skipif(psutil is None, reason="needs psutil to list child processes")
async def test_close_leaves_no_process() -> None:
    before = children()
    c = McpConnection(stdio_server())
    pid = int((await c.call_tool("pid", {})).output)
    assert pid in children() - before
    await c.aclose()
    assert children() - before == set()
    assert gone(pid)
    c.close()  # twice is fine
    result = await c.call_tool("pid", {})
    assert result.exit_code == 1 and "closed" in result.output


async def test_close_without_psutil_check() -> None:
    c = McpConnection(stdio_server())
    pid = int((await c.call_tool("pid", {})).output)
    c.close()
    with pytest.raises(ProcessLookupError):
        # reaped by the SDK's client: the pid no longer exists
        os.kill(pid, 0)


# -- streamable HTTP --------------------------------------------------------------------


async def test_http_list_call_error_and_headers(
    http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("A3S_TEST_TOKEN", "tok")
    server = McpServer(
        "web", url=http_url, headers_from_env={"Authorization": "A3S_TEST_TOKEN"}, timeout=0.5
    )
    c = McpConnection(server)
    try:
        registry = ToolRegistry()
        names = await add_mcp_tools(registry, c)
        assert "mcp__web__echo" in names
        ok = await registry.execute("mcp__web__echo", {"text": "over http"}, ctx(tmp_path))
        assert (ok.exit_code, ok.output) == (0, "over http")
        bad = await registry.execute("mcp__web__fail", {"message": "nope"}, ctx(tmp_path))
        assert bad.exit_code == 1 and "nope" in bad.output
        slow = await registry.execute("mcp__web__hang", {}, ctx(tmp_path))
        assert slow.exit_code == 1 and "timed out" in slow.output
        assert [r["uri"] for r in await c.list_resources()] == ["notes://readme"]
    finally:
        await c.aclose()


async def test_http_missing_header_variable(http_url: str) -> None:
    server = McpServer("web", url=http_url, headers_from_env={"X-Key": "A3S_TEST_UNSET_VAR"})
    c = McpConnection(server)
    try:
        result = await c.call_tool("echo", {"text": "x"})
        assert result.exit_code == 1 and "A3S_TEST_UNSET_VAR" in result.output
    finally:
        await c.aclose()


# -- through a real session ------------------------------------------------------------


def make_mcp_session(
    manager: SessionManager,
    workspace: Path,
    registry: ToolRegistry,
    turns: list[ScriptedTurn | str],
    *,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
) -> Any:
    cfg = SessionConfig(
        workspace=str(workspace),
        permission_policy=PermissionPolicy(allow=allow or [], deny=deny or []),
    )
    return manager.create_session(cfg, llm=ScriptedClient(turns), tools=registry)


async def test_session_calls_mcp_tool_end_to_end(
    manager: SessionManager, workspace: Path, conn: McpConnection
) -> None:
    registry = default_registry()
    await add_mcp_tools(registry, conn)
    session = make_mcp_session(
        manager,
        workspace,
        registry,
        [
            turn(
                "adding",
                ("mcp__srv__add", {"a": 20, "b": 22}),
                ("mcp__srv__fail", {"message": "bad input"}),
            ),
            turn("The answer is 42."),
        ],
        allow=["mcp__srv"],
    )
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    result = await session.send_async("add 20 and 22")
    assert result.text == "The answer is 42."
    ends = {e.id: e for e in events if isinstance(e, ToolEnd)}
    assert (ends["t1_mcp__srv__add"].exit_code, ends["t1_mcp__srv__add"].output) == (0, "42")
    assert ends["t2_mcp__srv__fail"].exit_code == 1
    assert "bad input" in ends["t2_mcp__srv__fail"].output


async def test_deny_rule_covers_server_on_boundary_only(
    manager: SessionManager, workspace: Path, conn: McpConnection
) -> None:
    registry = default_registry()
    await add_mcp_tools(registry, conn)
    calls: list[dict[str, Any]] = []

    class Neighbour:
        name = "mcp__srvx__tool"
        description = "a tool of a server named srvx"
        parameters: dict[str, Any] = {"type": "object", "properties": {}}

        async def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
            from a3s_notebook.engine.tools import ToolResult

            calls.append(args)
            return ToolResult(name=self.name, output="srvx ran")

    registry.register(Neighbour())
    session = make_mcp_session(
        manager,
        workspace,
        registry,
        [
            turn("trying", ("mcp__srv__pid", {}), ("mcp__srvx__tool", {})),
            turn("done"),
        ],
        allow=["mcp__srvx"],
        deny=["mcp__srv"],
    )
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    await session.send_async("go")
    denied = [e for e in events if isinstance(e, PermissionDenied)]
    assert [e.tool_name for e in denied] == ["mcp__srv__pid"]
    ends = {e.id: e for e in events if isinstance(e, ToolEnd)}
    assert ends["t1_mcp__srv__pid"].exit_code == 1
    assert "Permission denied" in ends["t1_mcp__srv__pid"].output
    assert ends["t2_mcp__srvx__tool"].output == "srvx ran"
    assert calls == [{}]


def test_one_connection_serves_several_event_loops() -> None:
    """A notebook runs each prompt on whatever loop is at hand: the connection follows."""
    import asyncio

    c = McpConnection(stdio_server())
    try:
        first = asyncio.run(c.call_tool("pid", {}))
        second = asyncio.run(c.call_tool("pid", {}))
        assert first.exit_code == second.exit_code == 0
        assert first.output == second.output  # the same server process, not a restart
        assert c.restarts == 0
    finally:
        c.close()
