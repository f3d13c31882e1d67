"""SessionView: the header and every component, as one display (what ``%%ask`` shows)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import ipywidgets
import traitlets

from a3s_notebook.engine.telemetry import is_scripted_model
from a3s_notebook.widgets._approvals import ApprovalCards
from a3s_notebook.widgets._base import SessionWidget, with_text
from a3s_notebook.widgets._context_bar import ContextBar
from a3s_notebook.widgets._event_stream import EventStream
from a3s_notebook.widgets._memory_table import MemoryTable
from a3s_notebook.widgets._static import asset
from a3s_notebook.widgets._status import IDLE, STATUS_EVENTS, status_text
from a3s_notebook.widgets._task_table import TaskTable
from a3s_notebook.widgets._text import md_escape
from a3s_notebook.widgets._usage_panel import UsagePanel

if TYPE_CHECKING:
    from IPython.display import DisplayHandle

    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session, Subscriber

__all__ = ["SessionHeader", "SessionView"]

logger = logging.getLogger("a3s_notebook.widgets")

REFRESH_ON = frozenset(
    {"confirmation_required", "confirmation_received", "confirmation_timeout", "agent_end"}
)
"""Events after which :meth:`SessionView.show` rewrites the display's saved text: a
notebook saved while an approval waits, or after the run, holds the work so far (not
every event: each rewrite re-sends the whole Markdown)."""


_INFO_EVENTS = frozenset({"state_changed", "goal_extracted", "goal_progress", "goal_achieved"})
"""Events that change what the header's ``info`` shows."""


def model_info(session: Session) -> dict[str, Any]:
    """The header's identity fields."""
    model = session.model_name
    return {
        "name": session.name,
        "id": session.id,
        "model": model,
        "scripted": is_scripted_model(model),
        "state": str(getattr(session.state, "value", session.state)),
        "workspace": str(session.workspace),
        "goal": _goal_info(session),
    }


def _goal_info(session: Session) -> dict[str, Any] | None:
    """The goal the header shows (goal tracking), or None."""
    goal = getattr(session, "goal", None)
    if goal is None:
        return None
    return {
        "description": goal.description,
        "progress": goal.progress,
        "achieved": goal.achieved,
    }


class SessionHeader(SessionWidget):
    """The header of a SessionView: session name, model (scripted models labelled as
    such), a state badge, and what the agent is doing."""

    _esm = asset("session_header")
    _events: ClassVar[frozenset[str] | None] = STATUS_EVENTS | _INFO_EVENTS

    info = traitlets.Dict().tag(sync=True)
    status = traitlets.Dict(IDLE).tag(sync=True)

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        if session is None:
            self.info = {
                "name": "",
                "id": "",
                "model": "",
                "scripted": False,
                "state": "Unknown",
                "workspace": "",
            }

    def _reset(self, session: Session) -> None:
        with self.hold_sync():
            self.info = model_info(session)
            self._reset_status()

    def _handle_event(self, event: AgentEvent) -> None:
        if event.type in _INFO_EVENTS and self._session is not None:
            self._set_soon("info", model_info(self._session))
        self._follow_status(event)

    def _markdown(self) -> str:
        i = self.info
        model = f"{i.get('model')}" + (" (scripted, offline)" if i.get("scripted") else "")
        text = f"**{md(i.get('name'))}** · {model} · {i.get('state')} · {status_text(self.status)}"
        goal = i.get("goal")
        if goal:
            done = (
                "achieved" if goal.get("achieved") else f"{round(goal.get('progress', 0) * 100)}%"
            )
            text += f" · goal: {md(goal.get('description'))} ({done})"
        return text


def md(text: Any) -> str:
    """Escape a name for Markdown."""
    return md_escape(str(text))


class SessionView(ipywidgets.VBox):  # type: ignore[misc]
    """Everything about a session at a glance: a header (name, model, state), the
    context bar, the event stream, the approval cards, the task table, the usage
    panel and the memories, each following the session's events.

    ``SessionView(session)`` displays it; ``.attach(other)`` re-attaches every part.
    The parts are available as ``.header``, ``.context_widget``, ``.events_widget``,
    ``.approvals_widget``, ``.tasks_widget``, ``.usage_widget`` and ``.memory_widget``
    (the memories, hidden while the session's memory is off).
    """

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self.header = SessionHeader()
        self.context_widget = ContextBar()
        self.events_widget = EventStream()
        self.approvals_widget = ApprovalCards()
        self.tasks_widget = TaskTable()
        self.usage_widget = UsagePanel()
        self.memory_widget = MemoryTable()
        bottom = ipywidgets.HBox(
            [self.tasks_widget, self.usage_widget],
            layout=ipywidgets.Layout(flex_flow="row wrap", align_items="stretch"),
        )
        bottom.add_class("a3s-session-row")
        super().__init__(
            children=[
                self.header,
                self.context_widget,
                self.events_widget,
                self.approvals_widget,
                bottom,
                self.memory_widget,
            ],
            **kwargs,
        )
        self.add_class("a3s-session-view")
        self._session: Session | None = None
        self._handles: list[DisplayHandle] = []
        self._unsubscribe: Callable[[], None] | None = None
        # the parts' handlers, in subscription order, and per event type the ones that want
        # it: the view subscribes once and hands an event only to those (a part that does
        # not want it would cost a call and a lookup, for each of the seven parts)
        self._receivers: list[tuple[SessionWidget, Subscriber]] = []
        self._routes: dict[str, tuple[Subscriber, ...]] = {}
        if session is not None:
            self.attach(session)

    @property
    def parts(self) -> tuple[SessionWidget, ...]:
        """Every component, top to bottom."""
        return (
            self.header,
            self.context_widget,
            self.events_widget,
            self.approvals_widget,
            self.tasks_widget,
            self.usage_widget,
            self.memory_widget,
        )

    @property
    def session(self) -> Session | None:
        """The session shown, or None."""
        return self._session

    def attach(self, session: Session) -> SessionView:
        """Show ``session`` in every part (detaching from the previous one)."""
        self._stop_refreshing()
        for part in self.parts:
            part._attach(session, functools.partial(self._route, part))
        self._session = session
        self._unsubscribe = session.subscribe(self._on_event)
        return self

    def _route(self, part: SessionWidget, callback: Subscriber) -> Callable[[], None]:
        """Deliver the events ``part`` wants to ``callback``; returns the undo (what a
        part's ``detach`` or a later ``attach`` of its own calls)."""
        entry = (part, callback)
        self._receivers = [*self._receivers, entry]
        self._routes = {}  # a new dict: a dispatch under way keeps the old routes

        def unroute() -> None:
            if entry in self._receivers:
                self._receivers = [e for e in self._receivers if e is not entry]
                self._routes = {}

        return unroute

    def _targets(self, event_type: str) -> tuple[Subscriber, ...]:
        routes = self._routes
        targets = tuple(cb for part, cb in self._receivers if part._wants(event_type))
        routes[event_type] = targets
        return targets

    def detach(self) -> None:
        """Stop following the session in every part."""
        self._stop_refreshing()
        for part in self.parts:
            part.detach()
        self._session = None

    def show(self) -> DisplayHandle:
        """Display the view and keep the text saved with it current.

        A widget's text/Markdown form (what a saved notebook shows on GitHub, nbviewer
        or in an export, where no kernel runs the widget) is written when it is
        displayed, when the run has not started. This display is rewritten in place
        (``update_display``) when an approval is asked or settled and when a run ends,
        so it holds the transcript, the decisions and the cost. ``refresh()`` rewrites
        it on demand. Returns the display handle.
        """
        from IPython.display import display

        handle: DisplayHandle | None = display(self, display_id=True)  # type: ignore[no-untyped-call]
        if handle is None:  # not in IPython: nothing to keep current
            raise RuntimeError("SessionView.show() needs IPython (a kernel or a terminal)")
        self._handles.append(handle)
        return handle

    def refresh(self) -> None:
        """Rewrite every display made by :meth:`show` with the view's current text."""
        for handle in list(self._handles):
            handle.update(self)  # type: ignore[no-untyped-call]

    def _on_event(self, event: AgentEvent) -> None:
        t = event.type
        targets = self._routes.get(t)
        if targets is None:
            targets = self._targets(t)
        for callback in targets:
            try:
                callback(event)
            except Exception:
                # what the session does for each subscriber: one part must not stop the others
                logger.exception("SessionView: a part failed on %s", t)
        # after the parts, so a refresh sees the event already applied
        if t in REFRESH_ON and self._handles:
            try:
                self.refresh()
            except Exception:  # the display is a convenience: never break the run
                logger.exception("SessionView: could not refresh its display")

    def _stop_refreshing(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def close(self) -> None:
        """Detach and close every part."""
        self.detach()
        for part in self.parts:
            part.close()
        super().close()

    def __repr__(self) -> str:
        name = self._session.name if self._session is not None else None
        return f"SessionView(session={name!r})"

    def _repr_markdown_(self) -> str:
        parts = [
            self.header._repr_markdown_(),
            self.context_widget._repr_markdown_(),
            self.approvals_widget._repr_markdown_(),
            self.tasks_widget._repr_markdown_(),
            self.usage_widget._repr_markdown_(),
            "---",
            self.events_widget._repr_markdown_(),
        ]
        if self._session is not None and self._session.memory is not None:
            parts.insert(-2, self.memory_widget._repr_markdown_())
        return "\n\n".join(parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view plus a text/Markdown form for terminals and exported notebooks."""
        return with_text(super()._repr_mimebundle_(**kwargs), self._repr_markdown_())
