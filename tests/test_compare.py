"""%%ask -m a,b,c: one prompt on several models, side by side."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from a3s_notebook._compare import CompareResult, run_compare
from a3s_notebook.engine import PermissionPolicy, SessionConfig, SessionManager

from .test_magics import ip, magics, run  # noqa: F401  (ip is a fixture)


def test_ask_on_two_models_gives_one_column_each(ip: InteractiveShell) -> None:  # noqa: F811
    run(ip, "%a3s_session new base --model scripted/demo-fast")
    out = run(ip, "%%ask -m scripted/echo,scripted/demo-fast --quiet\nsay {word}")
    assert isinstance(out, CompareResult)
    assert [r.model for r in out.runs] == ["scripted/echo", "scripted/demo-fast"]
    assert out["scripted/echo"].result is not None
    assert out["scripted/echo"].result.text == "Echo: say {word}"
    assert out["scripted/demo-fast"].result is not None
    frame = out.frame()
    assert list(frame.model) == ["scripted/echo", "scripted/demo-fast"]
    assert (frame.tokens > 0).all() and frame.error.isna().all()
    # each model ran in a fork of its own; the current session is unchanged
    m = magics(ip)
    assert m.current.name == "base" and m.current.model_name == "scripted/demo-fast"
    names = {s.name for s in m.manager.list_sessions()}
    assert {"base · scripted/echo", "base · scripted/demo-fast"} <= names
    md = out._repr_markdown_()
    assert "### scripted/echo" in md and "tokens" in md


def test_a_bad_model_fails_its_column_only(ip: InteractiveShell) -> None:  # noqa: F811
    run(ip, "%a3s_session new base --model scripted/echo")
    out = run(ip, "%%ask -m scripted/echo,scripted/nope --quiet\nhi")
    assert out["scripted/echo"].result.text == "Echo: hi"
    assert out["scripted/nope"].result is None
    assert "unknown scripted model" in out["scripted/nope"].error


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("-m scripted/echo,,scripted/demo", "empty"),
        ("-m a/b,a/b", "twice"),
        ("-m scripted/echo,scripted/demo --background", "--background"),
    ],
)
def test_bad_model_lists_are_one_line(
    ip: InteractiveShell,  # noqa: F811
    line: str,
    needle: str,
) -> None:
    result = ip.run_cell(f"%%ask {line}\nhi")
    assert needle in str(result.error_in_exec)


async def test_the_view_has_a_column_per_model_with_its_numbers(tmp_path: Path) -> None:
    manager = SessionManager(tmp_path / "s")
    rules = PermissionPolicy(allow=["ls", "todo_write", "write"])  # no approvals to wait for
    base = manager.create_session(
        SessionConfig(name="b", workspace=str(tmp_path / "ws"), permission_policy=rules)
    )
    shown: list[Any] = []
    ticks = itertools.count(0, 1.5)
    out = await run_compare(
        manager,
        base,
        ["scripted/echo", "scripted/demo-fast"],
        "compare me",
        display=shown.append,
        clock=lambda: float(next(ticks)),
    )
    [grid] = shown
    assert "repeat(2" in grid.layout.grid_template_columns
    heads = [col.children[0].value for col in grid.children]
    views = [type(col.children[1]).__name__ for col in grid.children]
    assert views == ["SessionView", "SessionView"]
    latency = out["scripted/echo"].latency_s
    assert latency is not None and latency % 1.5 == 0  # read from the injected clock
    assert "scripted/echo" in heads[0] and "tokens" in heads[0] and f"{latency:.2f} s" in heads[0]
