"""pandas frames over the usage and cost ledger (one row per LLM call).

``records_frame`` turns :class:`~a3s_notebook.engine.telemetry.LlmCostRecord` objects (or
their JSON dicts) into a typed DataFrame; ``cost_by_model``, ``cost_by_day`` and
``cost_by_session`` group it; ``summarize`` and ``aggregate`` give the spec's
``CostSummary``. An unknown cost is ``<NA>``, never 0.

Over a folder of session logs: ``load_sessions`` reads every frame (writing nothing);
``load_calls`` reads the calls frame from the cost ledger (Parquet files derived from the
logs, rebuilt when a log changes; see :mod:`a3s_notebook.analysis.ledger`); ``query`` runs
SQL (DuckDB) over the tables ``sessions``, ``calls``, ``messages``, ``tool_calls`` and
``confirmations``.
"""

from __future__ import annotations

from a3s_notebook.analysis.costs import (
    COLUMNS,
    CostSummary,
    DayCostBreakdown,
    ModelCostBreakdown,
    aggregate,
    aggregate_cost_records,
    cost_by_day,
    cost_by_model,
    cost_by_session,
    records_frame,
    summarize,
)
from a3s_notebook.analysis.ledger import load_calls
from a3s_notebook.analysis.query import TABLES, QueryError, query
from a3s_notebook.analysis.sessions import SessionFrames, load_sessions

__all__ = [
    "COLUMNS",
    "CostSummary",
    "DayCostBreakdown",
    "ModelCostBreakdown",
    "QueryError",
    "TABLES",
    "aggregate",
    "aggregate_cost_records",
    "cost_by_day",
    "cost_by_model",
    "cost_by_session",
    "SessionFrames",
    "load_calls",
    "load_sessions",
    "query",
    "records_frame",
    "summarize",
]
