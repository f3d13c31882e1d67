"""Real-browser fixtures: Debian's chromium driven by the pip ``playwright`` package.

Never run ``playwright install`` (it downloads a browser): the tests use
``/usr/bin/chromium`` (or ``$CHROMIUM``). Without a browser, playwright or voila the
tests are skipped, unless ``REQUIRE_E2E=1`` (CI), which turns that into a failure.
Screenshots go to ``$E2E_ARTIFACTS`` (default ``e2e-artifacts/`` at the repository root);
a failing test saves one there, with the server's log printed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or ROOT / "e2e-artifacts")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "a3s-e2e"


def _missing(what: str) -> None:
    """Skip, or fail when the environment promises a browser (CI sets REQUIRE_E2E=1)."""
    if os.environ.get("REQUIRE_E2E"):
        pytest.fail(f"REQUIRE_E2E is set but {what}", pytrace=False)
    pytest.skip(what)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # keep each phase's report on the item, so fixtures can tell whether the test failed
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser binary (skips or fails when there is none)."""
    if importlib.util.find_spec("playwright") is None:
        _missing("the `playwright` package is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        _missing(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (``$E2E_ARTIFACTS``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A Jupyter server subprocess (Voila or JupyterLab) with an isolated config."""

    def __init__(self, cmd: list[str], cwd: Path, env_dir: Path, ready_url: str) -> None:
        env = dict(os.environ)
        # isolated config/runtime dirs: no stale workspaces, no writes to ~/.jupyter
        env["JUPYTER_CONFIG_DIR"] = str(env_dir / "config")
        env["JUPYTER_RUNTIME_DIR"] = str(env_dir / "runtime")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(env_dir / "workspaces")
        # kernels inherit this: the package imports even without `pip install -e .`
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        settings = env_dir / "config/lab/user-settings/@jupyterlab/apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        self.log_path = env_dir / "server.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait(ready_url)
        except Exception:
            self.stop()
            print(self.log_tail())
            raise

    def _wait(self, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server not ready: {url}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def voila(servers: list[Server], tmp_path: Path) -> Callable[[Path], str]:
    """Serve a notebook with Voila (which runs all its cells); returns the page URL."""
    if importlib.util.find_spec("voila") is None:
        _missing("voila is not installed")

    def start(notebook: Path) -> str:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "voila",
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            str(notebook),
        ]
        servers.append(
            Server(cmd, notebook.parent, tmp_path / "voila-env", f"http://127.0.0.1:{port}/")
        )
        return f"http://127.0.0.1:{port}/"

    return start


@pytest.fixture
def jupyterlab(servers: list[Server], tmp_path: Path) -> Callable[[Path], str]:
    """Serve a folder with JupyterLab; returns the URL of the given notebook."""
    if importlib.util.find_spec("jupyterlab") is None:
        _missing("jupyterlab is not installed")

    def start(notebook: Path) -> str:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={notebook.parent}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        ready = f"http://127.0.0.1:{port}/api/status?token={TOKEN}"
        servers.append(Server(cmd, notebook.parent, tmp_path / "lab-env", ready))
        return f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={TOKEN}&reset"

    return start


@pytest.fixture
def bpage(chromium: str, request: pytest.FixtureRequest, servers: list[Server]) -> Iterator[Any]:
    """A Playwright page in Debian's chromium (not named `page`: pytest-playwright owns that).

    Fails the test on any uncaught page error (e.g. an exception in a widget's ES module);
    on failure saves a screenshot to the artifacts folder and prints the server log.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000}, device_scale_factor=1)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "console",
            lambda m: print("console", m.type, m.text) if m.type == "error" else None,
        )
        yield page
        failed = any(
            getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"{request.node.name}-failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the failure: {shot}")
            except Exception as exc:  # the page may be gone; the log below still helps
                print(f"could not take a screenshot: {exc}")
            for s in servers:
                print(s.log_tail())
        browser.close()
    assert not errors, f"uncaught errors in the page: {errors}"
