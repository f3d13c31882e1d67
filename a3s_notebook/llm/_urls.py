"""Credentials in URLs stay out of messages and reprs.

A ``base_url`` may carry a password (``https://user:pass@host/v1``) or a key in its query
(``https://host/v1?key=...``, as some gateways want). :func:`mask_url` hides both and
leaves the rest of the URL as it was, so an error still says which server failed;
:func:`mask_urls_in_text` does it for every URL inside a message.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit

__all__ = [
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_OPENAI_BASE_URL",
    "NO_KEY_PLACEHOLDER",
    "SECRET_QUERY_KEYS",
    "mask_url",
    "mask_urls_in_text",
    "origin",
    "same_origin",
]

# The providers' own addresses live here, not in the provider modules, so that the
# factory can name them without importing an SDK (a session imports only the SDK it uses).
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"

NO_KEY_PLACEHOLDER = "no-key"
"""Sent as the bearer token to servers that need no key: the SDK refuses an empty key,
and without an explicit key it would fall back to OPENAI_API_KEY and send the user's
OpenAI key to a third-party server."""

SECRET_QUERY_KEYS: frozenset[str] = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "auth_token",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "sig",
        "signature",
    }
)
"""Query parameters whose values are masked (compared case-insensitively)."""

MASK = "***"

# scheme://[userinfo@]authority: the userinfo runs to the last "@" before the path
_AUTHORITY = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#]*)@")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
# a secret query parameter anywhere, e.g. in a path a server echoes ("no POST /v1?key=...")
_QUERY_PARAM_IN_TEXT = re.compile(
    r"(?i)(?<=[?&;])((?:" + "|".join(re.escape(k) for k in sorted(SECRET_QUERY_KEYS)) + r")=)"
    r"(?!\*\*\*)[^&;#\s'\"<>`]+"
)


def mask_url(url: str) -> str:
    """``url`` with the credentials in its user-info and the values of secret-looking
    query parameters replaced by ``***``; everything else unchanged.

    ``https://user:pass@host/v1?key=abc&x=1`` becomes ``https://***:***@host/v1?key=***&x=1``.
    Never raises: anything that is not a string or not a URL comes back as text, masked
    as far as it can be.
    """
    if not isinstance(url, str):
        url = str(url)
    if not url:
        return url
    try:
        return _mask_query(_mask_userinfo(url))
    except Exception:  # pragma: no cover - belt and braces: a message must never fail
        return MASK


def _mask_userinfo(url: str) -> str:
    m = _AUTHORITY.match(url)
    if m is None:
        return url
    masked = f"{MASK}:{MASK}" if ":" in m.group("userinfo") else MASK
    return m.group("scheme") + masked + "@" + url[m.end() :]


def _mask_query(url: str) -> str:
    start = url.find("?")
    if start < 0:
        return url
    end = url.find("#", start)
    end = len(url) if end < 0 else end
    query = url[start + 1 : end]
    parts = []
    for part in re.split(r"([&;])", query):
        if part in ("&", ";") or "=" not in part:
            parts.append(part)
            continue
        name, _, value = part.partition("=")
        if value and unquote_plus(name).strip().lower() in SECRET_QUERY_KEYS:
            part = f"{name}={MASK}"
        parts.append(part)
    return url[: start + 1] + "".join(parts) + url[end:]


def mask_urls_in_text(text: str) -> str:
    """``text`` with :func:`mask_url` applied to every ``scheme://...`` URL in it, and
    the values of secret query parameters masked wherever they appear (a server's error
    may echo the request path: ``no POST /v1?key=...``)."""
    if not isinstance(text, str):
        text = str(text)
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group()), text)
    if "=" in text:
        text = _QUERY_PARAM_IN_TEXT.sub(lambda m: m.group(1) + MASK, text)
    return text


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of a URL, lower-cased, with the scheme's default port
    filled in; None when it is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port


def same_origin(a: str | None, b: str | None) -> bool:
    """Whether two URLs reach the same server (scheme, host and port); False when either
    is missing or not an http(s) URL. A key meant for one origin goes to no other."""
    if not a or not b:
        return False
    oa, ob = origin(a), origin(b)
    return oa is not None and oa == ob
