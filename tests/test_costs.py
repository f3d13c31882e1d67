"""The cost ledger as pandas: typed frames, groupings, and the spec's CostSummary (section 7)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from a3s_notebook.analysis import (
    COLUMNS,
    CostSummary,
    aggregate,
    aggregate_cost_records,
    cost_by_day,
    cost_by_model,
    cost_by_session,
    records_frame,
    summarize,
)
from a3s_notebook.analysis.costs import GROUP_COLUMNS
from a3s_notebook.engine.telemetry import LlmCostRecord

UTC = dt.UTC


def rec(
    session: str,
    model: str,
    cost: float | None,
    when: dt.datetime,
    *,
    inp: int = 1_000,
    out: int = 100,
    **extra: Any,
) -> LlmCostRecord:
    return LlmCostRecord(
        session_id=session,
        turn=extra.pop("turn", 1),
        model=model,
        provider=extra.pop("provider", "openai"),
        prompt_tokens=inp,
        completion_tokens=out,
        total_tokens=inp + out,
        cost_usd=cost,
        timestamp=when,
        **extra,
    )


# Two UTC days, with calls one second either side of midnight; costs partly unknown.
DAY1_LATE = dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
DAY2_EARLY = dt.datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
DAY2_NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def records() -> list[LlmCostRecord]:
    return [
        rec("s1", "gpt-4o", 0.50, DAY1_LATE, cache_read_tokens=200, tool_names=["read"]),
        rec("s1", "demo", None, DAY1_LATE, provider="scripted", estimated=True),
        rec("s1", "gpt-4o", 0.25, DAY2_EARLY, turn=2, latency_ms=820.5, ttft_ms=120.0),
        rec("s2", "claude-x", None, DAY2_EARLY, provider="anthropic"),
        rec("s2", "claude-x", 2.00, DAY2_NOON, cache_write_tokens=300, inp=5_000),
        rec(
            "s3",
            "demo",
            None,
            DAY2_NOON,
            provider="scripted",
            provenance={"execution_count": 7, "cell_id": "abc-123"},
        ),
    ]


def dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in df.dtypes.items()}


# --- records_frame -----------------------------------------------------------------------


def test_columns_and_dtypes_exactly(records: list[LlmCostRecord]) -> None:
    df = records_frame(records)
    assert list(df.columns) == list(COLUMNS)
    assert dtypes(df) == COLUMNS
    assert COLUMNS["timestamp"] == "datetime64[ns, UTC]"
    assert len(df) == len(records)
    assert isinstance(df.index, pd.RangeIndex)


def test_empty_frame_has_the_same_columns_and_dtypes() -> None:
    df = records_frame([])
    assert df.empty and list(df.columns) == list(COLUMNS)
    assert dtypes(df) == COLUMNS
    for grouped in (cost_by_model(df), cost_by_day(df), cost_by_session(df)):
        assert grouped.empty and dtypes(grouped) == GROUP_COLUMNS
    summary = summarize(df)
    assert summary == CostSummary()
    assert summary.total_cost_usd is None


def test_values(records: list[LlmCostRecord]) -> None:
    df = records_frame(records)
    first = df.iloc[0]
    assert first["session_id"] == "s1" and first["model"] == "gpt-4o"
    assert first["provider"] == "openai"
    assert first["input_tokens"] == 1_000 and first["output_tokens"] == 100
    assert first["total_tokens"] == 1_100 and first["cache_read_tokens"] == 200
    assert first["timestamp"] == pd.Timestamp(DAY1_LATE)
    assert first["tool_names"] == ["read"]
    assert df["tool_names"].iloc[1] == []
    assert df["estimated"].tolist() == [False, True, False, False, False, False]
    assert df["latency_ms"].iloc[2] == 820.5 and df["ttft_ms"].iloc[2] == 120.0
    assert df["latency_ms"].isna().sum() == 5
    assert df["turn"].tolist() == [1, 1, 2, 1, 1, 1]


def test_provenance_is_flattened(records: list[LlmCostRecord]) -> None:
    df = records_frame(records)
    assert df["cell"].iloc[5] == 7 and df["cell_id"].iloc[5] == "abc-123"
    assert df["cell"].iloc[:5].isna().all() and df["cell_id"].iloc[:5].isna().all()


def test_unknown_cost_stays_na_and_is_not_a_zero(records: list[LlmCostRecord]) -> None:
    df = records_frame(records)
    assert df["cost_usd"].isna().tolist() == [False, True, False, True, False, True]
    assert df["cost_usd"].iloc[1] is pd.NA
    # A mean over calls skips the unknown ones instead of averaging in zeros.
    assert df["cost_usd"].mean() == pytest.approx((0.50 + 0.25 + 2.00) / 3)
    assert df["cost_usd"].sum() == pytest.approx(2.75)


def test_dicts_as_persisted_give_the_same_frame(records: list[LlmCostRecord]) -> None:
    as_json = [r.model_dump(mode="json") for r in records]
    assert isinstance(as_json[0]["timestamp"], str)
    pd.testing.assert_frame_equal(records_frame(as_json), records_frame(records))


def test_hand_made_dicts_with_missing_fields() -> None:
    df = records_frame(
        [
            {"model": "gpt-4o", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.1},
            {"model": "x", "prompt_tokens": 3, "timestamp": "2026-03-01T10:00:00"},
        ]
    )
    assert dtypes(df) == COLUMNS
    assert df["input_tokens"].tolist() == [10, 3]
    assert df["output_tokens"].tolist() == [5, 0]
    assert df["total_tokens"].tolist() == [15, 3]  # derived when missing
    assert df["cache_read_tokens"].tolist() == [0, 0]
    assert df["session_id"].isna().all() and df["turn"].isna().all()
    assert df["timestamp"].isna().tolist() == [True, False]
    # A naive timestamp is UTC.
    assert df["timestamp"].iloc[1] == pd.Timestamp("2026-03-01T10:00:00", tz="UTC")
    assert df["tool_names"].tolist() == [[], []]
    assert df["cost_usd"].isna().tolist() == [False, True]


def test_timestamps_with_offsets_become_utc() -> None:
    # 01:30 at +02:00 is 23:30 UTC the day before: it belongs to that UTC day.
    df = records_frame(
        [
            {"model": "m", "timestamp": "2026-03-02T01:30:00+02:00", "cost_usd": 1.0},
            {
                "model": "m",
                "timestamp": dt.datetime(2026, 3, 2, 0, 30, tzinfo=UTC),
                "cost_usd": 2.0,
            },
        ]
    )
    assert df["timestamp"].iloc[0] == pd.Timestamp("2026-03-01T23:30:00", tz="UTC")
    by_day = cost_by_day(df)
    assert list(by_day.index) == [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
    assert by_day["cost_usd"].tolist() == [1.0, 2.0]


def test_a_million_rows_are_built_by_columns() -> None:
    # The per-row work is a few list comprehensions; 100k rows must take well under a second
    # or two even on a slow machine (1M rows: a few seconds).
    base = dt.datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "session_id": f"s{i % 7}",
            "turn": i % 5,
            "model": ("gpt-4o", "demo")[i % 2],
            "provider": "openai",
            "prompt_tokens": 1_000,
            "completion_tokens": 10,
            "total_tokens": 1_010,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "cost_usd": None if i % 2 else 0.01,
            "latency_ms": None,
            "ttft_ms": None,
            "timestamp": (base + dt.timedelta(minutes=i)).isoformat(),
            "tool_names": [],
            "provenance": None,
            "estimated": False,
        }
        for i in range(100_000)
    ]
    df = records_frame(rows)  # its speed is measured in bench/bench_costs.py
    assert len(df) == 100_000 and dtypes(df) == COLUMNS
    assert df["cost_usd"].isna().sum() == 50_000
    assert cost_by_model(df).loc["demo", "unpriced_calls"] == 50_000


# --- groupings ---------------------------------------------------------------------------


def test_cost_by_model(records: list[LlmCostRecord]) -> None:
    by_model = cost_by_model(records_frame(records))
    assert dtypes(by_model) == GROUP_COLUMNS
    assert list(by_model.columns) == list(GROUP_COLUMNS)
    assert by_model.index.name == "model"
    # Most expensive first; a model with no known cost last, its cost <NA> (not 0).
    assert list(by_model.index) == ["claude-x", "gpt-4o", "demo"]
    claude = by_model.loc["claude-x"]
    assert claude["calls"] == 2 and claude["unpriced_calls"] == 1
    assert claude["cost_usd"] == 2.00  # the known part of a mixed group
    assert claude["input_tokens"] == 6_000 and claude["cache_write_tokens"] == 300
    gpt = by_model.loc["gpt-4o"]
    assert gpt["cost_usd"] == pytest.approx(0.75) and gpt["unpriced_calls"] == 0
    assert gpt["cache_read_tokens"] == 200 and gpt["total_tokens"] == 2_200
    demo = by_model.loc["demo"]
    assert demo["cost_usd"] is pd.NA and demo["calls"] == 2 and demo["unpriced_calls"] == 2


def test_cost_by_session(records: list[LlmCostRecord]) -> None:
    by_session = cost_by_session(records_frame(records))
    assert dtypes(by_session) == GROUP_COLUMNS
    assert by_session.index.name == "session_id"
    assert list(by_session.index) == ["s2", "s1", "s3"]
    assert by_session["calls"].tolist() == [2, 3, 1]
    assert by_session["unpriced_calls"].tolist() == [1, 1, 1]
    assert by_session.loc["s1", "cost_usd"] == pytest.approx(0.75)
    assert by_session.loc["s3", "cost_usd"] is pd.NA


def test_cost_by_day_splits_at_utc_midnight(records: list[LlmCostRecord]) -> None:
    by_day = cost_by_day(records_frame(records))
    assert dtypes(by_day) == GROUP_COLUMNS
    assert by_day.index.name == "date"
    assert list(by_day.index) == [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
    assert by_day["calls"].tolist() == [2, 4]
    assert by_day["cost_usd"].tolist() == [pytest.approx(0.50), pytest.approx(2.25)]
    assert by_day["unpriced_calls"].tolist() == [1, 2]


def test_groupings_accept_records_directly(records: list[LlmCostRecord]) -> None:
    pd.testing.assert_frame_equal(cost_by_model(records), cost_by_model(records_frame(records)))


# --- summary and filters -----------------------------------------------------------------


def test_summarize(records: list[LlmCostRecord]) -> None:
    summary = summarize(records_frame(records))
    assert summary.total_cost_usd == pytest.approx(2.75)
    assert summary.call_count == 6 and summary.unpriced_calls == 3
    assert summary.total_prompt_tokens == 10_000
    assert summary.total_completion_tokens == 600
    assert summary.total_tokens == 10_600
    assert summary.total_cache_read_tokens == 200 and summary.total_cache_write_tokens == 300
    assert [m.model for m in summary.by_model] == ["claude-x", "gpt-4o", "demo"]
    demo = summary.by_model[2]
    assert demo.cost_usd is None and demo.call_count == 2 and demo.prompt_tokens == 2_000
    assert [d.date for d in summary.by_day] == ["2026-03-01", "2026-03-02"]
    assert summary.by_day[0].cost_usd == pytest.approx(0.5)
    assert summary.by_day[1].call_count == 4 and summary.by_day[1].total_tokens == 8_400
    assert CostSummary.model_validate_json(summary.model_dump_json()) == summary


def test_summary_with_no_known_cost_is_none() -> None:
    only_scripted = [rec("s", "demo", None, DAY2_NOON, provider="scripted")]
    summary = summarize(records_frame(only_scripted))
    assert summary.total_cost_usd is None and summary.unpriced_calls == 1
    assert summary.by_model[0].cost_usd is None and summary.by_day[0].cost_usd is None


def test_aggregate_date_filters_are_inclusive(records: list[LlmCostRecord]) -> None:
    df = records_frame(records)
    day1 = aggregate(df, start_date="2026-03-01", end_date="2026-03-01")
    assert day1.call_count == 2 and day1.total_cost_usd == pytest.approx(0.5)
    day2 = aggregate(df, start_date="2026-03-02", end_date="2026-03-02")
    assert day2.call_count == 4 and day2.total_cost_usd == pytest.approx(2.25)
    assert aggregate(df, start_date="2026-03-01", end_date="2026-03-02").call_count == 6
    assert aggregate(df, start_date="2026-03-02").call_count == 4
    assert aggregate(df, end_date="2026-03-01").call_count == 2
    assert aggregate(df, start_date=dt.date(2026, 3, 2)).call_count == 4
    empty = aggregate(df, start_date="2026-03-03")
    assert empty.call_count == 0 and empty.total_cost_usd is None


def test_aggregate_by_model_and_session(records: list[LlmCostRecord]) -> None:
    df = records_frame(records)
    gpt = aggregate(df, model="gpt-4o")
    assert gpt.call_count == 2 and gpt.total_cost_usd == pytest.approx(0.75)
    assert [m.model for m in gpt.by_model] == ["gpt-4o"]
    assert aggregate(df, model="gpt-4o", end_date="2026-03-01").call_count == 1
    s2 = aggregate(df, session_id="s2")
    assert s2.call_count == 2 and s2.unpriced_calls == 1 and s2.total_cost_usd == 2.0
    assert aggregate(df, model="nope").call_count == 0
    spec_name = aggregate_cost_records(records, "claude-x", "2026-03-02", "2026-03-02")
    assert spec_name == aggregate(
        df, model="claude-x", start_date="2026-03-02", end_date="2026-03-02"
    )


@pytest.mark.parametrize("bad", ["2026/03/01", "2026-3-1", "yesterday", "2026-02-30"])
def test_aggregate_rejects_bad_dates(records: list[LlmCostRecord], bad: str) -> None:
    with pytest.raises(ValueError, match=r"start_date must be a 'YYYY-MM-DD' string"):
        aggregate(records_frame(records), start_date=bad)


def test_aggregate_datetime_bounds_use_their_utc_day(records: list[LlmCostRecord]) -> None:
    # 2026-03-02 01:00 at +02:00 is still 2026-03-01 in UTC.
    plus_two = dt.timezone(dt.timedelta(hours=2))
    bound = dt.datetime(2026, 3, 2, 1, 0, tzinfo=plus_two)
    assert aggregate(records_frame(records), end_date=bound).call_count == 2
