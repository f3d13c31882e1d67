"""The cost ledger of a session: one priced record per LLM call, running totals, the budget.

The records themselves live in the session's state (``SessionData.cost_records``, changed
only by ``usage_recorded`` events); :class:`LedgerTotals` keeps their sums up to date by
adding only the records it has not seen, so the budget check before each LLM call does
not rescan the whole ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from a3s_notebook.engine.config import SessionConfig
from a3s_notebook.engine.errors import BudgetExceededError
from a3s_notebook.engine.events import AgentEvent, BudgetExceeded
from a3s_notebook.engine.telemetry import LlmCostRecord
from a3s_notebook.llm.types import TokenUsage

__all__ = ["LedgerTotals", "build_cost_record", "check_budget"]

logger = logging.getLogger(__name__)


def build_cost_record(
    session_id: str,
    model_name: str,
    usage: TokenUsage,
    *,
    turn: int | None,
    latency_ms: float | None,
    ttft_ms: float | None,
    tool_names: list[str],
    provenance: dict[str, Any] | None,
    purpose: str,
) -> LlmCostRecord:
    """The ledger row for one call of ``model_name`` (``provider/model``), priced when the
    price data knows the model (``cost_usd`` None otherwise)."""
    from a3s_notebook.llm.pricing import price_call

    provider, _, model = model_name.partition("/")
    if not model:
        provider, model = "", model_name
    try:
        cost = price_call(
            model,
            provider,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cache_read_tokens=usage.cache_read_tokens or 0,
            cache_write_tokens=usage.cache_write_tokens or 0,
        )
    except (ValueError, TypeError) as exc:
        # inconsistent usage from a provider: record the call, unpriced, and say why
        logger.warning("session %s: call not priced: %s", session_id, exc)
        cost = None
    return LlmCostRecord(
        session_id=session_id,
        turn=turn,
        model=model,
        provider=provider,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
        cache_read_tokens=usage.cache_read_tokens or 0,
        cache_write_tokens=usage.cache_write_tokens or 0,
        reasoning_tokens=usage.reasoning_tokens or 0,
        cost_usd=cost,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        tool_names=tool_names,
        provenance=provenance,
        estimated=usage.estimated,
        purpose=purpose,
    )


def _usage_of(r: LlmCostRecord) -> TokenUsage:
    return TokenUsage(
        prompt_tokens=r.prompt_tokens,
        completion_tokens=r.completion_tokens,
        total_tokens=r.total_tokens,
        cache_read_tokens=r.cache_read_tokens,
        cache_write_tokens=r.cache_write_tokens,
        reasoning_tokens=r.reasoning_tokens,
        estimated=r.estimated,
    )


class LedgerTotals:
    """Tokens and USD over a ledger, kept up to date incrementally.

    ``records`` returns the live ledger list. Records are only appended to it; when the
    list is replaced (a restore from a snapshot) or shrinks, the sums are rebuilt.
    """

    def __init__(self, records: Callable[[], list[LlmCostRecord]]) -> None:
        self._records = records
        self._seen: list[LlmCostRecord] | None = None
        self._count = 0
        self._usage = TokenUsage()
        self._cost: float | None = None

    def _catch_up(self) -> None:
        records = self._records()
        if records is not self._seen or len(records) < self._count:
            self._seen, self._count = records, 0
            self._usage, self._cost = TokenUsage(), None
        for r in records[self._count :]:
            self._usage = self._usage + _usage_of(r)
            if r.cost_usd is not None:
                self._cost = r.cost_usd if self._cost is None else self._cost + r.cost_usd
        self._count = len(records)

    @property
    def usage(self) -> TokenUsage:
        """Tokens over all calls."""
        self._catch_up()
        return self._usage

    @property
    def cost(self) -> float | None:
        """USD over all priced calls; None if no call has a price."""
        self._catch_up()
        return self._cost


def check_budget(
    session_id: str,
    config: SessionConfig,
    totals: LedgerTotals,
    emit: Callable[[AgentEvent], None],
) -> None:
    """Raise :class:`BudgetExceededError` (after a ``budget_exceeded`` event) when the
    session spent its ``cost_limit_usd`` or used its ``token_limit``."""
    cost_limit = config.cost_limit_usd
    if cost_limit is not None:
        spent = totals.cost or 0.0
        if spent >= cost_limit:
            _stop(session_id, emit, "cost_limit_usd", cost_limit, spent, f"${spent:.6f} spent")
    token_limit = config.token_limit
    if token_limit is not None:
        used = totals.usage.total_tokens
        if used >= token_limit:
            _stop(session_id, emit, "token_limit", token_limit, used, f"{used} tokens used")


def _stop(
    session_id: str,
    emit: Callable[[AgentEvent], None],
    limit: str,
    value: float,
    used: float,
    what: str,
) -> None:
    message = (
        f"Budget reached for session {session_id}: {what}, {limit} is {value}. No request was "
        f"sent. Raise it to go on: session.update_config({limit}=...)."
    )
    emit(BudgetExceeded(limit=limit, limit_value=value, used=used, message=message))
    raise BudgetExceededError(message, limit=limit, limit_value=value, used=used)
