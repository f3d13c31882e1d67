"""The agent loop sees explicit deps, never the Session: no private member, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.engine import _guard, _run, agent
from a3s_notebook.engine._run import RunDeps
from a3s_notebook.engine.events import ToolEnd

from .conftest import turn

LOOP_MODULES = [agent, _guard, _run]


def _tree(module: Any) -> ast.Module:
    return ast.parse(Path(module.__file__).read_text(encoding="utf-8"))


@pytest.mark.parametrize("module", LOOP_MODULES, ids=lambda m: m.__name__)
def test_loop_touches_no_private_member_of_another_object(module: Any) -> None:
    private = [
        f"{ast.unparse(node)} (line {node.lineno})"
        for node in ast.walk(_tree(module))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not (node.attr.startswith("__") and node.attr.endswith("__"))
    ]
    assert private == []


@pytest.mark.parametrize("module", LOOP_MODULES, ids=lambda m: m.__name__)
def test_loop_does_not_import_the_session(module: Any) -> None:
    imported: list[str] = []
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
            imported.extend(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.extend(a.name for a in node.names)
    assert not [m for m in imported if m.startswith("a3s_notebook.engine.session")]
    assert not [m for m in imported if m.endswith(".Session") or m == "Session"]


def test_loop_entry_points_take_run_deps() -> None:
    for fn, param in ((agent.run_agent, "deps"), (_guard.gate_tool_call, "deps")):
        assert next(iter(fn.__annotations__)) == param
        assert fn.__annotations__[param] == "RunDeps"


def test_deps_read_the_live_state(make_session: Any) -> None:
    session = make_session([turn("", ("Read", {"file_path": "a.txt"})), "done"], allow=["Read"])
    deps = session._run_deps()
    assert isinstance(deps, RunDeps)
    assert deps.session_id == session.id
    ends: list[ToolEnd] = []
    session.subscribe(lambda e: ends.append(e) if isinstance(e, ToolEnd) else None)
    session.send("go")
    # the deps built before the run see what the run changed (one state, read through)
    assert deps.messages == session.messages and len(deps.messages) == 4
    assert deps.context_usage == session.context_usage
    assert deps.workspace == session.workspace
    assert deps.permission_policy is session.permission_policy
    assert len(ends) == 1
    session.update_config(system_prompt="be brief")
    assert deps.system_prompt() == "be brief" == session.system_prompt()
    session.pause()
    assert deps.state is session.state
    session.clear()
    assert deps.messages == []


def test_ledger_totals_follow_appends_and_a_replaced_ledger() -> None:
    from a3s_notebook.engine._ledger import LedgerTotals
    from a3s_notebook.engine.telemetry import LlmCostRecord

    def rec(tokens: int, cost: float | None) -> LlmCostRecord:
        return LlmCostRecord(
            session_id="s",
            model="m",
            provider="p",
            prompt_tokens=tokens,
            completion_tokens=0,
            total_tokens=tokens,
            cost_usd=cost,
        )

    ledger: list[list[LlmCostRecord]] = [[]]
    totals = LedgerTotals(lambda: ledger[0])
    assert totals.cost is None and totals.usage.total_tokens == 0
    ledger[0].append(rec(10, None))
    assert totals.cost is None and totals.usage.total_tokens == 10
    ledger[0].extend([rec(5, 0.25), rec(1, 0.5)])
    assert totals.cost == 0.75 and totals.usage.total_tokens == 16
    ledger[0] = [rec(3, None)]  # a restore from a snapshot replaces the list
    assert totals.cost is None and totals.usage.total_tokens == 3
