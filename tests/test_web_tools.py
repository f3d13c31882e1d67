"""``web_fetch`` and ``web_search`` against real loopback HTTP servers (never the network).

Loopback is a private address, so ``web_fetch`` refuses it unless the test opens its one
port with ``WebFetchConfig(allow_private=["127.0.0.1:<port>"])``: the same rule that keeps
a page from redirecting the tool to another local port (an "admin" server here).
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import SessionConfig, SessionManager
from a3s_notebook.engine.errors import ConfigError
from a3s_notebook.engine.events import AgentEvent, ConfirmationRequired, ToolEnd
from a3s_notebook.engine.security import SecurityConfig, SecurityGuard
from a3s_notebook.engine.tools import ToolContext
from a3s_notebook.engine.tools._web import WebFetchTool, WebSearchTool
from a3s_notebook.engine.web import WebFetchConfig, WebSearchConfig, is_public_address
from a3s_notebook.llm.scripted import ScriptedClient

from .conftest import turn

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Server:
    """A loopback HTTP server: ``routes[path](handler)`` answers; every request is kept."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _serve(server: Server, tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            server.requests.append((self.path, dict(self.headers.items())))
            route = server.routes.get(path)
            if route is None:
                self.send_error(404)
                return
            route(self)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd


@pytest.fixture
def servers() -> Iterator[Callable[[], Server]]:
    made: list[tuple[Server, ThreadingHTTPServer]] = []

    def make(tls: ssl.SSLContext | None = None) -> Server:
        server = Server()
        made.append((server, _serve(server, tls)))
        return server

    yield make
    for server, httpd in made:
        server.release.set()
        httpd.shutdown()
        httpd.server_close()


def reply(
    body: bytes | str,
    ctype: str = "text/html; charset=utf-8",
    status: int = 200,
    headers: dict[str, str] | None = None,
    length: bool = True,
) -> Handler:
    data = body.encode() if isinstance(body, str) else body

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if length:
            h.send_header("Content-Length", str(len(data)))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)

    return handle


def redirect(location: str, status: int = 302) -> Handler:
    return reply(b"", status=status, headers={"Location": location})


def tool_for(*servers: Server, **config: Any) -> WebFetchTool:
    allow = [f"127.0.0.1:{s.port}" for s in servers]
    return WebFetchTool(WebFetchConfig(allow_private=allow, **config))


async def fetch(tool: WebFetchTool, tmp_path: Path, **args: Any) -> Any:
    return await tool.execute(args, ToolContext(workspace=tmp_path))


PAGE = """<!doctype html><html><head><title>Docs</title><style>p{color:red}</style>
<script>alert('x')</script></head><body><h1>Install</h1><p>Run <code>pip install a3s</code>,
then read <a href="/guide">the guide</a>.</p><ul><li>one</li><li>two</li></ul>
<img src="data:image/png;base64,AAAA"><noscript>enable js</noscript></body></html>"""


async def test_html_becomes_markdown_text_or_stays_html(servers: Any, tmp_path: Path) -> None:
    s = servers()
    s.routes["/page"] = reply(PAGE)
    tool = tool_for(s)
    result = await fetch(tool, tmp_path, url=s.base + "/page")
    assert not result.is_error, result.output
    md = result.output
    assert md.startswith("# Docs\n\n# Install")
    assert "Run `pip install a3s`,\nthen read [the guide](/guide)." in md
    assert "- one\n- two" in md
    for gone in ("alert", "color:red", "data:image", "enable js"):
        assert gone not in md
    assert result.metadata["status"] == 200 and result.metadata["content_type"] == "text/html"
    text = (await fetch(tool, tmp_path, url=s.base + "/page", format="text")).output
    assert "Install" in text and "[the guide]" not in text and "alert" not in text
    html = (await fetch(tool, tmp_path, url=s.base + "/page", format="html")).output
    assert html == PAGE


async def test_text_and_json_pass_through_and_binary_is_refused(
    servers: Any, tmp_path: Path
) -> None:
    s = servers()
    s.routes["/a.txt"] = reply("plain <b>text</b>", "text/plain")
    s.routes["/a.json"] = reply('{"k": 1}', "application/json")
    s.routes["/latin"] = reply("caf\xe9".encode("latin-1"), "text/plain; charset=iso-8859-1")
    s.routes["/img"] = reply(b"\x89PNG\r\n\x1a\n\0\0", "image/png")
    s.routes["/none"] = reply(b"\0\1\2binary", "")
    tool = tool_for(s)
    assert (await fetch(tool, tmp_path, url=s.base + "/a.txt")).output == "plain <b>text</b>"
    assert (await fetch(tool, tmp_path, url=s.base + "/a.json")).output == '{"k": 1}'
    assert (await fetch(tool, tmp_path, url=s.base + "/latin")).output == "café"
    img = await fetch(tool, tmp_path, url=s.base + "/img")
    assert img.is_error and "image/png content; web_fetch returns text only" in img.output
    assert (await fetch(tool, tmp_path, url=s.base + "/none")).is_error


async def test_http_errors_are_reported(servers: Any, tmp_path: Path) -> None:
    s = servers()
    result = await fetch(tool_for(s), tmp_path, url=s.base + "/missing")
    assert result.is_error and result.output.startswith("HTTP 404 Not Found from ")


# -- attacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "only http:// and https:// URLs are fetched (file)"),
        ("FILE:///etc/passwd", "only http:// and https:// URLs are fetched"),
        ("ftp://example.com/x", "only http:// and https:// URLs are fetched (ftp)"),
        ("gopher://127.0.0.1:25/", "only http:// and https:// URLs are fetched"),
        ("javascript:alert(1)", "only http:// and https:// URLs are fetched"),
        ("//example.com/x", "only http:// and https:// URLs are fetched (no scheme)"),
        ("http://user:pw@example.com/", "credentials in the URL are not sent"),
        ("http:///nohost", "it has no host"),
        ("http://169.254.169.254/latest/meta-data/", "is a link-local (cloud metadata) address"),
        ("http://[fd00:ec2::254]/latest/", "fd00:ec2::254 is a private address"),
        ("http://[::ffff:169.254.169.254]/", "a link-local (cloud metadata) address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://0.0.0.0:80/", "0.0.0.0 is a reserved address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://127.1/", "127.1 resolves to 127.0.0.1, a loopback address"),
        ("http://2130706433/", "a loopback address"),
        ("http://0x7f000001/", "a loopback address"),
    ],
)
async def test_refused_urls(tmp_path: Path, url: str, message: str) -> None:
    result = await fetch(WebFetchTool(), tmp_path, url=url)
    assert result.is_error and message in result.output, result.output


async def test_metadata_address_opens_only_when_listed(tmp_path: Path) -> None:
    tool = WebFetchTool(WebFetchConfig(allow_private=["169.254.169.254"]))
    # listed: the address check passes and the connection is attempted (the autouse
    # fixture makes it fail, which proves the check let it through)
    result = await fetch(tool, tmp_path, url="http://169.254.169.254/latest/")
    assert result.is_error and result.output.startswith("Failed to fetch")
    assert "public addresses only" not in result.output
    assert (
        "add '169.254.169.254:80'"
        in (await fetch(WebFetchTool(), tmp_path, url="http://169.254.169.254/")).output
    )


async def test_loopback_is_refused_unless_its_port_is_listed(servers: Any, tmp_path: Path) -> None:
    s = servers()
    s.routes["/"] = reply("hi", "text/plain")
    result = await fetch(WebFetchTool(), tmp_path, url=s.base + "/")
    assert result.is_error
    assert f"add '127.0.0.1:{s.port}' to SessionConfig.web_fetch.allow_private" in result.output
    assert s.requests == []
    other_port = WebFetchTool(WebFetchConfig(allow_private=[f"127.0.0.1:{s.port + 1}"]))
    assert (await fetch(other_port, tmp_path, url=s.base + "/")).is_error
    assert s.requests == []
    assert (await fetch(tool_for(s), tmp_path, url=s.base + "/")).output == "hi"


async def test_a_name_is_checked_on_what_it_resolves_to_and_pinned(
    servers: Any, tmp_path: Path
) -> None:
    s = servers()
    s.routes["/"] = reply("pinned", "text/plain")

    async def resolver(host: str, port: int) -> list[str]:
        return {"public.test": ["127.0.0.1"], "mixed.test": ["93.184.216.34", "127.0.0.1"]}[host]

    refused = WebFetchTool(resolver=resolver)
    result = await fetch(refused, tmp_path, url=f"http://public.test:{s.port}/")
    assert result.is_error
    assert "public.test resolves to 127.0.0.1, a loopback address" in result.output
    result = await fetch(refused, tmp_path, url="http://mixed.test/")
    assert result.is_error and "resolves to 127.0.0.1" in result.output
    # allowed by name: the request goes to the checked address, the Host header keeps the name
    named = WebFetchTool(WebFetchConfig(allow_private=[f"public.test:{s.port}"]), resolver=resolver)
    result = await fetch(named, tmp_path, url=f"http://public.test:{s.port}/")
    assert result.output == "pinned"
    assert s.requests[-1][1]["Host"] == f"public.test:{s.port}"


async def test_redirects(servers: Any, tmp_path: Path) -> None:
    s, admin = servers(), servers()
    admin.routes["/admin"] = reply("SECRET ADMIN", "text/plain")
    s.routes["/final"] = reply("arrived", "text/plain")
    s.routes["/same"] = redirect("/final")
    s.routes["/to-admin"] = redirect(f"http://127.0.0.1:{admin.port}/admin")
    s.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
    s.routes["/to-localhost"] = redirect(f"http://localhost:{s.port}/final")
    s.routes["/to-file"] = redirect("file:///etc/passwd")
    s.routes["/loop"] = redirect("/loop")
    s.routes["/bad"] = redirect("http://[::1")
    tool = tool_for(s)

    result = await fetch(tool, tmp_path, url=s.base + "/same")
    assert result.output == "arrived" and result.metadata["final_url"].endswith("/final")

    result = await fetch(tool, tmp_path, url=s.base + "/to-admin")
    assert result.is_error and f"add '127.0.0.1:{admin.port}'" in result.output
    assert admin.requests == []

    for path, target in [
        ("/to-metadata", "http://169.254.169.254/latest/meta-data/"),
        ("/to-localhost", f"http://localhost:{s.port}/final"),
    ]:
        result = await fetch(tool, tmp_path, url=s.base + path)
        assert not result.is_error
        assert f"redirects to another host: {target}\nNot followed." in result.output
        assert result.metadata["redirect"] == target

    result = await fetch(tool, tmp_path, url=s.base + "/to-file")
    assert result.is_error and "redirects to a file: URL" in result.output

    result = await fetch(tool, tmp_path, url=s.base + "/bad")
    assert result.is_error and "Invalid URL in location header" in result.output

    result = await fetch(tool, tmp_path, url=s.base + "/loop")
    assert result.is_error and "Too many redirects (more than 5)" in result.output
    assert sum(1 for p, _ in s.requests if p == "/loop") == 6


async def test_size_limit(servers: Any, tmp_path: Path) -> None:
    s = servers()
    s.routes["/declared"] = reply("x" * 2000, "text/plain")
    s.routes["/chunked"] = reply("y" * 2000, "text/plain", length=False)
    s.routes["/small"] = reply("z" * 1000, "text/plain")
    tool = tool_for(s, max_bytes=1000)
    result = await fetch(tool, tmp_path, url=s.base + "/declared")
    assert result.is_error and "is 2000 bytes, over the 1000-byte limit" in result.output
    result = await fetch(tool, tmp_path, url=s.base + "/chunked")
    assert result.is_error and "over the 1000-byte limit; not read further" in result.output
    assert (await fetch(tool, tmp_path, url=s.base + "/small")).output == "z" * 1000


async def test_a_slow_body_times_out(servers: Any, tmp_path: Path) -> None:
    s = servers()

    def slow(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b"first bytes")
        h.wfile.flush()
        s.release.wait(30)  # until the test ends: the body never completes

    s.routes["/slow"] = slow
    result = await fetch(tool_for(s), tmp_path, url=s.base + "/slow", timeout=0.3)
    assert result.is_error and result.output == f"Timed out after 0.3s fetching {s.base}/slow"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "http://x.test", "format": "pdf"}, "'format' must be one of markdown, text, html"),
        ({"url": "http://x.test", "timeout": 0}, "'timeout' must be more than 0 and at most 120"),
        ({"url": "http://x.test", "timeout": 500}, "at most 120 seconds"),
        ({"url": "http://x.test", "timeout": "5"}, "'timeout' must be a number"),
        ({}, "Missing required argument 'url'"),
    ],
)
async def test_bad_arguments(tmp_path: Path, args: dict[str, Any], message: str) -> None:
    result = await fetch(WebFetchTool(), tmp_path, **args)
    assert result.is_error and message in result.output


def test_address_classes() -> None:
    assert is_public_address("93.184.216.34") and is_public_address("2606:2800:220:1::1")
    for private in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "2002:7f00:1::",
        "not-an-ip",
    ):
        assert not is_public_address(private), private


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"allow_private": ["http://x/"]}, "allow_private"),
        ({"allow_private": ["host:99999"]}, "allow_private"),
        ({"max_bytes": -1}, "max_bytes"),
        ({"max_timeout_s": 0}, "max_timeout_s"),
        ({"allow_loopback": True}, " has no field 'allow_loopback'"),
    ],
)
def test_bad_fetch_config(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=f"WebFetchConfig.?{field}"):
        WebFetchConfig(**config)


def test_the_guard_whitelist_covers_web_fetch() -> None:
    guard = SecurityGuard(SecurityConfig(network_whitelist=["example.com"]))
    assert guard.check_tool_call("web_fetch", {"url": "https://docs.example.com/a"}) is None
    for url in ("https://evil.net/", "https://example.com.evil.net/", "file:///etc", "nonsense"):
        verdict = guard.check_tool_call("web_fetch", {"url": url})
        assert verdict is not None and verdict.rule == "network_whitelist", url
    # no whitelist: the guard leaves web_fetch to the rules and the tool
    assert (
        SecurityGuard(SecurityConfig()).check_tool_call("web_fetch", {"url": "https://x/"}) is None
    )


async def test_in_a_session_rules_decide_per_domain(
    servers: Any, make_session: Any, workspace: Path
) -> None:
    s = servers()
    s.routes["/doc"] = reply("<h2>Hello</h2>")
    session = make_session(
        [
            turn(
                "",
                ("web_fetch", {"url": s.base + "/doc"}),
                ("web_fetch", {"url": "https://unlisted.example/"}),
            ),
            turn("done"),
        ],
        allow=["WebFetch(domain:127.0.0.1)"],
        timeout_ms=50,
        web_fetch={"allow_private": [f"127.0.0.1:{s.port}"]},
    )
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    await session.send_async("fetch")
    ends = {e.id: e for e in events if isinstance(e, ToolEnd)}
    assert ends["t1_web_fetch"].exit_code == 0 and ends["t1_web_fetch"].output == "## Hello"
    assert ends["t2_web_fetch"].exit_code == 1
    asked = [e for e in events if isinstance(e, ConfirmationRequired)]
    assert [e.args["url"] for e in asked] == ["https://unlisted.example/"]
    assert asked[0].suggested_rule == "WebFetch(domain:unlisted.example)"


# -- web_search ------------------------------------------------------------------------------------

ANSWER = {
    "web": {
        "results": [
            {"title": "A3S", "url": "https://a3s.example/", "description": "The agent."},
            {"title": "No url"},
            {"title": "Second", "url": "https://b.example/", "description": None},
        ]
    }
}


def search_config(s: Server, **extra: Any) -> WebSearchConfig:
    return WebSearchConfig(
        **{
            "url": s.base + "/search?q={query}&count={limit}",
            "api_key_env": "TEST_SEARCH_KEY",
            "key_header": "X-Subscription-Token",
            "key_prefix": "",
            "results": "web.results",
            "snippet": "description",
            **extra,
        }
    )


async def test_search_maps_results_and_sends_the_key(servers: Any, tmp_path: Path) -> None:
    s = servers()
    s.routes["/search"] = reply(json.dumps(ANSWER), "application/json")
    tool = WebSearchTool(search_config(s), environ={"TEST_SEARCH_KEY": "k-123"})
    result = await tool.execute({"query": "a3s notebook & more", "limit": 3}, ToolContext(tmp_path))
    assert not result.is_error, result.output
    assert result.output == (
        "1. A3S\n   https://a3s.example/\n   The agent.\n\n2. Second\n   https://b.example/"
    )
    path, headers = s.requests[-1]
    assert path == "/search?q=a3s%20notebook%20%26%20more&count=3"
    assert headers["X-Subscription-Token"] == "k-123"
    as_json = await tool.execute({"query": "x", "format": "json"}, ToolContext(tmp_path))
    assert json.loads(as_json.output)[0] == {
        "title": "A3S",
        "url": "https://a3s.example/",
        "snippet": "The agent.",
    }


async def test_search_errors_are_clear_and_never_show_the_key(servers: Any, tmp_path: Path) -> None:
    s = servers()
    s.routes["/search"] = reply("oops", "text/plain", status=500)
    s.routes["/html"] = reply("<html>", "text/html")
    ctx = ToolContext(tmp_path)
    missing = WebSearchTool(search_config(s), environ={})
    result = await missing.execute({"query": "x"}, ctx)
    assert result.is_error and "set the environment variable TEST_SEARCH_KEY" in result.output
    in_url = search_config(s, url=s.base + "/search?q={query}&key={key}")
    result = await WebSearchTool(in_url, environ={"TEST_SEARCH_KEY": "sk-hidden"}).execute(
        {"query": "x"}, ctx
    )
    assert result.is_error and "HTTP 500" in result.output and "sk-hidden" not in result.output
    assert s.requests[-1][0] == "/search?q=x&key=sk-hidden"
    html = WebSearchTool(
        search_config(s, url=s.base + "/html?q={query}"), environ={"TEST_SEARCH_KEY": "k"}
    )
    assert "did not answer with JSON" in (await html.execute({"query": "x"}, ctx)).output
    wrong_path = WebSearchTool(search_config(s, results="items"), environ={"TEST_SEARCH_KEY": "k"})
    s.routes["/search"] = reply(json.dumps(ANSWER), "application/json")
    result = await wrong_path.execute({"query": "x"}, ctx)
    assert result.is_error and "no list at 'items'" in result.output


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "https://api.example/search"}, "must contain {query}"),
        ({"url": "file:///x?q={query}"}, "http:// or https://"),
        ({"url": "https://{query}.example.com/"}, "out of the host part"),
        ({"url": "https://{key}@api.example.com/?q={query}"}, "out of the host part"),
        (
            {"url": "https://a.example/?q={query}", "api_key_env": "sk-live-abc"},
            "environment variable name",
        ),
        ({"url": "https://a.example/?q={query}", "max_results": 0}, "at least 1"),
    ],
)
def test_bad_search_config(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        WebSearchConfig(**config)


def test_web_search_is_registered_only_with_a_backend_and_after_a_restore(
    servers: Any, tmp_path: Path
) -> None:
    s = servers()
    ws = tmp_path / "ws"
    ws.mkdir()
    manager = SessionManager(tmp_path / "sessions")
    plain = manager.create_session(SessionConfig(workspace=str(ws)), llm=ScriptedClient([]))
    assert "web_search" not in plain.tools and "web_fetch" in plain.tools
    config = SessionConfig(
        workspace=str(ws),
        web_search={"url": s.base + "/search?q={query}", "results": "web.results"},
        web_fetch={"allow_private": [f"127.0.0.1:{s.port}"]},
    )
    session = manager.create_session(config, llm=ScriptedClient([]))
    assert "web_search" in session.tools
    fetch_tool = session.tools.get("web_fetch")
    assert isinstance(fetch_tool, WebFetchTool)
    assert fetch_tool.config.allow_private == [f"127.0.0.1:{s.port}"]
    manager.close()
    again = SessionManager(tmp_path / "sessions").restore_session(session.id)
    assert "web_search" in again.tools
    restored = again.tools.get("web_fetch")
    assert isinstance(restored, WebFetchTool)
    assert restored.config.allow_private == [f"127.0.0.1:{s.port}"]


async def test_a_yolo_query_lane_does_not_skip_web_asks(
    servers: Any, make_session: Any, workspace: Path
) -> None:
    from a3s_notebook.engine import ConfirmationPolicy, SessionLane

    s = servers()
    s.routes["/doc"] = reply("<p>data</p>")
    yolo = ConfirmationPolicy.enabled_policy().with_yolo_lanes([SessionLane.QUERY])
    yolo = yolo.with_timeout(50, yolo.timeout_action)
    session = make_session(
        [
            turn(
                "",
                ("read", {"file_path": "hello.txt"}),
                ("web_fetch", {"url": s.base + "/doc?leak=hello"}),
            ),
            turn("", ("web_fetch", {"url": s.base + "/doc"})),
            turn("done"),
        ],
        confirmation=yolo,
        web_fetch={"allow_private": [f"127.0.0.1:{s.port}"]},
    )
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    await session.send_async("go")
    asked = [e.tool_name for e in events if isinstance(e, ConfirmationRequired)]
    assert asked == ["web_fetch", "web_fetch"]  # read ran unasked, the fetches did not
    assert s.requests == []
    # an allow rule is what lets a fetch run unasked
    session2 = make_session(
        [turn("", ("web_fetch", {"url": s.base + "/doc"})), turn("done")],
        confirmation=yolo,
        allow=["WebFetch(domain:127.0.0.1)"],
        web_fetch={"allow_private": [f"127.0.0.1:{s.port}"]},
    )
    await session2.send_async("go")
    assert [p for p, _ in s.requests] == ["/doc"]


def _cert(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_https_is_pinned_to_the_checked_address_and_verified_by_name(
    servers: Any, tmp_path: Path
) -> None:
    import httpx

    cert, key = _cert(tmp_path, "site.test")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    s = servers(tls)
    s.routes["/"] = reply("over tls", "text/plain")

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    def tool(trusted: Path) -> WebFetchTool:
        verify = ssl.create_default_context(cafile=str(trusted))
        return WebFetchTool(
            WebFetchConfig(allow_private=[f"site.test:{s.port}", f"other.test:{s.port}"]),
            resolver=resolver,
            transport=httpx.AsyncHTTPTransport(verify=verify),
        )

    # the connection goes to 127.0.0.1, TLS names site.test and the certificate is checked
    # against that name (not the address)
    result = await fetch(tool(cert), tmp_path, url=f"https://site.test:{s.port}/")
    assert result.output == "over tls"
    assert s.requests[-1][1]["Host"] == f"site.test:{s.port}"
    # the same server under another name fails verification: the name is what is checked
    result = await fetch(tool(cert), tmp_path, url=f"https://other.test:{s.port}/")
    assert result.is_error and "certificate" in result.output.lower()
    # and a certificate nobody trusts fails too
    other_cert, _ = _cert(tmp_path, "x.test")
    result = await fetch(tool(other_cert), tmp_path, url=f"https://site.test:{s.port}/")
    assert result.is_error and "certificate" in result.output.lower()
