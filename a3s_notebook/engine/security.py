"""The security guard (spec section 11): classification, taint tracking, the tool
interceptor and the injection detector, as pure Python.

A :class:`SecurityGuard` answers four questions, each in one method, and emits no events
itself (the session turns its verdicts into events):

* :meth:`SecurityGuard.check_prompt`: is this prompt an injection attempt? (blocks)
  It also *taints* the classified values the prompt contains (an e-mail address, a card
  number...), so they cannot leave through a tool call later.
* :meth:`SecurityGuard.check_tool_call`: may this tool call run? Tainted values (or their
  encodings) in the arguments, dangerous ``bash`` commands, and, with a network whitelist,
  URLs to other hosts are blocked.
* :meth:`SecurityGuard.sanitize_output`: the text with tainted values and classified data
  redacted by the configured strategy (``mask``, ``remove`` or ``hash``).
* :meth:`SecurityGuard.scan_tool_output`: does this tool output carry an injection
  attempt? (flags, never blocks)

Taint tracking is the :class:`~a3s_notebook.engine._secrets.SecretRegistry` the session
uses for its own secrets: one concept, so a tainted value is also redacted wherever the
session redacts its keys. Every verdict and redaction is appended to
:attr:`SecurityGuard.audit_log` (10,000 entries at most), never with a secret value in it.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import itertools
import json
import re
import shlex
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine._hosts import normalize_host
from a3s_notebook.engine._secrets import SecretMatch, SecretRegistry
from a3s_notebook.engine.errors import friendly_validation_error
from a3s_notebook.engine.web import fetch_host

if TYPE_CHECKING:
    # imported where a pattern is compiled: a session without the guard never needs it
    import regex  # type: ignore[import-untyped]  # the package ships no type information

__all__ = [
    "AUDIT_LOG_CAPACITY",
    "DEFAULT_DANGEROUS_COMMANDS",
    "INJECTION_PATTERN_NAMES",
    "OUTPUT_SCANNED_TOOLS",
    "AuditEntry",
    "Classification",
    "ClassificationRule",
    "GuardVerdict",
    "Redaction",
    "RedactionStrategy",
    "SecurityConfig",
    "SecurityFeatures",
    "SecurityGuard",
    "SensitivityLevel",
    "default_classification_rules",
]

AUDIT_LOG_CAPACITY = 10_000
"""The audit log keeps the newest 10,000 entries."""

PATTERN_TIMEOUT_S = 1.0
"""Seconds one configured regular expression may take on one text before the guard gives
up on it (and fails closed: blocks the call, or withholds the output)."""

RedactionStrategy = Literal["mask", "remove", "hash"]


# --- configuration --------------------------------------------------------------------------


class SensitivityLevel(StrEnum):
    """How sensitive classified data is, ordered ``PUBLIC < NORMAL < SENSITIVE <
    HIGHLY_SENSITIVE``. Serialized as the reference's names (``"HighlySensitive"``);
    ``"highly_sensitive"`` and other spellings are accepted."""

    PUBLIC = "Public"
    NORMAL = "Normal"
    SENSITIVE = "Sensitive"
    HIGHLY_SENSITIVE = "HighlySensitive"

    @property
    def rank(self) -> int:
        """0 for PUBLIC up to 3 for HIGHLY_SENSITIVE."""
        return _LEVEL_RANK[self]

    @classmethod
    def _missing_(cls, value: object) -> SensitivityLevel | None:
        if isinstance(value, str):
            key = value.replace("_", "").replace("-", "").replace(" ", "").lower()
            for member in cls:
                if member.value.lower() == key:
                    return member
        return None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SensitivityLevel):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, SensitivityLevel):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, SensitivityLevel):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, SensitivityLevel):
            return NotImplemented
        return self.rank >= other.rank

    def __str__(self) -> str:
        return self.value


_LEVEL_RANK = {level: i for i, level in enumerate(SensitivityLevel)}


def _compile(pattern: str, flags: int = 0) -> regex.Pattern[str]:
    import regex

    try:
        return regex.compile(pattern, flags | regex.VERSION0)
    except regex.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


class ClassificationRule(BaseModel):
    """A kind of sensitive data: a regular expression and how sensitive a match is."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=DEFER_BUILD)

    name: str
    pattern: str
    level: SensitivityLevel
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if not v:
            raise ValueError("must not be empty")
        if _compile(v).search("") is not None:
            raise ValueError("matches the empty string, so it would match everywhere")
        return v


# A key's tail made only of words and separators is an identifier (token_refresh_interval),
# not a key: real keys carry digits or mixed-up letters.
_API_KEY = (
    r"\b(?i:sk|pk|api|key|token|secret|password)[-_]"
    r"(?![A-Za-z]++(?:[-_][A-Za-z]++)++(?![A-Za-z0-9_-]))"
    r"[A-Za-z0-9_-]{16,}+"
)


def default_classification_rules() -> list[ClassificationRule]:
    """The five rules of the reference: credit_card, ssn, email, phone, api_key."""
    return [
        ClassificationRule(
            name="credit_card",
            # 13-16 digits, together or in groups of 4 (4-6-5 for Amex) split by one
            # space or dash used throughout
            pattern=(
                r"(?<![\w-])(?:\d{13,16}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}"
                r"|\d{4}([ -])\d{6}\2\d{5})(?![\w-])"
            ),
            level=SensitivityLevel.HIGHLY_SENSITIVE,
            description="Credit card number",
        ),
        ClassificationRule(
            name="ssn",
            pattern=r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])",
            level=SensitivityLevel.HIGHLY_SENSITIVE,
            description="US Social Security number",
        ),
        ClassificationRule(
            name="email",
            # starts only at the start of a run (linear time on long texts)
            pattern=(
                r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@"
                r"(?:[A-Za-z0-9-]++\.)++[A-Za-z]{2,}+\b"
            ),
            level=SensitivityLevel.SENSITIVE,
            description="E-mail address",
        ),
        ClassificationRule(
            name="phone",
            pattern=(
                r"(?<![\w+-])(?:\+?1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}(?![\w-])"
            ),
            level=SensitivityLevel.SENSITIVE,
            description="US phone number",
        ),
        ClassificationRule(
            name="api_key",
            pattern=_API_KEY,
            level=SensitivityLevel.HIGHLY_SENSITIVE,
            description="API key or token (sk-..., api_..., token-...)",
        ),
    ]


_ROOTISH = (
    r"(?:/+\*?|/+(?:bin|boot|dev|etc|home|lib|lib64|opt|root|sbin|srv|sys|usr|var)/*\*?"
    r"|~/*\*?|\$\{?HOME\}?/*\*?)"
)

_DANGEROUS: dict[str, str] = {
    # data sent from a file: curl --data @file, -d @file, -F field=@file (or <file), -T
    "curl_data_from_file": (
        r"\bcurl\b[^\n]*?\s(?:-d|--data(?:-binary|-raw|-ascii|-urlencode)?)(?:\s*|=)['\"]?@"
    ),
    "curl_form_file": (
        r"\bcurl\b[^\n]*?\s(?:-F|--form(?:-string)?)(?:\s*|=)['\"]?[^\s=]*=['\"]?[@<]"
    ),
    "curl_upload_file": r"\bcurl\b[^\n]*?\s(?:-T|--upload-file)\b",
    "wget_post_data": r"\bwget\b[^\n]*?\s--post-data\b",
    "wget_post_file": r"\bwget\b[^\n]*?\s--post-file\b",
    # a file piped into a network client
    "cat_pipe_network": (
        r"\bcat\b[^\n]*?\|\s*(?:(?:sudo|env|nohup|command|time|timeout\s+\S+)\s+)*"
        r"(?:\S*/)?(?:curl|wget|nc|ncat|netcat|telnet|socat)\b"
    ),
    # destruction: rm -r of / ~ $HOME or a top-level system folder, dd onto a device,
    # mkfs, a fork bomb
    "rm_recursive_root": (
        r"\brm\s+(?=(?:[^\n;&|]*\s)?-(?:[A-Za-z]*[rR]|-recursive\b))[^\n;&|]*?\s"
        + _ROOTISH
        + r"(?=[\s;&|)]|$)"
    ),
    "dd_to_device": r"\bdd\b[^\n;&|]*\bof=/dev/(?!null\b|zero\b|stdout\b|stderr\b|tty\b)",
    "redirect_to_disk": r">\s*/dev/(?:sd[a-z]|hd[a-z]|nvme\d|vd[a-z]|xvd[a-z]|mmcblk\d|disk\d)",
    "mkfs": r"\bmkfs(?:\.\w+)?\b",
    "fork_bomb": r":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:",
    "fork_bomb_named": r"\b(\w+)\s*\(\s*\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}",
}

DEFAULT_DANGEROUS_COMMANDS: tuple[str, ...] = tuple(_DANGEROUS.values())
"""The reference's (SafeClaw-era) exfiltration patterns plus destructive commands."""

_DANGEROUS_NAMES = {pattern: name for name, pattern in _DANGEROUS.items()}


def _pattern_label(pattern: str) -> str:
    """A default pattern's name, or a custom pattern itself (cut short)."""
    name = _DANGEROUS_NAMES.get(pattern)
    if name is not None:
        return name
    return repr(pattern if len(pattern) <= 60 else pattern[:57] + "...")


class SecurityFeatures(BaseModel):
    """Which parts of the guard run (all on by default)."""

    model_config = ConfigDict(extra="forbid", defer_build=DEFER_BUILD)

    output_sanitizer: bool = True
    taint_tracking: bool = True
    tool_interceptor: bool = True
    injection_defense: bool = True


class SecurityConfig(BaseModel):
    """The guard's settings (spec section 11); unknown fields are refused.

    Bad values raise :class:`~a3s_notebook.engine.errors.ConfigError` naming the field.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=DEFER_BUILD)

    enabled: bool = True
    classification_rules: list[ClassificationRule] = Field(
        default_factory=default_classification_rules
    )
    redaction_strategy: RedactionStrategy = "remove"
    network_whitelist: list[str] = []
    """Hosts that commands may reach; each also allows its subdomains. Empty: no check."""
    dangerous_commands: list[str] = Field(default_factory=lambda: list(DEFAULT_DANGEROUS_COMMANDS))
    """Regular expressions; a ``bash`` command matching one is blocked."""
    features: SecurityFeatures = Field(default_factory=SecurityFeatures)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise friendly_validation_error(
                "SecurityConfig", exc, type(self).model_fields
            ) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SecurityConfig:
        """Validate a dict (e.g. ``SessionConfig.security_config``) with friendly errors."""
        return cls(**dict(data or {}))

    @field_validator("redaction_strategy", mode="before")
    @classmethod
    def _strategy(cls, v: Any) -> Any:
        # the reference serializes "Mask" / "Remove" / "Hash"
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("dangerous_commands")
    @classmethod
    def _commands(cls, v: list[str]) -> list[str]:
        for i, pattern in enumerate(v):
            try:
                _compile(pattern)
            except ValueError as exc:
                raise ValueError(f"entry {i} ({pattern!r}): {exc}") from None
        return v

    @field_validator("network_whitelist")
    @classmethod
    def _whitelist(cls, v: list[str]) -> list[str]:
        out = []
        for entry in v:
            host = _normalize_whitelist_entry(entry)
            if host is None:
                raise ValueError(
                    f"{entry!r} is not a host name or IP address (write e.g. 'example.com', "
                    "which also allows its subdomains)"
                )
            out.append(host)
        return out


# --- results ----------------------------------------------------------------------------------


class GuardVerdict(BaseModel):
    """What the guard decided about a prompt, a tool call or a tool output.

    Attributes:
        action: ``block`` (the prompt or call must not go ahead), ``flag`` (let it go,
            but show it) or ``redact``.
        rule: the rule that fired (``ignore_instructions``, ``dangerous_command``...).
        message: one line for the user; never holds a secret value.
        where: ``prompt``, ``tool_call:<tool>`` or ``tool_output:<tool>``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=DEFER_BUILD)

    action: Literal["block", "flag", "redact"]
    rule: str
    message: str
    where: str


class Redaction(BaseModel):
    """One value the sanitizer replaced (the value itself is not kept).

    Attributes:
        rule: the classification rule, or ``taint`` for a tainted value or known secret.
        secret: the tainted value's or secret's name (``email#1``, ``OPENAI_API_KEY``).
        level: the rule's sensitivity (None for a secret without a classification).
        replacement: the text put in its place.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=DEFER_BUILD)

    rule: str
    secret: str | None = None
    level: SensitivityLevel | None = None
    replacement: str


class AuditEntry(BaseModel):
    """One line of the guard's audit log; never holds a secret value."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=DEFER_BUILD)

    time: float
    action: Literal["block", "flag", "redact"]
    rule: str
    where: str
    detail: str = ""


@dataclass(frozen=True)
class Classification:
    """A span of text a classification rule matched (the text is not copied)."""

    rule: str
    level: SensitivityLevel
    start: int
    end: int


# --- the injection detector ------------------------------------------------------------------

# (name, [(pattern, ignore case)]); compiled on the guard's first check (_injection)
_INJECTION_SOURCES: list[tuple[str, list[tuple[str, bool]]]] = [
    (
        "ignore_instructions",
        [
            (
                r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}?"
                r"\b(?:previous|prior|above|earlier|preceding|all|your|system|original)\b"
                r"[^.\n]{0,30}?\b(?:instructions?|prompts?|rules|directives?|guidelines|"
                r"guardrails)\b",
                True,
            ),
            (
                r"\bdo\s+not\s+follow\s+(?:your|the|any)\s+(?:previous\s+)?(?:instructions|rules)\b",
                True,
            ),
        ],
    ),
    (
        "system_prompt_extract",
        [
            (
                r"\b(?:reveal|show|print|display|output|repeat|tell|give|leak|dump|list|"
                r"write\s+out|what\s+(?:is|are|was|were))\b[^.\n]{0,20}?\b(?:your|the)\s+"
                r"(?:full\s+|exact\s+|complete\s+|original\s+|initial\s+|hidden\s+|secret\s+)*"
                r"(?:system\s+(?:prompt|message|instructions)|initial\s+(?:prompt|instructions)"
                r"|hidden\s+(?:prompt|instructions)|developer\s+(?:prompt|message))",
                True,
            ),
            (r"\brepeat\s+(?:everything|all|the\s+(?:text|words))\s+(?:above|before)\b", True),
        ],
    ),
    (
        "role_confusion",
        [
            (r"\byou\s+are\s+(?:now|no\s+longer)\s+(?:a|an|the|my|in|acting)\b", True),
            (
                r"\bfrom\s+now\s+on,?\s+you\s+(?:are|will\s+be)\s+(?:a|an|no\s+longer|free|"
                r"not\s+bound|unrestricted)\b",
                True,
            ),
            (r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you\s+are)\b", True),
            (r"(?m)^[ \t]*(?:system|assistant|developer)[ \t]*:[ \t]*\S", True),
        ],
    ),
    (
        "delimiter_injection",
        [
            (r"<\|(?:im_start|im_end|endoftext|system|user|assistant|eot_id)\|>", True),
            (r"\[/?(?:INST|SYS)\]|<</?SYS>>", False),
            (r"</?(?:system|instructions?|system[_-]prompt)>", True),
            (r"(?m)^[ \t]*#{2,}\s*(?:system|new\s+instructions?)\b", True),
            (r"[-=]{3,}\s*(?:begin|end|start)\s+(?:of\s+)?(?:system|instructions?)\b", True),
        ],
    ),
    (
        "encoded_instruction",
        [
            (
                r"\b(?:base64|hex|rot13|decode[sd]?)\b[^\n]{0,60}?(?<![A-Za-z0-9+/])"
                r"([A-Za-z0-9+/]{20,}+={0,2})",
                True,
            )
        ],
    ),
    (
        "jailbreak_attempt",
        [
            (r"\bDAN\b", False),
            (r"\bdo\s+anything\s+now\b", True),
            (
                r"\b(?:you|chatgpt|gpt|assistant|ai|model|llm|act\s+as|pretend)\b[^.\n]{0,40}?"
                r"\bdeveloper\s+mode\b|\bdeveloper\s+mode\b[^.\n]{0,40}?\b(?:no\s+(?:restrictions|"
                r"filters|rules|limits)|uncensored|unfiltered|without\s+(?:restrictions|filters|"
                r"rules|limits))\b",
                True,
            ),
            (
                r"\bbypass(?:ing)?\s+(?:your\s+|the\s+|all\s+|any\s+|its\s+)?(?:own\s+)?"
                r"(?:safety|filters?|restrictions?|guardrails?|content\s+polic(?:y|ies))",
                True,
            ),
        ],
    ),
]

INJECTION_PATTERN_NAMES: tuple[str, ...] = tuple(name for name, _ in _INJECTION_SOURCES)


@functools.cache
def _injection() -> list[tuple[str, list[regex.Pattern[str]]]]:
    import regex

    flags = regex.IGNORECASE | regex.VERSION0
    return [
        (
            name,
            [
                regex.compile(p, flags) if ignore_case else regex.compile(p)
                for p, ignore_case in patterns
            ],
        )
        for name, patterns in _INJECTION_SOURCES
    ]


def _looks_encoded(run: str) -> bool:
    """Whether a 20+ character run looks like base64 or hex rather than a long word."""
    body = run.rstrip("=")
    if run != body or any(c.isdigit() or c in "+/" for c in body):
        return True
    upper = sum(c.isupper() for c in body)
    return upper >= 3 and len(body) - upper >= 3


def detect_injection(text: str) -> str | None:
    """The name of the first injection pattern found in ``text``, or None."""
    for name, patterns in _injection():
        for pattern in patterns:
            if name == "encoded_instruction":
                if any(_looks_encoded(m.group(1)) for m in pattern.finditer(text)):
                    return name
            elif pattern.search(text):
                return name
    return None


# --- network destinations -------------------------------------------------------------------

_URL = re.compile(
    r"(?i)\b[a-z][a-z0-9+.\-]{1,15}://[^\s'\"<>`|;&(){}\\]*(?:\\[^\s][^\s'\"<>`|;&(){}\\]*)*"
)
_NETLOC_OK = re.compile(r"[A-Za-z0-9.\-_~%!$&'*+,;=:@\[\]]*")
# simple commands: split at operators, and once more inside `...` and $(...)
_SPLIT = re.compile(r"\|\||&&|[;|&\n()]")
_SPLIT_SUBSTITUTIONS = re.compile(r"\|\||&&|[;|&\n()`]|\$\(")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset(
    {"sudo", "env", "command", "nohup", "time", "nice", "timeout", "exec", "xargs"}
)
_WRAPPER_VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-R", "-T", "-U", "--user", "--group"}),
    "env": frozenset({"-u", "-C", "--unset", "--chdir"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "xargs": frozenset({"-I", "-n", "-P", "-L", "-s", "-d", "-E", "-a"}),
}
_SCP_LIKE = frozenset({"scp", "sftp", "rsync", "sshfs", "git"})
_GIT_REMOTE = frozenset(
    {"clone", "fetch", "push", "pull", "ls-remote", "remote", "submodule", "archive"}
)
# [user@]host:path (scp, rsync, git), the host may be [ipv6]
_SCP_TARGET = re.compile(r"(?:[A-Za-z0-9._+-]+@)?(\[[0-9A-Fa-f:.]+\]|[^\s:/@\[\]]+):(?!//)")
_HOST_FIRST = frozenset({"nc", "ncat", "netcat", "telnet", "ssh", "mosh", "ftp", "sftp", "autossh"})
_FETCHERS = frozenset({"curl", "wget", "http", "https", "xh", "aria2c", "lynx", "links", "w3m"})


def _words_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


# options whose next word is a value, not a destination
_VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "curl": (
        _words_of(
            "-o --output -H --header -d --data --data-binary --data-raw --data-ascii "
            "--data-urlencode -F --form -A --user-agent -e --referer -u --user -X --request "
            "-m --max-time --connect-timeout -T --upload-file -b --cookie -c --cookie-jar -w "
            "--write-out -r --range -C --continue-at --retry -K --config -D --dump-header "
            "--cacert --cert -E --key --limit-rate -Y -y --resolve --connect-to -z --time-cond "
            "--max-filesize --output-dir --retry-delay --retry-max-time -Q --quote"
        )
    ),
    "wget": (
        _words_of(
            "-O --output-document -o --output-file -a --append-output -P --directory-prefix "
            "-i --input-file --header -U --user-agent --user --password --post-data "
            "--post-file -e --execute -t --tries -T --timeout -w --wait --load-cookies "
            "--save-cookies -Q --quota --limit-rate --referer"
        )
    ),
    "nc": _words_of("-p -s -w -i -q -X -e -c -I -O -T -V"),
    "ssh": _words_of("-b -c -D -E -e -F -I -i -L -l -m -O -o -p -Q -R -S -W -w"),
    "telnet": _words_of("-b -l -n -e"),
}
_VALUE_OPTIONS["ncat"] = _VALUE_OPTIONS["netcat"] = _VALUE_OPTIONS["nc"]
_VALUE_OPTIONS["mosh"] = _VALUE_OPTIONS["autossh"] = _VALUE_OPTIONS["sftp"] = _VALUE_OPTIONS["ssh"]
# options whose value is itself a destination
_DESTINATION_OPTIONS = frozenset({"-x", "--proxy", "--url", "-J", "--preproxy"})


def _normalize_whitelist_entry(entry: str) -> str | None:
    text = entry.strip()
    if "://" in text:
        try:
            text = urlsplit(text).hostname or ""
        except ValueError:
            return None
    else:
        text = text.split("/", 1)[0]
        if text.count(":") == 1:  # host:port
            text = text.split(":", 1)[0]
    text = text.lstrip("*").lstrip(".")
    return normalize_host(text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Destination:
    shown: str  # what to name in a message (host only, cut short)
    host: str | None  # None: could not be parsed or checked


def _url_destination(url: str) -> _Destination:
    try:
        parts = urlsplit(url)
    except ValueError:
        return _Destination(url[:60], None)
    netloc = parts.netloc
    if (
        not netloc
        or "\\" in netloc
        or netloc.count("@") > 1
        or not _NETLOC_OK.fullmatch(netloc)
        or "$" in netloc
    ):
        return _Destination(netloc[:60] or url[:60], None)
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host = hostport[: hostport.find("]") + 1]
    else:
        host = hostport.split(":", 1)[0]
    normalized = normalize_host(host)
    return _Destination(host[:60], normalized)


def _bare_destination(token: str) -> _Destination | None:
    """A destination named without a scheme (``example.com/x``, ``user@host:path``,
    ``10.0.0.1:8080``), or None when ``token`` does not look like one."""
    if any(c in token for c in "$`"):
        return _Destination(token[:60], None)  # expands at run time: cannot be checked
    if token.startswith(("/", "./", "../", "~", "-")) or "=" in token:
        return None
    hostpart = token.split("/", 1)[0].rpartition("@")[2]
    if hostpart.startswith("["):
        host = hostpart[: hostpart.find("]") + 1]
    else:
        host = hostpart.split(":", 1)[0]
    normalized = normalize_host(host)
    if normalized is None:
        return None
    if not (_is_ip(normalized) or normalized == "localhost" or "." in normalized):
        return None
    if "." in normalized and not _is_ip(normalized):
        tld = normalized.rsplit(".", 1)[1]
        if not tld.isalpha() or tld in _FILE_SUFFIXES:
            return None
    return _Destination(host[:60], normalized)


_FILE_SUFFIXES = _words_of(
    "txt md json yaml yml toml csv tsv py sh js ts html htm css xml log gz tgz zip tar bz2 xz "
    "png jpg jpeg gif svg pdf ini cfg conf lock out err bin dat db sqlite env pem key crt"
)


def _words(segment: str) -> list[str]:
    try:
        return shlex.split(segment, comments=False, posix=True)
    except ValueError:
        return segment.split()


def _command_destinations(command: str) -> Iterator[_Destination]:
    """Every network destination named in a shell command (best effort, fail-closed)."""
    for m in _URL.finditer(command):
        yield _url_destination(m.group())
    # split twice: `wget `cat url.txt`` must show the substitution as wget's argument
    # (which cannot be checked), and `echo `curl evil.net`` must show the inner curl
    for segment in (*_SPLIT.split(command), *_SPLIT_SUBSTITUTIONS.split(command)):
        words = _words(segment)
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in _WRAPPERS):
            takes_value = _WRAPPER_VALUE_OPTIONS.get(words[0], frozenset())
            words = words[1:]
            # the wrappers' own options and arguments (timeout 5, nice -n 10, sudo -u x)
            while words and (words[0].startswith("-") or words[0][:1].isdigit()):
                words = words[2:] if words[0] in takes_value else words[1:]
        if not words:
            continue
        name = words[0].rsplit("/", 1)[-1]
        args = words[1:]
        if name not in _FETCHERS and name not in _SCP_LIKE and name not in _HOST_FIRST:
            continue
        if name == "git" and not _GIT_REMOTE.intersection(args):
            continue
        value_options = _VALUE_OPTIONS.get(name, frozenset())
        skip_next = False
        positional = 0
        for i, word in enumerate(args):
            if skip_next:
                skip_next = False
                continue
            if word.startswith("-"):
                if word in _DESTINATION_OPTIONS and i + 1 < len(args):
                    dest = _bare_destination(args[i + 1]) or _maybe_url(args[i + 1])
                    if dest is not None:
                        yield dest
                    skip_next = True
                elif word in value_options:
                    skip_next = True
                continue
            if "://" in word:
                continue  # already seen by the URL scan
            positional += 1
            if name in _FETCHERS:
                dest = _bare_destination(word)
            elif name in _HOST_FIRST and positional == 1:
                dest = _bare_destination(word) or _plain_host(word)
            elif name in _SCP_LIKE and (target := _SCP_TARGET.match(word)):
                host = target.group(1)
                dest = _Destination(host[:60], normalize_host(host))
            else:
                dest = None
            if dest is not None:
                yield dest


def _maybe_url(word: str) -> _Destination | None:
    return _url_destination(word) if "://" in word else None


def _plain_host(word: str) -> _Destination | None:
    """The first argument of ssh / nc: a host even without a dot (``ssh myserver``)."""
    host = word.rpartition("@")[2].split(":", 1)[0]
    if not host:
        return None
    return _Destination(host[:60], normalize_host(host))


# --- the guard ----------------------------------------------------------------------------------

_MASKS: dict[str, Callable[[str], str]] = {
    "ssn": lambda v: "***-**-****",
    "email": lambda v: "****" + v[v.index("@") :] if "@" in v else "[REDACTED]",
    "credit_card": lambda v: (
        "****-****-****-" + "".join(c for c in v if c.isdigit())[-4:]
        if sum(c.isdigit() for c in v) >= 4
        else "****-****-****-****"
    ),
    "phone": lambda v: "***-***-****",
}

OUTPUT_SCANNED_TOOLS = frozenset({"read", "web_fetch", "web_search", "bash"})
"""Tools whose output the injection scanner reads (plus every ``mcp__*`` tool)."""

_WRITE_FIELDS = {"write": ("content",), "edit": ("new_string",), "patch": ("diff",)}


class SecurityGuard:
    """The per-session security guard (spec section 11).

    Args:
        config: the settings; a dict is validated as :class:`SecurityConfig`, None means
            the defaults.
        secrets: the registry to taint into and to check against; pass the session's,
            so that its keys are also refused in tool arguments and tainted values are
            redacted wherever the session redacts. A private one is made when None.
        clock: returns the time written into audit entries (``time.time`` by default).
    """

    def __init__(
        self,
        config: SecurityConfig | Mapping[str, Any] | None = None,
        secrets: SecretRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if config is None:
            config = SecurityConfig()
        elif not isinstance(config, SecurityConfig):
            config = SecurityConfig.from_dict(config)
        self.config = config
        self.secrets = secrets if secrets is not None else SecretRegistry()
        self.audit_log: deque[AuditEntry] = deque(maxlen=AUDIT_LOG_CAPACITY)
        self._clock = clock
        self._lock = threading.Lock()
        self._taint_source = f"taint-{uuid.uuid4().hex[:8]}"
        self._taint_rules: dict[str, str] = {}  # taint name -> classification rule
        self._counter = itertools.count(1)
        self._rules = [(rule, _compile(rule.pattern)) for rule in config.classification_rules]
        self._dangerous = [(p, _compile(p)) for p in config.dangerous_commands]

    def __repr__(self) -> str:
        c = self.config
        on = [name for name, value in c.features.model_dump().items() if value]
        return (
            f"SecurityGuard(enabled={c.enabled}, features={on}, "
            f"strategy={c.redaction_strategy!r}, tainted={len(self._taint_rules)}, "
            f"audit={len(self.audit_log)})"
        )

    @property
    def enabled(self) -> bool:
        """Whether the guard does anything at all."""
        return self.config.enabled

    def _on(self, feature: str) -> bool:
        return self.config.enabled and bool(getattr(self.config.features, feature))

    # --- audit ------------------------------------------------------------------------------

    def _audit(
        self, action: Literal["block", "flag", "redact"], rule: str, where: str, detail: str = ""
    ) -> None:
        self.audit_log.append(
            AuditEntry(
                time=self._clock(),
                action=action,
                rule=rule,
                where=where,
                detail=self.secrets.redact(detail),
            )
        )

    def _verdict(
        self, action: Literal["block", "flag", "redact"], rule: str, message: str, where: str
    ) -> GuardVerdict:
        message = self.secrets.redact(message)
        self._audit(action, rule, where, message)
        return GuardVerdict(action=action, rule=rule, message=message, where=where)

    # --- classification and taint -------------------------------------------------------------

    def classify(self, text: str) -> list[Classification]:
        """Every match of every classification rule, left to right; where matches
        overlap the longest (then the more sensitive) wins.

        Raises:
            TimeoutError: a rule took longer than :data:`PATTERN_TIMEOUT_S`.
        """
        found: list[Classification] = []
        for rule, pattern in self._rules:
            try:
                for m in pattern.finditer(text, timeout=PATTERN_TIMEOUT_S):
                    if m.end() > m.start():
                        found.append(Classification(rule.name, rule.level, m.start(), m.end()))
            except TimeoutError:
                raise TimeoutError(
                    f"classification rule {rule.name!r} took more than {PATTERN_TIMEOUT_S:g} s"
                ) from None
        found.sort(key=lambda c: (c.start, -(c.end - c.start), -c.level.rank))
        chosen: list[Classification] = []
        for c in found:
            if chosen and c.start < chosen[-1].end:
                continue
            chosen.append(c)
        return chosen

    def taint_input(self, text: str) -> list[str]:
        """Classify ``text`` and register each match (and so its encodings) as tainted.

        Returns the names given to the newly tainted values (``email#1``...); values
        already known keep their first name, and values shorter than 8 characters are
        not tracked. A no-op when taint tracking is off.
        """
        if not self._on("taint_tracking") or not text:
            return []
        try:
            matches = self.classify(text)
        except TimeoutError as exc:
            self._audit("flag", "classification_timeout", "taint", str(exc))
            return []
        names = []
        with self._lock:
            for c in matches:
                name = f"{c.rule}#{next(self._counter)}"
                if self.secrets.add(name, text[c.start : c.end], source=self._taint_source):
                    self._taint_rules[name] = c.rule
                    names.append(name)
        return names

    def tainted_names(self) -> list[str]:
        """The names of the values this guard tainted."""
        return list(self._taint_rules)

    def is_tainted(self, text: str) -> str | None:
        """The name of a tainted value or known secret in ``text`` (as it is or in one of
        its encodings, or inside a base64 / hex / URL-encoded word), or None."""
        return self.secrets.find(text) or self.secrets.check_encoded(text)

    # --- prompts ------------------------------------------------------------------------------

    def check_prompt(self, text: str) -> GuardVerdict | None:
        """Taint the prompt's classified values, then block it if it looks like a prompt
        injection: ``Prompt injection detected (pattern: <name>)``."""
        if not self.enabled:
            return None
        self.taint_input(text)
        if not self._on("injection_defense"):
            return None
        name = detect_injection(text)
        if name is None:
            return None
        return self._verdict(
            "block", name, f"Prompt injection detected (pattern: {name})", "prompt"
        )

    # --- tool calls -----------------------------------------------------------------------------

    def check_tool_call(self, tool_name: str, args: Mapping[str, Any]) -> GuardVerdict | None:
        """Block a tool call that would carry a tainted value out, run a dangerous
        command, or (with a whitelist) reach a host that is not on it."""
        if not self._on("tool_interceptor"):
            return None
        tool = tool_name.lower()
        where = f"tool_call:{tool_name}"

        for field in _WRITE_FIELDS.get(tool, ()):
            value = args.get(field)
            if isinstance(value, str) and (name := self.is_tainted(value)):
                return self._verdict(
                    "block",
                    "tainted_write",
                    f"Blocked {tool_name}: '{field}' contains the tainted value {name}",
                    where,
                )

        name = self._tainted_in(args)
        if name is not None:
            return self._verdict(
                "block",
                "tainted_args",
                f"Blocked {tool_name}: its arguments contain the tainted value {name} "
                "(or an encoding of it)",
                where,
            )

        if tool == "bash":
            command = args.get("command")
            if isinstance(command, str):
                return self._check_command(tool_name, command, where)
        if tool == "web_fetch" and self.config.network_whitelist:
            return self._check_fetch(tool_name, args.get("url"), where)
        return None

    def _check_fetch(self, tool_name: str, url: object, where: str) -> GuardVerdict | None:
        """A ``web_fetch`` URL must name a whitelisted host (the tool follows no redirect
        to another host, so the first host is the only one)."""
        whitelist = self.config.network_whitelist
        host = fetch_host(url) if isinstance(url, str) else None
        if host is None:
            return self._verdict(
                "block",
                "network_whitelist",
                f"Blocked {tool_name}: cannot tell which host {str(url)[:80]!r} is; "
                f"only {', '.join(whitelist)} may be reached",
                where,
            )
        if not _whitelisted(host, whitelist):
            return self._verdict(
                "block",
                "network_whitelist",
                f"Blocked {tool_name}: {host} is not in the network whitelist "
                f"({', '.join(whitelist)})",
                where,
            )
        return None

    def _tainted_in(self, args: Mapping[str, Any]) -> str | None:
        try:
            serialized = json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError):
            serialized = repr(args)
        for text in (*_strings(args), serialized):
            name = self.is_tainted(text)
            if name is not None:
                return name
        return None

    def _check_command(self, tool_name: str, command: str, where: str) -> GuardVerdict | None:
        for source, pattern in self._dangerous:
            try:
                hit = pattern.search(command, timeout=PATTERN_TIMEOUT_S)
            except TimeoutError:
                return self._verdict(
                    "block",
                    "dangerous_command",
                    f"Blocked {tool_name}: the dangerous-command pattern "
                    f"{_pattern_label(source)} took too long to check this command",
                    where,
                )
            if hit:
                return self._verdict(
                    "block",
                    "dangerous_command",
                    f"Blocked {tool_name}: the command matches the dangerous-command "
                    f"pattern {_pattern_label(source)}",
                    where,
                )
        whitelist = self.config.network_whitelist
        if whitelist:
            for dest in _command_destinations(command):
                if dest.host is None:
                    return self._verdict(
                        "block",
                        "network_whitelist",
                        f"Blocked {tool_name}: cannot tell which host {dest.shown!r} is; "
                        f"only {', '.join(whitelist)} may be reached",
                        where,
                    )
                if not _whitelisted(dest.host, whitelist):
                    return self._verdict(
                        "block",
                        "network_whitelist",
                        f"Blocked {tool_name}: {dest.host} is not in the network whitelist "
                        f"({', '.join(whitelist)})",
                        where,
                    )
        return None

    # --- outputs ----------------------------------------------------------------------------------

    def sanitize_output(self, text: str, *, where: str = "output") -> tuple[str, list[Redaction]]:
        """``text`` with tainted values and classified data redacted, and what was redacted.

        Tainted originals (and known secrets) get the strategy's replacement, their
        encodings ``[REDACTED]``; then each classification match gets the strategy's
        replacement: ``mask`` (``***-**-****``, ``****@domain``,
        ``****-****-****-1234``, ``***-***-****``, else ``[REDACTED]``), ``remove``
        (``[REDACTED]``) or ``hash`` (``[HASH:<8 hex of sha256>]``).
        """
        if not self._on("output_sanitizer") or not text:
            return text, []
        strategy = self.config.redaction_strategy
        redactions: list[Redaction] = []
        rules = {rule.name: rule for rule, _ in self._rules}

        def taint_replacement(m: SecretMatch) -> str:
            rule_name = self._taint_rules.get(m.name)
            rule = rules.get(rule_name) if rule_name else None
            if m.is_original:
                replacement = _replacement(text[m.start : m.end], rule_name or "", strategy)
            else:
                replacement = "[REDACTED]"
            redactions.append(
                Redaction(
                    rule="taint",
                    secret=m.name,
                    level=rule.level if rule else None,
                    replacement=replacement,
                )
            )
            return replacement

        out, _ = self.secrets.replace(text, taint_replacement)
        try:
            matches = self.classify(out)
        except TimeoutError as exc:
            self._audit("redact", "classification_timeout", where, str(exc))
            notice = f"[REDACTED: output withheld, it could not be checked: {exc}]"
            redactions.append(Redaction(rule="classification_timeout", replacement=notice))
            return notice, redactions
        if matches:
            pieces: list[str] = []
            last = 0
            for c in matches:
                replacement = _replacement(out[c.start : c.end], c.rule, strategy)
                pieces.append(out[last : c.start])
                pieces.append(replacement)
                last = c.end
                redactions.append(Redaction(rule=c.rule, level=c.level, replacement=replacement))
            pieces.append(out[last:])
            out = "".join(pieces)
        for r in redactions:
            who = f" {r.secret}" if r.secret else ""
            level = f" ({r.level.value})" if r.level else ""
            self._audit("redact", r.rule, where, f"{r.rule}{who}{level} -> {strategy}")
        return out, redactions

    def scan_tool_output(self, tool_name: str, text: str) -> GuardVerdict | None:
        """Flag (never block) a prompt injection in the output of ``read``, ``web_fetch``,
        ``web_search``, ``bash`` or an MCP tool (``mcp__*``)."""
        if not self._on("injection_defense") or not text:
            return None
        tool = tool_name.lower()
        if tool not in OUTPUT_SCANNED_TOOLS and not tool.startswith("mcp__"):
            return None
        name = detect_injection(text)
        if name is None:
            return None
        return self._verdict(
            "flag",
            name,
            f"Possible prompt injection in the output of {tool_name} (pattern: {name})",
            f"tool_output:{tool_name}",
        )

    # --- lifecycle ------------------------------------------------------------------------

    def wipe(self) -> None:
        """Forget the tainted values (not the session's own secrets) and the audit log."""
        with self._lock:
            self.secrets.remove_source(self._taint_source)
            self._taint_rules.clear()
            self.audit_log.clear()


def _replacement(value: str, rule: str, strategy: RedactionStrategy) -> str:
    if strategy == "hash":
        return f"[HASH:{hashlib.sha256(value.encode('utf-8')).hexdigest()[:8]}]"
    if strategy == "mask":
        mask = _MASKS.get(rule)
        return mask(value) if mask else "[REDACTED]"
    return "[REDACTED]"


def _whitelisted(host: str, whitelist: list[str]) -> bool:
    for allowed in whitelist:
        if host == allowed:
            return True
        if not _is_ip(allowed) and not _is_ip(host) and host.endswith("." + allowed):
            return True
    return False


def _strings(obj: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a JSON-like structure, keys too."""
    if isinstance(obj, str):
        yield obj
    elif depth > 50:
        return
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _strings(k, depth + 1)
            yield from _strings(v, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from _strings(v, depth + 1)
