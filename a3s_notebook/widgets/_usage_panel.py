"""UsagePanel: tokens and cost so far, per model, last call latency, budget left."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

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

__all__ = ["UsagePanel", "UsageTotals", "usage_summary"]

SCRIPTED = "scripted"


def _label(provider: str, model: str) -> str:
    return f"{provider}/{model}" if provider else model


class _ModelSums:
    """Sums over the calls of one model (or of all of them)."""

    __slots__ = (
        "cache_read_tokens",
        "calls",
        "completion_tokens",
        "cost_usd",
        "estimated",
        "prompt_tokens",
        "total_tokens",
        "unpriced_calls",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.total_tokens = 0
        self.cache_read_tokens = 0
        self.cost_usd: float | None = None
        self.unpriced_calls = 0
        self.estimated = False

    def add(self, r: LlmCostRecord) -> None:
        self.calls += 1
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.total_tokens += r.total_tokens
        self.cache_read_tokens += r.cache_read_tokens
        if r.cost_usd is None:
            self.unpriced_calls += 1
        else:
            # the same additions, in the same order, as summing the list: the same float
            self.cost_usd = r.cost_usd if self.cost_usd is None else self.cost_usd + r.cost_usd
        self.estimated = self.estimated or bool(r.estimated)

    def fields(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cost_usd": self.cost_usd,
            "unpriced_calls": self.unpriced_calls,
            "estimated": self.estimated,
        }


class UsageTotals:
    """The UsagePanel's sums over a ledger, kept up to date by adding only the records
    not seen yet, so a call costs the same at the 1,000th call as at the first.

    ``update(records)`` takes the live ledger list: records are only ever appended to it;
    a different list (a restore) or a shorter one starts the sums again.
    """

    def __init__(self, session_id: str | None = None) -> None:
        self._session_id = session_id
        self._seen: list[LlmCostRecord] | None = None
        self._clear()

    def _clear(self) -> None:
        self._all = _ModelSums()
        self._models: dict[tuple[str, str], _ModelSums] = {}
        self._unscripted = 0
        self._last: LlmCostRecord | None = None
        # sub-agents' calls rolled up into this session's ledger
        self._sub = _ModelSums()
        self._sub_sessions: set[str] = set()

    def update(self, records: list[LlmCostRecord]) -> UsageTotals:
        """Add the records appended since the last call; returns self."""
        if records is not self._seen or len(records) < self._all.calls:
            self._clear()
            self._seen = records
        for r in records[self._all.calls :]:
            self._all.add(r)
            key = (r.provider, r.model)
            sums = self._models.get(key)
            if sums is None:
                sums = self._models[key] = _ModelSums()
            sums.add(r)
            if r.provider != SCRIPTED:
                self._unscripted += 1
            if (
                self._session_id is not None
                and r.parent_id is not None
                and r.session_id is not None
                and r.session_id != self._session_id
            ):
                self._sub.add(r)
                self._sub_sessions.add(r.session_id)
            self._last = r
        return self

    def summary(self, config: SessionConfig | None) -> dict[str, Any]:
        """The panel's state (see :func:`usage_summary`); O(models), not O(calls)."""
        total = self._all
        per_model = [
            {
                "label": _label(provider, model),
                "scripted": provider == SCRIPTED,
                **sums.fields(),
            }
            for (provider, model), sums in self._models.items()
        ]
        budget: dict[str, Any] = {}
        if config is not None and config.cost_limit_usd is not None:
            budget["cost_limit_usd"] = config.cost_limit_usd
            # the engine stops on known spend, so that is what "left" is measured against
            budget["cost_left_usd"] = config.cost_limit_usd - (total.cost_usd or 0.0)
        if config is not None and config.token_limit is not None:
            budget["token_limit"] = config.token_limit
            budget["tokens_left"] = config.token_limit - total.total_tokens
        last = self._last
        return {
            **total.fields(),
            "scripted": total.calls > 0 and self._unscripted == 0,
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
            "subagents": (
                {
                    "sessions": len(self._sub_sessions),
                    "calls": self._sub.calls,
                    "total_tokens": self._sub.total_tokens,
                    "cost_usd": self._sub.cost_usd,
                    "unpriced_calls": self._sub.unpriced_calls,
                }
                if self._sub.calls
                else None
            ),
        }


def usage_summary(
    records: list[LlmCostRecord],
    config: SessionConfig | None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """The UsagePanel's state from the cost ledger. A cost is None when no call has a
    price (never 0); calls without a price are counted, so a partial sum says so.
    ``subagents`` sums the calls of the sub-agents of ``session_id`` (rows of other
    sessions rolled up into its ledger); the totals include them."""
    return UsageTotals(session_id).update(list(records)).summary(config)


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
    _events: ClassVar[frozenset[str] | None] = frozenset({"usage_recorded", "agent_end"})

    usage = traitlets.Dict().tag(sync=True)
    """See :func:`usage_summary`."""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self._totals = UsageTotals(session.id if session is not None else None)
        super().__init__(session, **kwargs)
        if session is None:
            self.usage = usage_summary([], None)

    def _refresh(self) -> None:
        # the sums are brought up to date when the value is applied (at most about 20
        # times a second during a run): they add only the records not seen yet
        self._set_later("usage", type(self)._value)

    def _value(self) -> dict[str, Any]:
        session = self._session
        assert session is not None  # a detach applies what waits before it lets go
        return self._totals.update(session.cost_records).summary(session.config)

    def _reset(self, session: Session) -> None:
        # another session's ledger may be the same length
        self._totals = UsageTotals(session.id)
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
