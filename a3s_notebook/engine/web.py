"""Settings and address rules of the web tools (``web_fetch``, ``web_search``).

**Which addresses ``web_fetch`` reaches.** Only ``http`` and ``https`` URLs, without
credentials in them. The host is resolved once and every address it resolves to must be a
public (global unicast) address; the request then goes to that very address (the ``Host``
header and, for https, the TLS server name keep the host name), so a DNS answer that
changes between the check and the connection cannot send it elsewhere. Loopback
(``127.0.0.0/8``, ``::1``), private (``10/8``, ``172.16/12``, ``192.168/16``, ``fc00::/7``),
link-local (``169.254/16``, the cloud metadata service ``169.254.169.254``, ``fe80::/10``),
shared, reserved, multicast and unspecified addresses are refused unless
:attr:`WebFetchConfig.allow_private` lists the host (or host and port) explicitly:
``["127.0.0.1:8888"]`` opens that one local port and no other. There is no blanket "allow
loopback" switch: a page on an allowed local server could redirect to any other local
port (an admin API) otherwise.

Redirects (at most :attr:`WebFetchConfig.max_redirects`) are followed only while they stay
on the same host name, and each hop is checked again (scheme, addresses, ports). A redirect
to another host is not followed: the tool reports it, and a new ``web_fetch`` of that URL
goes through the permission rules (``WebFetch(domain:...)``) and the security guard's
network whitelist again. Proxy variables (``HTTP_PROXY``...) are ignored.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine._hosts import normalize_host
from a3s_notebook.engine.errors import friendly_validation_error

__all__ = [
    "DEFAULT_MAX_BYTES",
    "address_kind",
    "WebFetchConfig",
    "WebSearchConfig",
    "fetch_host",
    "is_public_address",
    "normalize_host",
]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
"""The largest response body ``web_fetch`` reads (5 MB, as the reference)."""


def fetch_host(url: str) -> str | None:
    """The normalised host ``web_fetch`` would contact for ``url``, or None when the URL is
    not an ``http``/``https`` URL with a host and no credentials (the tool's own parser, so
    a rule and the request can never disagree about the host)."""
    import httpx  # here: a session that never reaches the web does not pay for the import

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.userinfo:
        return None  # the tool refuses these too (credentials in a URL are never sent)
    return normalize_host(parsed.host)


def is_public_address(address: str) -> bool:
    """Whether ``address`` is a public unicast address (not loopback, private, link-local,
    shared, reserved, multicast or unspecified); an IPv4-mapped IPv6 address is judged as
    the IPv4 address it carries."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    return ip.is_global and not ip.is_multicast


class WebFetchConfig(BaseModel):
    """Settings of the ``web_fetch`` tool (``SessionConfig.web_fetch``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=DEFER_BUILD)

    allow_private: list[str] = []
    """Hosts (``"localhost"``, ``"10.0.0.5"``) or host:port pairs (``"127.0.0.1:8888"``) that
    may be fetched although they resolve to a loopback, private or link-local address.
    Matched against the URL's host and against the address it resolves to."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """The largest response body read; a larger one is refused."""
    max_redirects: int = 5
    """Redirects followed (same host only); more is an error."""
    default_timeout_s: float = 30.0
    """Seconds for the whole fetch when the call gives no ``timeout``."""
    max_timeout_s: float = 120.0
    """The largest ``timeout`` a call may ask for."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise friendly_validation_error(
                "WebFetchConfig", exc, type(self).model_fields
            ) from None

    @field_validator("allow_private")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        out = []
        for entry in value:
            host, port = split_host_port(entry)
            if host is None:
                raise ValueError(
                    f"{entry!r} is not a host or host:port (e.g. 'localhost' or "
                    "'127.0.0.1:8888'; IPv6 as '[::1]:8888')"
                )
            out.append(host if port is None else f"{_bracket(host)}:{port}")
        return out

    @field_validator("max_bytes", "max_redirects")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("default_timeout_s", "max_timeout_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be a positive number of seconds")
        return value

    def allows_private(self, host: str, address: str, port: int) -> bool:
        """Whether the entry list opens ``host`` (or its ``address``) on ``port``."""
        for entry in self.allow_private:
            name, entry_port = split_host_port(entry)
            if name in (host, address) and entry_port in (None, port):
                return True
        return False


def address_kind(address: str) -> str:
    """A word for why ``address`` is not public: ``loopback``, ``link-local (cloud
    metadata)``, ``private``, ``multicast`` or ``reserved``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "reserved"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private and not ip.is_unspecified:
        return "private"
    return "reserved"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def split_host_port(entry: str) -> tuple[str | None, int | None]:
    """``"host:port"`` -> (normalised host, port); ``"host"`` -> (host, None); (None, None)
    when it is neither."""
    text = entry.strip()
    port: int | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None, None
        rest = text[close + 1 :]
        text = text[: close + 1]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                return None, None
            port = int(rest[1:])
    elif text.count(":") == 1:
        text, _, raw = text.partition(":")
        if not raw.isdigit():
            return None, None
        port = int(raw)
    if port is not None and not 0 < port < 65536:
        return None, None
    return normalize_host(text), port


class WebSearchConfig(BaseModel):
    """A search backend for the ``web_search`` tool (``SessionConfig.web_search``): any HTTP
    API that answers a GET with JSON.

    ``url`` is a template: ``{query}`` (required), ``{limit}`` and ``{key}`` are replaced,
    URL-encoded. The key is read at each call from the environment variable ``api_key_env``
    (never stored in the session); when the template has no ``{key}`` it is sent in the
    header ``key_header`` as ``key_prefix + key``. ``results`` is the dotted path of the
    result list in the JSON answer (``"web.results"`` for Brave, ``"items"`` for Google's
    Custom Search); ``title``, ``link`` and ``snippet`` name the fields of one result.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=DEFER_BUILD)

    url: str
    api_key_env: str | None = None
    key_header: str = "Authorization"
    key_prefix: str = "Bearer "
    results: str = "results"
    title: str = "title"
    link: str = "url"
    snippet: str = "snippet"
    timeout_s: float = 10.0
    max_results: int = 10

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise friendly_validation_error(
                "WebSearchConfig", exc, type(self).model_fields
            ) from None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if "{query}" not in value:
            raise ValueError(
                "must contain {query}, e.g. 'https://api.example.com/search?q={query}'"
            )
        netloc = re.split(r"[/?#]", value.split("://", 1)[-1], maxsplit=1)[0]
        if "{" in netloc:
            raise ValueError(
                "must keep {query}, {limit} and {key} out of the host part (the model's "
                "query must not choose the server)"
            )
        probe = value.replace("{query}", "q").replace("{limit}", "1").replace("{key}", "k")
        if fetch_host(probe) is None:
            raise ValueError("must be an http:// or https:// URL with a host, no credentials")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                f"{value!r} is not an environment variable name; give the name (e.g. "
                "'BRAVE_API_KEY'), never the key itself"
            )
        return value

    @field_validator("timeout_s")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @field_validator("max_results")
    @classmethod
    def _max_results(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value
