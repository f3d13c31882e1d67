"""ContextBar: how full the context window is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from a3s_notebook.engine.compaction import estimate_tokens
from a3s_notebook.widgets._base import SessionWidget
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._text import bar, num, pct

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session
    from a3s_notebook.engine.telemetry import LlmCostRecord
    from a3s_notebook.llm.types import Message

__all__ = ["ContextBar"]


class ContextBar(SessionWidget):
    """Used / max context tokens and percent, in colour bands, with a mark at the
    auto-compaction threshold and the turn count. It moves after every LLM call
    (``context_usage`` events) and counts compactions.

    A call reports its prompt tokens, which do not include its own answer nor the tool
    results that follow it. Between calls the bar therefore shows the last report plus an
    estimate of what joined the history since (the answer counted by its completion
    tokens, other messages at four characters a token) and says it is an estimate; the
    next call's report replaces the estimate with a measure.
    """

    _esm = asset("context_bar")
    _events: ClassVar[frozenset[str] | None] = frozenset(
        {
            "context_usage",
            "context_compacted",
            "agent_end",
            "turn_end",
            "usage_recorded",
            "message_added",
            "history_replaced",
        }
    )

    context = traitlets.Dict().tag(sync=True)
    """``{used_tokens, max_tokens, percent (0..1), turns, threshold, auto_compact,
    compactions, last_compaction, measured_tokens, estimated}``: ``used_tokens`` and
    ``percent`` are the figure shown; ``measured_tokens`` is what the last call reported;
    ``estimated`` is True when the figure is (partly) an estimate."""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self._compactions = 0
        self._last_compaction: dict[str, Any] | None = None
        self._measured = 0  # the last call's prompt tokens
        self._measured_estimated = False  # that report was itself an estimate (scripted)
        self._since = 0  # estimated tokens of the messages added after that call
        self._answer: int | None = None  # the last call's completion tokens, not yet added
        self._max = 0
        self._turns = 0
        super().__init__(session, **kwargs)
        if session is None:
            self._publish()

    def _publish(self) -> None:
        # during a run the trait is set at most so often, and the value built only then
        # (the run's end sets the last value)
        self._set_later("context", type(self)._value)

    def _value(self) -> dict[str, Any]:
        config = self._session.config if self._session is not None else None
        used = self._measured + self._since
        return {
            "used_tokens": used,
            "max_tokens": self._max,
            "percent": used / self._max if self._max else 0.0,
            "turns": self._turns,
            "threshold": config.auto_compact_threshold if config is not None else 0.8,
            "auto_compact": bool(config.auto_compact) if config is not None else False,
            "compactions": self._compactions,
            "last_compaction": self._last_compaction,
            "measured_tokens": self._measured,
            "estimated": self._since > 0 or self._measured_estimated,
        }

    def _measure(self, used: int) -> None:
        """A new measured figure: the estimate of what came after the old one is void."""
        self._measured = used
        self._since = 0

    def _from_session(self) -> None:
        assert self._session is not None
        cu = self._session.context_usage
        self._max, self._turns = cu.max_tokens, cu.turns
        if cu.used_tokens != self._measured:
            self._measure(cu.used_tokens)
        self._publish()

    def _reset(self, session: Session) -> None:
        self._compactions = 0
        self._last_compaction = None
        self._answer = None
        cu = session.context_usage
        self._max, self._turns = cu.max_tokens, cu.turns
        self._measure(cu.used_tokens)
        last = _last_own_call(session)
        self._measured_estimated = bool(last is not None and last.estimated)
        if last is not None and cu.used_tokens == last.prompt_tokens:
            # what joined the history after that call: its answer, then tool results...
            messages = list(session.messages)
            answers = [i for i, m in enumerate(messages) if m.role == "assistant"]
            if answers:
                self._since = last.completion_tokens + sum(
                    _tokens_of(m) for m in messages[answers[-1] + 1 :]
                )
        self._publish()

    def _handle_event(self, event: AgentEvent) -> None:
        t = event.type
        ev: Any = event  # narrowed by hand: one string compare per type, not two
        if t == "message_added":
            message = ev.message
            if message.role == "assistant" and self._answer is not None:
                self._since += self._answer  # the model's own count of its answer
                self._answer = None
            else:
                self._since += _tokens_of(message)
            self._turns += 1
            self._publish()
        elif t == "usage_recorded":
            record = ev.record
            own = record.parent_id is None or (
                self._session is not None and record.session_id == self._session.id
            )
            if record.purpose == "generate" and own:
                self._measure(record.prompt_tokens)
                self._measured_estimated = record.estimated
                self._answer = record.completion_tokens
                self._publish()
        elif t == "context_usage":
            self._max, self._turns = ev.max_tokens, ev.turns
            if ev.used_tokens != self._measured:
                # a compaction, a clear, a restore: a new figure from the engine
                self._measure(ev.used_tokens)
                self._measured_estimated = False
            self._publish()
        elif t == "context_compacted":
            self._compactions += 1
            self._last_compaction = {
                "before_messages": ev.before_messages,
                "after_messages": ev.after_messages,
                "percent_before": ev.percent_before,
            }
            self._from_session()
        elif (t == "turn_end" or t == "agent_end") and self._session is not None:
            # the turn count (messages in the context) moves without a usage event
            self._turns = self._session.context_usage.turns
            self._publish()

    def _markdown(self) -> str:
        c = self.context
        if not c:
            return "context: -"
        auto = f"auto-compact at {pct(c['threshold'])}" if c["auto_compact"] else "auto-compact off"
        approx, est = ("≈ ", " (estimated)") if c.get("estimated") else ("", "")
        text = (
            f"context: {approx}{num(c['used_tokens'])} / {num(c['max_tokens'])} tokens{est} "
            f"({pct(c['percent'])}) {bar(c['percent'])} · {c['turns']} messages · {auto}"
        )
        if c["compactions"]:
            text += f" · compacted {c['compactions']}x"
        return text


def _tokens_of(message: Message) -> int:
    """The engine's estimate of a message (characters / 4)."""
    return estimate_tokens(message.char_count())


def _last_own_call(session: Session) -> LlmCostRecord | None:
    """The session's last generating call of its own (not a sub-agent's, not a summary)."""
    for record in reversed(list(session.cost_records)):
        own = record.parent_id is None or record.session_id == session.id
        if record.purpose == "generate" and own:
            return record
    return None
