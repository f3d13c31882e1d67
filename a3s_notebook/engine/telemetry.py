"""The usage and cost ledger: one record per LLM call (spec section 7, extended).

Totals are always derived from the records, never kept as running counters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from a3s_notebook._deferred import DEFER_BUILD

__all__ = ["NO_PRICE_SCRIPTED", "LlmCostRecord", "ToolMetrics", "ToolStats", "is_scripted_model"]


NO_PRICE_SCRIPTED = "no price (scripted)"
"""What every view says for the cost of a scripted (offline) model's calls: they have no
price, which is not the same as a real model whose price is unknown (js/lib/panels.ts
costText says the same)."""


def is_scripted_model(model: str) -> bool:
    """Whether ``model`` (``"scripted/demo"``, ``"scripted:..."``) is the offline model."""
    return model.startswith(("scripted/", "scripted:")) or model == "scripted"


def _now() -> datetime:
    return datetime.now(UTC)


class LlmCostRecord(BaseModel):
    """One LLM call: who, what, how many tokens, what it cost and how long it took.

    ``cost_usd`` is ``None`` (never 0) when no price is known for the model.
    ``prompt_tokens`` counts all input tokens including cached ones; ``cache_read_tokens``
    and ``cache_write_tokens`` say how many of those hit or filled a prompt cache.
    """

    model_config = ConfigDict(extra="ignore", defer_build=DEFER_BUILD)

    session_id: str | None = None
    parent_id: str | None = None
    """The parent session of the session that made the call (a sub-agent's calls); such a
    row is also in its parent's ledger, so the parent's totals include its sub-agents."""
    turn: int | None = None
    model: str = ""
    provider: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    timestamp: datetime = Field(default_factory=_now)
    tool_names: list[str] = Field(default_factory=list)
    provenance: dict[str, Any] | None = None
    estimated: bool = False
    """True when the token counts are a characters/4 estimate (the scripted provider)."""
    purpose: str = "generate"
    """Why the call was made: ``"generate"`` (a run) or ``"compaction"`` (a summary)."""

    @property
    def input_tokens(self) -> int:
        """Alias of ``prompt_tokens`` (the name most providers use)."""
        return self.prompt_tokens

    @property
    def output_tokens(self) -> int:
        """Alias of ``completion_tokens``."""
        return self.completion_tokens


class ToolStats(BaseModel):
    """Per-tool call statistics."""

    model_config = ConfigDict(defer_build=DEFER_BUILD)

    tool_name: str
    total_calls: int = 0
    success_count: int = 0
    failure_count: int = 0
    total_duration_ms: int = 0
    min_duration_ms: int | None = None
    max_duration_ms: int = 0
    last_called_at: datetime | None = None

    @property
    def avg_duration_ms(self) -> int:
        """Integer average (total // calls), 0 before the first call."""
        return self.total_duration_ms // self.total_calls if self.total_calls else 0


class ToolMetrics:
    """Per-session tool statistics."""

    def __init__(self) -> None:
        self._stats: dict[str, ToolStats] = {}

    def record(self, tool: str, success: bool, duration_ms: int) -> None:
        """Record one call."""
        s = self._stats.setdefault(tool, ToolStats(tool_name=tool))
        s.total_calls += 1
        if success:
            s.success_count += 1
        else:
            s.failure_count += 1
        s.total_duration_ms += duration_ms
        s.min_duration_ms = (
            duration_ms if s.min_duration_ms is None else min(s.min_duration_ms, duration_ms)
        )
        s.max_duration_ms = max(s.max_duration_ms, duration_ms)
        s.last_called_at = _now()

    def stats(self) -> list[ToolStats]:
        """All tools' statistics."""
        return list(self._stats.values())

    def stats_for(self, tool: str) -> ToolStats | None:
        """One tool's statistics."""
        return self._stats.get(tool)

    @property
    def total_calls(self) -> int:
        """Calls over all tools."""
        return sum(s.total_calls for s in self._stats.values())

    @property
    def total_duration_ms(self) -> int:
        """Milliseconds over all tools."""
        return sum(s.total_duration_ms for s in self._stats.values())
