"""The lane-based priority queue (spec section 4).

Four lanes, each with its own concurrency limit: Control (priority 0), Query (1),
Execute (2) and Generate (3); a lower number is a higher priority. When slots free up,
waiting commands are dispatched highest priority first, then in arrival order.

The queue holds no asyncio object across calls: its waiters are created in the loop
that awaits them and woken on that loop (``call_soon_threadsafe``), and its counts are
guarded by a thread lock, so one session can be driven from a script (a fresh loop per
call), from a Jupyter kernel (the kernel's loop) and from several threads at once.

``default_timeout_ms`` bounds each command (the ``fn`` given to :meth:`LaneQueue.run`),
never the wait for a slot: a whole run that waits for a human holds a :meth:`slot`
(no timeout) and times each command inside it with :meth:`LaneQueue.timed`.

A command submitted with :meth:`LaneQueue.submit` also gets the rest of the spec's queue:
external lane handlers (a lane in External mode hands the command to a handler or to
whoever calls :meth:`LaneQueue.complete_external_task`), retries with backoff, the
dead-letter queue, token-bucket rate limits, depth/latency alerts and metrics. All of them
read the clock and sleep through :meth:`LaneQueue.use_clock`, so tests inject time.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from a3s_notebook._deferred import DEFER_BUILD
from a3s_notebook.engine.errors import (
    CommandTimeoutError,
    ExternalTaskError,
    ExternalTaskTimeoutError,
    QueueStoppedError,
    friendly_validation_error,
)

__all__ = [
    "CallLater",
    "DeadLetter",
    "ExternalHandler",
    "ExternalTask",
    "ExternalTaskResult",
    "LaneHandlerConfig",
    "LaneMetrics",
    "LaneQueue",
    "LaneStatus",
    "PriorityBoost",
    "QueueMetrics",
    "QueueStats",
    "RateLimit",
    "RetryPolicy",
    "SessionLane",
    "SessionQueueConfig",
    "TaskHandlerMode",
    "TokenBucket",
]

T = TypeVar("T")

_QUERY_TOOLS = frozenset(
    {"read", "glob", "ls", "grep", "list_files", "search", "web_fetch", "web_search"}
)


class SessionLane(StrEnum):
    """A lane of the session queue. Serialized by variant name (``"Query"``)."""

    CONTROL = "Control"
    QUERY = "Query"
    EXECUTE = "Execute"
    GENERATE = "Generate"

    def priority(self) -> int:
        """0 for Control .. 3 for Generate; lower runs first."""
        return _PRIORITY[self]

    @classmethod
    def from_tool_name(cls, name: str) -> SessionLane:
        """Read-only tools go to Query; everything else (bash, write, edit, ...) to Execute."""
        return cls.QUERY if name.lower() in _QUERY_TOOLS else cls.EXECUTE

    @classmethod
    def parse(cls, value: str | SessionLane) -> SessionLane:
        """Parse a lane name case-insensitively (``"query"``, ``"Query"``)."""
        if isinstance(value, SessionLane):
            return value
        for lane in cls:
            if lane.value.lower() == str(value).strip().lower():
                return lane
        names = ", ".join(lane.value.lower() for lane in cls)
        raise ValueError(f"unknown lane {value!r}: use one of {names}")


_PRIORITY = {
    SessionLane.CONTROL: 0,
    SessionLane.QUERY: 1,
    SessionLane.EXECUTE: 2,
    SessionLane.GENERATE: 3,
}


class TaskHandlerMode(StrEnum):
    """How a lane runs its commands: in process, by an external handler, or both."""

    INTERNAL = "Internal"
    """Run in process (the default)."""
    EXTERNAL = "External"
    """Hand the command to the lane's handler (or to ``complete_external_task``) and wait."""
    HYBRID = "Hybrid"
    """Run in process, and announce it (``external_task_pending`` / ``..._completed``)."""


class LaneHandlerConfig(BaseModel):
    """A lane's handler mode and how long an external task may take."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=DEFER_BUILD)

    mode: TaskHandlerMode = TaskHandlerMode.INTERNAL
    timeout_ms: int = Field(default=60000, ge=1, alias="timeoutMs")

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> Any:
        if isinstance(v, str):
            for mode in TaskHandlerMode:
                if mode.value.lower() == v.strip().lower():
                    return mode
        return v


class RetryPolicy(BaseModel):
    """How a failed command is tried again: ``exponential`` (``initial_delay_ms`` doubled
    each time), ``fixed`` (``fixed_delay_ms``, else ``initial_delay_ms``) or ``none``.

    A failure is an exception from the command (a timeout, an external task that failed
    or was not completed in time); a tool that returns an error result has not failed.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=DEFER_BUILD)

    strategy: Literal["exponential", "fixed", "none"] = "exponential"
    max_retries: int = Field(default=3, ge=0, alias="maxRetries")
    initial_delay_ms: int = Field(default=100, ge=0, alias="initialDelayMs")
    fixed_delay_ms: int | None = Field(default=None, ge=0, alias="fixedDelayMs")

    @model_validator(mode="after")
    def _fixed_only(self) -> RetryPolicy:
        if self.fixed_delay_ms is not None and self.strategy != "fixed":
            raise ValueError(
                f"fixed_delay_ms is used only by strategy 'fixed' (got {self.strategy!r}): "
                "set strategy='fixed' or leave fixed_delay_ms out"
            )
        return self

    def delay_ms(self, failures: int) -> int | None:
        """The wait before the next try after ``failures`` failed tries, or None when
        the command has used up its retries."""
        if self.strategy == "none" or failures > self.max_retries:
            return None
        if self.strategy == "fixed":
            return self.fixed_delay_ms if self.fixed_delay_ms is not None else self.initial_delay_ms
        return int(self.initial_delay_ms * 2 ** (failures - 1))


_PERIOD_S = {"per_second": 1.0, "per_minute": 60.0, "per_hour": 3600.0}


class RateLimit(BaseModel):
    """A token bucket: at most ``max_operations`` commands per period, refilled evenly."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=DEFER_BUILD)

    limit_type: Literal["per_second", "per_minute", "per_hour", "unlimited"] = Field(
        alias="limitType"
    )
    max_operations: int | None = Field(default=None, ge=1, alias="maxOperations")

    @model_validator(mode="after")
    def _operations(self) -> RateLimit:
        if self.limit_type != "unlimited" and self.max_operations is None:
            raise ValueError(
                f"limit_type {self.limit_type!r} needs max_operations (a whole number >= 1)"
            )
        return self

    def rate_per_second(self) -> float | None:
        """Tokens added per second, or None when unlimited."""
        if self.limit_type == "unlimited" or self.max_operations is None:
            return None
        return self.max_operations / _PERIOD_S[self.limit_type]


class PriorityBoost(BaseModel):
    """Accepted for the reference's field names; only ``disabled`` is honoured (each lane
    has its own slots, so a boost across lanes would change nothing)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=DEFER_BUILD)

    strategy: Literal["standard", "aggressive", "disabled"] = "standard"
    deadline_ms: int | None = Field(default=None, alias="deadlineMs")


def _lane_keys(v: Any) -> Any:
    if isinstance(v, dict):
        return {SessionLane.parse(k): val for k, val in v.items()}
    return v


class SessionQueueConfig(BaseModel):
    """Queue settings (spec section 4). One set of defaults whatever the construction
    path (quirk 6 fixed). Every field is honoured; the two the port cannot honour
    (``storage_path``, a ``priority_boost`` other than disabled) raise."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=DEFER_BUILD)

    control_max_concurrency: int = Field(default=2, ge=1, alias="controlMaxConcurrency")
    query_max_concurrency: int = Field(default=4, ge=1, alias="queryMaxConcurrency")
    execute_max_concurrency: int = Field(default=2, ge=1, alias="executeMaxConcurrency")
    generate_max_concurrency: int = Field(default=1, ge=1, alias="generateMaxConcurrency")
    default_timeout_ms: int | None = Field(default=None, alias="defaultTimeoutMs")
    lane_timeouts: dict[SessionLane, int] = Field(default_factory=dict, alias="laneTimeouts")
    """Per-lane command timeouts in ms, over ``default_timeout_ms``."""
    lane_handlers: dict[SessionLane, LaneHandlerConfig] = Field(
        default_factory=dict, alias="laneHandlers"
    )
    """Lanes whose commands go to an external handler (or are announced: Hybrid)."""
    retry_policy: RetryPolicy | None = Field(default=None, alias="retryPolicy")
    """None: a failed command is not tried again (a bash command may not be idempotent)."""
    enable_dlq: bool = Field(default=False, alias="enableDlq")
    dlq_max_size: int | None = Field(default=None, ge=1, alias="dlqMaxSize")
    """How many dead letters are kept (oldest dropped first); None means 1000."""
    rate_limit: RateLimit | None = Field(default=None, alias="rateLimit")
    """A token bucket for every lane (each lane its own bucket)."""
    lane_rate_limits: dict[SessionLane, RateLimit] = Field(
        default_factory=dict, alias="laneRateLimits"
    )
    """Per-lane buckets, over ``rate_limit``."""
    enable_metrics: bool = Field(default=False, alias="enableMetrics")
    enable_alerts: bool = Field(default=False, alias="enableAlerts")
    alert_depth_warning: int | None = Field(default=None, ge=1, alias="alertDepthWarning")
    """Commands waiting in one lane that raise a ``queue_alert`` warning (None: 50)."""
    alert_depth_critical: int | None = Field(default=None, ge=1, alias="alertDepthCritical")
    """... a critical one (None: 100)."""
    alert_latency_ms: int | None = Field(default=None, ge=1, alias="alertLatencyMs")
    """A command that took longer than this (waiting included) raises a warning."""
    pressure_threshold: int | None = Field(default=None, ge=1, alias="pressureThreshold")
    """Commands waiting in all lanes together that raise a ``pressure`` alert."""
    priority_boost: PriorityBoost | None = Field(default=None, alias="priorityBoost")
    storage_path: str | None = Field(default=None, alias="storagePath")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise friendly_validation_error(
                "SessionQueueConfig", exc, type(self).model_fields
            ) from None

    def limit(self, lane: SessionLane) -> int:
        """The concurrency limit of one lane."""
        return {
            SessionLane.CONTROL: self.control_max_concurrency,
            SessionLane.QUERY: self.query_max_concurrency,
            SessionLane.EXECUTE: self.execute_max_concurrency,
            SessionLane.GENERATE: self.generate_max_concurrency,
        }[lane]

    def timeout_of(self, lane: SessionLane) -> int | None:
        """The command timeout of one lane in ms (None: no limit)."""
        return self.lane_timeouts.get(lane, self.default_timeout_ms)

    def handler_of(self, lane: SessionLane) -> LaneHandlerConfig:
        """The handler config of one lane (Internal unless set)."""
        return self.lane_handlers.get(lane) or LaneHandlerConfig()

    def rate_limit_of(self, lane: SessionLane) -> RateLimit | None:
        """The rate limit of one lane, if any."""
        return self.lane_rate_limits.get(lane, self.rate_limit)

    def dlq_size(self) -> int:
        """How many dead letters are kept."""
        return self.dlq_max_size or 1000

    @field_validator("lane_timeouts", "lane_handlers", "lane_rate_limits", mode="before")
    @classmethod
    def _lanes(cls, v: Any) -> Any:
        return _lane_keys(v)

    @field_validator("lane_handlers")
    @classmethod
    def _handlers(
        cls, v: dict[SessionLane, LaneHandlerConfig]
    ) -> dict[SessionLane, LaneHandlerConfig]:
        handler = v.get(SessionLane.GENERATE)
        if handler is not None and handler.mode is not TaskHandlerMode.INTERNAL:
            raise ValueError(
                "the Generate lane holds whole runs (the agent loop itself), which cannot be "
                "handed out: give a handler to the control, query or execute lane"
            )
        return v

    @field_validator("default_timeout_ms")
    @classmethod
    def _timeout(cls, v: int | None) -> int | None:
        if v is not None and v <= 0:
            raise ValueError("must be a positive number of milliseconds, or None for no timeout")
        return v

    @field_validator("lane_timeouts")
    @classmethod
    def _lane_timeouts(cls, v: dict[SessionLane, int]) -> dict[SessionLane, int]:
        for lane, ms in v.items():
            if ms <= 0:
                raise ValueError(f"the {lane.value} lane's timeout must be a positive number of ms")
        return v

    @field_validator("storage_path")
    @classmethod
    def _storage(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError(
                "is not supported: queued commands live in memory and the session's event "
                "log is its persistence; leave storage_path unset"
            )
        return v

    @field_validator("priority_boost")
    @classmethod
    def _boost(cls, v: PriorityBoost | None) -> PriorityBoost | None:
        if v is not None and v.strategy != "disabled":
            raise ValueError(
                "is not supported: each lane has its own slots, so boosting a waiting "
                "command's priority would change nothing; leave it unset (or 'disabled')"
            )
        return v

    @model_validator(mode="after")
    def _switches(self) -> SessionQueueConfig:
        # a setting that only works behind a switch that is off would be ignored: refuse
        if self.dlq_max_size is not None and not self.enable_dlq:
            raise ValueError("dlq_max_size needs enable_dlq=True (the dead-letter queue is off)")
        alert_fields = ("alert_depth_warning", "alert_depth_critical", "alert_latency_ms")
        set_fields = [name for name in alert_fields if getattr(self, name) is not None]
        if not self.enable_alerts and set_fields:
            raise ValueError(f"{', '.join(set_fields)} needs enable_alerts=True (alerts are off)")
        if self.depth_critical() < self.depth_warning():
            raise ValueError(
                f"alert_depth_critical ({self.depth_critical()}) must be at least "
                f"alert_depth_warning ({self.depth_warning()})"
            )
        return self

    def depth_warning(self) -> int:
        """Commands waiting in one lane that raise a warning (default 50)."""
        return self.alert_depth_warning or 50

    def depth_critical(self) -> int:
        """Commands waiting in one lane that raise a critical alert (default 100)."""
        return self.alert_depth_critical or 100

    @classmethod
    def with_lane_features(cls) -> SessionQueueConfig:
        """The reference's builder: DLQ on (1000), metrics, alerts, 60 s timeout."""
        return cls(
            enable_dlq=True,
            dlq_max_size=1000,
            enable_metrics=True,
            enable_alerts=True,
            default_timeout_ms=60000,
        )


class ExternalTask(BaseModel):
    """A command handed to an external handler: complete it with
    ``session.complete_external_task(task.task_id, result)``."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    task_id: str
    session_id: str
    lane: SessionLane
    command_type: str
    """The tool's name for a tool call."""
    payload: dict[str, Any]
    """The tool's arguments for a tool call."""
    timeout_ms: int
    created_at: float = Field(default=0.0, exclude=True)
    """The queue clock's time when the task was created (not serialized)."""


class ExternalTaskResult(BaseModel):
    """What an external handler reports. For a tool call, ``result`` is the tool's output:
    a string, or a dict with ``output`` (and ``exit_code``); anything else is shown as
    JSON."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    success: bool = True
    result: Any = None
    error: str | None = None

    @classmethod
    def of(cls, value: Any) -> ExternalTaskResult:
        """Read a handler's return value: an ExternalTaskResult, a dict with a
        ``success`` key, or any other value (a success with that result)."""
        if isinstance(value, ExternalTaskResult):
            return value
        if isinstance(value, dict) and "success" in value:
            return cls.model_validate(value)
        return cls(success=True, result=value)


ExternalHandler = Callable[[ExternalTask], Any]
"""A lane handler: ``handler(task)`` (sync, run in a worker thread, or async). Its return
value completes the task (see :meth:`ExternalTaskResult.of`); ``None`` leaves the task
pending for ``complete_external_task``; an exception fails it."""


class DeadLetter(BaseModel):
    """A command that failed for good (all its retries used)."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    command_id: str
    command_type: str
    lane_id: str
    error: str
    attempts: int
    failed_at: float
    """Unix time."""


class LaneMetrics(BaseModel):
    """One lane's counts since the session started, and its latency percentiles (ms,
    from submission to the end, waiting included; None before the first command)."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    submitted: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    depth: int = 0
    active: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None


class QueueMetrics(BaseModel):
    """The queue's metrics, keyed by lane name."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    lanes: dict[str, LaneMetrics]
    dead_letters: int = 0
    external_pending: int = 0


class LaneStatus(BaseModel):
    """One lane's load."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    lane: SessionLane
    pending: int
    active: int
    max_concurrency: int
    handler_mode: str = "Internal"


class QueueStats(BaseModel):
    """The whole queue's load, keyed by lane name."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    total_pending: int
    total_active: int
    external_pending: int = 0
    lanes: dict[str, LaneStatus]


class Cancellable(Protocol):
    """What a timer returns: something that can be cancelled (``asyncio.TimerHandle``)."""

    def cancel(self) -> None:
        """Stop the timer."""
        ...


CallLater = Callable[[float, Callable[[], None]], Cancellable]
"""``call_later(seconds, callback)``: the timer behind command timeouts. The default is
the running loop's ``call_later``; tests inject a fake clock."""

Emit = Callable[[Any], None]
"""Where the queue's events go (the session's ``_emit``)."""


class TokenBucket:
    """A token bucket: at most ``capacity`` tokens, refilled at ``rate`` tokens a second.

    The one rate limiter of the package: the lanes' :class:`RateLimit` and a batch's
    requests per minute per provider (:mod:`a3s_notebook.llm.rate_limit`) both use it. Not
    locked: its owner takes its own lock around :meth:`take`.
    """

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when taken, else the seconds until one is there."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class _Bucket(TokenBucket):
    """A lane's bucket on the queue's clock: ``max_operations`` tokens, refilled evenly."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        super().__init__(limit.rate_per_second() or 0.0, float(limit.max_operations or 0), now)


@dataclass
class _Counts:
    submitted: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=1000))


@dataclass
class _PendingExternal:
    task: ExternalTask
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[ExternalTaskResult]


def _percentile(values: list[float], p: float) -> float | None:
    # nearest rank: the smallest value with at least p% of the values at or below it
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _settle(future: asyncio.Future[ExternalTaskResult], outcome: ExternalTaskResult) -> None:
    # runs on the waiting command's own loop
    if not future.done():
        future.set_result(outcome)


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    lane: SessionLane = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)
    token: int | None = field(default=None, compare=False)  # set when granted a slot


def _wake(future: asyncio.Future[None]) -> None:
    # runs on the waiter's own loop
    if not future.done():
        future.set_result(None)


class LaneQueue:
    """Per-lane concurrency limits with priority dispatch, safe across loops and threads.

    ``await queue.run(lane, fn)`` waits for a slot in ``lane``, runs ``fn()`` (bounded by
    ``default_timeout_ms``) and frees the slot. Waiters are dispatched in (priority,
    arrival) order, each woken on its own loop. A slot is always given back: when the
    command returns, raises or is cancelled, and when the loop it ran on is closed
    (reclaimed at the next queue operation).
    """

    def __init__(
        self,
        config: SessionQueueConfig | None = None,
        *,
        session_id: str = "",
        call_later: CallLater | None = None,
        emit: Emit | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config or SessionQueueConfig()
        self.session_id = session_id
        self._call_later = call_later
        self._emit_fn = emit
        self._clock: Callable[[], float] = clock or time.monotonic
        self._sleep: Callable[[float], Awaitable[None]] = sleep or asyncio.sleep
        self._running = True
        self._handlers: dict[SessionLane, ExternalHandler] = {}
        self._external: dict[str, _PendingExternal] = {}
        self._buckets: dict[SessionLane, _Bucket] = {}
        self._counts = {lane: _Counts() for lane in SessionLane}
        self._dead: deque[DeadLetter] = deque(maxlen=self.config.dlq_size())
        self._alert_level: dict[str, int] = {}
        self._lock = threading.Lock()
        # token -> the loop of the command holding that slot
        self._holders: dict[SessionLane, dict[int, asyncio.AbstractEventLoop]] = {
            lane: {} for lane in SessionLane
        }
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count(1)
        self._tokens = itertools.count(1)
        self._task_ids = itertools.count(1)
        self.completed = dict.fromkeys(SessionLane, 0)

    def next_task_id(self) -> str:
        """Task ids are ``<session_id>-<counter>``, the counter starting at 1."""
        return f"{self.session_id}-{next(self._task_ids)}"

    async def run(self, lane: SessionLane, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` in ``lane`` once a slot is free (:meth:`submit` with no name).

        ``default_timeout_ms`` bounds ``fn`` itself (not the wait for a slot): past it,
        :class:`CommandTimeoutError` names the lane and the limit.
        """
        return await self.submit(lane, fn)

    # --- configuration and control ---------------------------------------------------

    def use_clock(
        self,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        call_later: CallLater | None = None,
    ) -> None:
        """Inject time: ``clock()`` (seconds, for rate limits and latencies), ``sleep``
        (retry backoff and rate-limit waits) and ``call_later`` (timeouts)."""
        with self._lock:
            if clock is not None:
                self._clock = clock
                self._buckets.clear()
            if sleep is not None:
                self._sleep = sleep
            if call_later is not None:
                self._call_later = call_later

    def reconfigure(self, config: SessionQueueConfig | None) -> None:
        """Follow a changed config (the session calls this on every config change)."""
        config = config or SessionQueueConfig()
        with self._lock:
            old, self.config = self.config, config
            if (
                old.rate_limit != config.rate_limit
                or old.lane_rate_limits != config.lane_rate_limits
            ):
                self._buckets.clear()
            if self._dead.maxlen != config.dlq_size():
                self._dead = deque(self._dead, maxlen=config.dlq_size())
            self._dispatch()  # a raised concurrency limit frees slots now

    def set_handler(self, lane: SessionLane, handler: ExternalHandler | None) -> None:
        """The callable behind an External lane (kept in memory only, like a key)."""
        with self._lock:
            if handler is None:
                self._handlers.pop(lane, None)
            else:
                self._handlers[lane] = handler

    def handler(self, lane: SessionLane) -> ExternalHandler | None:
        """The callable set for a lane, if any."""
        return self._handlers.get(lane)

    @property
    def running(self) -> bool:
        """False after :meth:`stop` until :meth:`start`."""
        return self._running

    def start(self) -> None:
        """Accept commands again after :meth:`stop`."""
        self._running = True

    def stop(self) -> None:
        """Refuse new commands and runs at once (:class:`QueueStoppedError`); commands
        already waiting or running go on to their end, so nothing hangs."""
        self._running = False

    def _check_running(self, what: str) -> None:
        if not self._running:
            raise QueueStoppedError(
                f"session {self.session_id or '?'}: the queue is stopped, so this {what} "
                "was refused. Call session.start_queue() to accept work again."
            )

    def _emit(self, event: Any) -> None:
        if self._emit_fn is not None:
            self._emit_fn(event)

    # --- commands ----------------------------------------------------------------------

    async def submit(
        self,
        lane: SessionLane,
        fn: Callable[[], Awaitable[T]],
        *,
        command_type: str = "command",
        payload: dict[str, Any] | None = None,
        on_external: Callable[[ExternalTaskResult], T] | None = None,
    ) -> T:
        """Run one command in ``lane``: rate limit, slot, handler mode, timeout, retries.

        In an External lane ``fn`` is not called: the command becomes an
        :class:`ExternalTask` (``command_type`` and ``payload`` describe it) and
        ``on_external`` turns the handler's result into the command's (default: the
        result's ``result``). A failure is retried per ``retry_policy``; the last one
        goes to the dead-letter queue (when on) and is raised.
        """
        self._check_running("command")
        from a3s_notebook.engine.events import CommandRetry

        command_id = self.next_task_id()
        counts = self._counts[lane]
        started = self._clock()
        with self._lock:
            counts.submitted += 1
        failures = 0
        while True:
            try:
                async with self.slot(lane):
                    # a retry's external task has an id of its own: a late answer to a try
                    # that timed out must not complete the next one
                    task_id = command_id if failures == 0 else f"{command_id}.{failures + 1}"
                    result = await self._attempt(
                        lane, fn, task_id, command_type, payload or {}, on_external
                    )
            except Exception as exc:
                failures += 1
                policy = self.config.retry_policy
                retry = policy is not None and not isinstance(exc, QueueStoppedError)
                delay = policy.delay_ms(failures) if retry and policy is not None else None
                if delay is not None:
                    with self._lock:
                        counts.retried += 1
                    self._emit(
                        CommandRetry(
                            command_id=command_id,
                            command_type=command_type,
                            lane=lane.value,
                            attempt=failures + 1,
                            delay_ms=delay,
                        )
                    )
                    await self._sleep(delay / 1000)
                    continue
                self._finished(lane, started, ok=False)
                self._dead_letter(lane, command_id, command_type, exc, failures)
                raise
            self._finished(lane, started, ok=True)
            return result

    async def _attempt(
        self,
        lane: SessionLane,
        fn: Callable[[], Awaitable[T]],
        task_id: str,
        command_type: str,
        payload: dict[str, Any],
        on_external: Callable[[ExternalTaskResult], T] | None,
    ) -> T:
        from a3s_notebook.engine.events import ExternalTaskCompleted, ExternalTaskPending

        handler = self.config.handler_of(lane)
        if handler.mode is TaskHandlerMode.EXTERNAL:
            outcome = await self._external_task(lane, task_id, command_type, payload, handler)
            if not outcome.success:
                raise ExternalTaskError(
                    f"external task {task_id} ({command_type} in the {lane.value} lane) "
                    f"failed: {outcome.error or 'External task failed'}",
                    task_id=task_id,
                )
            if on_external is None:
                return outcome.result  # type: ignore[no-any-return]
            return on_external(outcome)
        if handler.mode is TaskHandlerMode.HYBRID:
            self._emit(
                ExternalTaskPending(
                    task_id=task_id,
                    session_id=self.session_id,
                    lane=lane.value,
                    command_type=command_type,
                    payload=payload,
                    timeout_ms=handler.timeout_ms,
                )
            )
            ok = False
            try:
                result = await self.timed(lane, fn)
                ok = True
                return result
            finally:
                self._emit(
                    ExternalTaskCompleted(task_id=task_id, session_id=self.session_id, success=ok)
                )
        return await self.timed(lane, fn)

    async def _rate_wait(self, lane: SessionLane) -> None:
        limit = self.config.rate_limit_of(lane)
        if limit is None or limit.rate_per_second() is None:
            return
        while True:
            with self._lock:
                bucket = self._buckets.get(lane)
                if bucket is None or bucket.limit != limit:
                    bucket = self._buckets[lane] = _Bucket(limit, self._clock())
                wait = bucket.take(self._clock())
            if wait <= 0:
                return
            await self._sleep(wait)

    def _finished(self, lane: SessionLane, started: float, *, ok: bool) -> None:
        from a3s_notebook.engine.events import QueueAlert

        latency_ms = max(0.0, (self._clock() - started) * 1000)
        counts = self._counts[lane]
        with self._lock:
            if ok:
                counts.completed += 1
            else:
                counts.failed += 1
            counts.latencies.append(latency_ms)
        limit = self.config.alert_latency_ms
        if self.config.enable_alerts and limit is not None and latency_ms > limit:
            self._emit(
                QueueAlert(
                    level="warning",
                    alert_type="latency",
                    message=f"a command in the {lane.value} lane took {latency_ms:.0f} ms "
                    f"(alert_latency_ms is {limit})",
                )
            )

    def _dead_letter(
        self, lane: SessionLane, command_id: str, command_type: str, exc: Exception, attempts: int
    ) -> None:
        if not self.config.enable_dlq:
            return
        from a3s_notebook.engine.events import CommandDeadLettered

        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        letter = DeadLetter(
            command_id=command_id,
            command_type=command_type,
            lane_id=lane.value,
            error=error,
            attempts=attempts,
            failed_at=time.time(),
        )
        with self._lock:
            self._dead.append(letter)
            self._counts[lane].dead_lettered += 1
        self._emit(
            CommandDeadLettered(
                command_id=command_id,
                command_type=command_type,
                lane=lane.value,
                error=error,
                attempts=attempts,
            )
        )

    def dead_letters(self) -> list[DeadLetter]:
        """Commands that failed for good, oldest first (empty when the DLQ is off)."""
        with self._lock:
            return list(self._dead)

    # --- external tasks ------------------------------------------------------------------

    async def _external_task(
        self,
        lane: SessionLane,
        task_id: str,
        command_type: str,
        payload: dict[str, Any],
        handler_config: LaneHandlerConfig,
    ) -> ExternalTaskResult:
        from a3s_notebook.engine.events import ExternalTaskPending

        loop = asyncio.get_running_loop()
        future: asyncio.Future[ExternalTaskResult] = loop.create_future()
        timeout_ms = handler_config.timeout_ms
        task = ExternalTask(
            task_id=task_id,
            session_id=self.session_id,
            lane=lane,
            command_type=command_type,
            payload=payload,
            timeout_ms=timeout_ms,
            created_at=self._clock(),
        )
        with self._lock:
            self._external[task_id] = _PendingExternal(task, loop, future)
        self._emit(
            ExternalTaskPending(
                task_id=task_id,
                session_id=self.session_id,
                lane=lane.value,
                command_type=command_type,
                payload=payload,
                timeout_ms=timeout_ms,
            )
        )

        def expire() -> None:
            with self._lock:
                pending = self._external.pop(task_id, None)
            if pending is not None and not future.done():
                future.set_exception(
                    ExternalTaskTimeoutError(
                        f"external task {task_id} ({command_type} in the {lane.value} lane) "
                        f"was not completed within {timeout_ms} ms "
                        "(LaneHandlerConfig.timeout_ms); it was withdrawn",
                        task_id=task_id,
                    )
                )

        call_later = self._call_later or loop.call_later
        timer = call_later(timeout_ms / 1000, expire)
        callable_handler = self._handlers.get(lane)
        runner = (
            asyncio.ensure_future(self._call_handler(callable_handler, task))
            if callable_handler is not None
            else None
        )
        try:
            return await future
        finally:
            timer.cancel()
            with self._lock:
                self._external.pop(task_id, None)
            if runner is not None and not runner.done():
                runner.cancel()

    async def _call_handler(self, handler: ExternalHandler, task: ExternalTask) -> None:
        try:
            if inspect.iscoroutinefunction(handler):
                value = await handler(task)
            else:
                # a sync handler may block (a remote call): keep the loop free
                value = await asyncio.to_thread(handler, task)
                if inspect.isawaitable(value):
                    value = await value
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.complete_external_task(
                task.task_id,
                ExternalTaskResult(success=False, error=f"{type(exc).__name__}: {exc}"),
            )
            return
        if value is not None:
            self.complete_external_task(task.task_id, value)

    def complete_external_task(self, task_id: str, result: Any = None) -> bool:
        """Complete a pending external task; True if it was pending.

        ``result`` is read by :meth:`ExternalTaskResult.of`. Safe from any thread and
        inside a running loop: it never waits; the command resumes on its own loop.
        """
        from a3s_notebook.engine.events import ExternalTaskCompleted

        outcome = ExternalTaskResult.of(result)
        with self._lock:
            pending = self._external.pop(task_id, None)
        if pending is None:
            return False
        try:
            pending.loop.call_soon_threadsafe(_settle, pending.future, outcome)
        except RuntimeError:  # its loop is closed: the command is gone
            return False
        self._emit(
            ExternalTaskCompleted(
                task_id=task_id, session_id=self.session_id, success=outcome.success
            )
        )
        return True

    def pending_external_tasks(self) -> list[ExternalTask]:
        """External tasks waiting for a result, oldest first."""
        with self._lock:
            return [p.task for p in self._external.values() if not p.loop.is_closed()]

    @contextlib.asynccontextmanager
    async def slot(self, lane: SessionLane) -> AsyncIterator[None]:
        """Hold a slot of ``lane`` for the block, with no timeout.

        For work that includes waiting for a human (a whole run in the Generate lane):
        time a command inside it with :meth:`timed`.
        """
        self._check_running("run" if lane is SessionLane.GENERATE else "command")
        await self._rate_wait(lane)  # each run, command or retry takes a token
        token = await self._acquire(lane)
        try:
            yield
        finally:
            self._release(lane, token)

    async def timed(
        self, lane: SessionLane, fn: Callable[[], Awaitable[T]], *, timeout_ms: int | None = None
    ) -> T:
        """Await ``fn()`` bounded by ``timeout_ms`` (default: ``default_timeout_ms``).

        Takes no slot (for a command inside a :meth:`slot` already held). Past the
        limit ``fn`` is cancelled and :class:`CommandTimeoutError` is raised.
        """
        limit = timeout_ms if timeout_ms is not None else self.config.timeout_of(lane)
        if limit is None:
            return await fn()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio always runs coroutines in a task
            return await fn()
        fired = False

        def expire() -> None:
            nonlocal fired
            if not task.done():
                fired = True
                task.cancel()

        call_later = self._call_later or asyncio.get_running_loop().call_later
        timer = call_later(limit / 1000, expire)
        try:
            result = await fn()
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise CommandTimeoutError(
                    f"a command in the {lane.value} lane ran longer than its limit of "
                    f"{limit} ms (SessionQueueConfig.{self._timeout_field(lane)}) and was "
                    "stopped. Raise the limit, or set it to None for no limit.",
                    lane=lane.value,
                    timeout_ms=limit,
                ) from None
            raise
        finally:
            timer.cancel()
        if fired:
            task.uncancel()  # fn swallowed our cancellation and finished anyway
        return result

    def _timeout_field(self, lane: SessionLane) -> str:
        return "lane_timeouts" if lane in self.config.lane_timeouts else "default_timeout_ms"

    # --- slots -----------------------------------------------------------------------

    def _free(self, lane: SessionLane) -> bool:
        return len(self._holders[lane]) < self.config.limit(lane)

    def _grant(self, lane: SessionLane, loop: asyncio.AbstractEventLoop) -> int:
        token = next(self._tokens)
        self._holders[lane][token] = loop
        return token

    def _reap(self) -> None:
        """Give back slots and drop waiters whose loop was closed (they can never run)."""
        for lane, holders in self._holders.items():
            for token in [t for t, loop in holders.items() if loop.is_closed()]:
                del holders[token]
                self.completed[lane] += 1
        self._waiting = [w for w in self._waiting if not w.loop.is_closed()]

    async def _acquire(self, lane: SessionLane) -> int:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._reap()
            if self._free(lane) and not any(w.lane is lane for w in self._waiting):
                return self._grant(lane, loop)
            waiter = _Waiter(lane.priority(), next(self._seq), lane, loop, loop.create_future())
            self._waiting.append(waiter)
            self._waiting.sort()
            self._dispatch()  # a reaped slot may be free for someone ahead of us
            alerts = self._depth_alerts(lane)
        for alert in alerts:
            self._emit(alert)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                elif waiter.token is not None:
                    # the slot was handed to us while we were being cancelled: give it back
                    self._give_back(lane, waiter.token)
            raise
        assert waiter.token is not None
        return waiter.token

    def _depth_alerts(self, lane: SessionLane) -> list[Any]:
        """Alerts for depths that just crossed a threshold upward (the caller holds the
        lock; the caller emits them after letting it go). Each alert fires once per
        crossing: it re-arms when the depth is back under the threshold."""
        from a3s_notebook.engine.events import QueueAlert

        cfg = self.config
        out: list[Any] = []
        depth = sum(1 for w in self._waiting if w.lane is lane)
        if cfg.enable_alerts:
            warning, critical = cfg.depth_warning(), cfg.depth_critical()
            level = 2 if depth >= critical else 1 if depth >= warning else 0
            key = f"depth:{lane.value}"
            if level > self._alert_level.get(key, 0):
                name, limit = ("critical", critical) if level == 2 else ("warning", warning)
                out.append(
                    QueueAlert(
                        level=name,
                        alert_type="queue_depth",
                        message=f"{depth} commands wait in the {lane.value} lane "
                        f"(alert_depth_{name} is {limit})",
                    )
                )
            self._alert_level[key] = level
        if cfg.pressure_threshold is not None:
            total = len(self._waiting)
            over = int(total >= cfg.pressure_threshold)
            if over > self._alert_level.get("pressure", 0):
                out.append(
                    QueueAlert(
                        level="warning",
                        alert_type="pressure",
                        message=f"{total} commands wait in all lanes "
                        f"(pressure_threshold is {cfg.pressure_threshold})",
                    )
                )
            self._alert_level["pressure"] = over
        return out

    def _release(self, lane: SessionLane, token: int) -> None:
        with self._lock:
            self._give_back(lane, token)

    def _give_back(self, lane: SessionLane, token: int) -> None:
        # the caller holds self._lock
        if self._holders[lane].pop(token, None) is not None:
            self.completed[lane] += 1
        self._reap()
        self._dispatch()

    def _dispatch(self) -> None:
        # the caller holds self._lock; each waiter is woken on its own loop
        for waiter in list(self._waiting):
            if not self._free(waiter.lane):
                continue
            self._waiting.remove(waiter)
            if waiter.future.done():
                continue
            waiter.token = self._grant(waiter.lane, waiter.loop)
            try:
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
            except RuntimeError:
                # its loop closed in between: it will never run, so the slot goes on
                del self._holders[waiter.lane][waiter.token]
                waiter.token = None

    def stats(self) -> QueueStats:
        """Pending and active counts per lane."""
        with self._lock:
            self._reap()
            self._dispatch()
            lanes = {}
            for lane in SessionLane:
                pending = sum(1 for w in self._waiting if w.lane is lane)
                lanes[lane.value] = LaneStatus(
                    lane=lane,
                    pending=pending,
                    active=len(self._holders[lane]),
                    max_concurrency=self.config.limit(lane),
                    handler_mode=self.config.handler_of(lane).mode.value,
                )
            external = sum(1 for p in self._external.values() if not p.loop.is_closed())
        return QueueStats(
            total_pending=sum(s.pending for s in lanes.values()),
            total_active=sum(s.active for s in lanes.values()),
            external_pending=external,
            lanes=lanes,
        )

    def metrics(self) -> QueueMetrics | None:
        """Per-lane counts and latency percentiles; None unless ``enable_metrics``."""
        if not self.config.enable_metrics:
            return None
        stats = self.stats()
        with self._lock:
            lanes = {}
            for lane in SessionLane:
                c = self._counts[lane]
                values = list(c.latencies)
                lanes[lane.value] = LaneMetrics(
                    submitted=c.submitted,
                    completed=c.completed,
                    failed=c.failed,
                    retried=c.retried,
                    dead_lettered=c.dead_lettered,
                    depth=stats.lanes[lane.value].pending,
                    active=stats.lanes[lane.value].active,
                    latency_p50_ms=_percentile(values, 50),
                    latency_p95_ms=_percentile(values, 95),
                    latency_p99_ms=_percentile(values, 99),
                )
            dead = len(self._dead)
        return QueueMetrics(lanes=lanes, dead_letters=dead, external_pending=stats.external_pending)

    async def run_batch(
        self, lane: SessionLane, fns: list[Callable[[], Awaitable[T]]]
    ) -> list[T | BaseException]:
        """Run several commands in one lane; results (or exceptions) keep submission order."""
        results: list[Any] = await asyncio.gather(
            *(self.run(lane, fn) for fn in fns), return_exceptions=True
        )
        return results
