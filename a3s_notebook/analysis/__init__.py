"""pandas frames over the usage and cost ledger (one row per LLM call).

``records_frame`` turns :class:`~a3s_notebook.engine.telemetry.LlmCostRecord` objects (or
their JSON dicts) into a typed DataFrame; ``cost_by_model``, ``cost_by_day`` and
``cost_by_session`` group it; ``summarize`` and ``aggregate`` give the spec's
``CostSummary``. An unknown cost is ``<NA>``, never 0.
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
from a3s_notebook.analysis.sessions import SessionFrames, load_sessions

__all__ = [
    "COLUMNS",
    "CostSummary",
    "DayCostBreakdown",
    "ModelCostBreakdown",
    "aggregate",
    "aggregate_cost_records",
    "cost_by_day",
    "cost_by_model",
    "cost_by_session",
    "SessionFrames",
    "load_sessions",
    "records_frame",
    "summarize",
]
