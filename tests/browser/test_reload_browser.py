"""A page reloaded while a ``%%ask`` cell waits on its approval card.

The reloaded page has no output for the running cell (the notebook was not saved), and a
normal cell would queue behind it. The kernel answers ``kernel_info`` and ``comm_info``
while the cell awaits (a3s_notebook/_kernel_info.py), so the page connects, and a subshell
console runs ``%a3s_session pending`` at once: its card decides the approval and the run
ends in the kernel, writing the file.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat

from tests.browser.test_magics_browser import (
    KERNEL_IDLE,
    LS,
    magics_notebook,
    run_all,
    wait_for_pending_write,
)

SUBSHELL_CONSOLE = "New Subshell Console for Notebook"
VIEW = "application/vnd.jupyter.widget-view+json"
KERNEL_BUSY = "Python 3 (ipykernel) | Busy"


class KernelFrames:
    """What the page hears from the kernel, per websocket (one per kernel connection;
    frames are JSON or the binary v1 protocol, both carry the headers as JSON text)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.frames: list[tuple[int, bytes]] = []
        self.sockets = 0
        page.on("websocket", self._watch)

    def _watch(self, ws: Any) -> None:
        index = self.sockets
        self.sockets += 1

        def record(payload: Any) -> None:
            raw = payload if isinstance(payload, bytes) else payload.encode()
            self.frames.append((index, raw))

        ws.on("framereceived", record)

    def statuses(self, from_socket: int = 0) -> list[tuple[str, str]]:
        """The (state, parent's msg_type) of the ``status`` messages heard so far."""
        from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

        found: list[tuple[str, str]] = []
        for i, raw in list(self.frames):
            if i < from_socket or b'"status"' not in raw:
                continue
            if raw.startswith(b"{"):  # the JSON protocol
                msg = json.loads(raw)
                header, parent, content = msg["header"], msg["parent_header"], msg["content"]
            else:  # v1: header, parent header, metadata, content
                _, parts = deserialize_msg_from_ws_v1(raw)
                header, parent, _, content = (json.loads(part) for part in parts[:4])
            if header.get("msg_type") == "status":
                found.append((content["execution_state"], parent.get("msg_type", "")))
        return found

    def wait_for(self, *parts: str, from_socket: int = 0, timeout_s: float = 60) -> None:
        """Until a frame on socket ``from_socket`` or a later one holds all of ``parts``."""
        wanted = [part.encode() for part in parts]
        deadline = time.monotonic() + timeout_s
        while not any(
            i >= from_socket and all(w in f for w in wanted) for i, f in list(self.frames)
        ):
            assert time.monotonic() < deadline, f"the page never got a frame with {parts}"
            self.page.wait_for_timeout(100)


def reload_page(page: Any) -> KernelFrames:
    """Reload, leaving the unsaved notebook (JupyterLab asks before unload); return once
    the reloaded page has the kernel's ``kernel_info`` reply (it decides what the page
    offers, e.g. subshell consoles). Without the kernel's answer while the cell awaits,
    this would wait for the cell."""
    frames = KernelFrames(page)
    page.on("dialog", lambda d: d.accept())
    page.reload()
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=60_000)
    frames.wait_for('"msg_type":"kernel_info_reply"')
    return frames


# the notebook's kernel connection in JupyterLab's services (``window.jupyterapp``: the
# server runs with ``--LabApp.expose_app_in_browser``)
NOTEBOOK_KERNEL = (
    "Array.from(window.jupyterapp.shell.widgets('main'))"
    ".find(w => w.sessionContext?.path?.endsWith('.ipynb'))?.sessionContext.session?.kernel"
)


def wait_for_kernel_status(page: Any, status: str, timeout_ms: int = 60_000) -> None:
    """Until the notebook's kernel connection has ``status`` (its ``kernel.status``)."""
    page.wait_for_function(f"() => {NOTEBOOK_KERNEL}?.status === {status!r}", timeout=timeout_ms)


def open_subshell_console(page: Any) -> None:
    """Right-click the notebook > New Subshell Console for Notebook (what a user does)."""
    page.locator(".jp-Notebook .jp-CodeCell").first.click(button="right")
    item = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{SUBSHELL_CONSOLE}$"))
    item.click()


def wait_for_file(path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.2)


def test_reload_mid_approval_then_approve_from_a_subshell_console(
    lab: Any, bpage: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    notebook, ws = magics_notebook(lab.root / "reload")
    run_all(bpage, lab.url(notebook))
    wait_for_pending_write(bpage)
    frames = reload_page(bpage)

    # the %%ask cell's output is gone with the page, and its kernel is still busy on it
    expect(bpage.locator(".a3s-card")).to_have_count(0)
    # ...which the page shows: the page ignores the status messages of its kernel_info
    # request (the server does not track info requests), so the kernel followed that
    # request's idle with busy for the cell, before the page's next request (the debugger's
    # debug_request, whose idle the page ignores too)
    wait_for_kernel_status(bpage, "busy")
    expect(bpage.get_by_text(KERNEL_BUSY)).to_be_visible()
    heard = frames.statuses()
    deadline = time.monotonic() + 30
    while ("busy", "execute_request") not in heard:  # the page has it: so will the test
        assert time.monotonic() < deadline, heard
        bpage.wait_for_timeout(100)
        heard = frames.statuses()
    after = heard.index(("idle", "kernel_info_request")) + 1
    for state, parent in heard[after:]:
        if (state, parent) == ("busy", "execute_request"):
            break
        # a request of the page's own may start meanwhile, but none ended before the busy
        assert state != "idle", heard
    # the kernel answered kernel_info while the cell awaits: the page knows it supports
    # subshells, so the palette offers a subshell console
    console_socket = frames.sockets
    open_subshell_console(bpage)
    # JupyterLab sends the console's code to the main shell (where it would wait behind
    # the %%ask cell) until its subshell exists: wait for the reply on the console's own
    # connection
    frames.wait_for('"msg_type":"create_subshell_reply"', from_socket=console_socket)
    prompt = bpage.locator(".jp-CodeConsole-promptCell .jp-InputArea-editor .cm-content")
    prompt.click()
    prompt.fill("%a3s_session pending")
    bpage.keyboard.press("Shift+Enter")

    console = bpage.locator(".jp-CodeConsole")
    expect(console).to_contain_text("write notes.md: waits for approval", timeout=60_000)
    card = console.locator(".a3s-card--pending")
    expect(card.locator(".a3s-card-tool")).to_have_text("write")
    expect(card.locator(".a3s-diff-path")).to_contain_text("new file notes.md")
    assert not (ws / "notes.md").exists()

    card.locator("button[data-decision='approve']").click()
    expect(console.locator(".a3s-card--approved .a3s-card-title")).to_contain_text(
        "Approved by user", timeout=60_000
    )
    # the run in the notebook's cell went on and wrote the file
    wait_for_file(ws / "notes.md")
    assert (ws / "notes.md").read_text().startswith("# Notes")
    # the cell (and the ones queued behind it) ended: the kernel is idle, the page says so
    wait_for_kernel_status(bpage, "idle")
    expect(bpage.get_by_text(KERNEL_IDLE)).to_be_visible()
    bpage.screenshot(path=str(artifacts / "reload-approved-from-console.png"), full_page=True)


def saved_view_text(notebook: Path, until: str = "", timeout_s: float = 30) -> str:
    """The text/markdown saved next to the %%ask cell's widget view, once the saved file
    holds one that contains ``until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        for output in nbformat.read(notebook, as_version=4).cells[1].get("outputs", []):
            text = str(output.get("data", {}).get("text/markdown", ""))
            if VIEW in output.get("data", {}) and until in text:
                return text
        assert time.monotonic() < deadline, f"the notebook was not saved with {until!r}"
        time.sleep(0.2)


def save(page: Any) -> None:
    page.locator(".jp-Notebook .jp-CodeCell").first.click()
    page.keyboard.press("Control+s")


def test_a_notebook_saved_after_the_run_shows_the_work(
    lab: Any, bpage: Any, artifacts: Path
) -> None:
    """Saved in JupyterLab after the run: the text next to the widget (what GitHub and
    nbviewer show) has the transcript, the decision and the cost."""
    from playwright.sync_api import expect

    notebook, ws = magics_notebook(lab.root / "save-after")
    run_all(bpage, lab.url(notebook))
    card, *_ = wait_for_pending_write(bpage)
    card.locator("button[data-decision='approve']").click()
    expect(bpage.locator(".a3s-events .a3s-end")).to_contain_text("run finished", timeout=60_000)
    save(bpage)
    text = saved_view_text(notebook, until="run finished")
    assert "No events yet" not in text
    assert "**You:** Look at my workspace and write notes" in text
    assert "`ls` ." in text
    assert "`write` notes.md: approved by user" in text
    assert "I listed the workspace and wrote my notes to `notes.md`." in text
    assert "cost no price (scripted)" in text
    assert (ws / "notes.md").exists()


def test_save_mid_approval_then_reload_restores_the_card(
    lab: Any, bpage: Any, artifacts: Path
) -> None:
    """Saved while the card waits (Ctrl+S, or JupyterLab's autosave): the file shows the
    work so far, and after a reload the card is back in the cell and decides the run."""
    from playwright.sync_api import expect

    notebook, ws = magics_notebook(lab.root / "save-reload")
    run_all(bpage, lab.url(notebook))
    wait_for_pending_write(bpage)
    save(bpage)
    text = saved_view_text(notebook, until="needs approval")
    assert "No events yet" not in text
    assert "`ls` ." in text
    assert "`write` notes.md needs approval" in text

    reload_page(bpage)
    # the widget manager restored the models from the kernel: the live card is back
    card = bpage.locator(".jp-Notebook .a3s-card--pending")
    expect(card.locator(".a3s-card-tool")).to_have_text("write", timeout=60_000)
    expect(bpage.locator(".jp-Notebook .a3s-events .a3s-tool-name", has_text=LS)).to_have_count(1)
    assert not (ws / "notes.md").exists()

    card.locator("button[data-decision='approve']").click()
    expect(bpage.locator(".jp-Notebook .a3s-card--approved .a3s-card-title")).to_contain_text(
        "Approved by user", timeout=60_000
    )
    expect(bpage.locator(".jp-Notebook .a3s-events .a3s-end")).to_contain_text("run finished")
    wait_for_file(ws / "notes.md")
    bpage.screenshot(path=str(artifacts / "reload-after-save-approved.png"), full_page=True)
