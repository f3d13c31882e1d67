"""The ``web_fetch`` and ``web_search`` tools (spec section 11), over ``httpx``.

``web_fetch`` reads one http(s) page within a size and a time limit and gives it back as
Markdown (``markdownify``), plain text or HTML; which addresses it may reach, and how
redirects are followed, is :mod:`a3s_notebook.engine.web`'s business. ``web_search`` asks
the search API the user configured (:class:`~a3s_notebook.engine.web.WebSearchConfig`);
without one it is not registered. Both run through the tool gate like every tool: the
permission rules (``WebFetch(domain:example.com)``), the security guard (its network
whitelist applies to ``web_fetch`` URLs) and approvals.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._common import (
    BuiltinTool,
    ToolFailure,
    get_int,
    get_str,
    looks_binary,
    truncate_output,
)
from a3s_notebook.engine.tools._registry import ToolRegistry
from a3s_notebook.engine.web import (
    WebFetchConfig,
    WebSearchConfig,
    address_kind,
    is_public_address,
    normalize_host,
)

if TYPE_CHECKING:
    # imported where a fetch or a search runs: every session registers web_fetch, and most
    # never call it, so building the registry must not import the HTTP client
    import httpx

__all__ = ["Resolver", "WebFetchTool", "WebSearchTool", "install_web_tools"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves (host, port) to IP addresses; the default asks the system resolver."""

_USER_AGENT = "a3s-notebook web_fetch (+https://github.com/a3s-lab)"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/x-yaml",
    "application/yaml",
    "application/toml",
)
_DROPPED_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "embed",
    "svg",
    "canvas",
    "head",
)
_FORMATS = ("markdown", "text", "html")


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _number(args: dict[str, Any], name: str, default: float, maximum: float) -> float:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToolFailure(f"Argument '{name}' must be a number of seconds")
    if not 0 < value <= maximum:
        raise ToolFailure(f"Argument '{name}' must be more than 0 and at most {maximum:g} seconds")
    return float(value)


class WebFetchTool(BuiltinTool):
    """``web_fetch {url*, format, timeout}``: one web page as Markdown, text or HTML.

    ``config`` sets the limits and the private hosts that may be reached; ``transport`` and
    ``resolver`` are for tests (an ``httpx`` transport, a host resolver).
    """

    def __init__(
        self,
        config: WebFetchConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.config = config or WebFetchConfig()
        self._transport = transport
        self._resolve = resolver or _system_resolver
        super().__init__(
            "web_fetch",
            "Fetch a web page (http or https) and return it as Markdown (default), plain text "
            f"or HTML. Bodies over {self.config.max_bytes} bytes are refused. A redirect to "
            "another host is reported, not followed.",
            {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "The http:// or https:// URL."},
                    "format": {
                        "type": "string",
                        "enum": list(_FORMATS),
                        "description": "markdown (default), text or html.",
                    },
                    "timeout": {
                        "type": "number",
                        "description": f"Seconds for the whole fetch (default "
                        f"{self.config.default_timeout_s:g}, at most "
                        f"{self.config.max_timeout_s:g}).",
                    },
                },
                "required": ["url"],
            },
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Fetch the page."""
        import httpx

        url = get_str(args, "url").strip()
        fmt = get_str(args, "format", "markdown").lower()
        if fmt not in _FORMATS:
            raise ToolFailure(f"Argument 'format' must be one of {', '.join(_FORMATS)}")
        timeout = _number(args, "timeout", self.config.default_timeout_s, self.config.max_timeout_s)
        try:
            async with asyncio.timeout(timeout):
                return await self._fetch(url, fmt)
        except TimeoutError:
            raise ToolFailure(f"Timed out after {timeout:g}s fetching {url}") from None
        except httpx.HTTPError as exc:
            raise ToolFailure(f"Failed to fetch {url}: {exc or type(exc).__name__}") from None

    async def _fetch(self, url: str, fmt: str) -> ToolResult:
        import httpx

        current = _parse_url(url)
        host = normalize_host(current.host) or current.host
        async with httpx.AsyncClient(
            transport=self._transport, trust_env=False, follow_redirects=False, timeout=None
        ) as client:
            for _hop in range(self.config.max_redirects + 1):
                address = await self._address(current, host)
                request = client.build_request(
                    "GET",
                    current.copy_with(host=address),
                    headers={
                        "Host": _host_header(current),
                        "User-Agent": _USER_AGENT,
                        "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
                    },
                    extensions={"sni_hostname": current.host} if current.scheme == "https" else {},
                )
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        try:
                            target = current.join(response.headers["location"])
                        except (httpx.InvalidURL, ValueError):
                            raise ToolFailure(
                                f"{current} redirects to an invalid URL "
                                f"{response.headers['location'][:200]!r}"
                            ) from None
                        if target.scheme not in ("http", "https"):
                            raise ToolFailure(
                                f"{current} redirects to a {target.scheme}: URL; only http and "
                                "https are fetched"
                            )
                        if (normalize_host(target.host) or target.host) != host:
                            return ToolResult(
                                name=self.name,
                                output=(
                                    f"{current} redirects to another host: {target}\n"
                                    "Not followed. Call web_fetch with that URL if you need it."
                                ),
                                metadata={"url": url, "redirect": str(target)},
                            )
                        current = _parse_url(str(target))
                        continue
                    return await self._read(url, current, response, fmt)
                finally:
                    await response.aclose()
        raise ToolFailure(f"Too many redirects (more than {self.config.max_redirects}) from {url}")

    async def _address(self, url: httpx.URL, host: str) -> str:
        """The address to connect to: every address the host has must be allowed."""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await self._resolve(url.host, port)
        except OSError as exc:
            raise ToolFailure(f"Cannot resolve {url.host}: {exc.strerror or exc}") from None
        if not addresses:
            raise ToolFailure(f"Cannot resolve {url.host}: no address")
        for address in addresses:
            if not is_public_address(address) and not self.config.allows_private(
                host, address, port
            ):
                where = (
                    f"{address} is"
                    if normalize_host(url.host) == address
                    else f"{url.host} resolves to {address},"
                )
                raise ToolFailure(
                    f"Refusing to fetch {url}: {where} a {address_kind(address)} address; "
                    "web_fetch reaches public addresses only. To allow it, add "
                    f"'{_entry(host, port)}' to SessionConfig.web_fetch.allow_private"
                )
        return addresses[0]

    async def _read(
        self, url: str, final: httpx.URL, response: httpx.Response, fmt: str
    ) -> ToolResult:
        limit = self.config.max_bytes
        if response.status_code >= 400:
            raise ToolFailure(f"HTTP {response.status_code} {response.reason_phrase} from {final}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ToolFailure(
                f"The response from {final} is {declared} bytes, over the {limit}-byte limit"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ToolFailure(
                    f"The response from {final} is over the {limit}-byte limit; not read further"
                )
            chunks.append(chunk)
        body = b"".join(chunks)
        mime, _, params = response.headers.get("content-type", "").partition(";")
        mime = mime.strip().lower()
        charset = _charset(params)
        # a 5 MB page takes a while to parse: not on the loop that drives the front end
        text = await asyncio.to_thread(_convert, body, mime, charset, fmt, str(final))
        return ToolResult(
            name=self.name,
            output=truncate_output(text),
            metadata={
                "url": url,
                "final_url": str(final),
                "status": response.status_code,
                "content_type": mime,
                "bytes": size,
            },
        )


def _parse_url(url: str) -> httpx.URL:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ToolFailure(f"Invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        shown = parsed.scheme or "no scheme"
        raise ToolFailure(
            f"Refusing to fetch {url!r}: only http:// and https:// URLs are fetched ({shown})"
        )
    if not parsed.host:
        raise ToolFailure(f"Invalid URL {url!r}: it has no host")
    if parsed.userinfo:
        raise ToolFailure(f"Refusing to fetch {url!r}: credentials in the URL are not sent")
    return parsed


def _host_header(url: httpx.URL) -> str:
    host = url.raw_host.decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return host if url.port is None else f"{host}:{url.port}"


def _entry(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _charset(params: str) -> str | None:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"').lower()
    return None


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _convert(body: bytes, mime: str, charset: str | None, fmt: str, where: str) -> str:
    is_html = mime in _HTML_TYPES
    if not mime:
        if looks_binary(body):
            raise ToolFailure(f"{where} sent binary content; web_fetch returns text only")
        head = body[:1024].lstrip().lower()
        is_html = head.startswith((b"<!doctype html", b"<html"))
    elif not is_html and not (
        mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))
    ):
        raise ToolFailure(f"{where} sent {mime} content; web_fetch returns text only")
    if not is_html or fmt == "html":
        return _decode(body, charset)
    return _html_to(body, charset, fmt)


def _html_to(body: bytes, charset: str | None, fmt: str) -> str:
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(body, "html.parser", from_encoding=charset)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    for img in soup.find_all("img"):
        if str(img.get("src", "")).startswith("data:"):
            img.decompose()
    if fmt == "text":
        lines = (line.strip() for line in soup.get_text("\n").splitlines())
        text = "\n".join(line for line in lines if line)
    else:
        text = MarkdownConverter(heading_style="ATX", bullets="-").convert_soup(soup)
        text = "\n".join(line.rstrip() for line in text.strip().splitlines())
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
    if title and title not in text[: len(title) + 10]:
        text = (f"# {title}\n\n" if fmt == "markdown" else f"{title}\n\n") + text
    return text


# ------------------------------------------------------------------------------------- search


class WebSearchTool(BuiltinTool):
    """``web_search {query*, limit, format}``: results of the configured search API.

    ``environ`` is where the key is looked up (default ``os.environ``), ``transport`` an
    ``httpx`` transport for tests. The backend's address is the user's choice, so it is not
    held to ``web_fetch``'s public-address rule (a local SearxNG is fine).
    """

    _MAX_BODY = 2 * 1024 * 1024

    def __init__(
        self,
        config: WebSearchConfig,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._environ = environ
        self._transport = transport
        super().__init__(
            "web_search",
            "Search the web. Returns numbered results with title, URL and snippet.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to search for."},
                    "limit": {
                        "type": "integer",
                        "description": f"Most results (default and maximum {config.max_results}).",
                    },
                    "format": {
                        "type": "string",
                        "enum": ["text", "json"],
                        "description": "text (default) or json.",
                    },
                },
                "required": ["query"],
            },
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run the search."""
        import httpx

        query = get_str(args, "query").strip()
        if not query:
            raise ToolFailure("Argument 'query' must not be empty")
        limit = min(
            get_int(args, "limit", self.config.max_results, minimum=1), self.config.max_results
        )
        fmt = get_str(args, "format", "text")
        if fmt not in ("text", "json"):
            raise ToolFailure("Argument 'format' must be text or json")
        key = self._key()
        url = (
            self.config.url.replace("{query}", quote(query, safe=""))
            .replace("{limit}", str(limit))
            .replace("{key}", quote(key or "", safe=""))
        )
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if key is not None and "{key}" not in self.config.url:
            headers[self.config.key_header] = self.config.key_prefix + key
        where = _backend(self.config.url)
        try:
            async with asyncio.timeout(self.config.timeout_s):
                data = await self._get(url, headers, where)
        except TimeoutError:
            raise ToolFailure(
                f"The search backend {where} did not answer within {self.config.timeout_s:g}s"
            ) from None
        except httpx.HTTPError as exc:
            # the URL may carry the key: name the backend only
            raise ToolFailure(f"The search backend {where} failed: {type(exc).__name__}") from None
        results = _results(data, self.config)[:limit]
        if fmt == "json":
            output = json.dumps(results, ensure_ascii=False, indent=1)
        elif not results:
            output = f"No results for {query!r}"
        else:
            output = "\n\n".join(
                f"{i}. {r['title'] or '(no title)'}\n   {r['url']}"
                + (f"\n   {r['snippet']}" if r["snippet"] else "")
                for i, r in enumerate(results, 1)
            )
        return ToolResult(
            name=self.name,
            output=truncate_output(output),
            metadata={"query": query, "results": results},
        )

    def _key(self) -> str | None:
        name = self.config.api_key_env
        if name is None:
            return None
        environ = self._environ if self._environ is not None else os.environ
        key = environ.get(name, "")
        if not key:
            raise ToolFailure(
                f"web_search needs an API key: set the environment variable {name} "
                "(SessionConfig.web_search.api_key_env names it)"
            )
        return key

    async def _get(self, url: str, headers: dict[str, str], where: str) -> Any:
        import httpx

        async with (
            httpx.AsyncClient(
                transport=self._transport, trust_env=False, follow_redirects=False, timeout=None
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code >= 300:
                raise ToolFailure(
                    f"The search backend {where} answered HTTP {response.status_code} "
                    f"{response.reason_phrase}"
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._MAX_BODY:
                    raise ToolFailure(f"The search backend {where} sent more than 2 MB")
        try:
            return json.loads(bytes(body))
        except ValueError:
            raise ToolFailure(f"The search backend {where} did not answer with JSON") from None


def _backend(template: str) -> str:
    import httpx

    probe = template.replace("{query}", "q").replace("{limit}", "1").replace("{key}", "k")
    url = httpx.URL(probe)
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _dig(value: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _results(data: Any, config: WebSearchConfig) -> list[dict[str, str]]:
    items = _dig(data, config.results)
    if not isinstance(items, list):
        raise ToolFailure(
            f"The search answer has no list at '{config.results}' "
            "(set SessionConfig.web_search.results to the path of the result list)"
        )
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        fields = {
            key: _dig(item, path)
            for key, path in (
                ("title", config.title),
                ("url", config.link),
                ("snippet", config.snippet),
            )
        }
        if not isinstance(fields["url"], str) or not fields["url"]:
            continue
        out.append({k: v if isinstance(v, str) else "" for k, v in fields.items()})
    return out


def install_web_tools(
    registry: ToolRegistry,
    fetch: WebFetchConfig | None,
    search: WebSearchConfig | None,
) -> None:
    """Give a session's registry the configured web tools: ``web_fetch`` with ``fetch``'s
    settings (when the registry has the default one), ``web_search`` when a backend is set."""
    if fetch is not None and isinstance(registry.get("web_fetch"), WebFetchTool):
        registry.unregister("web_fetch")
        registry.register(WebFetchTool(fetch))
    if search is not None and registry.get("web_search") is None:
        registry.register(WebSearchTool(search))
