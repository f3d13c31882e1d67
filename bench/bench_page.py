"""Benchmark 8: how long after the kernel the page shows a finished run (real browser).

Voila, then JupyterLab (Run All Cells), serve a notebook (``tests/browser/_rounds.py``)
that displays a ``SessionView`` on a scripted session of N tool rounds (``ls``, allowed
by a rule, so nothing waits for approval) and a Go button. The browser (Debian's
chromium, driven by playwright) loads the page, installs a MutationObserver that notes
``Date.now()`` the first time the header shows ``.a3s-phase--done`` and the stream has
its ``.a3s-end`` row, then clicks Go. The kernel runs ``session.send_async`` and writes
``time.time()`` before and after it into a label. Browser and kernel run on this
machine, so their clocks are the same one:

* lag = page done - kernel done (the issue's target: under 1 s at 200 rounds);
* the kernel's own run time, for context;

at 200 rounds and at 50. Each size runs ``REPEATS`` times (one page load and one kernel
each, one server per host); the median is reported. The baseline is benchmark 7's (the
package before the live view sent row changes; ``--baseline-ref`` picks another
commit), extracted from git into ``bench/_work/`` with its own JS built there, and
measured in the same run by the same harness. The figures need playwright, chromium,
voila, jupyterlab and node: without them the benchmark fails with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, MARKER, WORK_DIR, Row, emit, row, run_marked

ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))  # the notebook and the browser set-up are the tests'

from tests.browser._rounds import CLOCK, GO, kernel_report, rounds_notebook  # noqa: E402

BENCH = "8 page keeps up"
LAG_TARGET_S = 1.0
REPEATS = 3
SIZES = [50, 200]

WATCH = """\
() => {
  window.__a3sDone = null;
  const check = () => {
    if (window.__a3sDone === null && document.querySelector('.a3s-phase--done')
        && document.querySelector('.a3s-end')) {
      window.__a3sDone = Date.now();
    }
  };
  new MutationObserver(check).observe(document.body,
    {subtree: true, childList: true, attributes: true, characterData: true});
  check();
}
"""


def open_voila(page: Any, url: str) -> None:
    """Voila runs the notebook as the page loads."""
    page.goto(url)


def open_lab(page: Any, url: str) -> None:
    """JupyterLab: open the notebook, wait for its kernel, Run > Run All Cells."""
    import re

    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def measure(page: Any, url: str, open_page: Any) -> dict[str, float]:
    """Load the page, click Go, wait for "done"; the kernel's and the page's times."""
    open_page(page, url)
    page.wait_for_selector(f"{GO} button, button{GO}", timeout=120_000)
    page.wait_for_selector(".a3s-events", timeout=60_000)
    page.evaluate(WATCH)
    page.click(GO)
    page.wait_for_selector(".a3s-phase--done", timeout=300_000)
    page.wait_for_selector(".a3s-end", timeout=300_000)
    page.wait_for_function(
        f"() => (document.querySelector('{CLOCK}')?.textContent ?? '').includes('KERNEL 1')",
        timeout=60_000,
    )
    done_ms = page.evaluate("() => window.__a3sDone")
    kernel = kernel_report(page.inner_text(CLOCK))
    return {
        "lag": done_ms / 1000 - float(kernel["end"]),
        "kernel": float(kernel["end"]) - float(kernel["start"]),
    }


def run(sizes: list[int], repeats: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Every host and size, ``repeats`` page loads each; one server per host."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SharedLab, SharedVoila

    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="a3s-bench-page-") as tmp:
        hosts: list[tuple[str, Any, Any]] = [
            ("Voila", SharedVoila, open_voila),
            ("JupyterLab", SharedLab, open_lab),
        ]
        for host, server_class, open_page in hosts:
            base = Path(tmp) / host
            (base / "root").mkdir(parents=True)
            pages = {n: rounds_notebook(base / "root", n) for n in sizes}
            server = server_class(base / "root", base / "env")
            out[host] = {}
            try:
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    try:
                        for n in sizes:
                            got: dict[str, list[float]] = {"lag": [], "kernel": []}
                            out[host][str(n)] = got
                            for _ in range(repeats):
                                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                                one = measure(page, server.url(pages[n]), open_page)
                                page.close()
                                if host == "JupyterLab":
                                    server.shutdown_kernels()
                                got["lag"].append(one["lag"])
                                got["kernel"].append(one["kernel"])
                                print(f"{host} {n} rounds: {one}", file=sys.stderr, flush=True)
                    finally:
                        browser.close()
            finally:
                server.server.stop()
    return out


# --- the baseline: the package before the live path sent row changes ----------------------

TREE_FILES = [
    "tests/__init__.py",
    "tests/browser/__init__.py",
    "tests/browser/conftest.py",
    "tests/browser/_rounds.py",
    "bench/_common.py",
    "bench/bench_page.py",
]
"""This tree's harness, copied into the baseline tree (the package and the JS are its own)."""


def baseline_tree(ref: str | None) -> tuple[Path, str]:
    """The baseline tree in ``bench/_work/``, its JS built; (its folder, the commit).

    The default baseline is benchmark 7's: the package before ``bench/bench_view.py``
    was added, that is before the live view sent row changes instead of whole rows.
    """
    git = ["git", "-C", str(ROOT)]
    if ref is None:
        added = subprocess.run(
            [*git, "log", "--diff-filter=A", "--format=%H", "--", "bench/bench_view.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        ref = f"{added[-1]}^" if added else "HEAD"
    sha = subprocess.run(
        [*git, "rev-parse", "--short", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = WORK_DIR / f"page-baseline-{sha}"
    if not (target / "a3s_notebook" / "static" / "event_stream.js").is_file():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            [*git, "archive", sha, "a3s_notebook", "js"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        modules = target / "js" / "node_modules"
        if not modules.exists():
            modules.symlink_to((ROOT / "js" / "node_modules").resolve())
        subprocess.run(["node", "build.mjs"], cwd=target / "js", capture_output=True, check=True)
    for name in TREE_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target / name)
    return target, sha


def measure_tree(tree: Path, repeats: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Run this script's ``--child`` in ``tree`` (its package, its JS, its servers)."""
    cmd = [sys.executable, str(tree / "bench" / "bench_page.py"), "--child", str(repeats)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result: dict[str, dict[str, dict[str, list[float]]]] = run_marked(cmd, timeout=1200, env=env)
    return result


def main() -> None:
    """Measure this tree and the baseline tree; emit the rows."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline-python", default="")
    parser.add_argument("--baseline-ref", default=None, help="git commit of the baseline")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        got = run(SIZES, args.child)
        print(MARKER + json.dumps(got))
        return
    repeats = 1 if args.quick else REPEATS
    ours = measure_tree(ROOT, repeats)
    try:
        tree, sha = baseline_tree(args.baseline_ref)
        base: dict[str, Any] | None = measure_tree(tree, repeats)
        why = f"baseline: the package at {sha} in the same run"
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        base, why = None, f"no baseline ({exc})"
    rows: list[Row] = []
    for host, by_size in ours.items():
        for n in SIZES:
            lags, kernels = by_size[str(n)]["lag"], by_size[str(n)]["kernel"]
            lag = statistics.median(lags)
            base_lag = base_kernel = None
            if base is not None:
                base_lag = statistics.median(base[host][str(n)]["lag"])
                base_kernel = statistics.median(base[host][str(n)]["kernel"])
            target = n == 200
            rows.append(
                row(
                    BENCH,
                    f"{host}: page done after kernel done, {n} rounds",
                    lag,
                    "s",
                    baseline=base_lag,
                    ratio=base_lag / lag if base_lag is not None and lag > 0 else None,
                    target=f"<= {LAG_TARGET_S:g} s" if target else "",
                    met=(lag <= LAG_TARGET_S) if target else None,
                    note=(
                        f"median of {len(lags)} page loads in chromium; lags "
                        + ", ".join(f"{v:.3f}" for v in lags)
                        + f" s; {why}"
                    ),
                )
            )
            kernel = statistics.median(kernels)
            rows.append(
                row(
                    BENCH,
                    f"{host}: kernel run time, {n} rounds",
                    kernel,
                    "s",
                    baseline=base_kernel,
                    ratio=base_kernel / kernel if base_kernel is not None and kernel else None,
                )
            )
    emit(rows)


if __name__ == "__main__":
    main()
