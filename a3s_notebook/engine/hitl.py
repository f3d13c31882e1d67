"""Human-in-the-loop confirmations (spec section 2).

When the permission policy says Ask, the agent loop asks the :class:`ConfirmationManager`
for a decision: ``request_confirmation`` parks the call as a pending entry and returns a
future; a person (a widget click, ``session.confirm(...)``) or the timeout resolves it.

``confirm`` may be called from any thread. Whatever thread it comes from, the future is
resolved, and the event emitted, on the thread that runs the future's event loop, so
asyncio-based listeners never see a call from a foreign thread.

The policy's plain default is HITL *off*; sessions use :meth:`ConfirmationPolicy.enabled_policy`
(quirk 1 of the spec, kept).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine.events import (
    AgentEvent,
    ConfirmationReceived,
    ConfirmationRequired,
    ConfirmationsCancelled,
    ConfirmationTimeout,
)
from a3s_notebook.engine.lanes import SessionLane

__all__ = [
    "ConfirmationManager",
    "ConfirmationPolicy",
    "ConfirmationProvider",
    "ConfirmationResponse",
    "PendingConfirmationInfo",
    "TimeoutAction",
]

_log = logging.getLogger(__name__)

CANCELLED_REASON = "Confirmation cancelled"
"""The reason given when a request is cancelled (cancel, cancel_all, a cancelled waiter)."""


class TimeoutAction(StrEnum):
    """What happens when nobody decides in time. Serialized by variant name."""

    REJECT = "Reject"
    AUTO_APPROVE = "AutoApprove"


class ConfirmationPolicy(BaseModel):
    """How confirmations work: on or off, how long to wait, what a timeout does, and
    which lanes skip confirmation (YOLO lanes).

    Whether a call needs confirmation at all is the permission policy's decision (Ask);
    this policy only says how that confirmation is carried out.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=DEFER_BUILD)

    enabled: bool = False
    """Whether HITL is on. Off by default; sessions turn it on (see ``enabled_policy``)."""
    default_timeout_ms: int = 30_000
    """How long a confirmation waits, in milliseconds."""
    timeout_action: TimeoutAction = TimeoutAction.REJECT
    """What a timeout does: reject (default) or approve."""
    yolo_lanes: set[SessionLane] = Field(default_factory=set)
    """Lanes whose tools never wait for a human (e.g. ``{"query"}`` for read-only tools)."""

    @field_validator("default_timeout_ms")
    @classmethod
    def _positive_timeout(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(
                f"default_timeout_ms must be a positive number of milliseconds (got {value}); "
                "use e.g. 30000 for 30 s"
            )
        return value

    @field_validator("timeout_action", mode="before")
    @classmethod
    def _action_any_spelling(cls, value: Any) -> Any:
        # Accept "reject", "auto_approve", "auto-approve" as well as the wire names
        if isinstance(value, str) and not isinstance(value, TimeoutAction):
            key = value.strip().lower().replace("_", "").replace("-", "")
            for action in TimeoutAction:
                if action.value.lower() == key:
                    return action
        return value

    @field_validator("yolo_lanes", mode="before")
    @classmethod
    def _lanes_any_case(cls, value: Any) -> Any:
        if isinstance(value, (str, SessionLane)):
            value = [value]
        if isinstance(value, Iterable):
            return {SessionLane.parse(lane) for lane in value}
        return value

    @field_serializer("yolo_lanes", when_used="json")
    def _lanes_in_priority_order(self, lanes: set[SessionLane]) -> list[str]:
        # A set has no order; a stable order keeps saved session files diffable
        return [lane.value for lane in sorted(lanes, key=SessionLane.priority)]

    @classmethod
    def enabled_policy(cls) -> ConfirmationPolicy:
        """The defaults with HITL on (the reference's ``ConfirmationPolicy::enabled()``)."""
        return cls(enabled=True)

    def with_yolo_lanes(self, lanes: Iterable[SessionLane | str]) -> ConfirmationPolicy:
        """A copy whose YOLO lanes are ``lanes`` (replacing the current set)."""
        return self._copy_with(yolo_lanes=list(lanes))

    def with_timeout(
        self, timeout_ms: int, action: TimeoutAction | str = TimeoutAction.REJECT
    ) -> ConfirmationPolicy:
        """A copy with another timeout and timeout action."""
        return self._copy_with(default_timeout_ms=timeout_ms, timeout_action=action)

    def _copy_with(self, **changes: Any) -> ConfirmationPolicy:
        # model_copy(update=...) skips validation; rebuilding keeps the checks
        return ConfirmationPolicy.model_validate({**self.model_dump(), **changes})

    def is_yolo(self, tool_name: str) -> bool:
        """True when the tool runs without confirmation: HITL is off, or its lane is YOLO."""
        if not self.enabled:
            return True
        return SessionLane.from_tool_name(tool_name) in self.yolo_lanes

    def requires_confirmation(self, tool_name: str) -> bool:
        """True when an Ask decision for this tool waits for a human."""
        return not self.is_yolo(tool_name)


class ConfirmationResponse(BaseModel):
    """The outcome of one confirmation."""

    model_config = ConfigDict(frozen=True, defer_build=DEFER_BUILD)

    approved: bool
    """Whether the tool call may run."""
    reason: str | None = None
    """Why (a rejection reason, the timeout text, ...)."""
    timed_out: bool = False
    """True when the timeout decided, not a person."""
    decided_by: str | None = None
    """Who decided: "user" (or the name given to ``confirm``), "timeout", "cancel" or
    "duplicate"."""


class PendingConfirmationInfo(BaseModel):
    """A snapshot of one pending confirmation, for status displays."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    tool_id: str
    tool_name: str
    args: dict[str, Any]
    remaining_ms: int
    """Milliseconds left before the timeout acts (never negative)."""
    timeout_ms: int
    reason: str | None = None
    """Why approval is needed, as given to ``request_confirmation``."""
    suggested_rule: str | None = None
    """The allow rule "always allow" would add (None: not offered for this call)."""
    created_at: float
    """Unix time (seconds) of the request."""


@dataclass
class _Pending:
    tool_id: str
    tool_name: str
    args: dict[str, Any]
    reason: str | None
    timeout_ms: int
    started: float  # time.monotonic(): immune to wall-clock jumps
    created_at: float  # time.time(): for display only
    future: asyncio.Future[ConfirmationResponse]
    suggested_rule: str | None = None

    def elapsed_ms(self, now: float) -> float:
        return (now - self.started) * 1000

    def remaining_ms(self, now: float) -> int:
        return max(0, self.timeout_ms - int(self.elapsed_ms(now)))

    def timed_out(self, now: float) -> bool:
        return self.elapsed_ms(now) > self.timeout_ms


def _no_emit(event: AgentEvent) -> None:
    """The default listener: drop the event."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@runtime_checkable
class ConfirmationProvider(Protocol):
    """What the agent loop needs from a confirmation mechanism.

    :class:`ConfirmationManager` is the implementation; tests or hosts may supply their
    own (e.g. one that approves everything).
    """

    @property
    def policy(self) -> ConfirmationPolicy:
        """The current policy."""

    def set_policy(self, policy: ConfirmationPolicy) -> None:
        """Replace the policy (pending requests keep their timeouts)."""

    def requires_confirmation(self, tool_name: str) -> bool:
        """Whether an Ask decision for this tool waits for a human."""

    def request_confirmation(
        self,
        tool_id: str,
        tool_name: str,
        args: Mapping[str, Any],
        reason: str | None = None,
        *,
        suggested_rule: str | None = None,
    ) -> asyncio.Future[ConfirmationResponse]:
        """Park a tool call until someone decides; return the future of the decision."""

    async def wait_for_decision(
        self, tool_id: str, fut: asyncio.Future[ConfirmationResponse]
    ) -> ConfirmationResponse:
        """Wait for the decision, applying the timeout."""

    def confirm(
        self,
        tool_id: str,
        approved: bool,
        reason: str | None = None,
        decided_by: str | None = "user",
        *,
        rule_added: str | None = None,
    ) -> bool:
        """Decide a pending call; False when nothing with that id is pending."""

    def check_timeouts(self) -> int:
        """Resolve every overdue request by the policy; return how many."""

    def cancel_all(self) -> int:
        """Reject every pending request; return how many."""

    def pending_confirmations(self) -> list[tuple[str, str, int]]:
        """(tool_id, tool_name, remaining_ms) of every pending request."""


class ConfirmationManager:
    """Pending confirmations of one session, keyed by tool call id.

    Args:
        policy: how confirmations work (timeout, timeout action, YOLO lanes).
        emit: called with each ``ConfirmationRequired`` / ``ConfirmationReceived`` /
            ``ConfirmationTimeout`` event, on the thread of the event loop that made the
            request. An exception from it is logged, never propagated, so a broken
            listener cannot leave a tool call waiting forever.
    """

    def __init__(
        self,
        policy: ConfirmationPolicy | None = None,
        emit: Callable[[AgentEvent], None] = _no_emit,
    ) -> None:
        self._policy = policy if policy is not None else ConfirmationPolicy()
        self._emit = emit
        # confirm() arrives from widget threads while the loop adds and times out entries
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    # -- policy ------------------------------------------------------------------

    @property
    def policy(self) -> ConfirmationPolicy:
        """The current policy."""
        return self._policy

    def set_policy(self, policy: ConfirmationPolicy) -> None:
        """Replace the policy. Pending requests keep the timeout they started with."""
        self._policy = policy

    def requires_confirmation(self, tool_name: str) -> bool:
        """Whether an Ask decision for this tool waits for a human under the current policy."""
        return self._policy.requires_confirmation(tool_name)

    # -- requests and decisions --------------------------------------------------

    def request_confirmation(
        self,
        tool_id: str,
        tool_name: str,
        args: Mapping[str, Any],
        reason: str | None = None,
        *,
        suggested_rule: str | None = None,
    ) -> asyncio.Future[ConfirmationResponse]:
        """Park a tool call until someone decides; return the future of the decision.

        Must be called from a coroutine (the future belongs to the running loop). Emits
        ``ConfirmationRequired``. A second request with the id of one still pending
        rejects both: an approval could not tell which call it was meant for.
        """
        loop = _running_loop()
        if loop is None:
            raise RuntimeError(
                "request_confirmation() must be called from a coroutine running in an event "
                "loop; call it from async code (e.g. inside 'await session.send_async(...)')"
            )
        fut: asyncio.Future[ConfirmationResponse] = loop.create_future()
        timeout_ms = self._policy.default_timeout_ms
        entry = _Pending(
            tool_id=tool_id,
            tool_name=tool_name,
            args=dict(args),
            reason=reason,
            timeout_ms=timeout_ms,
            started=time.monotonic(),
            created_at=time.time(),
            future=fut,
            suggested_rule=suggested_rule,
        )
        with self._lock:
            previous = self._pending.pop(tool_id, None)
            if previous is None:
                self._pending[tool_id] = entry
        if previous is not None:
            text = f"Duplicate confirmation tool id '{tool_id}'; both requests were rejected"
            response = ConfirmationResponse(approved=False, reason=text, decided_by="duplicate")
            # One event for the id, so that a card showing the first request closes
            event = ConfirmationReceived(
                tool_id=tool_id, approved=False, reason=text, decided_by="duplicate"
            )
            self._deliver(previous.future, event, response)
            self._deliver(fut, None, response)
            return fut
        self._safe_emit(
            ConfirmationRequired(
                tool_id=tool_id,
                tool_name=tool_name,
                args=dict(args),
                timeout_ms=timeout_ms,
                reason=reason,
                suggested_rule=suggested_rule,
            )
        )
        return fut

    def confirm(
        self,
        tool_id: str,
        approved: bool,
        reason: str | None = None,
        decided_by: str | None = "user",
        *,
        rule_added: str | None = None,
    ) -> bool:
        """Decide a pending call. Thread-safe.

        Emits ``ConfirmationReceived`` and resolves the future. ``rule_added`` is the allow
        rule the caller added with this decision ("always allow"), recorded in the event.
        Returns False (not an error) when nothing with that id is pending, e.g. it already
        timed out.
        """
        with self._lock:
            entry = self._pending.pop(tool_id, None)
        if entry is None:
            return False
        event = ConfirmationReceived(
            tool_id=tool_id,
            approved=approved,
            reason=reason,
            decided_by=decided_by,
            rule_added=rule_added,
        )
        response = ConfirmationResponse(approved=approved, reason=reason, decided_by=decided_by)
        self._deliver(entry.future, event, response)
        return True

    def check_timeouts(self) -> int:
        """Resolve every request older than its timeout, by the policy's timeout action.

        Emits ``ConfirmationTimeout`` for each; returns how many timed out.
        """
        now = time.monotonic()
        with self._lock:
            expired = [e for e in self._pending.values() if e.timed_out(now)]
            for entry in expired:
                del self._pending[entry.tool_id]
        if not expired:
            return 0
        approved = self._policy.timeout_action is TimeoutAction.AUTO_APPROVE
        action_taken: Literal["rejected", "auto_approved"] = (
            "auto_approved" if approved else "rejected"
        )
        response = ConfirmationResponse(
            approved=approved,
            reason=f"Confirmation timed out, action: {action_taken}",
            timed_out=True,
            decided_by="timeout",
        )
        for entry in expired:
            event = ConfirmationTimeout(tool_id=entry.tool_id, action_taken=action_taken)
            self._deliver(entry.future, event, response)
        return len(expired)

    async def wait_for_decision(
        self, tool_id: str, fut: asyncio.Future[ConfirmationResponse]
    ) -> ConfirmationResponse:
        """Wait for the decision on ``fut``, letting the timeout act when it is due.

        If the waiting task is cancelled, the request is cancelled too (rejected with
        "Confirmation cancelled") and ``CancelledError`` propagates.
        """
        # Shielded so that cancelling this task leaves the future for the cancel path
        # below to resolve with a proper response
        shielded = asyncio.shield(fut)
        try:
            while not fut.done():
                remaining = self._remaining_seconds(tool_id, fut)
                if remaining is None:
                    # Decided already; the result is on its way from another thread
                    await asyncio.wait({shielded})
                    break
                # A hair past the deadline: timers may fire early by the clock resolution,
                # and the timeout test is strict
                await asyncio.wait({shielded}, timeout=remaining + 0.002)
                if not fut.done():
                    self.check_timeouts()
        except asyncio.CancelledError:
            self._cancel_entry(tool_id, fut)
            raise
        if fut.cancelled():
            # Someone cancelled the bare future; treat it like a cancelled request
            self._cancel_entry(tool_id, fut)
            return _cancelled()
        return fut.result()

    def _remaining_seconds(
        self, tool_id: str, fut: asyncio.Future[ConfirmationResponse]
    ) -> float | None:
        with self._lock:
            entry = self._pending.get(tool_id)
        if entry is None or entry.future is not fut:
            return None
        return max(0.0, entry.timeout_ms - entry.elapsed_ms(time.monotonic())) / 1000

    # -- cancellation ------------------------------------------------------------

    def cancel(self, tool_id: str) -> bool:
        """Reject one pending request with "Confirmation cancelled" (no event)."""
        return self._cancel_entry(tool_id, None)

    def cancel_all(self) -> int:
        """Reject every pending request with "Confirmation cancelled"; return how many."""
        with self._lock:
            entries = list(self._pending.values())
            self._pending.clear()
        if entries:
            # one event says which cards closed, so no view has to poll the engine
            event = ConfirmationsCancelled(
                tool_ids=[e.tool_id for e in entries], reason=CANCELLED_REASON
            )
            self._deliver(entries[0].future, event, _cancelled())
        for entry in entries[1:]:
            self._deliver(entry.future, None, _cancelled())
        return len(entries)

    def _cancel_entry(self, tool_id: str, fut: asyncio.Future[ConfirmationResponse] | None) -> bool:
        with self._lock:
            entry = self._pending.get(tool_id)
            # When a future is given, only its own entry goes: the id may have been reused
            if entry is None or (fut is not None and entry.future is not fut):
                return False
            del self._pending[tool_id]
        event = ConfirmationsCancelled(tool_ids=[tool_id], reason=CANCELLED_REASON)
        self._deliver(entry.future, event, _cancelled())
        return True

    # -- status ------------------------------------------------------------------

    def pending_count(self) -> int:
        """How many requests wait for a decision."""
        with self._lock:
            return len(self._pending)

    def pending_confirmations(self) -> list[tuple[str, str, int]]:
        """(tool_id, tool_name, remaining_ms) of every pending request, oldest first."""
        now = time.monotonic()
        with self._lock:
            return [(e.tool_id, e.tool_name, e.remaining_ms(now)) for e in self._pending.values()]

    def pending_confirmation_details(self) -> list[PendingConfirmationInfo]:
        """A snapshot of every pending request, oldest first."""
        now = time.monotonic()
        with self._lock:
            entries = list(self._pending.values())
        return [
            PendingConfirmationInfo(
                tool_id=e.tool_id,
                tool_name=e.tool_name,
                args=dict(e.args),
                remaining_ms=e.remaining_ms(now),
                timeout_ms=e.timeout_ms,
                reason=e.reason,
                suggested_rule=e.suggested_rule,
                created_at=e.created_at,
            )
            for e in entries
        ]

    # -- delivery ----------------------------------------------------------------

    def _safe_emit(self, event: AgentEvent) -> None:
        try:
            self._emit(event)
        except Exception:
            _log.exception("confirmation event listener failed on %s", event.type)

    def _deliver(
        self,
        fut: asyncio.Future[ConfirmationResponse],
        event: AgentEvent | None,
        response: ConfirmationResponse,
    ) -> None:
        """Emit ``event`` (if any) and resolve ``fut`` on the thread of the future's loop."""

        def settle() -> None:
            if event is not None:
                self._safe_emit(event)
            if not fut.done():
                fut.set_result(response)

        loop = fut.get_loop()
        if _running_loop() is loop:
            settle()
            return
        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:
            # The loop is closed: nobody can await the future any more, but listeners
            # (the session log) should still learn the outcome
            if event is not None:
                self._safe_emit(event)


def _cancelled() -> ConfirmationResponse:
    return ConfirmationResponse(approved=False, reason=CANCELLED_REASON, decided_by="cancel")
