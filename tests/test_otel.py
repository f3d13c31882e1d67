"""OpenTelemetry export: spans and metrics of a real (scripted) run, in the SDK's memory."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from a3s_notebook.engine.otel import instrument, instrument_all

from .conftest import turn


@pytest.fixture
def otel() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    return tracer_provider, spans, MeterProvider(metric_readers=[reader]), reader


def _clock() -> Any:
    ticks = itertools.count(1_700_000_000_000_000_000, 1_000_000)
    return lambda: next(ticks)


async def test_a_run_becomes_nested_spans_with_genai_attributes(
    make_session: Any, workspace: Path, otel: Any
) -> None:
    tracer_provider, spans, meter_provider, reader = otel
    session = make_session(
        [
            turn("Reading.", ("read", {"file_path": "hello.txt"}), ("bash", {"command": "rm x"})),
            turn("Done."),
        ],
        allow=["read"],
        deny=["Bash(rm:*)"],
    )
    stop = instrument(
        session,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        clock_ns=_clock(),
    )
    await session.send_async("go")
    stop()
    finished = spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    assert sorted(by_name) == [
        "a3s.agent.execute",
        "a3s.agent.turn",
        "a3s.llm.completion",
        "a3s.tool.execute",
    ]
    (agent,) = by_name["a3s.agent.execute"]
    turns = by_name["a3s.agent.turn"]
    assert [t.attributes["a3s.turn"] for t in turns] == [1, 2]
    assert all(t.parent.span_id == agent.context.span_id for t in turns)
    assert all(s.attributes["a3s.session.id"] == session.id for s in finished)

    completions = by_name["a3s.llm.completion"]
    assert len(completions) == 2
    first = completions[0]
    assert first.parent.span_id == turns[0].context.span_id
    assert first.attributes["gen_ai.system"] == "scripted"
    assert first.attributes["gen_ai.operation.name"] == "chat"
    assert first.attributes["gen_ai.request.model"] == session.llm.model
    assert first.attributes["gen_ai.usage.input_tokens"] > 0
    assert first.attributes["gen_ai.usage.output_tokens"] > 0
    assert first.attributes["a3s.llm.total_tokens"] == (
        first.attributes["a3s.llm.prompt_tokens"] + first.attributes["a3s.llm.completion_tokens"]
    )
    assert first.start_time <= first.end_time

    tools = {s.attributes["a3s.tool.name"]: s for s in by_name["a3s.tool.execute"]}
    assert tools["read"].attributes["a3s.tool.success"] is True
    assert tools["read"].attributes["gen_ai.tool.name"] == "read"
    assert tools["read"].parent.span_id == turns[0].context.span_id
    assert tools["bash"].attributes["a3s.tool.success"] is False
    assert tools["bash"].status.status_code is StatusCode.ERROR
    # no prompt or output text leaves the process
    text = repr([dict(s.attributes) for s in finished])
    assert "hello world" not in text and "go" not in [
        v for s in finished for v in s.attributes.values()
    ]

    metrics = {
        m.name: m
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "a3s.tool.calls",
    } <= set(metrics)
    token_types = {
        p.attributes["gen_ai.token.type"]
        for p in metrics["gen_ai.client.token.usage"].data.data_points
    }
    assert token_types == {"input", "output"}
    calls = {
        (p.attributes["a3s.tool.name"], p.attributes["a3s.tool.success"]): p.value
        for p in metrics["a3s.tool.calls"].data.data_points
    }
    assert calls == {("read", True): 1, ("bash", False): 1}


async def test_off_by_default_and_stop_ends_the_export(
    make_session: Any, manager: Any, otel: Any
) -> None:
    tracer_provider, spans, meter_provider, _reader = otel
    session = make_session([turn("one"), turn("two"), turn("three")])
    await session.send_async("not instrumented")
    assert spans.get_finished_spans() == ()
    stop = instrument_all(manager, tracer_provider=tracer_provider, meter_provider=meter_provider)
    await session.send_async("instrumented")
    count = len(spans.get_finished_spans())
    assert count >= 3
    stop()
    await session.send_async("stopped")
    assert len(spans.get_finished_spans()) == count


def test_without_the_extra_the_error_says_what_to_install(
    make_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    session = make_session([turn("x")])
    with pytest.raises(ImportError, match=r"pip install 'a3s-notebook\[otel\]'"):
        instrument(session)
