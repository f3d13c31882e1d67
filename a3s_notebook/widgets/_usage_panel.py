"""UsagePanel: tokens and cost so far, per model, last call latency, budget left."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import traitlets

from a3s_notebook.engine.telemetry import NO_PRICE_SCRIPTED
from a3s_notebook.widgets._base import SessionWidget
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._text import cost, duration, num

if TYPE_CHECKING:
    from a3s_notebook.engine.config import SessionConfig
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session
    from a3s_notebook.engine.telemetry import LlmCostRecord

__all__ = ["UsagePanel", "usage_summary"]

SCRIPTED = "scripted"


def _label(provider: str, model: str) -> str:
    return f"{provider}/{model}" if provider else model


def _cost_sum(costs: list[float | None]) -> tuple[float | None, int]:
    """Sum of known costs (None if none is known) and how many are unknown."""
    known = [c for c in costs if c is not None]
    return (sum(known) if known else None), len(costs) - len(known)


def usage_summary(
    records: list[LlmCostRecord],
    config: SessionConfig | None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """The UsagePanel's state from the cost ledger. A cost is None when no call has a
    price (never 0); calls without a price are counted, so a partial sum says so.
    ``subagents`` sums the calls of the sub-agents of ``session_id`` (rows of other
    sessions rolled up into its ledger); the totals include them."""
    models: dict[tuple[str, str], list[LlmCostRecord]] = {}
    for r in records:
        models.setdefault((r.provider, r.model), []).append(r)
    total_cost, unpriced = _cost_sum([r.cost_usd for r in records])
    per_model = []
    for (provider, model), rs in models.items():
        m_cost, m_unpriced = _cost_sum([r.cost_usd for r in rs])
        per_model.append(
            {
                "label": _label(provider, model),
                "scripted": provider == SCRIPTED,
                "calls": len(rs),
                "prompt_tokens": sum(r.prompt_tokens for r in rs),
                "completion_tokens": sum(r.completion_tokens for r in rs),
                "total_tokens": sum(r.total_tokens for r in rs),
                "cache_read_tokens": sum(r.cache_read_tokens for r in rs),
                "cost_usd": m_cost,
                "unpriced_calls": m_unpriced,
                "estimated": any(r.estimated for r in rs),
            }
        )
    total_tokens = sum(r.total_tokens for r in records)
    last = records[-1] if records else None
    budget: dict[str, Any] = {}
    if config is not None and config.cost_limit_usd is not None:
        budget["cost_limit_usd"] = config.cost_limit_usd
        # the engine stops on known spend, so that is what "left" is measured against
        budget["cost_left_usd"] = config.cost_limit_usd - (total_cost or 0.0)
    if config is not None and config.token_limit is not None:
        budget["token_limit"] = config.token_limit
        budget["tokens_left"] = config.token_limit - total_tokens
    return {
        "calls": len(records),
        "prompt_tokens": sum(r.prompt_tokens for r in records),
        "completion_tokens": sum(r.completion_tokens for r in records),
        "total_tokens": total_tokens,
        "cache_read_tokens": sum(r.cache_read_tokens for r in records),
        "cost_usd": total_cost,
        "unpriced_calls": unpriced,
        "estimated": any(r.estimated for r in records),
        "scripted": bool(records) and all(r.provider == SCRIPTED for r in records),
        "models": per_model,
        "last": (
            {
                "label": _label(last.provider, last.model),
                "latency_ms": last.latency_ms,
                "ttft_ms": last.ttft_ms,
                "prompt_tokens": last.prompt_tokens,
                "completion_tokens": last.completion_tokens,
            }
            if last is not None
            else None
        ),
        "budget": budget or None,
        "subagents": _subagents(records, session_id),
    }


def _subagents(records: list[LlmCostRecord], session_id: str | None) -> dict[str, Any] | None:
    if session_id is None:
        return None
    rows = [r for r in records if r.parent_id is not None and r.session_id != session_id]
    if not rows:
        return None
    c, unpriced = _cost_sum([r.cost_usd for r in rows])
    return {
        "sessions": len({r.session_id for r in rows}),
        "calls": len(rows),
        "total_tokens": sum(r.total_tokens for r in rows),
        "cost_usd": c,
        "unpriced_calls": unpriced,
    }


def _cost_text(c: float | None, unpriced: int, calls: int, scripted: bool) -> str:
    if calls == 0:
        return "-"
    if c is None:
        return NO_PRICE_SCRIPTED if scripted else "unknown"
    if unpriced:
        return f"≥ {cost(c)} ({unpriced} calls unpriced)"
    return cost(c)


class UsagePanel(SessionWidget):
    """Tokens and cost so far (per model), the last call's latency, and the budget left
    when ``cost_limit_usd`` or ``token_limit`` is set. Unknown prices show as unknown,
    never as $0; scripted models are labelled as such."""

    _esm = asset("usage_panel")

    usage = traitlets.Dict().tag(sync=True)
    """See :func:`usage_summary`."""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        if session is None:
            self.usage = usage_summary([], None)

    def _refresh(self) -> None:
        assert self._session is not None
        self.usage = usage_summary(
            list(self._session.cost_records), self._session.config, self._session.id
        )

    def _reset(self, session: Session) -> None:
        self._refresh()

    def _handle_event(self, event: AgentEvent) -> None:
        if self._session is not None and event.type in ("usage_recorded", "agent_end"):
            self._refresh()

    def _markdown(self) -> str:
        u = self.usage
        if not u or not u.get("calls"):
            return "usage: no LLM calls yet"
        est = " (estimated)" if u["estimated"] else ""
        text = (
            f"usage: {num(u['total_tokens'])} tokens{est} ({num(u['prompt_tokens'])} in, "
            f"{num(u['completion_tokens'])} out) · {u['calls']} calls · cost "
            f"{_cost_text(u['cost_usd'], u['unpriced_calls'], u['calls'], u['scripted'])}"
        )
        if u.get("last"):
            text += f" · last call {duration(u['last']['latency_ms'])}"
        b = u.get("budget") or {}
        if "cost_left_usd" in b:
            left = cost(max(0.0, b["cost_left_usd"]))
            text += f" · budget left {left} of {cost(b['cost_limit_usd'])}"
        if "tokens_left" in b:
            text += f" · {num(max(0, b['tokens_left']))} of {num(b['token_limit'])} tokens left"
        sa = u.get("subagents")
        if sa:
            text += (
                f" · sub-agents: {sa['sessions']} ({sa['calls']} calls, "
                f"{num(sa['total_tokens'])} tokens, "
                f"{_cost_text(sa['cost_usd'], sa['unpriced_calls'], sa['calls'], u['scripted'])})"
            )
        if len(u["models"]) > 1:
            for m in u["models"]:
                text += (
                    f"\n- {m['label']}: {m['calls']} calls, {num(m['total_tokens'])} tokens, "
                    f"{_cost_text(m['cost_usd'], m['unpriced_calls'], m['calls'], m['scripted'])}"
                )
        return text
