"""Host names as the rules, the guard's network whitelist and ``web_fetch`` compare them:
one normalisation, so a rule and a request can never disagree about a host."""

from __future__ import annotations

import ipaddress
import re

__all__ = ["normalize_host"]

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def _idna(host: str) -> str | None:
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def normalize_host(host: str) -> str | None:
    """A host as the whitelist, the rules and ``web_fetch`` compare it: lower case, no
    trailing dot, no brackets, IDNA (``xn--``) for non-ASCII names, IP addresses canonical;
    None when it is not a plausible host name or IP address."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        converted = _idna(host)
        if converted is None:
            return None
        host = converted
    return host if _HOSTNAME.fullmatch(host) else None
