"""The committed notebooks' check (`make lint`): a failed cell, a timed-out approval or a
machine path in a committed output fails it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def make_notebooks() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_notebooks", ROOT / "notebooks/make_notebooks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("output", "found"),
    [
        (
            new_output("stream", name="stderr", text="UsageError: workspace 'x' does not exist"),
            "does not exist",
        ),
        (new_output("error", ename="ValueError", evalue="boom", traceback=[]), "ValueError: boom"),
        (new_output("stream", name="stdout", text="saved in /root/work/x.jsonl"), "/root/"),
        (
            new_output("stream", name="stdout", text="timed out waiting for confirmation (1000ms)"),
            "timed out",
        ),
    ],
)
def test_check_fails_on_a_failed_cell_a_timeout_or_a_machine_path(
    make_notebooks: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any,
    output: Any, found: str,
) -> None:  # fmt: skip
    clean = new_code_cell("1 + 1", outputs=[new_output("stream", name="stdout", text="2\n")])
    nbformat.write(new_notebook(cells=[clean]), tmp_path / "ok.ipynb")
    bad = new_code_cell("x", outputs=[output])
    nbformat.write(new_notebook(cells=[clean, bad]), tmp_path / "bad.ipynb")
    monkeypatch.setattr(make_notebooks, "HERE", tmp_path)
    monkeypatch.setattr(make_notebooks, "NOTEBOOKS", {"ok.ipynb": [], "bad.ipynb": []})
    assert make_notebooks.check() == 1
    out = capsys.readouterr().out
    assert "notebooks/bad.ipynb: cell 1" in out and found in out and "ok.ipynb" not in out
    monkeypatch.setattr(make_notebooks, "NOTEBOOKS", {"ok.ipynb": []})
    assert make_notebooks.check() == 0


def test_the_committed_notebooks_are_clean(make_notebooks: Any) -> None:
    assert make_notebooks.check() == 0
