"""A page reloaded while ``%%ask`` awaits can still reach the kernel.

ipykernel handles shell requests one at a time. While a cell awaits (a ``%%ask`` cell
waiting on its approval card), it still dispatches comm messages, which is what makes the
card clickable, but every other request waits for the cell to end. A page reloaded
meanwhile first asks for ``kernel_info`` (JupyterLab waits for the reply before it routes
widget comms and before it offers a subshell console) and the widget manager asks for
``comm_info``: both waited behind the cell, up to the approval's timeout, so the reloaded
page showed the kernel as "Unknown" and nothing of the run could be reached.

Both requests only read the kernel's state, so :func:`answer_info_requests_at_once` makes
the kernel answer them at once, the way ipykernel answers comm messages. Then the
reloaded page connects, restores the widgets from the kernel, and a subshell console
(JupyterLab: *New Subshell Console for Notebook*) can run ``%a3s_session pending`` to show
the waiting approval and decide it.

The kernel wraps each answer in a ``busy`` / ``idle`` status with the request as parent, as
ipykernel does for every request (a client's request is done on its reply *and* that
``idle``). A page ignores both, though: JupyterLab and Notebook 7 skip a status whose parent
is one of the server's ``untracked_message_types``, which by default (jupyter_server) lists
``kernel_info_request`` and ``comm_info_request``. A reloaded page starts with the kernel's
status "unknown", so it learns that the kernel is busy only from a status for another
request. The ``idle`` therefore goes through the kernel's current ``_publish_status``: while
``%%ask`` runs, that of ``kernel_stays_busy`` (a3s_notebook/_kernel_status.py), which
follows it with ``busy`` for the cell, so the reloaded page shows "Busy" at once. (Before,
it did only once the page sent another request, like the debugger's ``debug_request``, and
without one it said "Unknown" until the cell ended.)

It relies on ipykernel 7's internals (the main shell's lock, ``dispatch_shell(...,
concurrent=True)``, the stream the shell channel thread feeds); with another ipykernel
it changes nothing and says so (returns False).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from typing import Any

__all__ = ["INFO_REQUESTS", "answer_info_requests_at_once"]


INFO_REQUESTS = frozenset({"kernel_info_request", "comm_info_request"})
"""Requests answered while a cell awaits: they only read the kernel's state."""

_MARK = "_a3s_info_requests_at_once"


def _main_shell_stream(kernel: Any) -> Any:
    """The stream the main shell receives its requests on, or None."""
    if getattr(kernel, "_supports_kernel_subshells", False):
        manager = getattr(getattr(kernel, "shell_channel_thread", None), "manager", None)
        pair = getattr(manager, "_shell_channel_to_main", None)
        return getattr(pair, "to_stream", None)
    return getattr(kernel, "shell_stream", None)


def _shell_parent(kernel: Any) -> tuple[Any, dict[str, Any]] | None:
    """The identities and message of the shell's parent request (the awaiting cell), as
    ipykernel keeps them for output that has no context of its own; None if unknown."""
    context = getattr(kernel, "_shell_context", None)
    parent_var = getattr(kernel, "_shell_parent", None)
    ident_var = getattr(kernel, "_shell_parent_ident", None)
    if not isinstance(context, contextvars.Context) or parent_var is None or ident_var is None:
        return None
    parent = context.get(parent_var)
    if not isinstance(parent, dict):
        return None
    return context.get(ident_var, b""), parent


def answer_info_requests_at_once(kernel: Any) -> bool:
    """Make ``kernel`` (an ipykernel 7 kernel) answer ``kernel_info`` and ``comm_info``
    requests while a cell awaits, instead of after it. True when installed (or already
    installed); False when this kernel lacks the hooks, and then nothing is changed."""
    if getattr(kernel, _MARK, False):
        return True
    if threading.current_thread() is not threading.main_thread():
        return False  # the main shell's stream belongs to the main thread (a subshell ran this)
    lock = getattr(kernel, "_main_asyncio_lock", None)
    session = getattr(kernel, "session", None)
    stream = _main_shell_stream(kernel)
    original = getattr(stream, "_recv_callback", None)
    dispatch = getattr(kernel, "dispatch_shell", None)
    if (
        not isinstance(lock, asyncio.Lock)
        or session is None
        or original is None
        or dispatch is None
        or "concurrent" not in inspect.signature(dispatch).parameters
    ):
        return False
    base = getattr(kernel, "_shell_context", None)

    def publish(status: str, request: dict[str, Any]) -> None:
        # looked up now: while %%ask runs, its hook follows an idle with busy for the cell
        publish_status = getattr(kernel, "_publish_status", None)
        if publish_status is not None:
            publish_status(status, "shell", parent=request)

    def info_request(msg: Any) -> dict[str, Any] | None:
        """The request's header (as a parent for its status), if it is an info request."""
        try:
            _, frames = session.feed_identities(msg, copy=False)
            parsed = session.deserialize(frames, content=False, copy=False)
        except Exception:
            return None  # the kernel's own handler reports a malformed message
        header = parsed.get("header") or {}
        return parsed if header.get("msg_type") in INFO_REQUESTS else None

    async def on_recv(msg: Any) -> None:
        request = info_request(msg) if lock.locked() else None
        if request is None:
            result = original(msg)
            if inspect.isawaitable(result):
                await result
            return
        cell = _shell_parent(kernel)
        # a context of its own: the reply's parent header must not leak into the awaiting
        # cell's outputs (ipykernel does the same for comm messages)
        if isinstance(base, contextvars.Context):
            context = base.copy()
        else:
            context = contextvars.copy_context()
        publish("busy", request)
        try:
            await asyncio.create_task(
                dispatch(msg, subshell_id=None, concurrent=True), context=context
            )
        finally:
            if cell is not None:
                # dispatching made the request the parent of output that has no context of
                # its own (a print from a thread the cell started): give it back
                contextvars.copy_context().run(kernel.set_parent, cell[0], cell[1], "shell")
            publish("idle", request)

    stream.on_recv(on_recv, copy=False)
    setattr(kernel, _MARK, True)
    return True
