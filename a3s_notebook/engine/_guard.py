"""The one interception point every tool call passes before it may run.

The agent loop asks :func:`gate_tool_call` for a decision; the decision combines, in order:

1. the security guard's tool interceptor, when ``SessionConfig.security_config`` turns it on
   (tainted values in the arguments, dangerous shell patterns, URLs off the whitelist);
2. the permission policy, matched on the parsed shell command and the workspace-relative
   path, with the protected files (``.env*``, ``.a3s/**``, keys...) built in;
3. file checks the policy cannot see: ``read`` of a file with more than one hard link asks,
   since one of its names may lie outside the workspace.

Asks that come from the guard itself (a protected file, a hard link) cannot be skipped by
YOLO lanes: they need a human or they are refused. Nor can an ask for ``web_fetch`` or
``web_search`` (they are in the Query lane, but a request can carry data to any host): only
an allow rule lets them run unasked.

The ``pre_tool_use`` hooks (:mod:`a3s_notebook.engine.hooks`) run between 1 and 2: the
guard's interceptor acts as the reference's priority-1 hook (a call it blocks reaches no
hook). A hook's deny wins; its ask forces a confirmation (even in a YOLO lane); its allow
only replaces the policy's *default* ask (a deny rule, an explicit ask rule, a protected
file, a hard link or a tool's ``needs_approval=True`` still win). Arguments a hook rewrote
are what the guard (again), the rules and the tool see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine.permissions import PermissionDecision, suggest_rule
from a3s_notebook.engine.tools import hard_link_count, needs_approval_of
from a3s_notebook.engine.tools._workspace import WorkspaceViolation, resolve_in_workspace

if TYPE_CHECKING:
    from a3s_notebook.engine._run import RunDeps
    from a3s_notebook.llm.types import ToolCall

__all__ = ["GateDecision", "gate_tool_call"]


@dataclass(frozen=True)
class GateDecision:
    """What the gate says about one tool call."""

    decision: PermissionDecision
    rule: str | None
    """The rule or check that decided (None: the policy's default)."""
    reason: str
    """Why, in words shown on the approval card or told to the model."""
    must_ask: bool = False
    """An Ask that YOLO lanes cannot skip (protected file, hard link)."""
    suggested_rule: str | None = None
    """The narrowest allow rule "always allow" would add; None when not offered."""
    blocked_by_guard: bool = False
    """Denied by the security guard (not by a permission rule)."""
    hook: str | None = None
    """The hook that decided (deny, ask or allow), if one did."""
    args: dict[str, Any] | None = None
    """The arguments a hook rewrote: the call runs with these (None: unchanged)."""


_NETWORK_TOOLS = frozenset({"web_fetch", "web_search"})
"""Tools whose asks YOLO lanes cannot skip (they reach other hosts)."""


def _path_arg(args: dict[str, Any]) -> str | None:
    value = args.get("file_path")
    return value if isinstance(value, str) and value else None


def _hard_linked(workspace: Path, tool: str, args: dict[str, Any]) -> int:
    path = _path_arg(args)
    if path is None:
        return 0
    try:
        resolved = resolve_in_workspace(workspace, path, tool)
    except WorkspaceViolation:
        return 0  # the tool reports the boundary violation itself
    return hard_link_count(resolved)


async def gate_tool_call(deps: RunDeps, call: ToolCall) -> GateDecision:
    """Decide one tool call: Allow, Deny or Ask, with the reason and the rule (and the
    arguments a ``pre_tool_use`` hook rewrote, which the decision is about)."""
    blocked = _guard_check(deps, call)
    if blocked is not None:
        return blocked
    hooked = await deps.hooks.fire(
        "pre_tool_use", pre_tool_use_payload(deps, call), tool_id=call.id
    )
    if hooked.decision == "deny":
        return GateDecision(
            PermissionDecision.DENY,
            f"hook:{hooked.hook}",
            f"Denied by hook '{hooked.hook}': {hooked.reason or 'Blocked'}",
            hook=hooked.hook,
        )
    if hooked.args is not None:
        call = call.model_copy(update={"args": hooked.args})
        blocked = _guard_check(deps, call)
        if blocked is not None:
            return replace(blocked, args=hooked.args)
    gate = replace(_policy_gate(deps, call), args=hooked.args)
    if gate.decision is PermissionDecision.DENY:
        return gate
    if hooked.decision == "ask":
        return replace(
            gate,
            decision=PermissionDecision.ASK,
            reason=f"hook '{hooked.hook}' asks" + (f": {hooked.reason}" if hooked.reason else ""),
            must_ask=True,
            suggested_rule=None,
            hook=hooked.hook,
        )
    if (
        hooked.decision == "allow"
        and gate.decision is PermissionDecision.ASK
        and gate.rule is None
        and not gate.must_ask
    ):
        return replace(
            gate,
            decision=PermissionDecision.ALLOW,
            reason=f"allowed by hook '{hooked.hook}'"
            + (f": {hooked.reason}" if hooked.reason else ""),
            suggested_rule=None,
            hook=hooked.hook,
        )
    return gate


def pre_tool_use_payload(deps: RunDeps, call: ToolCall) -> dict[str, Any]:
    """The spec's PreToolUse payload for one call."""
    recent: list[str] = []
    for message in reversed(deps.messages):
        recent[:0] = [c.name for c in message.tool_calls() if c.id != call.id]
        if len(recent) >= 10:
            break
    return {
        "session_id": deps.session_id,
        "tool": call.name,
        "args": call.args,
        "working_directory": str(deps.workspace),
        "recent_tools": recent[-10:],
    }


def _guard_check(deps: RunDeps, call: ToolCall) -> GateDecision | None:
    """The security guard's interceptor (the reference's priority-1 pre_tool_use hook)."""
    guard = deps.security_guard
    if guard is None:
        return None
    blocked = guard.check_tool_call(call.name, call.args)
    if blocked is None or blocked.action != "block":
        return None
    deps.security_event("blocked", blocked.rule, "tool_call", blocked.message, call)
    return GateDecision(
        PermissionDecision.DENY,
        blocked.rule,
        f"Blocked by the security guard ({blocked.rule}): {blocked.message}",
        blocked_by_guard=True,
    )


def _policy_gate(deps: RunDeps, call: ToolCall) -> GateDecision:
    """The permission policy, the tool's own wishes and the file checks."""
    name, args = call.name, call.args
    workspace = deps.workspace
    verdict = deps.permission_policy.evaluate(name, args, workspace=workspace)
    decision, rule = verdict.decision, verdict.rule
    suggestion = suggest_rule(name, args, workspace=workspace)
    if decision is PermissionDecision.DENY:
        return GateDecision(decision, rule, _deny_reason(rule, verdict.reason))
    guard_ask = rule is not None and rule.startswith("protected:")
    # a tool of the user's own may say how it wants to be treated; the user's own rules
    # (deny above, an explicit ask rule) and the guard's asks still win
    wants = needs_approval_of(deps.tools, name)
    if wants is True and not guard_ask:
        return GateDecision(
            PermissionDecision.ASK,
            rule,
            "the tool asks for a human's approval (needs_approval=True)",
            must_ask=True,
            suggested_rule=suggestion,
        )
    if wants is False and decision is PermissionDecision.ASK and rule is None and not guard_ask:
        return GateDecision(
            PermissionDecision.ALLOW, None, "allowed by the tool (needs_approval=False)"
        )
    if name.lower() == "read" and decision is PermissionDecision.ALLOW:
        links = _hard_linked(workspace, name, args)
        if links > 1:
            return GateDecision(
                PermissionDecision.ASK,
                "hard_link",
                f"the file has {links} hard links; one of them may lead outside the workspace",
                must_ask=True,
                suggested_rule=None,
            )
    if decision is PermissionDecision.ASK:
        if guard_ask:
            why = verdict.reason
        elif rule:
            why = f"matches ask rule {rule}"
        elif verdict.reason and "default" not in verdict.reason:
            why = verdict.reason  # e.g. a command that cannot be checked statically
        else:
            why = "no rule allows this tool (default: ask)"
        return GateDecision(
            decision,
            rule,
            why,
            # a request to any host can carry data out: a YOLO lane does not skip it, only
            # an allow rule (WebFetch(domain:...), WebSearch) does
            must_ask=guard_ask or name.lower() in _NETWORK_TOOLS,
            suggested_rule=None if guard_ask else suggestion,
        )
    return GateDecision(decision, rule, f"allowed by {rule}" if rule else "allowed")


def _deny_reason(rule: str | None, reason: str) -> str:
    if rule is not None and rule.startswith("protected:"):
        return reason
    return "Blocked by deny rule in permission policy" + (f" ({rule})" if rule else "")
