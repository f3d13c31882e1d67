"""What every a3s widget shares: attaching to a session, guarded handlers, the error
display, the "hello" handshake and the text representation."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anywidget
import traitlets

from a3s_notebook.widgets._coalesce import LatestValues
from a3s_notebook.widgets._static import check_assets
from a3s_notebook.widgets._status import IDLE, next_status

if TYPE_CHECKING:
    from a3s_notebook.engine.events import AgentEvent
    from a3s_notebook.engine.session import Session, Subscriber

check_assets()

__all__ = ["SessionWidget", "now_ms"]

logger = logging.getLogger("a3s_notebook.widgets")

MAX_ERRORS = 10
"""Errors kept in the ``errors`` trait (the oldest are dropped)."""

_RUN_ENDS = frozenset({"agent_end", "error"})
"""Events that end a run (a failed run ends with ``error``)."""

_RUN_BOUNDS = _RUN_ENDS | {"agent_start"}
"""Events every widget sees, whatever its ``_events``: they start and end ``_in_run``."""

_LATER = object()
"""The throttled value of a trait set by ``_set_later``: computed when it is applied."""


def now_ms() -> float:
    """Kernel wall-clock time in epoch milliseconds (what the front end's clock maps to)."""
    return time.time() * 1000


class SessionWidget(anywidget.AnyWidget):
    """Base of the widgets that follow a :class:`~a3s_notebook.engine.session.Session`.

    Subclasses implement ``_reset(session)`` (rebuild the state from the session),
    ``_handle_event(event)`` and optionally ``_on_custom_msg(kind, content)``, plus
    ``_markdown()`` for terminals and exported notebooks. Everything they do runs under
    one lock and inside a guard: an exception is logged and shown beside the widget,
    never raised into the session's run and never swallowed.

    A trait that changes at many events (a status, a panel's sums) is set with
    ``_set_soon(name, value)``: at once outside a run, at most about 20 times a second
    during one (the latest value wins; the run's end applies what waits), so a fast run
    does not pay a sync per event.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A widget's stylesheet is its ES module's sibling (static/<name>.css): only its
        # own rules, one <style> per class. The shared theme travels in the ES module,
        # which puts it into the page once (js/lib/widget.ts ensureTheme).
        # (before anywidget's hook, which turns both paths into file contents)
        esm = cls.__dict__.get("_esm")
        if isinstance(esm, Path) and "_css" not in cls.__dict__:
            cls._css = esm.with_suffix(".css")
        super().__init_subclass__(**kwargs)

    _events: ClassVar[frozenset[str] | None] = None
    """The event types ``_handle_event`` reacts to; None for all. The others cost one
    set lookup (every view receives every event of its session, text deltas included)."""

    errors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Errors from Python handlers, shown beside the widget."""

    def __init__(self, session: Session | None = None, **kwargs: Any) -> None:
        self._lock = threading.RLock()
        self._replay_ms: float | None = None
        self._session: Session | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._in_run = False
        self._soon = LatestValues(self._apply_soon, lock=self._lock)
        self._computes: dict[str, Callable[[Any], Any]] = {}  # see _set_later
        self._status_now: dict[str, Any] = IDLE  # see _follow_status
        # a typo in a keyword would otherwise only warn (lonboard does the same)
        known = type(self).class_trait_names()
        unknown = sorted(k for k in kwargs if k not in known)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s): {', '.join(unknown)}"
            )
        super().__init__(**kwargs)
        self.on_msg(self._dispatch)
        if session is not None:
            self.attach(session)

    # --- session ---------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The session this widget follows, or None when detached."""
        return self._session

    def attach(self, session: Session) -> SessionWidget:
        """Follow ``session`` (detaching from the previous one); returns the widget."""
        self._attach(session, session.subscribe)
        return self

    def _attach(
        self, session: Session, subscribe: Callable[[Subscriber], Callable[[], None]]
    ) -> None:
        """Attach, receiving the events through ``subscribe`` (the session's own, or a
        SessionView's, which hands each event only to the parts that want it)."""
        self.detach()
        with self._lock:
            self._session = session
            self._guarded("attach", lambda: self._reset(session))
            self._unsubscribe = subscribe(self._on_event)

    def detach(self) -> None:
        """Stop following the session. The widget keeps showing what it has."""
        with self._lock:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            self._in_run = False
            self._guarded("detach", self._on_detach)
            self._guarded("detach", self._soon.flush)
            self._session = None

    def close(self) -> None:
        """Detach and close the widget's comm."""
        self.detach()
        super().close()

    def _now(self) -> float:
        """Epoch ms: the logged time of the event being replayed, else the clock."""
        return self._replay_ms if self._replay_ms is not None else now_ms()

    def _replay(self, session: Session) -> bool:
        """Feed the session's logged events to ``_handle_event`` with their own times, so a
        view rebuilt after a restart shows what the live view showed. False when the
        session keeps no log."""
        entries = session.log()
        if not entries:
            return False
        running = False
        try:
            for ts, event in entries:
                self._replay_ms = ts * 1000 if ts is not None else None
                if event.type == "agent_start":
                    running = True
                elif event.type in _RUN_ENDS:
                    running = False
                self._handle_event(event)
        finally:
            self._replay_ms = None
        # attached in the middle of a run (a background one): the rest of it is live
        self._in_run = running
        return True

    def _set_soon(self, name: str, value: Any) -> None:
        """Set the synced trait ``name``: now outside a run, throttled during one."""
        if self._in_run and self._replay_ms is None:
            self._soon.put(name, value)
        else:
            self._soon.flush()  # an older value waiting must not land after this one
            setattr(self, name, value)

    def _set_later(self, name: str, compute: Callable[[Any], Any]) -> None:
        """``_set_soon(name, compute(self))``, but during a run ``compute`` runs only when
        the value is applied: a value that changes at many events (a panel's sums) is then
        built about 20 times a second, not at every event. ``compute`` is a function of the
        widget (a method of the class, so that no closure is made per event)."""
        if self._in_run and self._replay_ms is None:
            due = name in self._computes  # then its timed apply is already due
            self._computes[name] = compute
            if not due:
                self._soon.put(name, _LATER)
        else:
            self._soon.flush()
            setattr(self, name, compute(self))

    def _reset_status(self) -> None:
        """Set the ``status`` trait (of a widget that has one) to idle."""
        self._status_now = dict(IDLE)
        self.set_trait("status", self._status_now)  # the subclass's trait

    def _follow_status(self, event: AgentEvent) -> None:
        """Move the ``status`` trait on after ``event`` (see ``next_status``), throttled
        like ``_set_soon``. The status it moves on from is kept here, not read back from
        the trait and the values waiting, because it is needed at every status event."""
        status = next_status(event, self._status_now)
        if status is not None:
            self._status_now = status
            if self._in_run and self._replay_ms is None:
                self._soon.put("status", status)  # _set_soon, inlined (most events)
            else:
                self._set_soon("status", status)

    def _apply_soon(self, values: dict[str, Any]) -> None:
        with self.hold_sync():
            for name, value in values.items():
                if value is _LATER:
                    try:
                        value = self._computes.pop(name)(self)
                    except Exception as exc:  # a timer applies it: show the error here
                        self._report(f"update {name}", exc)
                        continue
                setattr(self, name, value)

    # --- hooks for subclasses ----------------------------------------------------------

    def _reset(self, session: Session) -> None:
        """Rebuild the widget's state from the session (on attach)."""

    def _handle_event(self, event: AgentEvent) -> None:
        """React to one session event (called under the lock)."""

    def _on_custom_msg(self, kind: str, content: dict[str, Any]) -> None:
        """React to a custom message from the front end (called under the lock)."""

    def _on_detach(self) -> None:
        """Called when the session is detached."""

    def _on_hello(self) -> None:
        """A view was rendered: send it what traits cannot carry."""

    def _markdown(self) -> str:
        return f"*{type(self).__name__}*"

    # --- plumbing ------------------------------------------------------------------------

    def _wants(self, event_type: str) -> bool:
        """Whether ``_on_event`` does anything with an event of this type."""
        wanted = self._events
        return wanted is None or event_type in wanted or event_type in _RUN_BOUNDS

    def _on_event(self, event: AgentEvent) -> None:
        t = event.type
        bound = t in _RUN_BOUNDS
        if not bound:
            wanted = self._events
            if wanted is not None and t not in wanted:
                return
        with self._lock:
            if bound:
                self._in_run = t == "agent_start"  # the handlers see a run's end as over
            # _guarded, inlined: this runs for every event
            try:
                self._handle_event(event)
            except Exception as exc:
                self._report(f"event {t}", exc)
            if bound and t != "agent_start":
                self._guarded("run end", self._soon.flush)

    def _dispatch(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        if not isinstance(kind, str) or kind.startswith("anywidget"):
            return  # anywidget's own messages (experimental commands) are not ours
        with self._lock:
            if kind == "hello":
                self._guarded("hello", self._hello)
            elif kind == "clear_errors":
                self.errors = []
            else:
                self._guarded(f"message {kind}", lambda: self._on_custom_msg(kind, content))

    def _hello(self) -> None:
        self.send({"kind": "clock", "now": now_ms()})
        self._on_hello()

    def _guarded(self, where: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            self._report(where, exc)

    def _report(self, where: str, exc: BaseException) -> None:
        """Log an exception and show it beside the widget."""
        logger.error("%s: %s failed", type(self).__name__, where, exc_info=exc)
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        text = "".join(lines[-6:]).rstrip()
        entry = f"{type(self).__name__} {where}: {type(exc).__name__}: {exc}\n{text}"
        try:
            self.errors = [*self.errors, entry][-MAX_ERRORS:]
        except Exception:  # the comm may be gone; the log line above still has it
            logger.exception("could not show a widget error")

    # --- representations -------------------------------------------------------------------

    def __repr__(self) -> str:
        # cheap: never serialise traits (anywidget does the same)
        name = self._session.name if self._session is not None else None
        return f"{type(self).__name__}(session={name!r})"

    def _repr_markdown_(self) -> str:
        with self._lock:
            self._soon.flush()
            return self._markdown()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view plus a text/Markdown form for terminals and exported notebooks."""
        return with_text(super()._repr_mimebundle_(**kwargs), self._repr_markdown_())


def with_text(bundle: Any, markdown: str) -> Any:
    """Put ``markdown`` into a widget's MIME bundle as text/plain and text/markdown."""
    if bundle is None:
        return {"text/plain": markdown, "text/markdown": markdown}
    data, meta = bundle if isinstance(bundle, tuple) else (bundle, None)
    data = dict(data)
    data["text/plain"] = markdown
    data["text/markdown"] = markdown
    return (data, meta) if meta is not None else data
