"""The SessionView's layout in a real browser, from a phone-wide column to a desktop,
and what JupyterLab shows around it (the kernel status, the first-start news question).

Voila serves the notebook of ``test_widgets_browser`` (a ``scripted/demo`` run that waits
for the approval of ``write``). At 230, 360 and 1280 px wide the test measures that no
panel is wider than itself (a table scrolls inside its own box instead), that names
(tools, models, the session) sit on one line, and that the page holds the theme
stylesheet once and one small stylesheet per widget class. Screenshots of every width
go to the artifacts folder (``layout-*.png``). In JupyterLab (file browser open) the same
measures hold, and the status bar says Busy while a ``%%ask`` cell awaits its approval;
``make demo``'s JupyterLab shows no news question on a first start.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.test_widgets_browser import make_notebook

WIDTHS = (230, 360, 1280)

# what the page measures: panels wider than themselves, names on two lines or more,
# tables sticking out of their panel, and a page that scrolls sideways
MEASURE = """
() => {
  const out = { overflow: [], broken: [], tables: [], page: null };
  for (const el of document.querySelectorAll(".a3s-root")) {
    if (el.scrollWidth > el.clientWidth + 1) {
      // name the widest elements that stick out, to say what to fix
      const edge = el.getBoundingClientRect().right;
      const culprits = [...el.querySelectorAll("*")]
        .filter((c) => c.getBoundingClientRect().right > edge + 1)
        .map((c) => `${c.tagName.toLowerCase()}.${c.className}`)
        .slice(-3);
      out.overflow.push([el.dataset.a3sWidget, el.scrollWidth, el.clientWidth, culprits]);
    }
  }
  const names = ".a3s-tool-name, .a3s-card-tool, .a3s-model, .a3s-header-name, .a3s-badge";
  for (const el of document.querySelectorAll(names)) {
    const rects = el.getClientRects();
    if (rects.length === 0) continue;  // inside a closed <details>
    const style = getComputedStyle(el);
    const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.45;
    const height = el.getBoundingClientRect().height;
    if (rects.length > 1 || height > line * 1.5) {
      out.broken.push([el.className, el.textContent, Math.round(height), Math.round(line)]);
    }
  }
  for (const wrap of document.querySelectorAll(".a3s-table-wrap")) {
    const panel = wrap.closest(".a3s-root").getBoundingClientRect();
    const box = wrap.getBoundingClientRect();
    if (box.right > panel.right + 1 || box.left < panel.left - 1) {
      out.tables.push([wrap.closest(".a3s-root").dataset.a3sWidget, box.right, panel.right]);
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) out.page = [doc.scrollWidth, doc.clientWidth];
  return out;
}
"""

PRIORITY_COLOURS = """
() => {
  const root = document.querySelector(".a3s-tasks").closest(".a3s-root");
  const probe = document.createElement("span");
  probe.className = "a3s-prio a3s-prio--high";
  const danger = document.createElement("span");
  danger.className = "a3s-text--danger";
  root.append(probe, danger);
  const out = { high: getComputedStyle(probe).color, danger: getComputedStyle(danger).color };
  probe.remove();
  danger.remove();
  return out;
}
"""

STYLES = """
() => [...document.querySelectorAll("style")].map((s) => [s.id, s.textContent])
"""


def check_layout(page: Any, width: int, shot: Path) -> None:
    page.set_viewport_size({"width": width, "height": 3000})  # the whole view in a shot
    page.wait_for_timeout(300)  # a relayout, and the context bar's width transition
    page.mouse.move(0, 0)
    # the view, not the page: Voila scrolls inside its own box, which a full-page shot cuts
    page.locator(".a3s-session-view").screenshot(path=str(shot), animations="disabled")
    found = page.evaluate(MEASURE)
    assert found["overflow"] == [], f"{width} px: panels wider than themselves {found}"
    assert found["broken"] == [], f"{width} px: names broken over lines {found}"
    assert found["tables"] == [], f"{width} px: tables outside their panel {found}"
    assert found["page"] is None, f"{width} px: the page scrolls sideways {found}"


def test_the_session_view_fits_every_width_and_ships_each_stylesheet_once(
    tmp_path: Path, voila: Callable[[Path], str], bpage: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    notebook = make_notebook(tmp_path, "layout.ipynb")
    bpage.goto(voila(notebook))
    card = bpage.locator(".a3s-card--pending")
    expect(card).to_be_visible(timeout=90_000)
    expect(bpage.locator(".a3s-task")).to_have_count(3)
    expect(bpage.locator(".a3s-usage-models tbody tr")).to_have_count(1)
    # a row of the stream with a snake_case tool name, open so its body is measured too
    todo = bpage.locator(".a3s-tool", has=bpage.locator(".a3s-tool-name", has_text="todo_write"))
    expect(todo.first).to_be_visible()
    todo.first.locator("summary").click()

    for width in WIDTHS:
        check_layout(bpage, width, artifacts / f"layout-voila-waiting-{width}.png")

    card.locator("button[data-decision='approve']").click()
    expect(bpage.locator(".a3s-end")).to_contain_text("run finished", timeout=30_000)
    # the last answer is counted, and the bar says the figure is an estimate
    nums = bpage.locator(".a3s-context-nums")
    expect(nums).to_have_text(re.compile(r"^≈ [\d,]+ / [\d,]+ tokens \(estimated\)$"))
    # a high priority is not an error: it is not drawn in the error colour
    colours = bpage.evaluate(PRIORITY_COLOURS)
    assert colours["high"] and colours["high"] != colours["danger"], colours
    for width in WIDTHS:
        check_layout(bpage, width, artifacts / f"layout-voila-done-{width}.png")

    # one theme stylesheet, one per widget class, no two alike
    styles = bpage.evaluate(STYLES)
    ours = [(sid, text) for sid, text in styles if ".a3s-" in text]
    ids = [sid for sid, _ in ours]
    assert ids.count("a3s-notebook-theme") == 1, ids
    widget_ids = sorted(i for i in ids if i.startswith("a3s_notebook.widgets."))
    assert len(widget_ids) == len(set(widget_ids)) == 7, widget_ids
    assert len(ours) == 8, ids
    texts = [text for _, text in ours]
    assert len(set(texts)) == len(texts), "two <style> tags hold the same stylesheet"
    theme = dict(ours)["a3s-notebook-theme"]
    assert all("--a3s-fb-bg:" not in text for sid, text in ours if sid != "a3s-notebook-theme")
    assert "--a3s-fb-bg:" in theme


def test_in_jupyterlab_with_the_file_browser_open(lab: Any, bpage: Any, artifacts: Path) -> None:
    """Run All of a ``%%ask`` notebook at 1280 px with the file browser open: every panel
    fits its output area; while the cell awaits the approval, JupyterLab does not call
    the kernel idle."""
    from playwright.sync_api import expect

    from tests.browser.test_magics_browser import magics_notebook, run_all, wait_for_pending_write

    bpage.set_viewport_size({"width": 1280, "height": 1000})
    notebook, _ = magics_notebook(lab.root / "layout")
    run_all(bpage, lab.url(notebook))
    expect(bpage.locator(".jp-FileBrowser")).to_be_visible()
    card, *_ = wait_for_pending_write(bpage)
    # JupyterLab asked the kernel for a subshell for the widgets' comms meanwhile; the
    # kernel's idle for that request no longer reads as the kernel's state
    statusbar = bpage.locator("#jp-main-statusbar")
    expect(statusbar).to_contain_text("Python 3 (ipykernel) | Busy")
    bpage.wait_for_timeout(1000)  # a late idle would show by now
    expect(statusbar).to_contain_text("Python 3 (ipykernel) | Busy")
    bpage.screenshot(path=str(artifacts / "layout-jupyterlab-waiting-1280.png"))
    found = bpage.evaluate(MEASURE)
    assert found["overflow"] == [] and found["broken"] == [] and found["tables"] == [], found
    card.locator("button[data-decision='approve']").click()
    expect(bpage.locator(".a3s-events .a3s-end")).to_contain_text("run finished", timeout=60_000)
    expect(statusbar).to_contain_text("Python 3 (ipykernel) | Idle", timeout=60_000)
    usage = bpage.locator(".a3s-usage").first
    usage.scroll_into_view_if_needed()
    usage.screenshot(path=str(artifacts / "layout-jupyterlab-usage-1280.png"))
    found = bpage.evaluate(MEASURE)
    assert found["overflow"] == [] and found["broken"] == [] and found["tables"] == [], found


def demo_lab_command(port: int) -> tuple[list[str], dict[str, str]]:
    """The JupyterLab command line and environment of ``make demo`` (read from make -n)."""
    import shlex
    import subprocess
    import sys

    from tests.browser.conftest import ROOT, TOKEN

    dry = subprocess.run(
        ["make", "-n", "-s", "demo", f"DEMO_PORT={port}", f"DEMO_TOKEN={TOKEN}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("\\\n", " ")
    (line,) = [ln for ln in dry.splitlines() if " lab " in ln and "jupyter" in ln]
    words = shlex.split(line)
    start = next(i for i, w in enumerate(words) if w.endswith("/jupyter")) + 1
    assert words[start] == "lab", words
    env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
    return [sys.executable, "-m", "jupyterlab", *words[start + 1 :]], env


def test_make_demo_shows_no_news_question(
    tmp_path: Path, servers: list[Any], bpage: Any, artifacts: Path
) -> None:
    """JupyterLab 4 asks "Would you like to get notified about official Jupyter news?"
    on a first start whatever ``news_url`` says; ``make demo`` turns its announcements
    plugin off (jupyter-config/), so the question never covers the widgets."""
    import json
    import urllib.request

    from playwright.sync_api import expect

    from tests.browser.conftest import TOKEN, Server, free_port

    port = free_port()
    cmd, env = demo_lab_command(port)
    assert env.get("JUPYTER_CONFIG_PATH", "").endswith("jupyter-config"), env
    # a first start: no user settings at all (the other tests' servers answer the question)
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path / "fresh-settings")
    root = tmp_path / "root"
    root.mkdir()
    base = f"http://127.0.0.1:{port}"
    servers.append(
        Server(
            [*cmd, f"--ServerApp.root_dir={root}", "--allow-root"],
            root,
            tmp_path / "lab-env",
            f"{base}/api/status?token={TOKEN}",
            extra_env=env,
        )
    )
    with urllib.request.urlopen(f"{base}/lab?token={TOKEN}", timeout=30) as r:
        html = r.read().decode()
    data = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', html, re.S)
    assert data, "no page config in /lab"
    config = json.loads(data.group(1))
    assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]

    bpage.goto(f"{base}/lab?token={TOKEN}&reset")
    expect(bpage.locator(".jp-LauncherCard").first).to_be_visible(timeout=90_000)
    bpage.wait_for_timeout(2000)  # the question came right after start-up
    bpage.screenshot(path=str(artifacts / "make-demo-lab-start.png"))
    expect(bpage.get_by_text("official Jupyter news")).to_have_count(0)
