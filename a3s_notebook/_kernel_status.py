"""Keep the kernel's status "busy" for the front end while a ``%%ask`` cell awaits its run.

While a cell awaits, the kernel still answers other requests. JupyterLab 4 sends some
of its own then: when the run displays its widgets it asks the kernel for a subshell for
their comms (``create_subshell_request``, on the control channel). The kernel wraps
each such request in a ``busy`` / ``idle`` status, and JupyterLab and Notebook 7 show the
latest status in the status bar: it said "Idle" while the agent was still working, so a
user could think the cell was done. While a ``%%ask`` run is in progress, every ``idle``
for another request than the running cell is followed at once by a ``busy`` on behalf
of the cell (the request's own ``idle`` is kept: front ends wait for it to know the
request was handled). The cell's own final ``idle`` comes after the run, as always.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["kernel_stays_busy"]


def _msg_id(message: Any) -> str | None:
    header = message.get("header") if isinstance(message, dict) else None
    return header.get("msg_id") if isinstance(header, dict) else None


@contextlib.contextmanager
def kernel_stays_busy(shell: Any) -> Iterator[None]:
    """While the block runs, an ``idle`` status for any other request than the running
    cell is followed by a ``busy`` for the cell. Does nothing outside ipykernel, or in a
    block that already does it (a nested run)."""
    kernel: Any = getattr(shell, "kernel", None)
    publish = getattr(kernel, "_publish_status", None)
    get_parent = getattr(kernel, "get_parent", None)
    if kernel is None or publish is None or get_parent is None or "_publish_status" in vars(kernel):
        yield
        return
    cell = get_parent("shell")
    cell_id = _msg_id(cell)
    if cell_id is None:  # not inside a cell's execute request
        yield
        return

    def publish_status(status: str, channel: str, parent: Any = None) -> None:
        publish(status, channel, parent)
        if status == "idle":
            handled = parent if parent is not None else get_parent(channel)
            if _msg_id(handled) != cell_id:
                publish("busy", "shell", cell)

    kernel._publish_status = publish_status
    try:
        yield
    finally:
        del kernel._publish_status
