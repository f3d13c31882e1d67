"""OpenTelemetry export of a session's runs: spans and LLM metrics (spec section 7).

Off by default: nothing is exported until :func:`instrument` is called on a session (or
:func:`instrument_all` on a manager's sessions). It needs the ``otel`` extra
(``pip install 'a3s-notebook[otel]'``, the OpenTelemetry API); the SDK and an exporter are
the application's choice, set up the usual way (``trace.set_tracer_provider(...)``) or
passed in. The service name (the reference's ``"a3s-code"``) belongs to that provider's
``Resource``.

Spans are built from the session's events, so they describe what the log describes:

- ``a3s.agent.execute``: one run (``agent_start`` to ``agent_end``; an ``error`` marks it
  failed);
- ``a3s.agent.turn``: one LLM round of the run (``turn_start`` to ``turn_end``);
- ``a3s.llm.completion``: one LLM call, from its ledger record (start = end - latency),
  with the GenAI semantic conventions (``gen_ai.system``, ``gen_ai.operation.name``,
  ``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``)
  and the reference's ``a3s.llm.*`` keys (model, provider, streaming, prompt/completion/
  total tokens) plus ``a3s.llm.cost_usd`` when a price is known;
- ``a3s.tool.execute``: one tool call, from the model announcing it (``tool_start``, a
  child of that turn) to its result (``tool_end``), with
  ``gen_ai.tool.name``, ``a3s.tool.{name,id,exit_code,success,duration_ms}``; a failed
  call has an error status.

Every span carries ``a3s.session.id``. Metrics (through the global or given meter
provider): the GenAI histograms ``gen_ai.client.token.usage`` (by ``gen_ai.token.type``
input/output) and ``gen_ai.client.operation.duration`` (seconds), and the counter
``a3s.tool.calls`` (by tool name and success). Prompt and output text are never exported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine.events import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    ErrorEvent,
    ToolEnd,
    ToolStart,
    TurnEnd,
    TurnStart,
    UsageRecorded,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from a3s_notebook.engine.manager import SessionManager
    from a3s_notebook.engine.session import Session

__all__ = ["instrument", "instrument_all"]

_SCOPE = "a3s_notebook"


def _otel() -> Any:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        raise ImportError(
            "OpenTelemetry export needs the otel extra: pip install 'a3s-notebook[otel]' "
            "(and an SDK/exporter of your choice, e.g. opentelemetry-sdk)"
        ) from None
    return trace, metrics


class _Exporter:
    """Turns one session's events into spans and metric points."""

    def __init__(
        self,
        session_id: str,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        clock_ns: Callable[[], int],
    ) -> None:
        trace, metrics = _otel()
        from a3s_notebook import __version__

        self._trace = trace
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens per LLM call"
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="LLM call duration"
        )
        self._tool_calls = meter.create_counter(
            "a3s.tool.calls", unit="{call}", description="Tool calls"
        )
        self._session_id = session_id
        self._clock = clock_ns
        self._lock = threading.Lock()
        self._agent: Span | None = None
        self._turn: Span | None = None
        self._tools: dict[str, Span] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _parent(self) -> Any:
        span = self._turn or self._agent
        return self._trace.set_span_in_context(span) if span is not None else None

    def _start(self, name: str, attributes: dict[str, Any], start: int | None = None) -> Span:
        attributes = {"a3s.session.id": self._session_id, **attributes}
        span: Span = self._tracer.start_span(
            name,
            context=self._parent(),
            attributes=attributes,
            start_time=self._clock() if start is None else start,
        )
        return span

    def _error(self, span: Span, message: str) -> None:
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, message[:200]))

    def _end_tools(self) -> None:
        for span in self._tools.values():
            self._error(span, "the run ended before the tool did")
            span.end(self._clock())
        self._tools.clear()

    def _end_turn(self) -> None:
        # tools announced in this turn run after it ends: their spans stay open
        if self._turn is not None:
            self._turn.end(self._clock())
            self._turn = None

    def _end_agent(self) -> None:
        self._end_turn()
        self._end_tools()
        if self._agent is not None:
            self._agent.end(self._clock())
            self._agent = None

    # -- events ----------------------------------------------------------------------------

    def __call__(self, event: AgentEvent) -> None:
        with self._lock:
            self._on(event)

    def _on(self, event: AgentEvent) -> None:
        if isinstance(event, AgentStart):
            self._end_agent()  # a run that never said it ended
            self._agent = self._start(
                "a3s.agent.execute", {"gen_ai.operation.name": "invoke_agent"}
            )
        elif isinstance(event, TurnStart):
            self._end_turn()
            self._turn = self._start("a3s.agent.turn", {"a3s.turn": event.turn})
        elif isinstance(event, UsageRecorded):
            self._completion(event)
        elif isinstance(event, ToolStart):
            self._tools[event.id] = self._start(
                "a3s.tool.execute",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": event.name,
                    "gen_ai.tool.call.id": event.id,
                    "a3s.tool.name": event.name,
                    "a3s.tool.id": event.id,
                },
            )
        elif isinstance(event, ToolEnd):
            self._tool_end(event)
        elif isinstance(event, TurnEnd):
            if self._turn is not None:
                self._turn.set_attributes(
                    {
                        "gen_ai.usage.input_tokens": event.usage.prompt_tokens,
                        "gen_ai.usage.output_tokens": event.usage.completion_tokens,
                    }
                )
            self._end_turn()
        elif isinstance(event, ErrorEvent):
            if self._agent is not None:
                self._error(self._agent, event.message)
        elif isinstance(event, AgentEnd):
            if self._agent is not None:
                self._agent.set_attributes(
                    {
                        "gen_ai.usage.input_tokens": event.usage.prompt_tokens,
                        "gen_ai.usage.output_tokens": event.usage.completion_tokens,
                    }
                )
            self._end_agent()

    def _tool_end(self, event: ToolEnd) -> None:
        span = self._tools.pop(event.id, None)
        if span is None:  # refused before it started: a span of its own, zero length
            span = self._start(
                "a3s.tool.execute",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": event.name,
                    "a3s.tool.name": event.name,
                    "a3s.tool.id": event.id,
                },
            )
        success = event.exit_code == 0
        attributes: dict[str, Any] = {
            "a3s.tool.exit_code": event.exit_code,
            "a3s.tool.success": success,
        }
        if event.duration_ms is not None:
            attributes["a3s.tool.duration_ms"] = event.duration_ms
        span.set_attributes(attributes)
        if not success:
            self._error(span, f"exit code {event.exit_code}")
        span.end(self._clock())
        self._tool_calls.add(1, {"a3s.tool.name": event.name, "a3s.tool.success": success})

    def _completion(self, event: UsageRecorded) -> None:
        record = event.record
        end = self._clock()
        latency_ns = int((record.latency_ms or 0) * 1_000_000)
        common = {
            "gen_ai.system": record.provider,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": record.model,
        }
        attributes: dict[str, Any] = {
            **common,
            "gen_ai.response.model": record.model,
            "gen_ai.usage.input_tokens": record.prompt_tokens,
            "gen_ai.usage.output_tokens": record.completion_tokens,
            "a3s.llm.model": record.model,
            "a3s.llm.provider": record.provider,
            "a3s.llm.streaming": True,
            "a3s.llm.prompt_tokens": record.prompt_tokens,
            "a3s.llm.completion_tokens": record.completion_tokens,
            "a3s.llm.total_tokens": record.total_tokens,
            "a3s.llm.purpose": record.purpose,
            "a3s.llm.estimated": record.estimated,
        }
        if record.cost_usd is not None:
            attributes["a3s.llm.cost_usd"] = record.cost_usd
        if record.reasoning_tokens:
            attributes["a3s.llm.reasoning_tokens"] = record.reasoning_tokens
        span = self._start("a3s.llm.completion", attributes, start=end - latency_ns)
        span.end(end)
        self._tokens.record(record.prompt_tokens, {**common, "gen_ai.token.type": "input"})
        self._tokens.record(record.completion_tokens, {**common, "gen_ai.token.type": "output"})
        if record.latency_ms is not None:
            self._duration.record(record.latency_ms / 1000, common)


def instrument(
    session: Session,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
) -> Callable[[], None]:
    """Export ``session``'s runs as OpenTelemetry spans and metrics from now on.

    ``tracer_provider``/``meter_provider`` default to the global ones (a no-op until the
    application installs an SDK). Returns a function that stops the export (ending any
    span still open). ``clock_ns`` gives span times in nanoseconds since the epoch.
    Raises ImportError with the install command when the ``otel`` extra is missing.
    """
    exporter = _Exporter(session.id, tracer_provider, meter_provider, clock_ns)
    unsubscribe = session.subscribe(exporter)

    def stop() -> None:
        unsubscribe()
        with exporter._lock:
            exporter._end_agent()

    return stop


def instrument_all(
    manager: SessionManager,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Callable[[], None]:
    """:func:`instrument` every session ``manager`` holds now; returns one stop function."""
    stops = [
        instrument(s, tracer_provider=tracer_provider, meter_provider=meter_provider)
        for s in manager.list_sessions()
    ]

    def stop() -> None:
        for each in stops:
            each()

    return stop
