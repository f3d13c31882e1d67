"""Declarative permission rules for tool calls (spec section 3).

A policy holds three lists of rules, ``deny``, ``allow`` and ``ask``, and a default
decision. A rule is ``Tool`` (every call of that tool) or ``Tool(pattern)`` (calls whose
argument text matches the pattern), e.g. ``Bash(cargo:*)``, ``Read(src/**/*.rs)`` or
``mcp__pencil``. Deny wins over allow, allow over ask, ask over the default (Ask).

The decision says *whether* a call needs a human; :mod:`a3s_notebook.engine.hitl` says
*how* the human is asked.

Where the port differs from the reference (which accepts any string silently):

- a rule that does not parse raises :class:`PermissionRuleError` instead of becoming a
  rule that never matches, so a typo in a deny list cannot go unnoticed;
- ``**`` also crosses newlines, so a deny rule such as ``Bash(**sudo**)`` also catches a
  multi-line command.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "PermissionDecision",
    "argument_text",
    "glob_match",
    "PermissionManager",
    "PermissionPolicy",
    "PermissionRule",
    "PermissionRuleError",
]

NOTEBOOK_ALLOW_RULES = ("read", "ls", "glob", "grep", "todo_write")
"""Allowed by :meth:`PermissionPolicy.notebook`: tools that change nothing outside the session."""

_RuleKind = Literal["deny", "allow", "ask"]
_KINDS: tuple[_RuleKind, ...] = ("deny", "allow", "ask")

_RULE_SYNTAX_HINT = (
    "Write rules as 'Tool' or 'Tool(pattern)', e.g. 'Bash(git:*)' or 'Read(src/**)'."
)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]+")


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
    return name, pattern


@functools.lru_cache(maxsize=1024)
def _compile_glob(pattern: str) -> re.Pattern[str] | None:
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
    try:
        return re.compile("".join(parts), re.DOTALL)
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


class PermissionRule(BaseModel):
    """One rule: ``Tool`` or ``Tool(pattern)``.

    Serialized as ``{"rule": "<string>"}``; a bare string is accepted wherever a rule is
    validated, so ``PermissionPolicy(allow=["Bash(git:*)"])`` works. A rule that does not
    parse fails validation with a :class:`PermissionRuleError` message;
    :meth:`parse` raises that error directly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

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

        Names compare case-insensitively; a rule name starting with ``mcp__`` covers
        every tool whose name starts with it (``mcp__pencil`` covers
        ``mcp__pencil__batch_design``).
        """
        rule_tool = self.tool_name.lower()
        actual = tool_name.lower()
        if rule_tool.startswith("mcp__") and actual.startswith(rule_tool):
            return True
        return rule_tool == actual

    def matches(self, tool_name: str, args: Mapping[str, Any] | None = None) -> bool:
        """Whether this rule covers the call ``tool_name(**args)``."""
        if not self.matches_tool(tool_name):
            return False
        pattern = self.pattern
        if pattern is None:
            return True
        return glob_match(pattern, argument_text(tool_name, args))

    def __str__(self) -> str:
        return self.rule


def _rule_text(rule: str | PermissionRule) -> str:
    return rule.rule if isinstance(rule, PermissionRule) else rule.strip()


class PermissionPolicy(BaseModel):
    """Deny, allow and ask rules plus a default decision.

    ``check`` evaluates, in order: disabled -> Allow; any deny match -> Deny; any allow
    match -> Allow; any ask match -> Ask; else ``default_decision`` (Ask by default).
    The builder methods change the policy in place and return it, so they chain::

        policy = PermissionPolicy().allow_rule("Bash(cargo:*)").deny_rule("Bash(rm -rf:*)")
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    deny: list[PermissionRule] = Field(default_factory=list)
    """Rules that refuse a call outright (checked first)."""
    allow: list[PermissionRule] = Field(default_factory=list)
    """Rules that approve a call without asking."""
    ask: list[PermissionRule] = Field(default_factory=list)
    """Rules that always require a confirmation."""
    default_decision: PermissionDecision = PermissionDecision.ASK
    """The decision when no rule matches."""
    enabled: bool = True
    """When False every call is allowed."""

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
        ordinary allow rules, so a user sees them and can remove them.
        """
        return cls(allow=[PermissionRule(rule=r) for r in NOTEBOOK_ALLOW_RULES])

    @classmethod
    def strict(cls) -> PermissionPolicy:
        """A policy that asks about whatever no rule allows or denies (the default)."""
        return cls(default_decision=PermissionDecision.ASK)

    # -- evaluation --------------------------------------------------------------

    def explain(
        self, tool_name: str, args: Mapping[str, Any] | None = None
    ) -> tuple[PermissionDecision, str | None]:
        """The decision and the rule that made it (None when the default or ``enabled`` did)."""
        if not self.enabled:
            return PermissionDecision.ALLOW, None
        for kind, decision in (
            (self.deny, PermissionDecision.DENY),
            (self.allow, PermissionDecision.ALLOW),
            (self.ask, PermissionDecision.ASK),
        ):
            for rule in kind:
                if rule.matches(tool_name, args):
                    return decision, rule.rule
        return self.default_decision, None

    def check(self, tool_name: str, args: Mapping[str, Any] | None = None) -> PermissionDecision:
        """Decide one tool call: Allow, Deny or Ask."""
        return self.explain(tool_name, args)[0]

    def is_allowed(self, tool_name: str, args: Mapping[str, Any] | None = None) -> bool:
        """True when the call runs without asking."""
        return self.check(tool_name, args) is PermissionDecision.ALLOW

    def is_denied(self, tool_name: str, args: Mapping[str, Any] | None = None) -> bool:
        """True when the call is refused."""
        return self.check(tool_name, args) is PermissionDecision.DENY

    def requires_confirmation(self, tool_name: str, args: Mapping[str, Any] | None = None) -> bool:
        """True when the decision is Ask."""
        return self.check(tool_name, args) is PermissionDecision.ASK

    def get_matching_rules(
        self, tool_name: str, args: Mapping[str, Any] | None = None
    ) -> dict[str, list[str]]:
        """Every matching rule string per list (``deny``/``allow``/``ask``), for debugging."""
        return {
            kind: [r.rule for r in self._list(kind) if r.matches(tool_name, args)]
            for kind in _KINDS
        }

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
    is still bound by the global deny list: the check order is session deny, global deny
    (only when the session has its own policy), session allow, session ask, session
    default.
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
        self, session_id: str, tool_name: str, args: Mapping[str, Any] | None = None
    ) -> PermissionDecision:
        """Decide one tool call of one session."""
        own = self._sessions.get(session_id)
        policy = own if own is not None else self.global_policy
        if policy.enabled and any(r.matches(tool_name, args) for r in policy.deny):
            return PermissionDecision.DENY
        # A session policy must not be a way around the global deny list, even when the
        # session switched its own rules off
        if (
            own is not None
            and self.global_policy.enabled
            and any(r.matches(tool_name, args) for r in self.global_policy.deny)
        ):
            return PermissionDecision.DENY
        if not policy.enabled:
            return PermissionDecision.ALLOW
        if any(r.matches(tool_name, args) for r in policy.allow):
            return PermissionDecision.ALLOW
        if any(r.matches(tool_name, args) for r in policy.ask):
            return PermissionDecision.ASK
        return policy.default_decision
