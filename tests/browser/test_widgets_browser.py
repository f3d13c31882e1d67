"""The widgets in a real browser: a click on Approve makes the session run the tool.

Voila (the light harness) serves a generated notebook that displays ``SessionView`` on a
``scripted/demo`` session and starts the run as a task; the run waits for the approval.
The test clicks Approve on the card and checks what only Python can write (a label set
from a session event after the tool ran), the event stream, the context bar and the task
table. On success with ``A3S_UPDATE_SCREENSHOT=1`` it saves the README screenshot,
``docs/images/session-view.png``; otherwise its screenshots go to the artifacts folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "session-view.png"
SCREENSHOT_DARK = ROOT / "docs" / "images" / "session-view-dark.png"

SETUP = """\
import asyncio, pathlib, tempfile
import ipywidgets as widgets
from a3s_notebook.engine import (
    ConfirmationPolicy, PermissionPolicy, SessionConfig, SessionManager, TimeoutAction,
)
from a3s_notebook.widgets import SessionView

root = pathlib.Path(tempfile.mkdtemp(prefix="a3s-e2e-"))
ws = root / "workspace"
ws.mkdir()
(ws / "data.csv").write_text("city,temp_c\\nOslo,4\\nLima,19\\nPerth,24\\n")
(ws / "README.md").write_text("# Field notes\\n")
manager = SessionManager(root / "sessions")
session = manager.create_session(
    SessionConfig(
        name="weather-notes",
        workspace=str(ws),
        permission_policy=PermissionPolicy.notebook(),
        # long enough for a loaded CI machine; the test clicks within seconds
        confirmation_policy=ConfirmationPolicy.enabled_policy().with_timeout(
            120_000, TimeoutAction.REJECT
        ),
    ),
    model="scripted/demo",
)
view = SessionView(session)
echo = widgets.Label("PY: waiting")
echo.add_class("a3s-e2e-echo")

def on_event(ev):
    # only Python writes this label: the DOM showing it proves the click reached the kernel
    if ev.type == "tool_end" and ev.name == "write":
        exists = (ws / "notes.md").exists()
        echo.value = f"PY: write exit={ev.exit_code} notes.md exists={exists}"
    elif ev.type == "agent_end":
        echo.value = echo.value + " | run finished"

session.subscribe(on_event)
display(view, echo)
"""

WRITE = re.compile(r"^write$")  # not todo_write

RUN = """\
# the cell returns at once; the kernel keeps serving widget messages while the run waits
task = asyncio.ensure_future(session.send_async("Summarise data.csv and write notes.md"))
"""


def make_notebook(folder: Path, name: str = "session_view.ipynb") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(RUN)]
    # without a kernelspec, JupyterLab asks which kernel to use
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    path = folder / name
    nbformat.write(nb, path)
    return path


def approve_and_check(page: Any) -> bytes:
    """Click Approve on the pending card and check the kernel acted on it.

    Returns a screenshot of the SessionView taken while the card waited (the README's).
    """
    from playwright.sync_api import expect

    view = page.locator(".a3s-session-view")
    expect(view).to_be_visible(timeout=90_000)
    echo = page.locator(".a3s-e2e-echo")
    expect(echo).to_contain_text("PY: waiting", timeout=30_000)

    # the run reached the write and waits for a human
    card = page.locator(".a3s-card--pending")
    expect(card).to_be_visible(timeout=60_000)
    expect(card.locator(".a3s-card-tool")).to_have_text("write")
    expect(card.locator(".a3s-diff-path")).to_contain_text("new file notes.md")
    expect(card.locator(".a3s-countdown")).to_have_text(re.compile(r"^[0-9]+:[0-9]{2} left$"))
    # context bar and task table have moved already
    expect(page.locator(".a3s-context-nums strong")).not_to_have_text("0")
    expect(page.locator(".a3s-task")).to_have_count(3)
    expect(page.locator(".a3s-task--in_progress .a3s-task-content")).to_have_text("Write notes.md")

    page.mouse.move(0, 0)
    page.wait_for_timeout(400)  # the context bar's width transition
    waiting = page.locator(".a3s-session-view").screenshot(animations="disabled")

    card.locator("button[data-decision='approve']").click()

    # written by Python only, after the tool ran: the click went through the kernel
    expect(echo).to_contain_text("PY: write exit=0 notes.md exists=True", timeout=30_000)
    expect(echo).to_contain_text("run finished", timeout=30_000)

    events = page.locator(".a3s-events")
    write_row = events.locator(".a3s-tool--ok", has=page.locator(".a3s-tool-name", has_text=WRITE))
    expect(write_row).to_have_count(1)
    expect(events.locator(".a3s-notice--ok")).to_contain_text("write approved by user")
    expect(events.locator(".a3s-assistant").last).to_contain_text("Done.")
    expect(events.locator(".a3s-end")).to_contain_text("run finished")
    expect(page.locator(".a3s-card--approved .a3s-card-title")).to_contain_text(
        re.compile(r"Approved by user at \d\d:\d\d:\d\d")
    )
    expect(page.locator(".a3s-task--completed")).to_have_count(3)
    expect(page.locator(".a3s-phase--done")).to_be_visible()
    expect(page.locator(".a3s-usage .a3s-badge--scripted")).to_be_visible()
    # no Python handler reported an error beside any widget
    expect(page.locator(".a3s-errors:not([hidden])")).to_have_count(0)
    return waiting


def screenshot(page: Any, path: Path) -> None:
    """The SessionView after the run, with the write's row open."""
    write_row = page.locator(".a3s-tool", has=page.locator(".a3s-tool-name", has_text=WRITE))
    write_row.locator("summary").click()
    page.mouse.move(0, 0)
    page.locator(".a3s-session-view").screenshot(path=str(path), animations="disabled")


def test_approve_click_runs_the_tool_in_voila(
    tmp_path: Path, voila: Callable[[Path], str], bpage: Any, artifacts: Path
) -> None:
    notebook = make_notebook(tmp_path)
    bpage.goto(voila(notebook))  # Voila runs all cells on page load
    waiting = approve_and_check(bpage)
    screenshot(bpage, artifacts / "session-view-voila-done.png")
    (artifacts / "session-view-voila-waiting.png").write_bytes(waiting)
    # only a passing run, asked to, updates the README's picture (a tracked file)
    if os.environ.get("A3S_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(waiting)


@pytest.mark.parametrize("theme", ["JupyterLab Dark"])
def test_approve_click_runs_the_tool_in_jupyterlab(
    tmp_path: Path, jupyterlab: Callable[[Path], str], bpage: Any, artifacts: Path, theme: str
) -> None:
    """The same flow in JupyterLab, in its dark theme (the light one is Voila's)."""
    from playwright.sync_api import expect

    notebook = make_notebook(tmp_path)
    settings = tmp_path / "lab-env/config/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "themes.jupyterlab-settings").write_text(f'{{"theme": "{theme}"}}')
    # tall enough that the whole view fits in the notebook panel (for its screenshot)
    bpage.set_viewport_size({"width": 1180, "height": 2000})
    bpage.goto(jupyterlab(notebook))
    expect(bpage.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=90_000)
    bpage.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    bpage.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    waiting = approve_and_check(bpage)
    # the dark theme reaches the widgets through JupyterLab's variables
    bg = bpage.locator(".a3s-root").first.evaluate("el => getComputedStyle(el).backgroundColor")
    rgb = [int(x) for x in re.findall(r"\d+", bg)[:3]]
    assert sum(rgb) < 3 * 100, f"expected a dark background, got {bg}"
    screenshot(bpage, artifacts / "session-view-jupyterlab-dark-done.png")
    (artifacts / "session-view-jupyterlab-dark-waiting.png").write_bytes(waiting)
    if os.environ.get("A3S_UPDATE_SCREENSHOT"):
        SCREENSHOT_DARK.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT_DARK.write_bytes(waiting)
