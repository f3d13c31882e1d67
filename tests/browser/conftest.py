"""Real-browser fixtures: Debian's chromium driven by the pip ``playwright`` package.

Never run ``playwright install`` (it downloads a browser): the tests use
``/usr/bin/chromium`` (or ``$CHROMIUM``). Without a browser, playwright or voila the
tests are skipped, unless ``REQUIRE_E2E=1`` (CI), which turns that into a failure.
Screenshots go to ``$E2E_ARTIFACTS`` (default ``e2e-artifacts/`` at the repository root);
a failing test saves one there, with the server's log printed.

Fixtures: ``voila`` and ``jupyterlab`` start one server per test; ``lab`` is one JupyterLab
server shared by the whole run (each test serves its own subfolder of its root, and the
test's kernels are shut down afterwards).
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

    def __init__(
        self,
        cmd: list[str],
        cwd: Path,
        env_dir: Path,
        ready_url: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = dict(os.environ)
        # isolated config/runtime dirs: no stale workspaces, no writes to ~/.jupyter
        env["JUPYTER_CONFIG_DIR"] = str(env_dir / "config")
        env["JUPYTER_RUNTIME_DIR"] = str(env_dir / "runtime")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(env_dir / "workspaces")
        # kernels inherit this: the package imports even without `pip install -e .`
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env.update(extra_env or {})
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
        # not GET /: that renders the notebook, so it would run all its cells, unseen, in
        # an extra kernel (which would share the test's workspace and session files)
        ready = f"http://127.0.0.1:{port}/voila/static/voila.js"
        servers.append(Server(cmd, notebook.parent, tmp_path / "voila-env", ready))
        return f"http://127.0.0.1:{port}/"

    return start


def _server_command(app: str, port: int, root: Path) -> list[str]:
    """A Jupyter server app on 127.0.0.1 with the tests' token, serving ``root``."""
    return [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
    ]


def _lab_command(port: int, root: Path) -> list[str]:
    return [
        *_server_command("jupyterlab", port, root),
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # window.jupyterapp: tests run all cells with a command and read the kernel's status
        "--LabApp.expose_app_in_browser=True",
    ]


@pytest.fixture
def jupyterlab(servers: list[Server], tmp_path: Path) -> Callable[[Path], str]:
    """Serve a folder with JupyterLab; returns the URL of the given notebook."""
    if importlib.util.find_spec("jupyterlab") is None:
        _missing("jupyterlab is not installed")

    def start(notebook: Path) -> str:
        port = free_port()
        cmd = _lab_command(port, notebook.parent)
        ready = f"http://127.0.0.1:{port}/api/status?token={TOKEN}"
        servers.append(Server(cmd, notebook.parent, tmp_path / "lab-env", ready))
        return f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={TOKEN}&reset"

    return start


class SharedLab:
    """One JupyterLab server for the whole run, serving ``root``."""

    def __init__(self, root: Path, env_dir: Path) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = Server(
            _lab_command(self.port, root),
            root,
            env_dir,
            f"{self.base}/api/status?token={TOKEN}",
            # nobody clicks in a headless Run All: approvals must time out fast (as `make
            # test` sets it); tests that click pass --timeout to %a3s_session new
            extra_env={"A3S_CONFIRMATION_TIMEOUT": "1"},
        )

    def url(self, notebook: Path) -> str:
        """The JupyterLab URL of a notebook inside ``root`` (with a fresh layout)."""
        rel = notebook.resolve().relative_to(self.root.resolve()).as_posix()
        return f"{self.base}/lab/tree/{rel}?token={TOKEN}&reset"

    def _api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            f"{self.base}/api/{path}",
            method=method,
            headers={"Authorization": f"token {TOKEN}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every notebook session (and its kernel) of the server."""
        try:
            for session in self._api("GET", "sessions"):
                self._api("DELETE", f"sessions/{session['id']}")
        except OSError as exc:  # the server is gone, or the session ended meanwhile
            print(f"could not end the notebook sessions: {exc}")


@pytest.fixture(scope="session")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedLab]:
    if importlib.util.find_spec("jupyterlab") is None:
        _missing("jupyterlab is not installed")
    base = tmp_path_factory.mktemp("shared-lab")
    (base / "root").mkdir()
    lab = SharedLab(base / "root", base / "env")
    yield lab
    lab.server.stop()


@pytest.fixture
def lab(shared_lab: SharedLab) -> Iterator[SharedLab]:
    """The shared JupyterLab server; the test's notebooks go in a folder of ``lab.root``.

    Afterwards the test's kernels are shut down, so they stop using the CPU.
    """
    yield shared_lab
    shared_lab.shutdown_kernels()


def _notebook7_command(port: int, root: Path) -> list[str]:
    return [
        *_server_command("notebook", port, root),
        # window.jupyterapp: the tests run all cells with a command (no menu differences)
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]


class SharedNotebook7(SharedLab):
    """One Notebook 7 server (the ``notebook`` package) serving ``root``."""

    def __init__(self, root: Path, env_dir: Path) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = Server(
            _notebook7_command(self.port, root),
            root,
            env_dir,
            f"{self.base}/api/status?token={TOKEN}",
            extra_env={"A3S_CONFIRMATION_TIMEOUT": "1"},  # nobody clicks in a Run All
        )

    def url(self, notebook: Path) -> str:
        """The Notebook 7 URL of a notebook inside ``root`` (``/notebooks/<path>``)."""
        rel = notebook.resolve().relative_to(self.root.resolve()).as_posix()
        return f"{self.base}/notebooks/{rel}?token={TOKEN}"

    def tree_url(self) -> str:
        """The file browser (``/tree``)."""
        return f"{self.base}/tree?token={TOKEN}"


class SharedVoila:
    """One Voila server serving the folder ``root``: each page load runs its notebook in a
    new kernel (``/voila/render/<path>``), with tracebacks shown in the page."""

    def __init__(self, root: Path, env_dir: Path) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "voila",
            "--no-browser",
            f"--port={self.port}",
            "--Voila.ip=127.0.0.1",
            "--show_tracebacks=True",
            str(root),
        ]
        # a static file, not a page: a page would run a notebook
        ready = f"{self.base}/voila/static/voila.js"
        self.server = Server(cmd, root, env_dir, ready, extra_env={"A3S_CONFIRMATION_TIMEOUT": "1"})

    def url(self, notebook: Path) -> str:
        rel = notebook.resolve().relative_to(self.root.resolve()).as_posix()
        return f"{self.base}/voila/render/{rel}"


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedNotebook7]:
    """A Notebook 7 server for the module, serving an empty folder (``.root``)."""
    if importlib.util.find_spec("notebook") is None:
        _missing("the `notebook` package (Notebook 7) is not installed")
    base = tmp_path_factory.mktemp("notebook7")
    (base / "root").mkdir()
    server = SharedNotebook7(base / "root", base / "env")
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def voila_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedVoila]:
    """A Voila server for the module, serving an empty folder (``.root``)."""
    if importlib.util.find_spec("voila") is None:
        _missing("voila is not installed")
    base = tmp_path_factory.mktemp("voila-tree")
    (base / "root").mkdir()
    server = SharedVoila(base / "root", base / "env")
    yield server
    server.server.stop()


def host_page_error(error: Any) -> bool:
    """Whether an uncaught page error is a known one of the host itself, not of our widgets.

    Notebook 7.6.5 throws ``Cannot read properties of undefined (reading 'schema')`` on every
    page, ``/tree`` and a notebook without any output alike, with every third-party lab
    extension disabled (anywidget, the widget manager, voila's preview): its shortcuts
    plugin (in ``static/notebook/notebook_core.*.js``) reads the schema of a settings plugin
    Notebook 7 does not load. Matched on the message and the file it comes from.
    """
    stack = getattr(error, "stack", None) or ""
    return "reading 'schema'" in str(error) and "/static/notebook/notebook_core." in stack


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
        page.on("pageerror", lambda e: None if host_page_error(e) else errors.append(str(e)))
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
            shared = [
                arg.server
                for arg in request.node.funcargs.values()
                if isinstance(getattr(arg, "server", None), Server)
            ]
            for s in [*servers, *shared]:
                print(s.log_tail())
        browser.close()
    assert not errors, f"uncaught errors in the page: {errors}"
