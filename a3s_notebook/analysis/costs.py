"""The cost ledger as pandas: one typed row per LLM call, groupings, and the spec's summary.

A cost that is not known (no price for the model) is ``<NA>`` in ``cost_usd`` and ``None``
in the pydantic summaries, never 0: sums skip unknown costs and stay ``<NA>`` only when no
call of the group has a price, and ``unpriced_calls`` says how many calls were skipped.
Days are UTC days.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from a3s_notebook.engine.telemetry import LlmCostRecord

__all__ = [
    "COLUMNS",
    "GROUP_COLUMNS",
    "CostSummary",
    "DayCostBreakdown",
    "ModelCostBreakdown",
    "aggregate",
    "aggregate_cost_records",
    "cost_by_day",
    "cost_by_model",
    "cost_by_session",
    "records_frame",
    "summarize",
]

COLUMNS: dict[str, str] = {
    "session_id": "string",
    "turn": "Int64",
    "timestamp": "datetime64[ns, UTC]",
    "model": "string",
    "provider": "string",
    "input_tokens": "Int64",
    "output_tokens": "Int64",
    "cache_read_tokens": "Int64",
    "cache_write_tokens": "Int64",
    "reasoning_tokens": "Int64",
    "total_tokens": "Int64",
    "cost_usd": "Float64",
    "latency_ms": "Float64",
    "ttft_ms": "Float64",
    "tool_names": "object",
    "estimated": "boolean",
    "cell": "Int64",
    "cell_id": "string",
    "purpose": "string",
}
"""The columns of :func:`records_frame`, in order, with their dtypes."""

_TOKEN_COLUMNS = [
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
]

GROUP_COLUMNS: dict[str, str] = {
    "calls": "Int64",
    **dict.fromkeys(_TOKEN_COLUMNS, "Int64"),
    "cost_usd": "Float64",
    "unpriced_calls": "Int64",
}
"""The columns of :func:`cost_by_model`, :func:`cost_by_day` and :func:`cost_by_session`."""


# --- the per-call frame -------------------------------------------------------------------


_FIELDS = (
    "session_id",
    "turn",
    "timestamp",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "tool_names",
    "estimated",
    "provenance",
    "purpose",
)
_get_fields = operator.itemgetter(*_FIELDS)
RECORD_FIELDS = _FIELDS
"""The record fields ``frame_from_columns`` reads, in order."""
get_record_fields = _get_fields
"""``get_record_fields(record)``: a tuple in ``RECORD_FIELDS`` order (KeyError if one lacks)."""
_ALIASES = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens"}


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Building a million small tuples sets off the cyclic GC again and again, and its full
    # passes walk every record; the tuples hold no cycles, so pausing it is safe and halves
    # the time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _columns(rows: list[Mapping[str, Any]]) -> dict[str, Sequence[Any]]:
    """The record fields as columns, reading each record once (it is memory-bound)."""
    try:
        with _gc_paused():
            columns = list(zip(*map(_get_fields, rows), strict=True))
    except KeyError:
        # Hand-made dicts may lack fields, or say input_tokens / output_tokens.
        out: dict[str, Sequence[Any]] = {f: [r.get(f) for r in rows] for f in _FIELDS}
        for field, alias in _ALIASES.items():
            out[field] = [v if (v := r.get(field)) is not None else r.get(alias) for r in rows]
        return out
    if not columns:
        return {f: [] for f in _FIELDS}
    return dict(zip(_FIELDS, columns, strict=True))


def _row(record: LlmCostRecord | Mapping[str, Any]) -> Mapping[str, Any]:
    # The exact-type test first: isinstance against the Mapping ABC is slow on a million rows.
    if type(record) is dict or isinstance(record, Mapping):
        return record
    # A pydantic model's __dict__ holds exactly its field values; far cheaper than model_dump().
    return vars(record)


def _int_array(values: Sequence[Any], *, fill: int | None = None) -> pd.arrays.IntegerArray:
    """An Int64 array; missing values become ``fill``, or <NA> when ``fill`` is None."""
    # Built through numpy: about 10x faster than pd.array(list, dtype="Int64") on 1M rows.
    n = len(values)
    try:
        return pd.arrays.IntegerArray(
            np.fromiter(values, dtype=np.int64, count=n), np.zeros(n, dtype=bool)
        )
    except (TypeError, ValueError, OverflowError):
        pass  # a None somewhere (or something odd)
    try:
        # None -> NaN in C; counts are far below 2**53, so the float detour is exact.
        floats = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):  # pd.NA, strings...: let pandas decide or complain
        arr = pd.array(list(values), dtype="Int64")
        return arr if fill is None else arr.fillna(fill)
    mask = np.isnan(floats)
    floats[mask] = 0 if fill is None else fill
    if fill is not None:
        mask[:] = False
    return pd.arrays.IntegerArray(floats.astype(np.int64), mask)


def _float_array(values: Sequence[Any]) -> pd.arrays.FloatingArray:
    try:
        data = np.array(values, dtype=np.float64)  # None -> NaN, in C
    except (TypeError, ValueError):
        return pd.array(list(values), dtype="Float64")
    # NaN becomes <NA>: a missing latency or cost is unknown, not a number.
    return pd.array(data, dtype="Float64")


def records_frame(records: Iterable[LlmCostRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per LLM call, with the columns and dtypes of :data:`COLUMNS`.

    ``records`` are :class:`~a3s_notebook.engine.telemetry.LlmCostRecord` objects or their
    dicts (``record.model_dump(mode="json")``, as persisted: ISO timestamps are parsed).
    ``input_tokens`` / ``output_tokens`` are the records' ``prompt_tokens`` /
    ``completion_tokens``; ``cell`` and ``cell_id`` come from ``provenance``
    (``execution_count``, ``cell_id``). Naive timestamps are taken as UTC. An unknown
    cost stays ``<NA>``.
    """
    return frame_from_columns(_columns([_row(r) for r in records]))


def frame_from_columns(cols: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """The ledger frame from columns named as the record's fields (see ``RECORD_FIELDS``).

    For readers that collect columns as they parse (``load_sessions``), so that a million
    records never exist as a million dicts at once.
    """
    timestamps = pd.to_datetime(cols["timestamp"], utc=True, format="ISO8601").as_unit("ns")
    inp = _int_array(cols["prompt_tokens"], fill=0)
    out = _int_array(cols["completion_tokens"], fill=0)
    total = _int_array(cols["total_tokens"])
    if total.isna().any():  # a hand-made dict without total_tokens
        total = pd.Series(total).fillna(pd.Series(inp) + pd.Series(out)).array
    provenance = cols["provenance"]

    data: dict[str, Any] = {
        "session_id": pd.array(cols["session_id"], dtype="string"),
        "turn": _int_array(cols["turn"]),
        "timestamp": timestamps.array,
        "model": pd.array(cols["model"], dtype="string"),
        "provider": pd.array(cols["provider"], dtype="string"),
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": _int_array(cols["cache_read_tokens"], fill=0),
        "cache_write_tokens": _int_array(cols["cache_write_tokens"], fill=0),
        "reasoning_tokens": _int_array(cols["reasoning_tokens"], fill=0),
        "total_tokens": total,
        "cost_usd": _float_array(cols["cost_usd"]),
        "latency_ms": _float_array(cols["latency_ms"]),
        "ttft_ms": _float_array(cols["ttft_ms"]),
        # The records' own lists, not copies: a million small copies cost seconds (mostly in
        # the cyclic GC they trigger), and frames are for reading.
        "tool_names": pd.Series(
            [[] if t is None else t for t in cols["tool_names"]], dtype=object
        ).array,
        "estimated": pd.array(np.array(cols["estimated"], dtype=bool), dtype="boolean"),
        "cell": _int_array([p.get("execution_count") if p else None for p in provenance]),
        "cell_id": pd.array([p.get("cell_id") if p else None for p in provenance], dtype="string"),
        # why the call was made: a run ("generate") or a compaction summary
        "purpose": pd.array([p or "generate" for p in cols["purpose"]], dtype="string"),
    }
    frame: pd.DataFrame = pd.DataFrame(data, columns=list(COLUMNS))
    return frame


def _as_frame(data: pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    return records_frame(cast("Iterable[Any]", data))


# --- groupings ----------------------------------------------------------------------------


def _grouped(df: pd.DataFrame, keys: pd.Series, name: str) -> pd.DataFrame:
    grouped = df.groupby(keys, sort=True, dropna=False)
    out: pd.DataFrame = grouped[_TOKEN_COLUMNS].sum()
    out.insert(0, "calls", grouped.size())
    # min_count=1: a group where no call has a price sums to <NA>, not to 0.
    out["cost_usd"] = grouped["cost_usd"].sum(min_count=1)
    out["unpriced_calls"] = df["cost_usd"].isna().groupby(keys, sort=True, dropna=False).sum()
    out = out.astype(GROUP_COLUMNS)
    out.index.name = name
    return out


def _by_cost(out: pd.DataFrame) -> pd.DataFrame:
    # Stable, so equal costs keep the key order groupby gave them.
    ordered: pd.DataFrame = out.sort_values(
        "cost_usd", ascending=False, na_position="last", kind="stable"
    )
    return ordered


def cost_by_model(df: pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    """Calls, tokens and cost per model, most expensive first (unknown costs last).

    Accepts a :func:`records_frame` frame or the records themselves.
    """
    df = _as_frame(df)
    return _by_cost(_grouped(df, df["model"], "model"))


def cost_by_session(df: pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    """Calls, tokens and cost per session, most expensive first (unknown costs last)."""
    df = _as_frame(df)
    return _by_cost(_grouped(df, df["session_id"], "session_id"))


def cost_by_day(df: pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    """Calls, tokens and cost per UTC day, oldest first; the index holds ``datetime.date``."""
    df = _as_frame(df)
    # Group on the vectorised day start, then turn only the few group labels into dates.
    out = _grouped(df, df["timestamp"].dt.floor("D"), "date")
    out.index = pd.Index(
        [None if pd.isna(day) else day.date() for day in out.index], dtype=object, name="date"
    )
    return out


# --- the spec's summary (section 7) -------------------------------------------------------


class ModelCostBreakdown(BaseModel):
    """One model's share of a :class:`CostSummary`."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None
    """Sum of the known costs; None when no call of this model had a price."""
    call_count: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    unpriced_calls: int = 0


class DayCostBreakdown(BaseModel):
    """One UTC day of a :class:`CostSummary`."""

    date: str
    """``YYYY-MM-DD`` (UTC); empty for calls without a timestamp."""
    cost_usd: float | None = None
    call_count: int = 0
    total_tokens: int = 0
    unpriced_calls: int = 0


class CostSummary(BaseModel):
    """Totals over a set of calls, per model (by cost, descending) and per day (ascending).

    ``total_cost_usd`` is the sum of the known costs, or None when no call had a price;
    ``unpriced_calls`` counts the calls whose cost is unknown.
    """

    total_cost_usd: float | None = None
    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0
    total_tokens: int = 0
    call_count: int = 0
    total_cache_read_tokens: int = 0
    total_cache_write_tokens: int = 0
    unpriced_calls: int = 0
    by_model: list[ModelCostBreakdown] = Field(default_factory=list)
    by_day: list[DayCostBreakdown] = Field(default_factory=list)


def _opt_float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _int(value: Any) -> int:
    return 0 if pd.isna(value) else int(value)


def summarize(df: pd.DataFrame | Iterable[Any]) -> CostSummary:
    """The spec's ``CostSummary`` of a :func:`records_frame` frame (or of the records)."""
    df = _as_frame(df)
    by_model = [
        ModelCostBreakdown(
            model="" if pd.isna(model) else str(model),
            prompt_tokens=_int(row.input_tokens),
            completion_tokens=_int(row.output_tokens),
            total_tokens=_int(row.total_tokens),
            cost_usd=_opt_float(row.cost_usd),
            call_count=_int(row.calls),
            cache_read_tokens=_int(row.cache_read_tokens),
            cache_write_tokens=_int(row.cache_write_tokens),
            unpriced_calls=_int(row.unpriced_calls),
        )
        for model, row in zip(*_index_and_rows(cost_by_model(df)), strict=True)
    ]
    by_day = [
        DayCostBreakdown(
            date="" if day is None else day.isoformat(),
            cost_usd=_opt_float(row.cost_usd),
            call_count=_int(row.calls),
            total_tokens=_int(row.total_tokens),
            unpriced_calls=_int(row.unpriced_calls),
        )
        for day, row in zip(*_index_and_rows(cost_by_day(df)), strict=True)
    ]
    return CostSummary(
        total_cost_usd=_opt_float(df["cost_usd"].sum(min_count=1)),
        total_prompt_tokens=_int(df["input_tokens"].sum()),
        total_completion_tokens=_int(df["output_tokens"].sum()),
        total_tokens=_int(df["total_tokens"].sum()),
        call_count=len(df),
        total_cache_read_tokens=_int(df["cache_read_tokens"].sum()),
        total_cache_write_tokens=_int(df["cache_write_tokens"].sum()),
        unpriced_calls=int(df["cost_usd"].isna().sum()),
        by_model=by_model,
        by_day=by_day,
    )


def _index_and_rows(frame: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    return list(frame.index), list(frame.itertuples(index=False))


def _parse_day(name: str, value: str | _dt.date | None) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        # The UTC day of that instant (naive datetimes are UTC, as in the frame).
        aware = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        value = aware.astimezone(_dt.UTC).date()
    if isinstance(value, _dt.date):
        return _utc_midnight(value)
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        day = _dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{name} must be a 'YYYY-MM-DD' string (a UTC day) or a datetime.date, got {value!r}"
        ) from None
    return _utc_midnight(day)


def _utc_midnight(day: _dt.date) -> pd.Timestamp:
    ts: pd.Timestamp = pd.Timestamp(day.year, day.month, day.day, tz="UTC")
    return ts


def aggregate(
    df: pd.DataFrame | Iterable[Any],
    model: str | None = None,
    start_date: str | _dt.date | None = None,
    end_date: str | _dt.date | None = None,
    *,
    session_id: str | None = None,
) -> CostSummary:
    """The ``CostSummary`` of the calls matching every filter given.

    ``model`` and ``session_id`` match exactly; ``start_date`` and ``end_date`` are UTC days
    (``"YYYY-MM-DD"`` or ``datetime.date``), both inclusive, as the spec's
    ``aggregate_cost_records`` compares them.
    """
    df = _as_frame(df)
    start = _parse_day("start_date", start_date)
    end = _parse_day("end_date", end_date)
    mask = pd.Series(True, index=df.index)
    if model is not None:
        mask &= (df["model"] == model).fillna(False)
    if session_id is not None:
        mask &= (df["session_id"] == session_id).fillna(False)
    if start is not None or end is not None:
        day = df["timestamp"].dt.floor("D")
        if start is not None:
            mask &= day >= start
        if end is not None:
            mask &= day <= end
    return summarize(df[mask.astype(bool)])


def aggregate_cost_records(
    records: pd.DataFrame | Iterable[Any],
    model_filter: str | None = None,
    start_date: str | _dt.date | None = None,
    end_date: str | _dt.date | None = None,
) -> CostSummary:
    """The spec's name for :func:`aggregate` (section 7), over records or a frame."""
    return aggregate(records, model_filter, start_date, end_date)
