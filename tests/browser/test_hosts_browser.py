"""Every example notebook (``notebooks/0*.ipynb``) in every browser host: JupyterLab,
Notebook 7, Voila.

One server per host serves a copy of the ``notebooks`` folder (the notebooks write their
workspaces beside themselves; JupyterLab's is the server the other browser tests share, the
copy in a folder of its own); each test opens one notebook, runs all its cells (Voila runs
them itself), then checks what a user would notice:

- no Python error in any output (an error output, a traceback or a one-line magic error);
- no uncaught error in the page (``bpage`` fails on any) and no console error that comes
  from our widgets;
- the notebooks that show a widget show it (an ``.a3s-`` element is visible).

In Voila the quickstart's ``%%ask`` needs an approval, so the run goes on in the
background (nobody clicks; the approval times out after 1 s): the cell's output then turns
from "running in the background" into the answer in place, and the next cell said
"Still running" instead of failing on ``_.text``.

JupyterLab and Notebook 7 run the cells the same way (``nb7_run_all``: the app's commands,
through ``window.jupyterapp``), and the quickstart's approval times out there too (1 s).
tests/browser/test_magics_browser.py clicks the approval cards in JupyterLab.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
# an error output, a traceback, or a magic's one-line error (printed to stderr)
PYTHON_ERROR = re.compile(
    r"Traceback \(most recent call last\)|^\w*(Error|Exception): |There was an error when executing",
    re.M,
)
# console errors of the hosts themselves (not ours; each seen on a page without our widgets):
# Voila's page asks a CDN for fontawesome (no network here), and its module federation
# fails to share @jupyterlab/docregistry with the notebook lab-extension (#RUNTIME-012);
# Notebook 7's /tree logs "Cannot convert undefined or null to object" from its core
# bundle while voila's lab extension (@voila-dashboards/jupyterlab-preview) is enabled
# (with it disabled the error is gone)
HOST_NOISE = re.compile(
    r"ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|Failed to load resource|#RUNTIME-012"
    r"|^Cannot convert undefined or null to object @ \S*/static/notebook/notebook_core\."
)

pytestmark = pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks/0*.ipynb")


def shows_widgets(notebook: Path) -> bool:
    """Whether the notebook displays one of our widgets (an %%ask view or a widget class)."""
    source = "\n".join(c.source for c in nbformat.read(notebook, 4).cells)
    return "%%ask" in source or "a3s_notebook.widgets" in source


def serve_copy(root: Path) -> None:
    """Copy the notebooks folder (notebooks and their helper files) into a server's root."""
    if not any(root.iterdir()):
        for f in (ROOT / "notebooks").iterdir():
            if f.is_file() and f.suffix in (".ipynb", ".py"):
                shutil.copy(f, root)


def console_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} @ {m.location.get('url')}") if m.type == "error" else None
        ),
    )
    return errors


def check_console(errors: list[str]) -> None:
    ours = [e for e in errors if not HOST_NOISE.search(e)]
    assert not ours, f"console errors: {ours}"


# --- Notebook 7 (and JupyterLab: the same runner) --------------------------------------

KERNEL = "window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
CELLS = "window.jupyterapp.shell.currentWidget.content.widgets"


def nb7_run_all(page: Any, timeout_ms: int = 180_000) -> dict[str, Any]:
    """Clear the outputs, run all cells, wait until every cell ran (or one failed)."""
    page.wait_for_function(f"{KERNEL}?.status === 'idle'", timeout=90_000)
    page.evaluate(
        "async () => { const c = window.jupyterapp.commands;"
        " await c.execute('notebook:clear-all-cell-outputs');"
        " c.execute('notebook:run-all-cells'); }"
    )
    # every code cell has an execution count (Run All stops at an error: then report it)
    page.wait_for_function(
        f"""() => {{
            const cells = {CELLS}.filter(c => c.model.type === 'code');
            const failed = cells.some(c => c.model.outputs.toJSON()
                .some(o => o.output_type === 'error'));
            return failed || (cells.every(c => c.model.executionCount !== null)
                && {KERNEL}?.status === 'idle');
        }}""",
        timeout=timeout_ms,
    )
    outputs: dict[str, Any] = page.evaluate(
        f"""() => {CELLS}.filter(c => c.model.type === 'code')
            .map(c => c.model.outputs.toJSON())"""
    )
    return outputs


def output_text(output: dict[str, Any]) -> str:
    if output.get("output_type") == "error":
        return f"{output['ename']}: {output['evalue']}\nTraceback (most recent call last)"
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return "".join(text) if isinstance(text, list) else str(text)
    data = output.get("data", {})
    plain = data.get("text/plain", "")
    return "".join(plain) if isinstance(plain, list) else str(plain)


def run_all_clean(page: Any, url: str, notebook: Path) -> None:
    """Open ``url``, run every cell through the app's commands, and check the notebook ran
    clean: no error in any output, its widgets visible, nothing of ours on the console."""
    from playwright.sync_api import expect

    errors = console_errors(page)
    page.goto(url)
    cells = nb7_run_all(page)
    for i, outputs in enumerate(cells):
        for output in outputs:
            text = output_text(output)
            assert not PYTHON_ERROR.search(text), f"cell {i}: {text[:2000]}"
    if shows_widgets(notebook):
        expect(page.locator("[class*='a3s-']").first).to_be_visible(timeout=30_000)
    check_console(errors)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_clean_in_notebook7(
    notebook7: Any, bpage: Any, notebook: Path, artifacts: Path
) -> None:
    serve_copy(notebook7.root)
    try:
        run_all_clean(bpage, notebook7.url(notebook7.root / notebook.name), notebook)
        bpage.screenshot(path=str(artifacts / f"hosts-notebook7-{notebook.stem}.png"))
    finally:
        notebook7.shutdown_kernels()


# --- JupyterLab ------------------------------------------------------------------------


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_clean_in_jupyterlab(
    lab: Any, bpage: Any, notebook: Path, artifacts: Path
) -> None:
    """The Notebook 7 checks, in the JupyterLab server the other browser tests share (its
    ``window.jupyterapp`` runs the cells the same way; ``lab`` ends the kernels after)."""
    root = lab.root / "notebooks"
    root.mkdir(exist_ok=True)
    serve_copy(root)
    run_all_clean(bpage, lab.url(root / notebook.name), notebook)
    bpage.screenshot(path=str(artifacts / f"hosts-jupyterlab-{notebook.stem}.png"))


def test_notebook7_tree_lists_the_notebooks(notebook7: Any, bpage: Any) -> None:
    from playwright.sync_api import expect

    serve_copy(notebook7.root)
    errors = console_errors(bpage)
    bpage.goto(notebook7.tree_url())
    for notebook in NOTEBOOKS:
        expect(bpage.get_by_text(notebook.name, exact=True)).to_be_visible(timeout=60_000)
    check_console(errors)


# --- Voila -----------------------------------------------------------------------------


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_clean_in_voila(
    voila_tree: Any, bpage: Any, notebook: Path, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    serve_copy(voila_tree.root)
    errors = console_errors(bpage)
    # the page arrives once Voila ran every cell
    bpage.goto(voila_tree.url(voila_tree.root / notebook.name), timeout=240_000)
    outputs = bpage.locator(".jp-OutputArea-output")
    texts = outputs.all_inner_texts()
    for text in texts:
        assert not PYTHON_ERROR.search(text), text[:2000]
    if shows_widgets(notebook):
        expect(bpage.locator("[class*='a3s-']").first).to_be_visible(timeout=60_000)
    if notebook.name.startswith("01-"):
        # the run needed an approval, so it went on in the background; nobody clicked, the
        # approval timed out (1 s) and the run ended: its output became the answer in place
        expect(outputs.filter(has_text="Still running: approve or deny above")).to_have_count(1)
        expect(bpage.locator(".a3s-card--timeout")).to_have_count(1, timeout=60_000)
        expect(outputs.filter(has_text="running in the background")).to_have_count(0)
        expect(outputs.filter(has_text="notes.md")).not_to_have_count(0)
    check_console(errors)
    bpage.screenshot(path=str(artifacts / f"hosts-voila-{notebook.stem}.png"), full_page=True)
