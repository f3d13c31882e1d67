"""MemoryTable: the agent's memories, most relevant first, live from the memory events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from a3s_notebook.widgets._base import SessionWidget
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._text import clip, md_escape

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session

__all__ = ["MemoryTable"]

MAX_ROWS = 50
"""Memories shown (the most relevant); ``total`` counts them all."""

_REFRESH = frozenset({"memory_stored", "memory_recalled", "memory_cleared", "config_changed"})


def memory_rows(session: Session, limit: int = MAX_ROWS) -> tuple[list[dict[str, Any]], int]:
    """The table's rows (most relevant first, at most ``limit``) and how many there are."""
    memory = session.memory
    if memory is None:
        return [], 0
    frame = memory.frame()
    rows = [
        {
            "id": str(r["id"]),
            "content": clip(str(r["content"]), 500),
            "type": str(r["type"]),
            "importance": float(r["importance"]),
            "relevance": float(r["relevance"]),
            "tags": [t for t in str(r["tags"]).split(", ") if t],
            "access_count": int(r["access_count"]),
        }
        for r in frame.head(limit).to_dict("records")
    ]
    return rows, len(frame)


class MemoryTable(SessionWidget):
    """The agent's memories (content, type, importance, relevance, times recalled),
    refreshed on every ``memory_*`` event. Hidden while the session's memory is off."""

    _esm = asset("memory_table")
    _events: ClassVar[frozenset[str] | None] = _REFRESH

    memories = traitlets.List(traitlets.Dict()).tag(sync=True)
    """``[{id, content, type, importance, relevance, tags, access_count}]``"""
    total = traitlets.Int(0).tag(sync=True)
    store = traitlets.Unicode("").tag(sync=True)
    """Where the memories are kept (the file, or "this process")."""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        if session is None:
            self.layout.display = "none"  # shown once a session with memory is attached

    def _reset(self, session: Session) -> None:
        self._refresh(session)

    def _handle_event(self, event: AgentEvent) -> None:
        if event.type in _REFRESH and self._session is not None:
            self._refresh(self._session)

    def _refresh(self, session: Session) -> None:
        rows, total = memory_rows(session)
        memory = session.memory
        store = getattr(memory.store, "path", None) if memory is not None else None
        with self.hold_sync():
            self.memories = rows
            self.total = total
            self.store = "" if memory is None else str(store or "this process only")
        self.layout.display = None if memory is not None else "none"

    def _markdown(self) -> str:
        if self._session is None or self._session.memory is None:
            return "memories: off"
        if not self.memories:
            return "memories: none yet"
        lines = [
            f"**Memories** ({self.total} stored)",
            "",
            "| memory | type | importance | relevance | recalled |",
            "|---|---|---|---|---|",
        ]
        for m in self.memories:
            lines.append(
                f"| {md_escape(clip(m['content'], 120))} | {m['type']} | "
                f"{m['importance']:.2f} | {m['relevance']:.2f} | {m['access_count']} |"
            )
        return "\n".join(lines)
