"""Hooks (spec section 12): code of yours that runs at fixed points of a session.

Events (wire names): ``pre_tool_use``, ``post_tool_use``, ``generate_start``,
``generate_end``, ``session_start``, ``session_end``, ``skill_load``, ``skill_unload``.
Each gets a JSON-ready payload dict with the spec's fields (see :data:`PAYLOAD_FIELDS`).

A hook is a Python callable ``fn(payload)`` (sync, run in a thread, or async) or a shell
command (``sh -c``, in the workspace, with the scrubbed environment of the tools; the
payload plus ``hook_event_name`` as JSON on stdin, a JSON decision on stdout, as Claude
Code's hooks; exit code 2 denies with stderr as the reason; killed with its process group
on timeout). A hook answers ``None`` (go on) or a decision: a :class:`HookResult` or a
dict ``{"decision": "allow|deny|ask|block|skip", "reason": ..., "args": {...},
"output": "..."}``.

What decisions do:

- ``pre_tool_use``: ``deny`` (the tool does not run; the model sees the reason), ``ask``
  (a human must confirm, even in a YOLO lane), ``allow`` (skips the policy's *default* ask
  only: a deny rule, an explicit ask rule, a protected file, a tool's own
  ``needs_approval=True`` and the security guard still win), ``args`` (the call runs with
  these arguments, and the guard and the rules judge them, not the model's). A deny stops
  the chain; later hooks see earlier rewrites.
- ``post_tool_use``: ``output`` replaces what the model sees.
- ``generate_start``: ``block`` (or ``deny``) refuses the prompt before it joins the
  history (:class:`HookBlockedError`).
- ``skip`` stops evaluating the hooks after this one (the reference's Skip).
- Other events are notifications: their decisions are ignored.

Hooks run in priority order (lower first; 100 by default; equal priorities in the order
they were added). The security guard's checks (``SessionConfig.security_config``) are
the priority-1 hooks of the reference: they run before every hook here, in the gate
(:mod:`a3s_notebook.engine._guard`) and in the prompt and output screens, and cannot be
skipped by one.

A hook that raises, times out, or answers something that is not a decision is retried
``max_retries`` times; then it has failed. A failed hook on a gating event
(``pre_tool_use``, ``generate_start``) fails **closed** by default (``on_error="deny"``):
a check that could not run must not let a call through silently. Pass
``on_error="ignore"`` for a best-effort hook. On the other events a failure is ignored.
Every failure is a ``hook_decision`` event (decision ``error``), so it shows in the stream.
A spec difference: the reference counts a timeout as "continue".
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fnmatch
import inspect
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from a3s_notebook.engine.errors import AgentError

__all__ = [
    "HOOK_EVENTS",
    "PAYLOAD_FIELDS",
    "TOOL_EVENTS",
    "Hook",
    "HookBlockedError",
    "HookEngine",
    "HookEventType",
    "HookOutcome",
    "HookResult",
]

logger = logging.getLogger(__name__)

HookEventType = Literal[
    "pre_tool_use",
    "post_tool_use",
    "generate_start",
    "generate_end",
    "session_start",
    "session_end",
    "skill_load",
    "skill_unload",
]
HOOK_EVENTS: tuple[str, ...] = get_args(HookEventType)
TOOL_EVENTS = frozenset({"pre_tool_use", "post_tool_use"})
_GATING = frozenset({"pre_tool_use", "generate_start"})
_SKILL_EVENTS = frozenset({"skill_load", "skill_unload"})

PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "pre_tool_use": ("session_id", "tool", "args", "working_directory", "recent_tools"),
    "post_tool_use": ("session_id", "tool", "args", "result"),
    "generate_start": (
        "session_id",
        "prompt",
        "system_prompt",
        "model_provider",
        "model_name",
        "available_tools",
    ),
    "generate_end": (
        "session_id",
        "prompt",
        "response_text",
        "tool_calls",
        "usage",
        "duration_ms",
    ),
    "session_start": ("session_id", "system_prompt", "model_provider", "model_name"),
    "session_end": ("session_id", "total_tokens", "total_tool_calls", "duration_ms"),
    "skill_load": ("skill_name", "tool_names", "version", "description", "loaded_at"),
    "skill_unload": ("skill_name", "tool_names", "duration_ms"),
}
"""The spec's payload fields per event (``result`` of post_tool_use is
``{success, output, exit_code, duration_ms}``)."""

Decision = Literal["continue", "allow", "deny", "ask", "block", "skip"]
_DECISIONS: frozenset[str] = frozenset(get_args(Decision))

HookFn = Callable[[dict[str, Any]], Any]
EmitDecision = Callable[[str, str, str, str | None, str | None, str | None], None]
"""``(hook, event, decision, reason, tool_id, tool_name)``."""


class HookBlockedError(AgentError):
    """A ``generate_start`` hook blocked the prompt."""


class HookFailed(Exception):
    """A hook raised, timed out, or answered something that is not a decision."""


@dataclass(frozen=True)
class HookResult:
    """A hook's answer. ``HookResult.deny("why")``, ``HookResult.rewrite(command="ls")``..."""

    decision: Decision = "continue"
    reason: str | None = None
    args: dict[str, Any] | None = None
    """pre_tool_use: the arguments the call runs with (the whole dict)."""
    output: str | None = None
    """post_tool_use: the output the model sees."""
    merge_args: bool = False
    """``args`` updates the call's arguments instead of replacing them."""

    @classmethod
    def allow(cls, reason: str | None = None) -> HookResult:
        return cls("allow", reason)

    @classmethod
    def deny(cls, reason: str = "Blocked") -> HookResult:
        return cls("deny", reason)

    @classmethod
    def ask(cls, reason: str | None = None) -> HookResult:
        return cls("ask", reason)

    @classmethod
    def block(cls, reason: str = "Blocked") -> HookResult:
        return cls("block", reason)

    @classmethod
    def skip(cls) -> HookResult:
        return cls("skip")

    @classmethod
    def rewrite(cls, args: dict[str, Any] | None = None, /, **kwargs: Any) -> HookResult:
        """New arguments: a whole dict, or keyword updates merged later over the call's."""
        return cls("continue", args={**(args or {}), **kwargs}, merge_args=True)

    @classmethod
    def replace_output(cls, output: str) -> HookResult:
        return cls("continue", output=output)


def _parse_result(value: Any) -> HookResult:
    """A hook's return value (or a shell hook's JSON) as a :class:`HookResult`."""
    if value is None or value is True:
        return HookResult()
    if isinstance(value, HookResult):
        return value
    if value is False:
        return HookResult.deny()
    if isinstance(value, dict):
        decision = value.get("decision", "continue")
        if decision in ("approve", "continue", None):
            decision = "allow" if decision == "approve" else "continue"
        if decision not in _DECISIONS:
            raise HookFailed(f"unknown decision {decision!r}")
        args = value.get("args", value.get("updated_input"))
        if args is not None and not isinstance(args, dict):
            raise HookFailed("'args' must be an object")
        output = value.get("output")
        if output is not None and not isinstance(output, str):
            output = json.dumps(output)
        reason = value.get("reason")
        return HookResult(decision, None if reason is None else str(reason), args, output)
    raise HookFailed(f"a hook must return None, a HookResult or a dict, not {type(value).__name__}")


def _compile_matcher(matcher: str | re.Pattern[str] | None) -> Callable[[str], bool] | None:
    """None/'*'/'': everything. A glob (``mcp__*``) or a name; a regex when prefixed
    ``re:`` or when it uses regex syntax (``Edit|Write``, ``^ba``). Case-insensitive;
    the whole name must match."""
    if matcher is None or matcher in ("", "*"):
        return None
    if isinstance(matcher, re.Pattern):
        pattern = matcher
        return lambda name: pattern.fullmatch(name) is not None
    text = matcher
    if text.startswith("re:") or any(c in text for c in "|^$()+\\{}"):
        pattern = re.compile(text.removeprefix("re:"), re.IGNORECASE)
        return lambda name: pattern.fullmatch(name) is not None
    lowered = text.lower()
    return lambda name: fnmatch.fnmatchcase(name.lower(), lowered)


@dataclass
class Hook:
    """One registered hook (spec: id, event_type, matcher, config)."""

    name: str
    event: str
    handler: HookFn | None = None
    command: str | None = None
    matcher: str | re.Pattern[str] | None = None
    priority: int = 100
    timeout_ms: int = 30_000
    max_retries: int = 0
    async_execution: bool = False
    """Run detached; its answer is ignored (the reference's async hooks)."""
    on_error: Literal["deny", "ignore"] | None = None
    """What a failed hook means on a gating event; None: ``deny`` there."""
    order: int = 0
    _match: Callable[[str], bool] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.event not in HOOK_EVENTS:
            raise ValueError(f"unknown hook event {self.event!r}; one of {', '.join(HOOK_EVENTS)}")
        if (self.handler is None) == (self.command is None):
            raise ValueError("a hook needs exactly one of a callable or a shell command")
        if self.timeout_ms <= 0 or self.max_retries < 0:
            raise ValueError("timeout_ms must be > 0 and max_retries >= 0")
        self._match = _compile_matcher(self.matcher)

    @property
    def kind(self) -> str:
        return "command" if self.command is not None else "python"

    @property
    def fails_closed(self) -> bool:
        return self.event in _GATING and (self.on_error or "deny") == "deny"

    def matches(self, target: str) -> bool:
        return self._match is None or self._match(target)

    def describe(self) -> dict[str, Any]:
        matcher = self.matcher.pattern if isinstance(self.matcher, re.Pattern) else self.matcher
        return {
            "name": self.name,
            "event": self.event,
            "matcher": matcher or "*",
            "priority": self.priority,
            "kind": self.kind,
            "timeout_ms": self.timeout_ms,
            "max_retries": self.max_retries,
        }


@dataclass
class HookOutcome:
    """The combined answer of the hooks that ran for one event."""

    decision: Decision = "continue"
    reason: str | None = None
    hook: str | None = None
    """The hook that decided (deny, ask, allow, block)."""
    args: dict[str, Any] | None = None
    output: str | None = None
    ran: list[str] = field(default_factory=list)


class HookEngine:
    """The hooks of a session (or of a manager, whose hooks every session it makes runs).

    ``add`` registers, ``hook`` is the decorator form, ``remove`` unregisters by name,
    ``fire`` runs the matching hooks of an event and combines their answers.
    """

    def __init__(
        self,
        *,
        parent: HookEngine | None = None,
        emit_decision: EmitDecision | None = None,
        workspace: Callable[[], Path] | None = None,
        environ: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.parent = parent
        self._hooks: list[Hook] = []
        self._emit = emit_decision
        self._workspace = workspace or Path.cwd
        self._environ = environ or _default_environ
        self._counter = 0
        self._background: set[asyncio.Task[Any]] = set()

    # --- registry ------------------------------------------------------------------

    def add(
        self,
        event: HookEventType | str,
        handler: HookFn | None = None,
        *,
        command: str | None = None,
        name: str | None = None,
        matcher: str | re.Pattern[str] | None = None,
        priority: int = 100,
        timeout_ms: int = 30_000,
        max_retries: int = 0,
        async_execution: bool = False,
        on_error: Literal["deny", "ignore"] | None = None,
    ) -> Hook:
        """Register a hook: a callable ``handler(payload)`` or a shell ``command``."""
        self._counter += 1
        if name is None:
            base = getattr(handler, "__name__", None) if handler is not None else None
            name = base if base and base != "<lambda>" else f"{event}-{self._counter}"
        if any(h.name == name for h in self._hooks):
            raise ValueError(f"a hook named {name!r} exists; remove it first or pick a name")
        hook = Hook(
            name=name,
            event=event,
            handler=handler,
            command=command,
            matcher=matcher,
            priority=priority,
            timeout_ms=timeout_ms,
            max_retries=max_retries,
            async_execution=async_execution,
            on_error=on_error,
            order=self._counter,
        )
        self._hooks.append(hook)
        return hook

    def hook(self, event: HookEventType | str, **options: Any) -> Callable[[HookFn], HookFn]:
        """Decorator: ``@session.hook("pre_tool_use", matcher="bash")``."""

        def register(fn: HookFn) -> HookFn:
            self.add(event, fn, **options)
            return fn

        return register

    def remove(self, name: str) -> bool:
        before = len(self._hooks)
        self._hooks = [h for h in self._hooks if h.name != name]
        return len(self._hooks) != before

    def clear(self) -> None:
        self._hooks.clear()

    def list(self, event: str | None = None) -> list[Hook]:
        """The hooks (with the parent's), in the order they run."""
        hooks = list(self._hooks) + (self.parent.list() if self.parent is not None else [])
        hooks.sort(key=lambda h: (h.priority, h.order))
        return [h for h in hooks if event is None or h.event == event]

    def __iter__(self) -> Iterator[Hook]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self.list())

    def __repr__(self) -> str:
        return f"HookEngine({[h.name for h in self.list()]})"

    # --- firing --------------------------------------------------------------------

    def matching(self, event: str, payload: dict[str, Any]) -> builtins.list[Hook]:
        target: str | None = None
        if event in TOOL_EVENTS:
            target = str(payload.get("tool", ""))
        elif event in _SKILL_EVENTS:
            target = str(payload.get("skill_name", ""))
        return [h for h in self.list(event) if target is None or h.matches(target)]

    async def fire(
        self,
        event: HookEventType | str,
        payload: dict[str, Any],
        *,
        tool_id: str | None = None,
    ) -> HookOutcome:
        """Run the matching hooks of ``event`` in priority order and combine their answers."""
        outcome = HookOutcome()
        payload = dict(payload)
        tool_name = payload.get("tool") if event in TOOL_EVENTS else None
        for hook in self.matching(event, payload):
            if hook.async_execution:
                task = asyncio.ensure_future(self._attempts(hook, event, dict(payload)))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                continue
            outcome.ran.append(hook.name)
            try:
                result = await self._attempts(hook, event, payload)
            except HookFailed as exc:
                closed = hook.fails_closed
                why = f"hook '{hook.name}' failed: {exc}"
                self._decided(hook, event, "error", why, tool_id, tool_name)
                logger.warning("%s (%s)", why, "denied" if closed else "ignored")
                if closed:
                    outcome.decision = "deny" if event == "pre_tool_use" else "block"
                    outcome.reason, outcome.hook = why, hook.name
                    return outcome
                continue
            if event == "pre_tool_use" and result.args is not None:
                args = result.args
                if result.merge_args:
                    args = {**payload.get("args", {}), **args}
                payload["args"] = outcome.args = args
                self._decided(hook, event, "rewrite", "arguments rewritten", tool_id, tool_name)
            if event == "post_tool_use" and result.output is not None:
                outcome.output = result.output
                payload["result"] = {**payload.get("result", {}), "output": result.output}
                self._decided(hook, event, "rewrite", "output rewritten", tool_id, tool_name)
            decision = result.decision
            if event not in _GATING and decision != "skip":
                continue  # notifications: only rewrites count
            if decision == "skip":
                break
            if decision in ("deny", "block"):
                final: Decision = "deny" if event == "pre_tool_use" else "block"
                reason = result.reason or "Blocked"
                self._decided(hook, event, final, reason, tool_id, tool_name)
                outcome.decision, outcome.reason, outcome.hook = final, reason, hook.name
                return outcome
            if event == "pre_tool_use" and decision in ("ask", "allow"):
                self._decided(hook, event, decision, result.reason, tool_id, tool_name)
                # ask outranks allow; a later deny outranks both
                if outcome.decision != "ask":
                    outcome.decision, outcome.reason = decision, result.reason
                    outcome.hook = hook.name
        return outcome

    def _decided(
        self,
        hook: Hook,
        event: str,
        decision: str,
        reason: str | None,
        tool_id: str | None,
        tool_name: str | None,
    ) -> None:
        if self._emit is not None:
            self._emit(hook.name, event, decision, reason, tool_id, tool_name)

    async def _attempts(self, hook: Hook, event: str, payload: dict[str, Any]) -> HookResult:
        error: HookFailed | None = None
        for _ in range(hook.max_retries + 1):
            try:
                return await self._once(hook, event, payload)
            except HookFailed as exc:
                error = exc
        assert error is not None
        raise error

    async def _once(self, hook: Hook, event: str, payload: dict[str, Any]) -> HookResult:
        timeout = hook.timeout_ms / 1000
        try:
            if hook.command is not None:
                return await self._run_command(hook, event, payload, timeout)
            assert hook.handler is not None
            return _parse_result(await asyncio.wait_for(_call(hook.handler, payload), timeout))
        except HookFailed:
            raise
        except TimeoutError:
            raise HookFailed(f"timed out after {hook.timeout_ms} ms") from None
        except Exception as exc:
            raise HookFailed(f"{type(exc).__name__}: {exc}") from exc

    async def _run_command(
        self, hook: Hook, event: str, payload: dict[str, Any], timeout: float
    ) -> HookResult:
        assert hook.command is not None
        data = json.dumps({"hook_event_name": event, **payload}, default=str).encode()
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            hook.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(self._workspace()),
            env=self._environ(),
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(data), timeout)
        except BaseException:
            _kill_group(proc.pid)
            with contextlib.suppress(Exception):
                await proc.wait()
            raise
        stderr = err.decode(errors="replace").strip()
        if proc.returncode == 2:
            return HookResult.deny(stderr or "Blocked")
        if proc.returncode != 0:
            raise HookFailed(f"exit code {proc.returncode}: {stderr[:500]}")
        text = out.decode(errors="replace").strip()
        if not text:
            return HookResult()
        try:
            value = json.loads(text)
        except ValueError:
            raise HookFailed(f"stdout is not JSON: {text[:200]!r}") from None
        return _parse_result(value)


async def _call(fn: HookFn, payload: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(payload)
    result = await asyncio.to_thread(fn, payload)
    if inspect.isawaitable(result):
        return await result
    return result


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _default_environ() -> dict[str, str]:
    from a3s_notebook.engine.tools import scrubbed_environ

    return scrubbed_environ()


def split_model(model_name: str) -> tuple[str, str]:
    """``provider/model`` -> (provider, model)."""
    provider, _, model = model_name.partition("/")
    return (provider, model) if model else ("", provider)
