"""Declarative permission rules for tool calls (spec section 3).

A policy holds three lists of rules, ``deny``, ``ask`` and ``allow``, and a default
decision (Ask unless set). A rule is ``Tool`` (every call of that tool) or
``Tool(pattern)``; a rule that does not parse raises :class:`PermissionRuleError`, so a
typo in a deny list cannot go unnoticed. Tool names compare case-insensitively.

**Order.** Deny wins over ask, ask over allow, allow over the default: a call that a deny
rule matches is refused; otherwise a call that an ask rule matches asks (so
``Bash(git push:*)`` in ``ask`` keeps asking even with ``Bash(git:*)`` in ``allow``);
otherwise a call the allow rules cover runs; otherwise the default decides. Protected files
(below) come on top of the rules.

**Tool families.** ``Read(...)`` covers ``read``, ``grep``, ``glob``, ``ls`` and
``notebook_read``; ``Edit(...)`` and ``Write(...)`` each cover ``write``, ``edit``,
``patch`` and ``notebook_edit``. A rule named after one tool (``Grep(...)``, ``Ls``)
covers that tool only. ``mcp__server`` covers ``mcp__server`` and every
``mcp__server__<tool>``, on the ``__`` boundary only (``mcp__evil`` does not cover
``mcp__evilx__tool``).

**Bash rules** are matched against the parsed command, not the raw string.
:func:`a3s_notebook.engine._shell.parse_command` splits a command line into simple
commands (``;``, ``&&``, ``||``, ``|``, ``&``, newlines, ``( )``, ``{ }``, loop and
``if`` bodies, functions, ``$( )``, backticks, ``<( )``), removes quotes and backslashes,
drops leading assignments (``x=1 rm``), turns ``/bin/rm`` into ``rm``, and unwraps
wrappers (``sudo``, ``env``, ``timeout 5``, ``nice``, ``nohup``, ``time``, ``xargs``,
``command``, ``exec``, ``bash -c '...'``, ``find -exec``, ...):

- ``Bash`` or ``Bash(*)``: every command.
- ``Bash(git:*)``: the command ``git`` with any arguments, word by word: ``git`` and
  ``git status`` match, ``gitk`` does not; ``Bash(npm run test:*)`` matches commands whose
  words start with ``npm``, ``run``, ``test``.
- ``Bash(git status)`` (no ``:*``, no wildcard): exactly the command ``git status``.
- any other pattern with ``*`` or ``?`` (``Bash(**sudo**)``) is a glob matched against each
  simple command's source text; deny and ask rules also match it against the whole line.

A deny rule denies the call when **any** simple command matches it, wrappers included
(``sudo rm x`` is both ``sudo rm x`` and ``rm x``) and names compared by base name
(``./rm``, ``/tmp/x/rm`` and ``\\rm`` are ``rm`` for a deny rule). When a simple command
only *might* match, the call asks instead of running: a word that is not static where the
rule has a word (``rm $FLAGS`` for ``Bash(rm -rf:*)``), ``xargs`` appending arguments, the
denied words later in the command (``ssh host rm x``, ``grep rm f``, even ``echo rm``),
or inside one of its words (``git -c alias.x='!rm x'``, ``python -c "os.system('rm x')"``,
``git commit -m "rm old"``). An ask rule that matches or might match any simple command
asks. Deny rules name commands, not effects: ``find . -delete`` or a script is not ``rm``.

An allow rule set allows a command line only when **every** simple command is covered by
some allow rule. Covered means: effective commands (``rm x`` in ``timeout 5 rm x``) and
privilege wrappers (``sudo``, ``doas``, ``su``, ``runuser``, ``pkexec``, ``run0``) each
match an allow rule; transparent wrappers (``timeout``, ``nice``, ``env``, ``xargs``,
``nohup``, ``time``, ``bash -c``, ...) and variable builtins (``export``, ``local``, ...)
need no rule of their own. A rule naming a wrapper with its command (``Bash(sudo apt:*)``)
covers both. For allow rules, command names are not reduced to their base name
(``./git`` is not ``git``; ``/usr/bin/git`` is). A file the shell writes by redirection
(``> notes.md``) must be allowed by a ``Write``/``Edit`` rule, and a ``Write``/``Edit``
deny rule matching it denies the call.

A command that is not *certain* (a syntax error, ``$( )``, backticks, ``<( )``, ``eval``,
a command name that is not static such as ``$CMD``, a shell reading standard input,
an assignment to ``PATH``/``LD_PRELOAD``/``GIT_*``..., see
:mod:`a3s_notebook.engine._shell`) is never allowed by a prefix, exact or glob rule, nor
by ``default_decision=allow``: it asks. A bare ``Bash`` allow rule, typed deliberately,
still allows it, unless the policy also has a deny rule for bash that it could evade.

**Path rules.** ``read``, ``write``, ``edit`` are matched on ``file_path``; ``grep``,
``glob`` and ``ls`` on ``path`` (default ``.``). The path is normalised relative to the
workspace: ``./a``, ``a//b``, ``a/../b`` and an absolute path inside the workspace all
become ``a``-style relative POSIX paths; a path outside the workspace stays absolute. With
a workspace, symlinks are resolved too, and both the path as written and the path it
resolves to are checked: a deny or ask rule matching either applies, an allow rule must
match both. ``*`` matches within one path segment, ``**`` across segments, ``?`` one
character; ``Read(src/**)`` also covers ``grep``/``glob``/``ls`` of ``src`` itself. Deny
and ask path rules compare case-insensitively (a case-insensitive file system would
otherwise let ``.ENV`` past ``Read(.env)``); allow rules compare exactly. A ``Read``
deny rule also keeps ``grep``, ``glob`` and ``ls`` from reading or listing what it names
(:meth:`PermissionPolicy.can_read`). ``Grep(<pattern> <path>)`` and ``Glob(<pattern>)``
rules keep matching the tool's own text (``"<regex> <path>"``, the glob pattern).

**Protected files.** :data:`PROTECTED_PATHS` (``.env*``, ``.a3s/**``, ``*.pem``,
``*.key``, ``id_rsa*``, ``.ssh/**``, ``.netrc``, ``.aws/**``, ``.git/config``) are
guarded in every policy, at any depth (``sub/.env``), case-insensitively, together with
the protected directories themselves (``.a3s``, ``.ssh``) and everything inside them:

- ``read``/``grep``/``glob``/``ls`` of a protected path is denied unless an allow rule
  *names* it. A rule names a path when its pattern is (1) that exact path, without
  wildcards (``Read(.env)``, ``Read(config/.env.local)``); or (2) literally one of the
  protected patterns (``Read(.env*)`` unlocks every ``.env*``, ``Read(.a3s/**)`` the
  session store); or (3) a pattern whose fixed directory part, before its first wildcard,
  is itself protected (``Read(.a3s/sessions/**)``, ``Read(.ssh/*.pub)``). ``Read``,
  ``read``, ``Read(**)`` or ``Read(*)`` do not name anything. A rule whose pattern is one of
  the protected patterns matches the way the protection does (at any depth), for deny and
  ask rules too.
- ``write``/``edit`` of a protected path always asks, even when an allow rule matches (a
  deny rule still denies).
- a ``bash`` command any of whose words refers to a protected path (``cat .env``,
  ``cat ./.env``, ``cat sub/../.env``, ``source .env``, ``cp .a3s/sessions/x y``,
  ``curl -d @.env``, ``cat .e*``, even ``cat *`` which could reach ``key.pem``) asks, even
  when an allow rule matches. Words are also split at ``=``, ``@``, ``:``, ``,``, quotes
  and spaces. A word naming a path that a ``Read``/``Edit``/``Write`` deny rule covers asks
  too. This check sees the words of the command only: bash is not a sandbox, and a command
  that finds files by itself (``grep -r KEY .``, a script) can still reach them, which is
  why ``bash`` is never allowed by the notebook preset.
- ``enabled=False`` switches the rules off (every call is allowed) but not the protection:
  protected reads are still denied and protected writes and bash words still ask.
- the check is made on the workspace-relative path when there is one, so a workspace that
  itself lies in, say, a ``.a3s`` folder is not protected as a whole; a path outside the
  workspace (or any path when no workspace is given) is checked as written, at any depth.

**Web tools.** ``WebFetch(domain:example.com)`` covers ``web_fetch`` of a URL whose host is
``example.com`` (case-insensitive, a trailing dot and IDNA spellings normalised, the port
ignored); ``WebFetch(domain:*.example.com)`` covers its subdomains, not ``example.com``
itself. The host is read with the parser the tool uses, so a rule and the request cannot
disagree about it. A ``WebFetch`` pattern that is not ``domain:<host>`` does not parse.
``WebFetch`` alone covers every fetch and ``WebSearch`` every ``web_search``. The tool also
refuses private addresses and follows no redirect to another host (see
:mod:`a3s_notebook.engine.web`), so a rule for one domain is all that domain's rule allows.

**patch** is checked file by file: every file its diff names (``---``/``+++`` headers, or its
``file_path``) is judged like a ``write`` of that file, and the strictest answer wins (one
denied file denies the patch, one protected file asks).

**Other tools** match the pattern against the compact JSON of their arguments (see
:func:`argument_text` and :func:`glob_match`).

**"Always allow"** adds :func:`suggest_rule`'s rule: for bash, ``Bash(<command>:*)`` when
every simple command runs the same command (``Bash(ls:*)``), never the bare tool; for file
tools, the tool on that file (``Write(notes.md)``); no suggestion when the rule would not
allow the call anyway (an uncertain command, a protected file).
"""

from __future__ import annotations

import fnmatch
import functools
import itertools
import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine._diff import patch_targets
from a3s_notebook.engine.web import fetch_host, normalize_host

if TYPE_CHECKING:
    # the bash parser (tree-sitter) is imported by the functions that parse a command: a
    # session whose rules and calls involve no bash never loads it
    from a3s_notebook.engine._shell import ShellCommand, SimpleCommand

__all__ = [
    "EDIT_FAMILY",
    "PROTECTED_PATHS",
    "READ_FAMILY",
    "PermissionDecision",
    "PermissionManager",
    "PermissionPolicy",
    "PermissionRule",
    "PermissionRuleError",
    "PermissionVerdict",
    "argument_text",
    "glob_match",
    "is_protected",
    "normalize_path",
    "suggest_rule",
]

NOTEBOOK_ALLOW_RULES = ("read", "ls", "glob", "grep", "todo_write")
"""Allowed by :meth:`PermissionPolicy.notebook`: tools that change nothing outside the session."""

PROTECTED_PATHS = (
    ".env*",
    ".a3s/**",
    "*.pem",
    "*.key",
    "id_rsa*",
    ".ssh/**",
    ".netrc",
    ".aws/**",
    ".git/config",
)
"""Paths guarded in every policy (see the module doc), matched at any depth."""

READ_FAMILY = frozenset({"read", "grep", "glob", "ls", "notebook_read"})
"""The tools a ``Read(...)`` rule covers."""

EDIT_FAMILY = frozenset({"write", "edit", "patch", "notebook_edit"})
"""The tools an ``Edit(...)`` or ``Write(...)`` rule covers."""

_WALKERS = frozenset({"grep", "glob", "ls"})
_FAMILY_RULES: dict[str, frozenset[str]] = {
    "read": READ_FAMILY,
    "write": EDIT_FAMILY,
    "edit": EDIT_FAMILY,
    "webfetch": frozenset({"web_fetch"}),
    "websearch": frozenset({"web_search"}),
}
_WEB_FETCH_RULES = frozenset({"webfetch", "web_fetch"})
_DOMAIN = "domain:"

_RuleKind = Literal["deny", "allow", "ask"]
_KINDS: tuple[_RuleKind, ...] = ("deny", "allow", "ask")

_RULE_SYNTAX_HINT = (
    "Write rules as 'Tool' or 'Tool(pattern)', e.g. 'Bash(git:*)' or 'Read(src/**)'."
)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]+")
_PROTECTED_PREFIX = "protected:"


class PermissionDecision(StrEnum):
    """What a policy says about one tool call. Serialized lowercase."""

    ALLOW = "allow"
    DENY = "deny"
    ASK = "ask"


class PermissionRuleError(ValueError):
    """A permission rule string does not parse.

    The message quotes the rule, says what is wrong and shows the expected syntax.
    """

    def __init__(self, rule: str, problem: str) -> None:
        self.rule = rule
        self.problem = problem
        super().__init__(f"Permission rule '{rule}' does not parse: {problem}. {_RULE_SYNTAX_HINT}")


@functools.lru_cache(maxsize=1024)
def _split_rule(rule: str) -> tuple[str, str | None]:
    """Split a stripped rule into (tool name, pattern or None); raise if it is malformed."""
    if not rule:
        raise PermissionRuleError(rule, "the rule is empty")
    open_at = rule.find("(")
    if open_at < 0:
        name, pattern = rule, None
    elif rule.endswith(")"):
        name, pattern = rule[:open_at], rule[open_at + 1 : -1]
    else:
        close_at = rule.rfind(")")
        if close_at > open_at:
            raise PermissionRuleError(
                rule,
                f"unexpected text '{rule[close_at + 1 :]}' after ')'; "
                "the pattern must end the rule",
            )
        raise PermissionRuleError(rule, f"missing ')' at the end (did you mean '{rule})'?)")
    if not name:
        raise PermissionRuleError(rule, "the tool name before '(' is empty")
    if not _TOOL_NAME.fullmatch(name):
        if any(ch.isspace() for ch in name):
            problem = f"the tool name '{name}' contains a space"
        else:
            problem = f"the tool name '{name}' has characters other than letters, digits, '_', '-'"
        raise PermissionRuleError(rule, problem)
    if name.lower() in _WEB_FETCH_RULES and pattern is not None:
        _check_domain_pattern(rule, pattern)
    return name, pattern


def _check_domain_pattern(rule: str, pattern: str) -> None:
    if not pattern.startswith(_DOMAIN):
        raise PermissionRuleError(
            rule,
            "a WebFetch rule takes 'domain:<host>', e.g. 'WebFetch(domain:example.com)' or "
            "'WebFetch(domain:*.example.com)'",
        )
    host = pattern[len(_DOMAIN) :]
    if host.startswith("*."):
        host = host[2:]
    if normalize_host(host) is None:
        raise PermissionRuleError(rule, f"'{pattern[len(_DOMAIN) :]}' is not a host name")


def _domain_match(pattern: str, host: str | None) -> bool:
    """Whether a ``domain:`` pattern covers ``host`` (normalised; None matches nothing)."""
    if host is None:
        return False
    wanted = pattern[len(_DOMAIN) :]
    if wanted.startswith("*."):
        base = normalize_host(wanted[2:])
        return base is not None and host.endswith("." + base)
    return normalize_host(wanted) == host


@functools.lru_cache(maxsize=1024)
def _compile_glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str] | None:
    """Translate a glob into a regex (None if it does not compile).

    ``**`` (and ``**/``) match anything including '/', ``*`` a run of non-'/' characters
    and ``?`` one non-'/' character; everything else is literal.
    """
    parts: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*" and i + 1 < n and pattern[i + 1] == "*":
            parts.append(".*")
            # "**/" swallows its slash so that "src/**/*.rs" also matches "src/main.rs"
            i += 3 if i + 2 < n and pattern[i + 2] == "/" else 2
        elif ch == "*":
            parts.append("[^/]*")
            i += 1
        elif ch == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(ch))
            i += 1
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    try:
        return re.compile("".join(parts), flags)
    except re.error:
        return None


def _str_field(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key)
    return value if isinstance(value, str) else ""


def argument_text(tool_name: str, args: Mapping[str, Any] | None) -> str:
    """The text a rule's pattern is matched against, chosen by tool.

    bash: ``command``; read/write/edit: ``file_path``; glob: ``pattern``;
    grep: ``"<pattern> <path>"``; ls: ``path``; any other tool: the compact JSON of the
    whole arguments object (as the reference's serde_json writes it). Missing fields
    give ``""``.
    """
    args = args or {}
    tool = tool_name.lower()
    if tool == "bash":
        return _str_field(args, "command")
    if tool in ("read", "write", "edit"):
        return _str_field(args, "file_path")
    if tool == "glob":
        return _str_field(args, "pattern")
    if tool == "grep":
        return f"{_str_field(args, 'pattern')} {_str_field(args, 'path')}"
    if tool == "ls":
        return _str_field(args, "path")
    return json.dumps(dict(args), separators=(",", ":"), ensure_ascii=False, default=str)


def glob_match(pattern: str, text: str) -> bool:
    """Match ``text`` against a rule pattern.

    ``*`` alone matches everything; ``prefix:*`` is a plain prefix test; anything else is
    a glob anchored at both ends. A glob that cannot become a regex falls back to a prefix
    test, as the reference does.
    """
    if pattern == "*":
        return True
    if pattern.endswith(":*"):
        return text.startswith(pattern[:-2])
    regex = _compile_glob(pattern)
    if regex is None:
        return text.startswith(pattern)
    return regex.fullmatch(text) is not None


# -- paths -------------------------------------------------------------------------------------


def _has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _roots(workspace: str | Path) -> list[str]:
    """The workspace as spelled (absolute, normalised) and as resolved, deduplicated."""
    spelled = posixpath.normpath(os.path.abspath(os.fspath(workspace)).replace(os.sep, "/"))
    real = os.path.realpath(os.fspath(workspace)).replace(os.sep, "/")
    return list(dict.fromkeys([real, spelled]))


def _relative_to(roots: Sequence[str], absolute: str) -> str | None:
    for root in roots:
        if absolute == root:
            return "."
        prefix = root.rstrip("/") + "/"
        if absolute.startswith(prefix):
            return absolute[len(prefix) :]
    return None


def _collapse(path: str) -> str:
    """``a//b`` -> ``a/b`` (a leading ``//`` too); ``\\`` is left alone (a POSIX name char)."""
    return re.sub(r"/{2,}", "/", path)


def normalize_path(path: str, workspace: str | Path | None = None) -> str:
    """A tool path as rules see it: relative POSIX to the workspace when inside it.

    ``./a``, ``a//b`` and ``x/../a`` become ``a``; with a workspace, an absolute path inside
    it becomes relative (``.`` for the workspace itself) and a relative path that climbs out
    of it (``../x``) becomes absolute. Symlinks are *not* resolved here (see
    :meth:`PermissionPolicy.check`, which checks the resolved path too). ``""`` stays ``""``.
    """
    if not path:
        return ""
    text = _collapse(path)
    if workspace is None:
        return posixpath.normpath(text)
    roots = _roots(workspace)
    absolute = posixpath.normpath(posixpath.join(roots[-1], text))
    rel = _relative_to(roots, absolute)
    return rel if rel is not None else absolute


def _path_variants(path: str, workspace: str | Path | None) -> list[tuple[str, ...]]:
    """The path as written and as resolved; each as its spellings (relative, absolute)."""
    if not path:
        return [("",)]
    text = _collapse(path)
    if workspace is None:
        return [(posixpath.normpath(text),)]
    roots = _roots(workspace)
    lexical = posixpath.normpath(posixpath.join(roots[-1], text))
    try:
        resolved = os.path.realpath(lexical).replace(os.sep, "/")
    except (OSError, ValueError):
        resolved = lexical
    variants: list[tuple[str, ...]] = []
    for absolute in dict.fromkeys([lexical, resolved]):
        rel = _relative_to(roots, absolute)
        variants.append((rel, absolute) if rel is not None else (absolute,))
    return variants


# -- protected files -----------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _protected_by(pattern: str, path: str) -> bool:
    """Whether ``pattern`` (one of :data:`PROTECTED_PATHS`) covers ``path`` at any depth:
    some run of its segments matches the pattern (so whatever lies inside a matching
    directory is covered too); ``X/**`` also matches ``X`` itself."""
    parts = _segments(path)
    regex = _compile_glob(pattern, True)
    base = pattern[:-3] if pattern.endswith("/**") else None
    for i in range(len(parts)):
        for j in range(i + 1, len(parts) + 1):
            sub = "/".join(parts[i:j])
            if regex is not None and regex.fullmatch(sub):
                return True
            if base is not None and sub.lower() == base.lower():
                return True
    return False


_PROTECTED_HINTS = (".env", ".a3s", ".pem", ".key", "id_rsa", ".ssh", ".netrc", ".aws", ".git")


@functools.lru_cache(maxsize=4096)
def is_protected(path: str) -> str | None:
    """The protected pattern covering ``path`` (normalised POSIX, relative or absolute), or
    None. See :data:`PROTECTED_PATHS`."""
    lowered = path.lower()
    if not any(hint in lowered for hint in _PROTECTED_HINTS):
        return None
    for pattern in PROTECTED_PATHS:
        if _protected_by(pattern, path):
            return pattern
    return None


def _names_protected(pattern: str, variant: tuple[str, ...], walker: bool) -> bool:
    """Whether an allow rule's ``pattern`` *names* a protected path (see the module doc)."""
    pattern = _clean_pattern(pattern)
    if pattern in PROTECTED_PATHS:
        return any(_protected_by(pattern, p) for p in variant)
    if not _has_wildcard(pattern):
        return pattern in variant
    fixed = re.split(r"[*?]", pattern, maxsplit=1)[0]
    directory = fixed.rsplit("/", 1)[0] if "/" in fixed else ""
    if not directory or is_protected(directory) is None:
        return False
    return _path_glob(pattern, variant, walker=walker, ignore_case=False)


def _clean_pattern(pattern: str) -> str:
    """``./src//x`` -> ``src/x``: the normalisation paths get, applied to a rule's pattern."""
    text = _collapse(pattern)
    while text.startswith("./"):
        text = text[2:]
    return text


def _path_glob(pattern: str, spellings: Sequence[str], *, walker: bool, ignore_case: bool) -> bool:
    """Whether a path rule's pattern matches one of a path's spellings."""
    if pattern == "*":
        return True
    pattern = _clean_pattern(pattern)
    regex = _compile_glob(pattern, ignore_case)
    base = pattern[:-3] if walker and pattern.endswith("/**") else None
    base_regex = _compile_glob(base, ignore_case) if base else None
    for text in spellings:
        if regex is not None and regex.fullmatch(text):
            return True
        if base_regex is not None and base_regex.fullmatch(text):
            return True
    return False


_GLOB_SAMPLES = (
    ".env",
    ".env.local",
    ".a3s",
    ".ssh",
    ".aws",
    ".git",
    ".netrc",
    "config",
    "id_rsa",
    "server.pem",
    "server.key",
)


def _bash_glob_matches(glob: str, name: str) -> bool:
    if name.startswith(".") and not glob.startswith("."):
        return False  # bash globs do not match a leading dot unless written
    return fnmatch.fnmatchcase(name.lower(), glob.lower())


def _word_protected(piece: str) -> str | None:
    """The protected pattern a word (a path, maybe with glob characters) may reach."""
    found = is_protected(piece)
    if found is not None or (not _has_wildcard(piece) and "[" not in piece):
        return found
    options: list[list[str]] = []
    for part in piece.split("/"):
        if _has_wildcard(part) or "[" in part:
            options.append([s for s in _GLOB_SAMPLES if _bash_glob_matches(part, s)] or [part])
        else:
            options.append([part])
    for combo in itertools.islice(itertools.product(*options), 256):
        found = is_protected("/".join(combo))
        if found is not None:
            return found
    return None


_WORD_SPLIT = re.compile(r"""[\s=@:,;'"()<>|&`]+""")


def _word_pieces(word: str) -> list[str]:
    """A shell word and its parts that may be paths (``--file=.env`` -> ``.env``)."""
    pieces = [word, *(p for p in _WORD_SPLIT.split(word) if p and p != word)]
    out: list[str] = []
    for piece in pieces:
        if piece == "~" or piece.startswith("~/"):
            out.append(os.path.expanduser("~") + piece[1:])
        out.append(piece)
    return out


class PermissionRule(BaseModel):
    """One rule: ``Tool`` or ``Tool(pattern)``.

    Serialized as ``{"rule": "<string>"}``; a bare string is accepted wherever a rule is
    validated, so ``PermissionPolicy(allow=["Bash(git:*)"])`` works. A rule that does not
    parse fails validation with a :class:`PermissionRuleError` message;
    :meth:`parse` raises that error directly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=DEFER_BUILD)

    rule: str
    """The rule text, stripped of surrounding whitespace."""

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_string(cls, data: Any) -> Any:
        return {"rule": data} if isinstance(data, str) else data

    @field_validator("rule")
    @classmethod
    def _check_syntax(cls, value: str) -> str:
        rule = value.strip()
        _split_rule(rule)
        return rule

    @classmethod
    def parse(cls, rule: str) -> PermissionRule:
        """Build a rule from its string; raise :class:`PermissionRuleError` if malformed."""
        if not isinstance(rule, str):
            raise TypeError(f"a permission rule must be a string, got {type(rule).__name__}")
        _split_rule(rule.strip())
        return cls(rule=rule)

    @property
    def tool_name(self) -> str:
        """The tool name part (before the parenthesis)."""
        return _split_rule(self.rule)[0]

    @property
    def pattern(self) -> str | None:
        """The argument pattern, or None when the rule covers every call of the tool."""
        return _split_rule(self.rule)[1]

    def matches_tool(self, tool_name: str) -> bool:
        """Whether the rule's tool name covers ``tool_name``, ignoring arguments.

        Names compare case-insensitively. ``Read`` covers the read family, ``Edit`` and
        ``Write`` the edit family (:data:`READ_FAMILY`, :data:`EDIT_FAMILY`). A rule name
        starting with ``mcp__`` covers that exact tool and every tool in
        ``<name>__...`` (``mcp__pencil`` covers ``mcp__pencil__batch_design`` but not
        ``mcp__pencil2__draw``).
        """
        rule_tool = self.tool_name.lower()
        actual = tool_name.lower()
        if rule_tool == actual:
            return True
        if actual in _FAMILY_RULES.get(rule_tool, ()):
            return True
        if rule_tool.startswith("mcp__"):
            boundary = rule_tool if rule_tool.endswith("__") else rule_tool + "__"
            return actual.startswith(boundary)
        return False

    def matches(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> bool:
        """Whether this rule applies to any part of the call ``tool_name(**args)``.

        This is the deny-side reading: for ``bash``, some simple command matches (see the
        module doc); for path tools, the path as written or as resolved matches
        (case-insensitively). Whether an allow rule set *allows* a call is
        :meth:`PermissionPolicy.check`'s business.
        """
        if not self.matches_tool(tool_name):
            return False
        return _deny_match(self, _Call.of(tool_name, args, workspace))

    def __str__(self) -> str:
        return self.rule


def _rule_text(rule: str | PermissionRule) -> str:
    return rule.rule if isinstance(rule, PermissionRule) else rule.strip()


# -- the call as rules see it ----------------------------------------------------------------


def _call_path(tool: str, args: Mapping[str, Any]) -> str:
    if tool in ("read", "write", "edit"):
        return _str_field(args, "file_path")
    if tool in _WALKERS:
        return _str_field(args, "path") or "."
    for key in ("file_path", "notebook_path", "path"):
        value = _str_field(args, key)
        if value:
            return value
    return ""


@dataclass
class _Call:
    tool: str
    args: Mapping[str, Any]
    workspace: str | Path | None
    text: str
    shell: ShellCommand | None = None
    family: Literal["read", "edit"] | None = None
    path: str = ""
    variants: tuple[tuple[str, ...], ...] = ()
    walker: bool = False
    host: str | None = None

    @classmethod
    def of(
        cls, tool_name: str, args: Mapping[str, Any] | None, workspace: str | Path | None
    ) -> _Call:
        args = args or {}
        tool = tool_name.lower()
        if tool == "grep":
            raw = _str_field(args, "path")
            text = f"{_str_field(args, 'pattern')} {normalize_path(raw, workspace)}"
        else:
            text = argument_text(tool, args)
        call = cls(tool=tool, args=args, workspace=workspace, text=text)
        if tool == "bash":
            from a3s_notebook.engine._shell import parse_command

            call.shell = parse_command(_str_field(args, "command"))
        elif tool in READ_FAMILY or tool in EDIT_FAMILY:
            call.family = "read" if tool in READ_FAMILY else "edit"
            call.path = _call_path(tool, args)
            call.variants = tuple(_path_variants(call.path, workspace))
            call.walker = tool in _WALKERS
        elif tool == "web_fetch":
            call.host = fetch_host(_str_field(args, "url"))
        return call

    def spellings(self) -> list[str]:
        return [s for v in self.variants for s in v]

    def protected(self) -> str | None:
        return _variants_protected(self.variants)

    def display_path(self) -> str:
        return self.variants[0][0] if self.variants else self.path


def _variants_protected(variants: Iterable[tuple[str, ...]]) -> str | None:
    """The protected pattern covering a path, judged on its workspace-relative spelling when
    it has one (so a workspace that itself lies under, say, ``~/.ssh`` is not all protected)
    and on its absolute spelling otherwise."""
    for variant in variants:
        found = is_protected(variant[0])
        if found is not None:
            return found
    return None


def _path_rule(rule: PermissionRule, call: _Call) -> bool:
    """Whether ``rule`` matches ``call`` on its path (else on the tool's text)."""
    if call.family is None:
        return False
    name = rule.tool_name.lower()
    if name in _FAMILY_RULES:
        return True
    return name == call.tool and call.tool not in ("grep", "glob")


def _deny_match(rule: PermissionRule, call: _Call) -> bool:
    """The deny-side match of one rule (tool name already checked)."""
    pattern = rule.pattern
    if call.shell is not None:
        return (
            _shell_hit(_bash_rule(pattern), call.shell) is _Hit.YES
            or _writes_hit(rule, call, deny_side=True) is not None
        )
    if pattern is None:
        return True
    if _path_rule(rule, call):
        if _clean_pattern(pattern) in PROTECTED_PATHS:
            # a protected pattern written as a rule means what the protection means
            protected = _clean_pattern(pattern)
            if any(_protected_by(protected, s) for s in call.spellings()):
                return True
        return _path_glob(pattern, call.spellings(), walker=call.walker, ignore_case=True)
    if call.tool == "web_fetch" and pattern.startswith(_DOMAIN):
        return _domain_match(pattern, call.host)
    return glob_match(pattern, call.text)


def _allow_match(rule: PermissionRule, call: _Call) -> bool:
    """The allow-side match of one rule on a non-bash call: every variant of the path."""
    pattern = rule.pattern
    if pattern is None:
        return True
    if _path_rule(rule, call):
        protected = _clean_pattern(pattern)
        return all(
            _path_glob(pattern, v, walker=call.walker, ignore_case=False)
            or (protected in PROTECTED_PATHS and any(_protected_by(protected, s) for s in v))
            for v in call.variants
        )
    if call.tool == "web_fetch" and pattern.startswith(_DOMAIN):
        return _domain_match(pattern, call.host)
    return glob_match(pattern, call.text)


def _writes_hit(rule: PermissionRule, call: _Call, *, deny_side: bool) -> str | None:
    """The first file a bash command writes by redirection that a Write/Edit rule covers."""
    if call.shell is None or not call.shell.writes or not rule.matches_tool("write"):
        return None
    if rule.tool_name.lower() not in _FAMILY_RULES and rule.tool_name.lower() != "write":
        return None
    pattern = rule.pattern
    for target in call.shell.writes:
        variants = _path_variants(target, call.workspace)
        if pattern is None:
            return target
        if deny_side:
            spellings = [s for v in variants for s in v]
            if _path_glob(pattern, spellings, walker=False, ignore_case=True):
                return target
        elif all(_path_glob(pattern, v, walker=False, ignore_case=False) for v in variants):
            return target
    return None


# -- bash rules ----------------------------------------------------------------------------------


class _Hit(IntEnum):
    NO = 0
    MAYBE = 1
    YES = 2


@dataclass(frozen=True)
class _BashRule:
    kind: Literal["any", "prefix", "exact", "glob"]
    words: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None


def _rule_words(text: str) -> tuple[str, ...]:
    from a3s_notebook.engine._shell import command_name, split_words

    words = split_words(text)
    if words is not None:
        return words
    parts = text.split()
    return (command_name(parts[0]), *parts[1:]) if parts else ()


@functools.lru_cache(maxsize=1024)
def _bash_rule(pattern: str | None) -> _BashRule:
    """How a Bash rule's pattern reads (see the module doc)."""
    if pattern is None or pattern.strip() == "*":
        return _BashRule("any")
    text = pattern.strip()
    if text.endswith(":*"):
        head = text[:-2].strip()
        if not head:
            return _BashRule("any")
        return _BashRule("prefix", _rule_words(head))
    if _has_wildcard(text):
        return _BashRule("glob", regex=_compile_glob(text))
    return _BashRule("exact", _rule_words(text))


def _words_hit(
    words: Sequence[str],
    argv: Sequence[str],
    dynamic: frozenset[int],
    globbed: frozenset[int],
    *,
    prefix: bool,
    open_args: bool,
    deny_side: bool,
) -> _Hit:
    result = _Hit.YES
    for i, word in enumerate(words):
        if i >= len(argv):
            return _Hit.MAYBE if deny_side and open_args else _Hit.NO
        actual = argv[i]
        if actual == word:
            continue
        if deny_side and (i in dynamic or (i in globbed and fnmatch.fnmatchcase(word, actual))):
            result = _Hit.MAYBE
            continue
        return _Hit.NO
    if not prefix:
        if len(argv) != len(words):
            return _Hit.NO
        if open_args:
            return _Hit.MAYBE if deny_side else _Hit.NO
    return result


def _command_hit(rule: _BashRule, sc: SimpleCommand, *, deny_side: bool) -> _Hit:
    """How one simple command matches a Bash rule, from the deny or the allow side."""
    if rule.kind == "any":
        return _Hit.YES
    if rule.kind == "glob":
        if rule.regex is None:
            return _Hit.NO
        if deny_side:
            normal = " ".join([sc.name, *sc.argv[1:]])
            return (
                _Hit.YES
                if rule.regex.fullmatch(sc.text) or rule.regex.fullmatch(normal)
                else (_Hit.NO)
            )
        return _Hit.YES if rule.regex.fullmatch(sc.text) and not sc.open_args else _Hit.NO
    argv = list(sc.argv)
    if deny_side and argv:
        argv[0] = sc.name
    hit = _words_hit(
        rule.words,
        argv,
        sc.dynamic,
        sc.globbed,
        prefix=rule.kind == "prefix",
        open_args=sc.open_args,
        deny_side=deny_side,
    )
    if hit is not _Hit.NO or not deny_side or not rule.words:
        return hit
    # The denied words later in the command: an unknown wrapper may run them
    for i in range(1, len(argv)):
        if i in sc.dynamic or posixpath.basename(argv[i]) != rule.words[0]:
            continue
        later = _words_hit(
            rule.words,
            [rule.words[0], *argv[i + 1 :]],
            frozenset(d - i for d in sc.dynamic if d > i),
            frozenset(g - i for g in sc.globbed if g > i),
            prefix=True,
            open_args=sc.open_args,
            deny_side=True,
        )
        if later is not _Hit.NO:
            return _Hit.MAYBE
    return _Hit.NO


def _ancestors(simple: Sequence[SimpleCommand], index: int) -> list[tuple[SimpleCommand, int]]:
    """The wrappers around ``simple[index]`` whose words end with its words, innermost first,
    each with the position of the wrapped command in the wrapper's argv."""
    from a3s_notebook.engine._shell import command_name

    out: list[tuple[SimpleCommand, int]] = []
    current = simple[index]
    if not current.via:
        return out
    # a wrapper is emitted just before what it runs; look back a bounded distance
    for j in range(index - 1, max(-1, index - 1 - 4 * len(current.via) - 16), -1):
        wrapper = simple[j]
        size = len(current.argv)
        offset = len(wrapper.argv) - size
        if offset <= 0 or not size:
            continue
        if wrapper.argv[offset + 1 :] != current.argv[1:]:
            continue
        if command_name(wrapper.argv[offset]) != current.argv[0]:
            continue
        out.append((wrapper, offset))
        current = wrapper
    return out


def _shell_hit(rule: _BashRule, shell: ShellCommand) -> _Hit:
    """The deny-side match of a Bash rule on a whole command line."""
    if rule.kind == "any":
        return _Hit.YES
    if (
        rule.kind == "glob"
        and rule.regex is not None
        and rule.regex.fullmatch(shell.source.strip())
    ):
        return _Hit.YES
    best = _Hit.NO
    for index, sc in enumerate(shell.simple):
        hit = _command_hit(rule, sc, deny_side=True)
        if hit is _Hit.YES:
            return hit
        best = max(best, hit)
        if rule.kind in ("prefix", "exact"):
            # "sudo -u bob rm x" is also "sudo rm x" for Bash(sudo rm:*)
            for wrapper, _offset in _ancestors(shell.simple, index):
                compact = (wrapper.name, *sc.argv)
                hit = _words_hit(
                    rule.words,
                    compact,
                    frozenset(d + 1 for d in sc.dynamic),
                    frozenset(g + 1 for g in sc.globbed),
                    prefix=rule.kind == "prefix",
                    open_args=sc.open_args,
                    deny_side=True,
                )
                if hit is _Hit.YES:
                    return hit
                best = max(best, hit)
    if best is _Hit.NO:
        best = _embedded_hit(rule, shell)
    return best


_COMMAND_LIKE = re.compile(r"[\s;|&]")
_TOKEN = re.compile(r"[A-Za-z0-9_./+-]+")


def _embedded_hit(rule: _BashRule, shell: ShellCommand) -> _Hit:
    """MAYBE when a word carries a command the rule names: some programs run their
    arguments as commands (``ssh host 'rm x'``, ``git -c alias.x='!rm x'``,
    ``python -c "os.system('rm x')"``)."""
    from a3s_notebook.engine._shell import parse_command

    budget = 65_536  # characters parsed again, so a crafted command cannot make this slow
    for word in shell.words:
        if len(word) > 4096:
            continue
        if rule.words:
            tokens = _TOKEN.findall(word)
            if tokens != [word]:
                size = len(rule.words)
                for i, token in enumerate(tokens):
                    if posixpath.basename(token) != rule.words[0]:
                        continue
                    following = tokens[i + 1 : i + size]
                    if list(rule.words[1 : 1 + len(following)]) == following:
                        return _Hit.MAYBE
        if not _COMMAND_LIKE.search(word):
            continue
        budget -= len(word)
        if budget < 0:
            return _Hit.MAYBE
        for text in dict.fromkeys([word, word.split("=", 1)[-1]]):
            inner = parse_command(text.strip().lstrip("!"))
            for sc in inner.simple:
                if _command_hit(rule, sc, deny_side=True) is not _Hit.NO:
                    return _Hit.MAYBE
            if rule.kind == "glob" and rule.regex is not None and rule.regex.fullmatch(text):
                return _Hit.MAYBE
    return _Hit.NO


def _covering_rule(
    shell: ShellCommand, index: int, allow: Sequence[PermissionRule]
) -> PermissionRule | None:
    """The allow rule covering ``shell.simple[index]`` directly or through its wrapper."""
    sc = shell.simple[index]
    for rule in allow:
        if _command_hit(_bash_rule(rule.pattern), sc, deny_side=False) is _Hit.YES:
            return rule
    for wrapper, offset in _ancestors(shell.simple, index):
        for rule in allow:
            parsed = _bash_rule(rule.pattern)
            if parsed.kind == "prefix" and len(parsed.words) <= offset:
                continue
            if _command_hit(parsed, wrapper, deny_side=False) is _Hit.YES:
                return rule
    return None


# -- evaluation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionVerdict:
    """A decision with the rule that made it and the reason in words.

    ``rule`` is the deciding rule's text (several joined by ``", "`` when a compound command
    needed more than one allow rule), ``"protected:<pattern>"`` when a protected file decided
    (see :data:`PROTECTED_PATHS`), or None when the default, ``enabled=False``, an uncertain
    command or a suspicion (a deny rule that might match, a word naming a denied path) made
    the call ask; ``reason`` then says which.
    """

    decision: PermissionDecision
    rule: str | None
    reason: str


def _verdict(decision: PermissionDecision, rule: str | None, reason: str) -> PermissionVerdict:
    return PermissionVerdict(decision, rule, reason)


def _patch_files(args: Mapping[str, Any] | None) -> list[str] | None:
    """The files a ``patch`` call without ``file_path`` changes (None: judge it as given)."""
    args = args or {}
    if _str_field(args, "file_path"):
        return None
    targets = patch_targets(_str_field(args, "diff"))
    return targets or None


def _strictest(verdicts: Sequence[PermissionVerdict]) -> PermissionVerdict:
    """Deny over a protected file's ask over ask over allow; allow only if all allow."""
    for verdict in verdicts:
        if verdict.decision is PermissionDecision.DENY:
            return verdict
    asks = [v for v in verdicts if v.decision is PermissionDecision.ASK]
    for verdict in asks:
        if verdict.rule is not None and verdict.rule.startswith(_PROTECTED_PREFIX):
            return verdict
    if asks:
        return asks[0]
    rules = list(dict.fromkeys(v.rule for v in verdicts if v.rule))
    return _verdict(
        PermissionDecision.ALLOW,
        ", ".join(rules) or None,
        verdicts[0].reason if len(rules) <= 1 else f"allowed by rules {', '.join(rules)}",
    )


def _exact_first(rules: Sequence[PermissionRule], tool: str) -> list[PermissionRule]:
    """Rules that apply to ``tool``, the ones naming it exactly first (for messages)."""
    applicable = [r for r in rules if r.matches_tool(tool)]
    return sorted(applicable, key=lambda r: r.tool_name.lower() != tool)


def _default(default: PermissionDecision) -> PermissionVerdict:
    return _verdict(default, None, f"no rule decides this call (default: {default.value})")


def _evaluate(
    call: _Call,
    *,
    deny: Sequence[PermissionRule],
    ask: Sequence[PermissionRule],
    allow: Sequence[PermissionRule],
    default: PermissionDecision,
    enabled: bool,
) -> PermissionVerdict:
    if call.shell is not None:
        return _evaluate_bash(call, call.shell, deny, ask, allow, default, enabled)
    if call.family is not None:
        return _evaluate_path(call, deny, ask, allow, default, enabled)
    if not enabled:
        return _verdict(PermissionDecision.ALLOW, None, "permission checks are disabled")
    for rule in _exact_first(deny, call.tool):
        if _deny_match(rule, call):
            return _verdict(PermissionDecision.DENY, rule.rule, f"denied by rule {rule.rule}")
    for rule in _exact_first(ask, call.tool):
        if _deny_match(rule, call):
            return _verdict(PermissionDecision.ASK, rule.rule, f"matches ask rule {rule.rule}")
    for rule in _exact_first(allow, call.tool):
        if _allow_match(rule, call):
            return _verdict(PermissionDecision.ALLOW, rule.rule, f"allowed by rule {rule.rule}")
    return _default(default)


def _evaluate_path(
    call: _Call,
    deny: Sequence[PermissionRule],
    ask: Sequence[PermissionRule],
    allow: Sequence[PermissionRule],
    default: PermissionDecision,
    enabled: bool,
) -> PermissionVerdict:
    shown = call.display_path()
    protected = call.protected()
    if enabled:
        for rule in _exact_first(deny, call.tool):
            if _deny_match(rule, call):
                return _verdict(PermissionDecision.DENY, rule.rule, f"denied by rule {rule.rule}")
    allows = _exact_first(allow, call.tool) if enabled else []
    if protected is not None and call.family == "read":
        named = any(
            rule.pattern is not None
            and _path_rule(rule, call)
            and all(_names_protected(rule.pattern, v, call.walker) for v in call.variants)
            for rule in allows
        )
        if not named:
            return _verdict(
                PermissionDecision.DENY,
                _PROTECTED_PREFIX + protected,
                f"{shown} is a protected file ({protected}); only an allow rule naming it "
                f"(e.g. Read({shown})) unlocks it",
            )
    protected_write = protected is not None and call.family == "edit"
    write_ask = _verdict(
        PermissionDecision.ASK,
        _PROTECTED_PREFIX + (protected or ""),
        f"{shown} is a protected file ({protected}): writing it always asks",
    )
    if not enabled:
        if protected_write:
            return write_ask
        return _verdict(PermissionDecision.ALLOW, None, "permission checks are disabled")
    for rule in _exact_first(ask, call.tool):
        if _deny_match(rule, call):
            return _verdict(PermissionDecision.ASK, rule.rule, f"matches ask rule {rule.rule}")
    for rule in allows:
        if _allow_match(rule, call):
            if protected_write:
                return write_ask
            return _verdict(PermissionDecision.ALLOW, rule.rule, f"allowed by rule {rule.rule}")
    if protected_write and default is not PermissionDecision.DENY:
        return write_ask
    return _default(default)


def _bash_word_concerns(
    call: _Call, shell: ShellCommand, deny: Sequence[PermissionRule]
) -> tuple[str | None, list[tuple[str, str]]]:
    """(the protected pattern a word reaches, [(rule, reason)] for words a Read/Edit/Write
    deny rule covers)."""
    path_denies = [
        r
        for r in deny
        if r.pattern is not None and r.tool_name.lower() in ("read", "write", "edit")
    ]
    protected: str | None = None
    protected_word = ""
    concerns: list[tuple[str, str]] = []
    seen: set[str] = set()
    for word in dict.fromkeys((*shell.words, *shell.writes)):
        for piece in _word_pieces(word):
            if not piece or len(piece) > 4096 or piece in seen:
                continue
            seen.add(piece)
            globby = _has_wildcard(piece) or "[" in piece
            variants = (
                [(posixpath.normpath(_collapse(piece)),)]
                if globby
                else _path_variants(piece, call.workspace)
            )
            spellings = [s for v in variants for s in v]
            if protected is None:
                for variant in variants:
                    found = _word_protected(variant[0])
                    if found is not None:
                        protected, protected_word = found, word
                        break
            for rule in path_denies:
                assert rule.pattern is not None
                if _path_glob(rule.pattern, spellings, walker=False, ignore_case=True):
                    concerns.append(
                        (rule.rule, f"the command names {piece}, which {rule.rule} denies")
                    )
    if protected is not None:
        concerns.insert(
            0, ("", f"the command refers to a protected file ({protected_word}: {protected})")
        )
    return protected, concerns


def _evaluate_bash(
    call: _Call,
    shell: ShellCommand,
    deny: Sequence[PermissionRule],
    ask: Sequence[PermissionRule],
    allow: Sequence[PermissionRule],
    default: PermissionDecision,
    enabled: bool,
) -> PermissionVerdict:
    bash_deny = [r for r in deny if r.matches_tool("bash")] if enabled else []
    concerns: list[tuple[str, str]] = []
    for rule in bash_deny:
        hit = _shell_hit(_bash_rule(rule.pattern), shell)
        if hit is _Hit.YES:
            return _verdict(PermissionDecision.DENY, rule.rule, f"denied by rule {rule.rule}")
        if hit is _Hit.MAYBE:
            concerns.append((rule.rule, f"the command might run what {rule.rule} denies"))
    if enabled:
        for rule in deny:
            target = _writes_hit(rule, call, deny_side=True)
            if target is not None:
                return _verdict(
                    PermissionDecision.DENY,
                    rule.rule,
                    f"the command writes {target}, which {rule.rule} denies",
                )
    protected, word_concerns = _bash_word_concerns(call, shell, deny if enabled else [])
    concerns.extend(word_concerns)
    protected_ask = (
        _verdict(PermissionDecision.ASK, _PROTECTED_PREFIX + protected, word_concerns[0][1])
        if protected is not None
        else None
    )
    if not enabled:
        if protected_ask is not None:
            return protected_ask
        return _verdict(PermissionDecision.ALLOW, None, "permission checks are disabled")
    for rule in ask:
        if rule.matches_tool("bash") and _shell_hit(_bash_rule(rule.pattern), shell) is not _Hit.NO:
            return protected_ask or _verdict(
                PermissionDecision.ASK, rule.rule, f"matches ask rule {rule.rule}"
            )
        target = _writes_hit(rule, call, deny_side=True)
        if target is not None:
            return protected_ask or _verdict(
                PermissionDecision.ASK, rule.rule, f"the command writes {target} ({rule.rule})"
            )
    uncertain = "; ".join(shell.problems)
    bash_allow = [r for r in allow if r.matches_tool("bash")]
    bare = next((r for r in bash_allow if _bash_rule(r.pattern).kind == "any"), None)
    covered = [bare.rule] if bare is not None else _covered(call, shell, bash_allow, allow)
    if covered:
        if protected_ask is not None:
            return protected_ask
        if concerns:
            return _verdict(PermissionDecision.ASK, None, concerns[0][1])
        if not shell.certain and (bare is None or bash_deny):
            return _verdict(
                PermissionDecision.ASK, None, f"the command cannot be checked: {uncertain}"
            )
        rules = ", ".join(covered)
        return _verdict(PermissionDecision.ALLOW, rules, f"allowed by {rules}")
    if default is PermissionDecision.DENY:
        return _default(default)
    if protected_ask is not None:
        return protected_ask
    if concerns:
        return _verdict(PermissionDecision.ASK, None, concerns[0][1])
    if not shell.certain:
        return _verdict(PermissionDecision.ASK, None, f"the command cannot be checked: {uncertain}")
    return _default(default)


def _covered(
    call: _Call,
    shell: ShellCommand,
    bash_allow: Sequence[PermissionRule],
    allow: Sequence[PermissionRule],
) -> list[str]:
    """The allow rules covering every judged simple command and every redirect write, or []."""
    from a3s_notebook.engine._shell import ShellCommand

    used: list[str] = []
    judged = [i for i, sc in enumerate(shell.simple) if sc.kind in ("command", "privilege")]
    if not judged:
        return []
    for index in judged:
        rule = _covering_rule(shell, index, bash_allow)
        if rule is None:
            return []
        used.append(rule.rule)
    for target in shell.writes:
        single = _Call(tool="bash", args=call.args, workspace=call.workspace, text="")
        single.shell = ShellCommand(source="", simple=(), certain=True, writes=(target,))
        rule = next((r for r in allow if _writes_hit(r, single, deny_side=False)), None)
        if rule is None:
            return []
        used.append(rule.rule)
    return list(dict.fromkeys(used))


class PermissionPolicy(BaseModel):
    """Deny, ask and allow rules plus a default decision (semantics in the module doc).

    ``check`` evaluates, in order: any deny match -> Deny; protected file rules; any ask
    match -> Ask; allow rules covering the call -> Allow; else ``default_decision`` (Ask by
    default). ``enabled=False`` allows every call except what the protected files forbid.
    Every evaluation method takes ``workspace=``: paths are then normalised relative to it
    and symlinks resolved. The builder methods change the policy in place and return it, so
    they chain::

        policy = PermissionPolicy().allow_rule("Bash(cargo:*)").deny_rule("Bash(rm -rf:*)")
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=DEFER_BUILD)

    deny: list[PermissionRule] = Field(default_factory=list)
    """Rules that refuse a call outright (checked first)."""
    allow: list[PermissionRule] = Field(default_factory=list)
    """Rules that approve a call without asking."""
    ask: list[PermissionRule] = Field(default_factory=list)
    """Rules that always require a confirmation (they win over allow rules)."""
    default_decision: PermissionDecision = PermissionDecision.ASK
    """The decision when no rule matches."""
    enabled: bool = True
    """When False every call is allowed, except that protected files stay guarded."""

    @field_validator("deny", "allow", "ask", mode="before")
    @classmethod
    def _accept_single_rule(cls, value: Any) -> Any:
        # A lone string would otherwise be iterated character by character
        return [value] if isinstance(value, (str, PermissionRule)) else value

    @field_validator("deny", "allow", "ask")
    @classmethod
    def _drop_duplicates(cls, rules: list[PermissionRule]) -> list[PermissionRule]:
        seen: set[str] = set()
        unique = []
        for rule in rules:
            if rule.rule not in seen:
                seen.add(rule.rule)
                unique.append(rule)
        return unique

    @field_validator("default_decision", mode="before")
    @classmethod
    def _decision_any_case(cls, value: Any) -> Any:
        # Rust-style "Allow" is what users copy from the reference's docs
        return value.strip().lower() if isinstance(value, str) else value

    # -- presets -----------------------------------------------------------------

    @classmethod
    def permissive(cls) -> PermissionPolicy:
        """A policy that allows whatever no rule denies or asks about."""
        return cls(default_decision=PermissionDecision.ALLOW)

    @classmethod
    def notebook(cls) -> PermissionPolicy:
        """The preset the demo and the magics start from.

        Read-only tools and the agent's own task list are allowed; everything else
        (write, edit, bash, unknown tools) falls to the default, Ask. The rules are
        ordinary allow rules, so a user sees them and can remove them. Protected files
        stay out of reach of the allowed read tools.
        """
        return cls(allow=[PermissionRule(rule=r) for r in NOTEBOOK_ALLOW_RULES])

    @classmethod
    def strict(cls) -> PermissionPolicy:
        """A policy that asks about whatever no rule allows or denies (the default)."""
        return cls(default_decision=PermissionDecision.ASK)

    # -- evaluation --------------------------------------------------------------

    def evaluate(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> PermissionVerdict:
        """The decision, the rule that made it and the reason in words."""
        if tool_name.lower() == "patch":
            many = _patch_files(args)
            if many is not None:
                return _strictest(
                    [self.evaluate(tool_name, {"file_path": p}, workspace=workspace) for p in many]
                )
        return _evaluate(
            _Call.of(tool_name, args, workspace),
            deny=self.deny,
            ask=self.ask,
            allow=self.allow,
            default=self.default_decision,
            enabled=self.enabled,
        )

    def explain(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> tuple[PermissionDecision, str | None]:
        """The decision and the rule that made it (see :class:`PermissionVerdict`)."""
        verdict = self.evaluate(tool_name, args, workspace=workspace)
        return verdict.decision, verdict.rule

    def check(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> PermissionDecision:
        """Decide one tool call: Allow, Deny or Ask."""
        return self.evaluate(tool_name, args, workspace=workspace).decision

    def is_allowed(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> bool:
        """True when the call runs without asking."""
        return self.check(tool_name, args, workspace=workspace) is PermissionDecision.ALLOW

    def is_denied(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> bool:
        """True when the call is refused."""
        return self.check(tool_name, args, workspace=workspace) is PermissionDecision.DENY

    def requires_confirmation(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> bool:
        """True when the decision is Ask."""
        return self.check(tool_name, args, workspace=workspace) is PermissionDecision.ASK

    def get_matching_rules(
        self,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> dict[str, list[str]]:
        """Every matching rule string per list (``deny``/``allow``/``ask``), for debugging.

        Deny and ask rules are listed when they apply to some part of the call
        (:meth:`PermissionRule.matches`); allow rules when they cover some part of it (for
        bash, at least one simple command; for paths, the path as written and resolved).
        """
        call = _Call.of(tool_name, args, workspace)

        def allows(rule: PermissionRule) -> bool:
            if not rule.matches_tool(tool_name):
                return False
            if call.shell is None:
                return _allow_match(rule, call)
            parsed = _bash_rule(rule.pattern)
            return parsed.kind == "any" or any(
                _command_hit(parsed, sc, deny_side=False) is _Hit.YES for sc in call.shell.judged
            )

        return {
            "deny": [
                r.rule for r in self.deny if r.matches_tool(tool_name) and _deny_match(r, call)
            ],
            "allow": [r.rule for r in self.allow if allows(r)],
            "ask": [r.rule for r in self.ask if r.matches_tool(tool_name) and _deny_match(r, call)],
        }

    def can_read(self, rel_path: str) -> bool:
        """Whether grep, glob or ls may read or list ``rel_path`` while walking.

        ``rel_path`` is a workspace-relative POSIX path of a file or directory. False when a
        ``Read`` deny rule matches it (case-insensitively) or it is protected and no ``Read``
        allow rule names it; a protected directory stays open when an allow rule names
        something inside it (``Read(.a3s/sessions/**)`` opens ``.a3s`` for the walk; the
        files beside ``sessions`` stay closed). Callers check every parent directory too.
        """
        path = normalize_path(rel_path) if rel_path else "."
        spellings = (path,)
        if self.enabled:
            for rule in self.deny:
                if rule.tool_name.lower() != "read":
                    continue
                if rule.pattern is None or _path_glob(
                    rule.pattern, spellings, walker=True, ignore_case=True
                ):
                    return False
        protected = is_protected(path)
        if protected is None:
            return True
        if not self.enabled:
            return False
        for rule in self.allow:
            if rule.tool_name.lower() != "read" or rule.pattern is None:
                continue
            if _names_protected(rule.pattern, spellings, True):
                return True
            fixed = _clean_pattern(rule.pattern)
            if fixed.startswith(path + "/") and _names_protected(
                rule.pattern, (fixed.split("*")[0].split("?")[0].rstrip("/") or path,), True
            ):
                return True
        return False

    # -- editing -----------------------------------------------------------------

    def _list(self, kind: _RuleKind) -> list[PermissionRule]:
        rules: list[PermissionRule] = getattr(self, kind)
        return rules

    def _append(self, kind: _RuleKind, rules: Iterable[str | PermissionRule]) -> bool:
        # Parse everything first so that one bad rule leaves the policy unchanged
        parsed = [r if isinstance(r, PermissionRule) else PermissionRule.parse(r) for r in rules]
        target = self._list(kind)
        added = False
        for rule in parsed:
            if all(existing.rule != rule.rule for existing in target):
                target.append(rule)
                added = True
        return added

    def deny_rule(
        self, rule: str | PermissionRule, *more: str | PermissionRule
    ) -> PermissionPolicy:
        """Add one or more deny rules; return the policy for chaining."""
        self._append("deny", (rule, *more))
        return self

    def allow_rule(
        self, rule: str | PermissionRule, *more: str | PermissionRule
    ) -> PermissionPolicy:
        """Add one or more allow rules; return the policy for chaining."""
        self._append("allow", (rule, *more))
        return self

    def ask_rule(self, rule: str | PermissionRule, *more: str | PermissionRule) -> PermissionPolicy:
        """Add one or more ask rules; return the policy for chaining."""
        self._append("ask", (rule, *more))
        return self

    def deny_rules(self, rules: Iterable[str | PermissionRule]) -> PermissionPolicy:
        """Add many deny rules (the reference's ``deny_all(&[...])``); return the policy."""
        self._append("deny", rules)
        return self

    def allow_rules(self, rules: Iterable[str | PermissionRule]) -> PermissionPolicy:
        """Add many allow rules (the reference's ``allow_all(&[...])``); return the policy."""
        self._append("allow", rules)
        return self

    def ask_rules(self, rules: Iterable[str | PermissionRule]) -> PermissionPolicy:
        """Add many ask rules (the reference's ``ask_all(&[...])``); return the policy."""
        self._append("ask", rules)
        return self

    def deny_all(self) -> PermissionPolicy:
        """Deny whatever no rule allows or asks about; return the policy."""
        self.default_decision = PermissionDecision.DENY
        return self

    def allow_all(self) -> PermissionPolicy:
        """Allow whatever no rule denies or asks about; return the policy."""
        self.default_decision = PermissionDecision.ALLOW
        return self

    def ask_all(self) -> PermissionPolicy:
        """Ask about whatever no rule allows or denies; return the policy."""
        self.default_decision = PermissionDecision.ASK
        return self

    def add_rule(self, kind: str, rule: str | PermissionRule) -> bool:
        """Add a rule to the ``allow``, ``deny`` or ``ask`` list.

        Returns False when the same rule string was already in that list (nothing added).
        Raises :class:`PermissionRuleError` for a malformed rule and ``ValueError`` for an
        unknown kind.
        """
        return self._append(_parse_kind(kind), (rule,))

    def remove_rule(self, rule: str | PermissionRule, kind: str | None = None) -> bool:
        """Remove a rule by its exact string from one list, or from all when ``kind`` is None.

        Returns whether anything was removed.
        """
        text = _rule_text(rule)
        kinds = _KINDS if kind is None else (_parse_kind(kind),)
        removed = False
        for k in kinds:
            rules = self._list(k)
            kept = [r for r in rules if r.rule != text]
            if len(kept) != len(rules):
                rules[:] = kept
                removed = True
        return removed

    def rules(self) -> dict[str, list[str]]:
        """The rule strings per list: ``{"deny": [...], "allow": [...], "ask": [...]}``."""
        return {kind: [r.rule for r in self._list(kind)] for kind in _KINDS}


def _parse_kind(kind: str) -> _RuleKind:
    normalized = kind.strip().lower() if isinstance(kind, str) else kind
    for known in _KINDS:
        if normalized == known:
            return known
    raise ValueError(f"Unknown rule type '{kind}': use allow, deny or ask")


class PermissionManager:
    """A global policy plus optional per-session policies.

    A session without its own policy uses the global one. A session with its own policy
    is still bound by the global deny list, even when the session switched its own rules
    off: the global deny rules are added to the session's (when the global policy is
    enabled), then the session's policy decides as usual.
    """

    def __init__(self, global_policy: PermissionPolicy | None = None) -> None:
        self.global_policy = global_policy or PermissionPolicy()
        self._sessions: dict[str, PermissionPolicy] = {}

    def set_global_policy(self, policy: PermissionPolicy) -> None:
        """Replace the global policy."""
        self.global_policy = policy

    def set_session_policy(self, session_id: str, policy: PermissionPolicy) -> None:
        """Give one session its own policy."""
        self._sessions[session_id] = policy

    def remove_session_policy(self, session_id: str) -> bool:
        """Drop a session's own policy (it falls back to the global one)."""
        return self._sessions.pop(session_id, None) is not None

    def get_policy(self, session_id: str) -> PermissionPolicy:
        """The effective policy of a session: its own if set, else the global one."""
        return self._sessions.get(session_id, self.global_policy)

    def check(
        self,
        session_id: str,
        tool_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
    ) -> PermissionDecision:
        """Decide one tool call of one session."""
        if tool_name.lower() == "patch" and (many := _patch_files(args)) is not None:
            decisions = {
                self.check(session_id, tool_name, {"file_path": p}, workspace=workspace)
                for p in many
            }
            for strictest in (PermissionDecision.DENY, PermissionDecision.ASK):
                if strictest in decisions:
                    return strictest
            return PermissionDecision.ALLOW
        own = self._sessions.get(session_id)
        policy = own if own is not None else self.global_policy
        call = _Call.of(tool_name, args, workspace)
        extra: list[PermissionRule] = []
        if own is not None and self.global_policy.enabled:
            # A session policy must not be a way around the global deny list
            extra = list(self.global_policy.deny)
            if not own.enabled and any(
                r.matches_tool(tool_name) and _deny_match(r, call) for r in extra
            ):
                return PermissionDecision.DENY
        return _evaluate(
            call,
            deny=[*policy.deny, *extra],
            ask=policy.ask,
            allow=policy.allow,
            default=policy.default_decision,
            enabled=policy.enabled,
        ).decision


# -- "always allow" ------------------------------------------------------------------------------

_LAUNCHERS = frozenset(
    {
        "python",
        "python3",
        "node",
        "perl",
        "ruby",
        "php",
        "deno",
        "bun",
        "npx",
        "uvx",
        "pipx",
        "bash",
        "sh",
        "zsh",
        "dash",
        "uv",
        "poetry",
        "pnpm",
        "yarn",
        "npm",
    }
)
"""Commands that run other programs or code: "always allow" names their first argument too."""

_LAUNCHER_CODE_FLAGS = frozenset({"-c", "-e", "--eval", "-p", "--print", "-r"})


def _bash_suggestion(command: str) -> str | None:
    from a3s_notebook.engine._shell import parse_command

    shell = parse_command(command)
    if not shell.certain:
        return None
    judged = shell.judged
    if not judged:
        return None
    names = {sc.argv[0] for sc in judged if sc.argv}
    if len(names) != 1 or any(not sc.argv or 0 in sc.dynamic for sc in judged):
        return None
    name = names.pop()
    if name in _LAUNCHERS:
        # "python -m pytest" -> Bash(python -m pytest:*); "python -c ..." -> nothing
        prefixes = set()
        for sc in judged:
            rest = list(sc.argv[1:])
            if not rest or rest[0] in _LAUNCHER_CODE_FLAGS or 1 in sc.dynamic:
                return None
            take = 2 if rest[0] in ("-m", "run", "exec", "x") and len(rest) > 1 else 1
            if any(i + 1 in sc.dynamic for i in range(take)):
                return None
            prefixes.add(" ".join([name, *rest[:take]]))
        if len(prefixes) != 1:
            return None
        return f"Bash({prefixes.pop()}:*)"
    return f"Bash({name}:*)"


_FILE_RULE_NAMES = {"read": "Read", "write": "Write", "edit": "Edit"}


def suggest_rule(
    tool_name: str,
    args: Mapping[str, Any] | None = None,
    *,
    workspace: str | Path | None = None,
) -> str | None:
    """The narrowest useful allow rule for "always allow" on this call, or None.

    bash: ``Bash(<command>:*)`` when every simple command an allow rule must cover runs the
    same command (``ls -la`` -> ``Bash(ls:*)``, ``git add x && git commit`` ->
    ``Bash(git:*)``, ``timeout 5 pytest`` -> ``Bash(pytest:*)``); for commands that run other
    code (``python``, ``node``, ``npx``, ``bash``, ``uv``, ``npm``, ...) the first argument
    too (``Bash(python -m pytest:*)``, ``Bash(npx prettier:*)``); never the bare tool.
    read/write/edit: the tool on the normalised path (``Write(notes.md)``). Any other tool:
    its name. None when the rule would not make this very call run without asking (an
    uncertain command, commands with different names, a protected file, a file name with
    wildcard characters), so a card never offers a rule that does not help.
    """
    args = args or {}
    tool = tool_name.lower()
    candidate: str | None
    if tool == "bash":
        candidate = _bash_suggestion(_str_field(args, "command"))
    elif tool == "web_fetch":
        host = fetch_host(_str_field(args, "url"))
        candidate = f"WebFetch(domain:{host})" if host else None
    elif tool in _FILE_RULE_NAMES or tool == "patch":
        if tool == "patch":
            files = [_str_field(args, "file_path")] if _str_field(args, "file_path") else None
            files = files or patch_targets(_str_field(args, "diff"))
            if not files or len(files) != 1:
                return None
            args, tool = {"file_path": files[0]}, "edit"
        path = normalize_path(_call_path(tool, args), workspace)
        if not path or _has_wildcard(path) or "\n" in path:
            return None
        if _variants_protected(_path_variants(path, workspace)) is not None:
            return None  # unlocking a protected file is for the user to type
        candidate = f"{_FILE_RULE_NAMES[tool]}({path})"
    elif _TOOL_NAME.fullmatch(tool_name):
        candidate = tool_name
    else:
        return None
    if candidate is None:
        return None
    try:
        policy = PermissionPolicy(allow=[PermissionRule.parse(candidate)])
    except (PermissionRuleError, ValueError):
        return None
    if policy.check(tool_name, args, workspace=workspace) is not PermissionDecision.ALLOW:
        return None
    return candidate
