"""The environment ``bash`` runs with: a short allow-list, never the whole ``os.environ``.

A notebook kernel usually holds provider keys (``OPENAI_API_KEY`` and the like) in its
environment; a command such as ``env`` would hand them to the model, the session file and the
widgets. :func:`scrubbed_environ` keeps only the variables a shell needs to behave (path,
home, locale, terminal, user, temporary directory, time zone) plus the ones the user names
exactly. Names are never patterns, so a secret-looking variable passes only when named.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["BASE_ENV_VARS", "scrubbed_environ"]

BASE_ENV_VARS: tuple[str, ...] = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TZ",
)
"""Variables that always pass to subprocesses when set. ``PWD`` is not among them: the shell
sets it from its working directory (the workspace)."""

# A POSIX environment variable name: what a shell can expand as $NAME.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WILDCARDS = frozenset("*?[]{}")


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise ValueError(f"Environment passthrough entry {name!r} is not a string")
    if any(char in _WILDCARDS for char in name):
        raise ValueError(
            f"Environment passthrough entry {name!r} is a pattern; name each variable "
            "exactly (secret-looking variables pass only when named exactly)"
        )
    if _NAME.fullmatch(name) is None:
        raise ValueError(
            f"Environment passthrough entry {name!r} is not a valid variable name "
            "(letters, digits and '_', not starting with a digit)"
        )
    return name


def scrubbed_environ(
    passthrough: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a subprocess: :data:`BASE_ENV_VARS` plus ``passthrough``.

    ``environ`` defaults to ``os.environ`` (read at call time). Every entry of
    ``passthrough`` must be an exact variable name; one with a wildcard (``*``, ``?``,
    ``[``, ``{``) or that is not a valid name raises ``ValueError`` naming it. Names missing
    from ``environ`` are left out. Everything else is dropped.
    """
    if isinstance(passthrough, (str, bytes)):
        # Iterating a string would pass its letters as names ("FOO" -> F, O).
        raise TypeError(
            f"passthrough must be a collection of variable names, not the string {passthrough!r}"
        )
    names = [_check_name(name) for name in passthrough]
    source = os.environ if environ is None else environ
    scrubbed: dict[str, str] = {}
    for name in (*BASE_ENV_VARS, *names):
        value = source.get(name)
        if value is not None:
            scrubbed[name] = value
    return scrubbed
