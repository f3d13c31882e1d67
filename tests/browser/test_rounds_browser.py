"""A 200-round run in a real browser: the page ends with exactly the rows the kernel has.

Voila serves the notebook of ``_rounds.py`` (a SessionView on a scripted session of 200
``ls`` rounds behind a Go button). The test clicks Go, waits for the header's "done" and
the stream's end row, opens every earlier page of rows ("show earlier"), and compares
the page with what the kernel wrote once its run ended: 200 tool rows, one end row, and
the same row ids in the same order. No timing here: bench 8 (``bench/bench_page.py``)
measures how soon the page shows the finished run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser._rounds import CLOCK, GO, ids_digest, kernel_report, rounds_notebook
from tests.browser.conftest import SharedVoila

ROUNDS = 200


def test_page_shows_every_row_of_a_200_round_run(
    voila_tree: SharedVoila, bpage: Any, tmp_path: Path
) -> None:
    folder = voila_tree.root / tmp_path.name
    folder.mkdir()
    notebook = rounds_notebook(folder, ROUNDS)

    bpage.goto(voila_tree.url(notebook))
    bpage.wait_for_selector(f"{GO} button, button{GO}", timeout=120_000)
    bpage.wait_for_selector(".a3s-events", timeout=60_000)
    bpage.click(GO)

    bpage.wait_for_selector(".a3s-phase--done", timeout=300_000)
    bpage.wait_for_selector(".a3s-events .a3s-end", timeout=300_000)
    bpage.wait_for_function(
        f"() => (document.querySelector('{CLOCK}')?.textContent ?? '').startsWith('KERNEL 1')",
        timeout=60_000,
    )
    kernel = kernel_report(bpage.inner_text(CLOCK))
    assert kernel["tools"] == ROUNDS

    # the stream shows the last rows; "show earlier" brings back the others, a page at a time
    more = bpage.locator(".a3s-events .a3s-more")
    for _ in range(ROUNDS):  # a bound, never reached: each click shows 100 more rows
        if not more.is_visible():
            break
        more.click()
    assert not more.is_visible()

    ids = bpage.eval_on_selector_all(
        ".a3s-events .a3s-rows > [data-row]", "els => els.map(e => e.dataset.row)"
    )
    assert bpage.locator(".a3s-events .a3s-rows > .a3s-tool").count() == ROUNDS
    assert bpage.locator(".a3s-events .a3s-rows > .a3s-end").count() == 1
    assert bpage.locator(".a3s-events .a3s-live").count() == 0  # no text left streaming
    assert len(ids) == kernel["rows"]
    assert ids_digest(ids) == kernel["digest"]
    # every tool row finished (none left running or waiting)
    assert bpage.locator(".a3s-events .a3s-tool--ok").count() == ROUNDS
