"""MCP servers as tools, through the official ``mcp`` SDK (stdio and streamable HTTP).

An :class:`McpServer` describes a server; an :class:`McpConnection` talks to it. The connection
starts the server lazily (on the first :meth:`~McpConnection.list_tools` or call), turns each
of its tools into a :class:`McpTool` named ``mcp__<server>__<tool>`` (names sanitised to
``[A-Za-z0-9_-]``, so permission rules such as ``mcp__server`` apply on the ``__`` boundary),
calls tools with a timeout, and restarts a server that died, once, on the next call, saying
so in the output. :meth:`~McpConnection.close` stops it (a stdio server's whole process group
is ended by the SDK's stdio client); every open connection is also closed at interpreter exit.

The SDK's client keeps task groups that must be entered and left in one task of one event
loop, while a notebook session runs each prompt on whatever loop is at hand. So each
connection owns a small event loop in a daemon thread; every operation runs there and the
caller awaits it from its own loop (:func:`asyncio.wrap_future`). Cancelling the caller
cancels the operation.

A stdio server gets :func:`~a3s_notebook.engine.tools.scrubbed_environ` plus the variables
named in ``env_passthrough`` and the values given in ``env``; never the whole environment.
An HTTP server's secret headers are read from environment variables (``headers_from_env``:
header -> variable name) when connecting; the values are never stored.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import tempfile
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar, cast

from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._env import scrubbed_environ
from a3s_notebook.engine.tools._registry import ToolRegistry

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

logger = logging.getLogger(__name__)

T = TypeVar("T")

MCP_TOOL_PREFIX = "mcp__"
DEFAULT_MCP_CALL_TIMEOUT_S = 60.0
DEFAULT_MCP_STARTUP_TIMEOUT_S = 30.0
_CLOSE_TIMEOUT_S = 15.0  # bounded: the SDK's stdio shutdown escalates to SIGKILL within ~6 s
_PING_TIMEOUT_S = 5.0
_MAX_TOOL_NAME = 64  # the longest function name the OpenAI API accepts
_STDERR_TAIL = 2000

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class McpError(Exception):
    """An MCP server could not be started, reached or used."""


def sanitize_mcp_name(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return _UNSAFE.sub("_", name)


def _server_part(name: str) -> str:
    # A server name never holds "__": that is the boundary the permission rules match on.
    part = re.sub(r"_{2,}", "_", sanitize_mcp_name(name)).strip("_")
    if not part:
        raise ValueError(f"MCP server name {name!r} has no usable characters ([A-Za-z0-9_-])")
    return part


def mcp_tool_prefix(server_name: str) -> str:
    """``mcp__<server>__``: the start of every tool name of that server."""
    return f"{MCP_TOOL_PREFIX}{_server_part(server_name)}__"


def mcp_tool_name(server_name: str, tool_name: str) -> str:
    """``mcp__<server>__<tool>``, sanitised; over 64 characters it is cut and given a hash."""
    full = mcp_tool_prefix(server_name) + (sanitize_mcp_name(tool_name) or "_")
    if len(full) <= _MAX_TOOL_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: _MAX_TOOL_NAME - 9]}_{digest}"


@dataclass(frozen=True)
class McpServer:
    """How to reach an MCP server: a command (stdio) or a ``url`` (streamable HTTP).

    stdio: ``command`` and ``args``; the process gets the scrubbed environment plus the
    variables named exactly in ``env_passthrough`` (copied from this process) and the values
    in ``env``; ``cwd`` is its working directory.
    HTTP: ``url``; ``headers`` are sent as given (do not put secrets there) and
    ``headers_from_env`` maps a header to the environment variable that holds its value,
    read when connecting.
    ``timeout`` bounds each tool call (seconds); ``startup_timeout`` bounds the start and
    handshake.
    """

    name: str
    command: str | None = None
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    env_passthrough: Sequence[str] = ()
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    headers_from_env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_MCP_CALL_TIMEOUT_S
    startup_timeout: float = DEFAULT_MCP_STARTUP_TIMEOUT_S

    def __post_init__(self) -> None:
        _server_part(self.name)
        if (self.command is None) == (self.url is None):
            raise ValueError(
                f"MCP server {self.name!r}: give either command (stdio) or url (HTTP), not "
                f"{'both' if self.command is not None else 'neither'}"
            )
        if isinstance(self.args, str):
            raise TypeError("args must be a list of strings, not one string")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCP server {self.name!r}: url must start with http:// or https://")
        if self.timeout <= 0 or self.startup_timeout <= 0:
            raise ValueError("timeouts must be positive")
        # Fails now (naming the entry) rather than at start for a pattern or a bad name.
        scrubbed_environ(self.env_passthrough, environ={})

    @property
    def transport(self) -> str:
        """``"stdio"`` or ``"http"``."""
        return "stdio" if self.command is not None else "http"

    @property
    def tool_prefix(self) -> str:
        """``mcp__<server>__``."""
        return mcp_tool_prefix(self.name)

    def process_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a stdio server's process."""
        return {**scrubbed_environ(self.env_passthrough, environ), **self.env}

    def request_headers(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The HTTP headers, with ``headers_from_env`` resolved; a missing variable raises."""
        source = os.environ if environ is None else environ
        headers = dict(self.headers)
        for header, var in self.headers_from_env.items():
            value = source.get(var)
            if value is None:
                raise McpError(
                    f"MCP server {self.name!r}: header {header!r} needs the environment "
                    f"variable {var}, which is not set"
                )
            headers[header] = value
        return headers

    def describe(self) -> str:
        """One line for listings (no header or environment values)."""
        if self.command is not None:
            return " ".join([self.command, *self.args])
        return str(self.url)


@dataclass
class _Live:
    """A running connection: the SDK session and the task that holds its contexts."""

    session: Any
    runner: asyncio.Task[None]
    stop: asyncio.Event
    capabilities: dict[str, Any]


_open_connections: weakref.WeakSet[McpConnection] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    for connection in list(_open_connections):
        with contextlib.suppress(Exception):
            connection.close()


class McpConnection:
    """A lazily started connection to one MCP server.

    ``on_event(kind, data)`` (optional) hears ``"mcp_server_started"``,
    ``"mcp_server_failed"``, ``"mcp_server_restarted"`` and ``"mcp_server_stopped"`` so a
    session can log them; it is called on the connection's own thread and must not block.
    """

    def __init__(
        self,
        server: McpServer,
        *,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.server = server
        self.on_event = on_event
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._live: _Live | None = None
        self._start_lock: asyncio.Lock | None = None
        self._failure: str | None = None  # why the last live connection died
        self._errlog: TextIO | None = None
        self._errlog_start = 0  # where the current process's stderr begins in _errlog
        self._closed = False
        self.restarts = 0

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"McpConnection({self.server.name!r}, {self.server.transport}, {state})"

    @property
    def name(self) -> str:
        """The server's name."""
        return self.server.name

    @property
    def is_running(self) -> bool:
        """Whether the server is started and its connection has not ended."""
        live = self._live
        return live is not None and not live.runner.done()

    # -- the connection's own loop ------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._thread_lock:
            if self._closed:
                raise McpError(f"MCP server {self.server.name!r}: the connection is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(
                    target=run, name=f"a3s-mcp-{self.server.name}", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                _open_connections.add(self)
            return self._loop

    async def _on_loop(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``factory()`` on the connection's loop and await it from the caller's loop."""
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(factory(), loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    def _emit(self, kind: str, **data: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, {"server": self.server.name, **data})
        except Exception:
            logger.warning("MCP on_event callback failed", exc_info=True)

    # -- starting and stopping (on the connection's loop) -------------------------------

    def _transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        server = self.server
        if server.command is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            if self._errlog is None:
                # A real file: a kernel's sys.stderr has no descriptor for the subprocess.
                log = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
                self._errlog = cast(TextIO, log)
            with contextlib.suppress(OSError, ValueError):
                self._errlog.flush()
                self._errlog_start = self._errlog.seek(0, os.SEEK_END)
            params = StdioServerParameters(
                command=server.command,
                args=list(server.args),
                env=server.process_env(),
                cwd=server.cwd,
            )
            return stdio_client(params, errlog=self._errlog)
        headers = server.request_headers()
        module: Any = importlib.import_module("mcp.client.streamable_http")
        modern = getattr(module, "streamable_http_client", None)
        if modern is not None:
            http_utils: Any = importlib.import_module("mcp.shared._httpx_utils")
            client = http_utils.create_mcp_http_client(headers=headers)
            return _owning(client, modern(str(server.url), http_client=client))
        # mcp 1.x before streamable_http_client
        return module.streamablehttp_client(str(server.url), headers=headers)  # type: ignore[no-any-return]

    async def _start(self) -> _Live:
        from mcp import ClientSession

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        started: asyncio.Future[tuple[Any, dict[str, Any]]] = loop.create_future()

        async def hold() -> None:
            try:
                async with (
                    self._transport() as streams,
                    ClientSession(streams[0], streams[1]) as session,
                ):
                    init = await session.initialize()
                    caps = init.capabilities.model_dump(by_alias=True, exclude_none=True)
                    if not started.done():
                        started.set_result((session, caps))
                    await stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                if not stop.is_set():
                    self._failure = _describe(exc)
                    logger.info("MCP server %s connection ended: %s", self.server.name, exc)

        runner = asyncio.get_running_loop().create_task(hold())
        try:
            async with asyncio.timeout(self.server.startup_timeout):
                session, caps = await asyncio.shield(started)
        except BaseException as exc:
            stop.set()
            runner.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(runner), _CLOSE_TIMEOUT_S)
            if isinstance(exc, TimeoutError):
                raise McpError(
                    f"MCP server {self.server.name!r} did not start within "
                    f"{self.server.startup_timeout:g}s{self._stderr_hint()}"
                ) from exc
            if isinstance(exc, Exception) and not isinstance(exc, McpError):
                raise McpError(
                    f"MCP server {self.server.name!r} ({self.server.describe()}) failed to "
                    f"start: {_describe(exc)}{self._stderr_hint()}"
                ) from exc
            raise
        return _Live(session=session, runner=runner, stop=stop, capabilities=caps)

    async def _stop_live(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            await _stop(live)

    async def _ensure_live(self) -> tuple[_Live, str | None]:
        """The live connection, starting (or restarting, once) the server; plus a note."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            live = self._live
            if live is not None and not live.runner.done():
                return live, None
            note: str | None = None
            if live is not None:  # it was running and has died since
                reason = self._failure or "the connection ended"
                await self._stop_live()
                self.restarts += 1
                note = f"[MCP server '{self.server.name}' had stopped ({reason}); restarted it]"
            self._failure = None
            try:
                self._live = await self._start()
            except McpError as exc:
                self._emit("mcp_server_failed", error=str(exc))
                raise
            if note is not None:
                self._emit("mcp_server_restarted", message=note, restarts=self.restarts)
            else:
                self._emit("mcp_server_started", transport=self.server.transport)
            return self._live, note

    async def _is_alive(self, live: _Live) -> bool:
        if live.runner.done():
            return False
        try:
            await asyncio.wait_for(live.session.send_ping(), _PING_TIMEOUT_S)
        except (Exception, asyncio.CancelledError):
            return False
        return True

    def _stderr_hint(self) -> str:
        log = self._errlog
        if log is None:
            return ""
        try:
            log.flush()
            size = log.seek(0, os.SEEK_END)
            start = max(self._errlog_start, size - _STDERR_TAIL)
            log.seek(start)
            tail = log.read()
            log.seek(0, os.SEEK_END)
        except (OSError, ValueError, UnicodeDecodeError):
            return ""
        if start > self._errlog_start and "\n" in tail:
            tail = tail.split("\n", 1)[1]  # from the first whole line
        tail = tail.strip()
        return f"\nserver stderr (last lines):\n{tail}" if tail else ""

    # -- public operations --------------------------------------------------------------

    async def start(self) -> None:
        """Start the server now (it otherwise starts on first use)."""
        await self._on_loop(self._ensure_live)

    async def list_tools(self) -> list[McpTool]:
        """The server's tools as :class:`McpTool` objects (starts the server if needed)."""

        async def go() -> list[dict[str, Any]]:
            live, _note = await self._ensure_live()
            return await _paginate(live.session.list_tools, "tools")

        return [McpTool(self, spec) for spec in await self._on_loop(go)]

    async def list_resources(self) -> list[dict[str, Any]]:
        """The server's resources (``uri``, ``name``, ``mimeType``...); [] if it has none."""
        return await self._list("resources", "list_resources")

    async def list_prompts(self) -> list[dict[str, Any]]:
        """The server's prompts (``name``, ``description``, ``arguments``); [] if it has none."""
        return await self._list("prompts", "list_prompts")

    async def _list(self, capability: str, method: str) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            live, _note = await self._ensure_live()
            if capability not in live.capabilities:
                return []
            return await _paginate(getattr(live.session, method), capability)

        return await self._on_loop(go)

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolResult:
        """Call the server's tool ``tool_name`` (its own name, not ``mcp__...``).

        Never raises for the server's failures: a tool error (``isError``), a timeout, a
        server that cannot start or that dies during the call are error results (exit code
        1) saying what happened. A server that died is restarted on the next call, once.
        """
        limit = self.server.timeout if timeout is None else timeout
        label = f"{self.server.name}/{tool_name}"
        result_name = mcp_tool_name(self.server.name, tool_name)

        async def go() -> ToolResult:
            try:
                live, note = await self._ensure_live()
            except McpError as exc:
                return ToolResult.error(result_name, str(exc))
            prefix = f"{note}\n" if note else ""
            meta: dict[str, Any] = {"mcp_server": self.server.name, "mcp_tool": tool_name}
            if note:
                meta["mcp_restarted"] = True
            try:
                async with asyncio.timeout(limit):
                    result = await live.session.call_tool(tool_name, arguments)
            except TimeoutError:
                return ToolResult(
                    name=result_name,
                    output=f"{prefix}MCP tool {label} timed out after {limit:g}s",
                    exit_code=1,
                    metadata={**meta, "timed_out": True},
                )
            except Exception as exc:
                if await self._is_alive(live):
                    return ToolResult(
                        name=result_name,
                        output=f"{prefix}MCP tool {label} failed: {_describe(exc)}",
                        exit_code=1,
                        metadata=meta,
                    )
                self._failure = self._failure or _describe(exc)
                # Stop what is left now so no process lingers until the next call; the dead
                # connection stays as _live (its runner done) so the next call restarts it.
                await _stop(live)
                message = (
                    f"{prefix}MCP server '{self.server.name}' stopped during the call to "
                    f"{tool_name} ({_describe(exc)}); it will be restarted on the next call"
                    f"{self._stderr_hint()}"
                )
                self._emit("mcp_server_failed", error=message)
                return ToolResult(name=result_name, output=message, exit_code=1, metadata=meta)
            data = result.model_dump(by_alias=True, exclude_none=True, mode="json")
            output = prefix + _render_content(data)
            is_error = bool(data.get("isError"))
            return ToolResult(
                name=result_name, output=output, exit_code=1 if is_error else 0, metadata=meta
            )

        try:
            return await self._on_loop(go)
        except McpError as exc:  # the connection was closed
            return ToolResult.error(result_name, str(exc))

    async def aclose(self) -> None:
        """:meth:`close` from async code (does not block the caller's loop)."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stop the server (a stdio server's process group ends) and the connection's thread.

        Safe to call more than once and from any thread except the connection's own.
        """
        with self._thread_lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        _open_connections.discard(self)
        if loop is not None and thread is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._stop_live(), loop)
            try:
                future.result(timeout=_CLOSE_TIMEOUT_S * 2)
            except (Exception, concurrent.futures.CancelledError):
                logger.warning(
                    "MCP server %s did not stop cleanly", self.server.name, exc_info=True
                )
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=_CLOSE_TIMEOUT_S)
            if not thread.is_alive():
                loop.close()
        if self._errlog is not None:
            with contextlib.suppress(OSError):
                self._errlog.close()
        self._emit("mcp_server_stopped")


async def _stop(live: _Live) -> None:
    live.stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(live.runner), _CLOSE_TIMEOUT_S)
    except (Exception, asyncio.CancelledError):
        live.runner.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(live.runner, _CLOSE_TIMEOUT_S)


@contextlib.asynccontextmanager
async def _owning(client: Any, transport: Any) -> Any:
    """Enter the HTTP client and then the transport that uses it; leave both."""
    async with client, transport as streams:
        yield streams


async def _paginate(method: Callable[..., Awaitable[Any]], key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _page in range(1000):
        if cursor is None:
            result = await method()
        else:
            from mcp.types import PaginatedRequestParams

            result = await method(params=PaginatedRequestParams(cursor=cursor))
        data = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        items.extend(data.get(key, []))
        cursor = data.get("nextCursor")
        if not cursor:
            break
    return items


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _render_content(data: dict[str, Any]) -> str:
    """A call result as text: text blocks joined, other content summarised."""
    parts: list[str] = []
    for block in data.get("content", []):
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind in ("image", "audio"):
            size = len(str(block.get("data", ""))) * 3 // 4
            parts.append(f"[{kind}: {block.get('mimeType', '?')}, about {size} bytes]")
        elif kind == "resource_link":
            name = block.get("name") or ""
            parts.append(f"[resource link: {block.get('uri', '?')} {name}]".replace(" ]", "]"))
        elif kind == "resource":
            res = block.get("resource", {})
            uri = res.get("uri", "?")
            if "text" in res:
                parts.append(f"[resource {uri}]\n{res['text']}")
            else:
                size = len(str(res.get("blob", ""))) * 3 // 4
                parts.append(f"[resource {uri}: {res.get('mimeType', '?')}, about {size} bytes]")
        else:
            parts.append(f"[{kind} content]")
    if not parts and "structuredContent" in data:
        parts.append(json.dumps(data["structuredContent"], ensure_ascii=False))
    return "\n".join(parts)


class McpTool:
    """One tool of an MCP server, as a :class:`~a3s_notebook.engine.tools.Tool`."""

    def __init__(self, connection: McpConnection, spec: dict[str, Any]) -> None:
        self.connection = connection
        self.tool_name: str = spec["name"]
        self.name = mcp_tool_name(connection.server.name, self.tool_name)
        text = spec.get("description") or spec.get("title") or self.tool_name
        self.description = f"{text} (MCP server '{connection.server.name}')"
        schema = spec.get("inputSchema")
        params: dict[str, Any] = dict(schema) if isinstance(schema, dict) else {}
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        self.parameters = params
        self.annotations: dict[str, Any] = dict(spec.get("annotations") or {})

    def __repr__(self) -> str:
        return f"McpTool({self.name!r})"

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Call the tool on its server."""
        return await self.connection.call_tool(self.tool_name, args)


async def add_mcp_tools(registry: ToolRegistry, connection: McpConnection) -> list[str]:
    """Register every tool of ``connection``'s server (starting it); returns their names.

    Tools the server no longer offers are removed first, so calling this again refreshes.
    """
    tools = await connection.list_tools()
    remove_mcp_tools(registry, connection.server.name)
    for tool in tools:
        registry.register(tool)
    return [tool.name for tool in tools]


def remove_mcp_tools(registry: ToolRegistry, server_name: str) -> list[str]:
    """Unregister every ``mcp__<server>__*`` tool (exactly that server); returns their names."""
    prefix = mcp_tool_prefix(server_name).lower()
    names = [name for name in registry.names() if name.lower().startswith(prefix)]
    for name in names:
        registry.unregister(name)
    return names
