"""ContextBar: how full the context window is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from a3s_notebook.widgets._base import SessionWidget
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._text import bar, num, pct

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session

__all__ = ["ContextBar"]


class ContextBar(SessionWidget):
    """Used / max context tokens and percent, in colour bands, with a mark at the
    auto-compaction threshold and the turn count. It moves after every LLM call
    (``context_usage`` events) and counts compactions."""

    _esm = asset("context_bar")
    _events: ClassVar[frozenset[str] | None] = frozenset(
        {"context_usage", "context_compacted", "agent_end", "turn_end"}
    )

    context = traitlets.Dict().tag(sync=True)
    """``{used_tokens, max_tokens, percent (0..1), turns, threshold, auto_compact,
    compactions, last_compaction}``"""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self._compactions = 0
        self._last_compaction: dict[str, Any] | None = None
        super().__init__(session, **kwargs)
        if session is None:
            self.context = self._state(0, 0, 0.0, 0)

    def _state(self, used: int, max_tokens: int, percent: float, turns: int) -> dict[str, Any]:
        config = self._session.config if self._session is not None else None
        return {
            "used_tokens": used,
            "max_tokens": max_tokens,
            "percent": percent,
            "turns": turns,
            "threshold": config.auto_compact_threshold if config is not None else 0.8,
            "auto_compact": bool(config.auto_compact) if config is not None else False,
            "compactions": self._compactions,
            "last_compaction": self._last_compaction,
        }

    def _from_session(self) -> None:
        assert self._session is not None
        cu = self._session.context_usage
        self._set_soon("context", self._state(cu.used_tokens, cu.max_tokens, cu.percent, cu.turns))

    def _reset(self, session: Session) -> None:
        self._compactions = 0
        self._last_compaction = None
        self._from_session()

    def _handle_event(self, event: AgentEvent) -> None:
        if event.type == "context_usage":
            self._set_soon(
                "context",
                self._state(event.used_tokens, event.max_tokens, event.percent, event.turns),
            )
        elif event.type == "context_compacted":
            self._compactions += 1
            self._last_compaction = {
                "before_messages": event.before_messages,
                "after_messages": event.after_messages,
                "percent_before": event.percent_before,
            }
            self._from_session()
        elif event.type in ("agent_end", "turn_end") and self._session is not None:
            # the turn count (messages in the context) moves without a usage event
            self._from_session()

    def _markdown(self) -> str:
        c = self.context
        if not c:
            return "context: -"
        auto = f"auto-compact at {pct(c['threshold'])}" if c["auto_compact"] else "auto-compact off"
        text = (
            f"context: {num(c['used_tokens'])} / {num(c['max_tokens'])} tokens "
            f"({pct(c['percent'])}) {bar(c['percent'])} · {c['turns']} messages · {auto}"
        )
        if c["compactions"]:
            text += f" · compacted {c['compactions']}x"
        return text
