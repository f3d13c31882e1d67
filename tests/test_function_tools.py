"""Python functions as tools: schemas, validation, sync/async calls, timeouts, rendering, and
end to end through a scripted session."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal, Optional

import pandas as pd
import pytest
from pydantic import BaseModel

from a3s_notebook.engine import PermissionPolicy, SessionConfig, SessionLane, SessionManager
from a3s_notebook.engine.events import AgentEvent, PermissionDenied, ToolEnd
from a3s_notebook.engine.tools import (
    FunctionTool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    default_registry,
    lane_of,
    needs_approval_of,
    render_value,
    tool,
)
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.llm.types import Message, StreamEvent, ToolDefinition

from .conftest import turn


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int = 0


class Shape(BaseModel):
    name: str
    points: list[Point]


def ctx(tmp_path: Path | None = None) -> ToolContext:
    return ToolContext(workspace=tmp_path or Path("."))


def props(t: FunctionTool[Any, Any]) -> dict[str, Any]:
    return t.parameters["properties"]  # type: ignore[no-any-return]


# --- schemas -----------------------------------------------------------------------------


def test_schema_of_scalar_types_and_defaults() -> None:
    @tool
    def f(s: str, i: int, x: float, b: bool, d: int = 5) -> None:
        """Scalars."""

    assert f.parameters["type"] == "object"
    assert props(f) == {
        "s": {"type": "string"},
        "i": {"type": "integer"},
        "x": {"type": "number"},
        "b": {"type": "boolean"},
        "d": {"type": "integer", "default": 5},
    }
    assert f.parameters["required"] == ["s", "i", "x", "b"]


def test_schema_of_optional_literal_enum_and_containers() -> None:
    @tool
    def f(
        o: Optional[int] = None,  # noqa: UP045 - the typing spelling is what users write too
        u: str | None = None,
        lit: Literal["fast", "slow"] = "fast",
        color: Color = Color.RED,
        tags: list[str] | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        pass

    p = props(f)
    assert p["o"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert p["u"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert p["lit"] == {"enum": ["fast", "slow"], "type": "string", "default": "fast"}
    assert p["color"]["default"] == "red"
    ref = p["color"]["$ref"].split("/")[-1]
    assert f.parameters["$defs"][ref] == {"enum": ["red", "blue"], "type": "string"}
    assert p["tags"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert p["counts"]["anyOf"][0] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }
    assert "required" not in f.parameters or f.parameters["required"] == []


def test_schema_of_nested_pydantic_model_has_no_titles() -> None:
    @tool
    def draw(shape: Shape, title: str = "") -> str:
        return shape.name

    p = props(draw)
    assert set(p) == {"shape", "title"}  # a property *named* title survives title-stripping
    defs = draw.parameters["$defs"]
    assert defs["Shape"]["properties"]["points"]["items"] == {"$ref": "#/$defs/Point"}
    assert defs["Point"]["required"] == ["x"]
    assert "title" not in draw.parameters
    assert "title" not in defs["Point"]


def test_keyword_only_positional_only_unannotated_and_awkward_names() -> None:
    @tool
    def f(a: int, /, b: str, *, c: bool = False, json: int = 0, _hidden: int = 1, raw=None):  # type: ignore[no-untyped-def]
        return [a, b, c, json, _hidden, raw]

    assert list(props(f)) == ["a", "b", "c", "json", "_hidden", "raw"]
    assert props(f)["raw"] == {"default": None}
    result = asyncio.run(f.execute({"a": 1, "b": "x", "json": 2, "_hidden": 3, "raw": [1]}, ctx()))
    assert result.output.replace(" ", "").replace("\n", "") == '[1,"x",false,2,3,[1]]'


def test_star_args_and_kwargs_are_refused_clearly() -> None:
    def many(*paths: str) -> None:
        pass

    def loose(**options: Any) -> None:
        pass

    with pytest.raises(TypeError, match=r"\*paths is not supported.*list\[str\]"):
        tool(many)
    with pytest.raises(TypeError, match=r"\*\*options is not supported"):
        tool(loose)


def test_a_lambda_needs_a_name() -> None:
    with pytest.raises(ValueError, match="pass name="):
        tool(lambda x: x)
    assert tool(name="ident")(lambda x: x).name == "ident"


def test_bad_options_are_refused() -> None:
    def f() -> None:
        pass

    with pytest.raises(ValueError, match="lane must be"):
        FunctionTool(f, lane="generate")
    with pytest.raises(ValueError, match="unknown lane"):
        FunctionTool(f, lane="fastest")
    with pytest.raises(ValueError, match="timeout"):
        FunctionTool(f, timeout=0)


# --- docstrings -----------------------------------------------------------------------------


def test_google_docstring() -> None:
    @tool
    def search(query: str, limit: int = 10) -> list[str]:
        """Search the catalogue for
        matching titles.

        Longer text that is not part of the description.

        Args:
            query (str): What to look for,
                case-insensitive.
            limit: Most results.

        Returns:
            The titles.
        """
        return []

    assert search.description == "Search the catalogue for matching titles."
    assert props(search)["query"]["description"] == "What to look for, case-insensitive."
    assert props(search)["limit"]["description"] == "Most results."


def test_numpy_docstring() -> None:
    @tool
    def scale(values: list[float], factor: float = 2.0) -> list[float]:
        """Scale values.

        Parameters
        ----------
        values : list of float
            The numbers.
        factor : float, optional
            The multiplier,
            applied to each.

        Returns
        -------
        list of float
        """
        return [v * factor for v in values]

    assert scale.description == "Scale values."
    assert props(scale)["values"]["description"] == "The numbers."
    assert props(scale)["factor"]["description"] == "The multiplier, applied to each."


def test_sphinx_docstring_and_overrides() -> None:
    def fetch(url: str, retries: int = 0) -> str:
        """Fetch a page.

        :param url: The address.
        :param int retries: How many times to retry.
        :returns: the body.
        """
        return url

    t = tool(fetch)
    assert t.description == "Fetch a page."
    assert props(t)["url"]["description"] == "The address."
    assert props(t)["retries"]["description"] == "How many times to retry."

    t2 = tool(name="get_page", description="Download.")(fetch)
    assert (t2.name, t2.description) == ("get_page", "Download.")


def test_no_docstring_gives_a_plain_description() -> None:
    @tool
    def bare(x: int) -> int:
        return x

    assert bare.description == "Call the Python function bare."
    assert "description" not in props(bare)["x"]


# --- the decorator ----------------------------------------------------------------------------


def test_decorated_function_still_calls_and_keeps_its_identity() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool(lane="query", needs_approval=False, timeout=3)
    async def lookup(key: str) -> str:
        return key

    assert add(2, 3) == 5
    assert add.__name__ == "add" and add.__doc__ == "Add two numbers."
    assert asyncio.run(lookup("k")) == "k"
    assert isinstance(add, FunctionTool)
    assert (add.lane, add.needs_approval, add.timeout) == (SessionLane.EXECUTE, None, None)
    assert (lookup.lane, lookup.needs_approval, lookup.timeout) == (SessionLane.QUERY, False, 3)
    reg = ToolRegistry([add, lookup])
    reg2 = default_registry()
    reg2.register(add)  # shared across registries
    assert "add" in reg and "add" in reg2 and len(reg2) == 11


def test_lane_of_and_needs_approval_of() -> None:
    @tool(lane="query", needs_approval=True)
    def peek() -> str:
        return ""

    @tool
    def poke() -> str:
        return ""

    reg = default_registry()
    reg.register(peek)
    reg.register(poke)
    assert lane_of(reg, "peek") is SessionLane.QUERY
    assert lane_of(reg, "PEEK") is SessionLane.QUERY
    assert lane_of(reg, "poke") is SessionLane.EXECUTE
    # built-ins declare nothing: the name rule applies
    assert lane_of(reg, "read") is SessionLane.QUERY
    assert lane_of(reg, "bash") is SessionLane.EXECUTE
    assert lane_of(reg, "unknown") is SessionLane.EXECUTE
    assert needs_approval_of(reg, "peek") is True
    assert needs_approval_of(reg, "poke") is None
    assert needs_approval_of(reg, "bash") is None
    assert needs_approval_of(reg, "unknown") is None


# --- validation and errors ------------------------------------------------------------------


async def test_arguments_are_validated_and_converted() -> None:
    seen: dict[str, Any] = {}

    @tool
    def f(color: Color, shape: Shape, n: int = 1) -> str:
        seen.update(color=color, shape=shape, n=n)
        return "ok"

    result = await f.execute(
        {"color": "blue", "shape": {"name": "tri", "points": [{"x": 1}, {"x": "2", "y": 3}]}},
        ctx(),
    )
    assert result.output == "ok" and result.exit_code == 0
    assert seen["color"] is Color.BLUE
    assert seen["shape"] == Shape(name="tri", points=[Point(x=1), Point(x=2, y=3)])
    assert seen["n"] == 1


async def test_validation_errors_go_back_as_tool_errors_and_the_function_is_not_called() -> None:
    calls: list[Any] = []

    @tool
    def f(color: Color, shape: Shape, mode: Literal["a", "b"] = "a") -> None:
        calls.append(1)

    result = await f.execute(
        {"color": "green", "shape": {"name": "x", "points": [{"y": 1}]}, "mode": "c", "zz": 1},
        ctx(),
    )
    assert result.is_error and result.exit_code == 1
    out = result.output
    assert out.startswith("Invalid arguments for tool 'f': ")
    assert "argument 'color': Input should be 'red' or 'blue' (got 'green')" in out
    assert "argument 'shape' (at points.0.x): Field required" in out
    assert "argument 'mode': Input should be 'a' or 'b'" in out
    assert "'zz' is not an argument of this tool (it takes: color, shape, mode)" in out
    assert calls == []

    missing = await f.execute({}, ctx())
    assert "argument 'color' is required but was not given" in missing.output


async def test_through_the_registry_errors_are_results_too() -> None:
    @tool
    def half(n: int) -> float:
        return n / 2

    reg = ToolRegistry([half])
    ok = await reg.execute("half", {"n": 3}, ctx())
    assert (ok.output, ok.exit_code) == ("1.5", 0)
    bad = await reg.execute("half", {"n": "three"}, ctx())
    assert bad.is_error and "'n'" in bad.output


async def test_an_exception_becomes_a_tool_error_with_type_and_message() -> None:
    @tool
    def boom(x: int) -> int:
        raise KeyError(f"no such row {x}")

    @tool
    async def aboom() -> None:
        raise RuntimeError

    r = await boom.execute({"x": 7}, ctx())
    assert (r.exit_code, r.output) == (1, "Tool 'boom' raised KeyError: 'no such row 7'")
    r2 = await aboom.execute({}, ctx())
    assert (r2.exit_code, r2.output) == (1, "Tool 'aboom' raised RuntimeError")


async def test_a_timeout_error_raised_by_the_function_is_not_mistaken_for_ours() -> None:
    @tool(timeout=60)
    async def f() -> None:
        raise TimeoutError("upstream slow")

    r = await f.execute({}, ctx())
    assert r.output == "Tool 'f' raised TimeoutError: upstream slow"


# --- sync, async, timeouts, context -------------------------------------------------------


async def test_sync_and_async_functions() -> None:
    main_thread = threading.get_ident()

    @tool
    def sync_fn(a: int) -> dict[str, Any]:
        return {"a": a, "in_thread": threading.get_ident() != main_thread}

    @tool
    async def async_fn(a: int) -> dict[str, Any]:
        return {"a": a, "in_thread": threading.get_ident() != main_thread}

    r1 = await sync_fn.execute({"a": 1}, ctx())
    r2 = await async_fn.execute({"a": 2}, ctx())
    assert r1.output == '{\n  "a": 1,\n  "in_thread": true\n}'
    assert r2.output == '{\n  "a": 2,\n  "in_thread": false\n}'


async def test_a_sync_function_does_not_block_the_loop() -> None:
    ticks = 0
    release = threading.Event()

    @tool
    def blocking() -> str:
        # blocks its thread until the heartbeat has ticked; a blocked loop would never tick
        return "released" if release.wait(timeout=10) else "the loop was blocked"

    async def heartbeat() -> None:
        nonlocal ticks
        for _ in range(5):
            ticks += 1
            await asyncio.sleep(0)
        release.set()

    beat = asyncio.create_task(heartbeat())
    result = await blocking.execute({}, ctx())
    await beat
    assert result.output == "released"
    assert ticks == 5


async def test_timeout_cancels_an_async_call_with_a_clear_error() -> None:
    never = asyncio.Event()
    cancelled = asyncio.Event()

    @tool(timeout=0.01)
    async def wait_forever() -> str:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "unreachable"

    result = await wait_forever.execute({}, ctx())
    assert result.is_error
    assert result.output == "Tool 'wait_forever' timed out after 0.01 s and was cancelled."
    assert cancelled.is_set()


async def test_timeout_of_a_sync_call_returns_an_error() -> None:
    release = threading.Event()

    @tool(timeout=0.01)
    def stuck() -> str:
        release.wait(timeout=10)
        return "late"

    try:
        result = await stuck.execute({}, ctx())
    finally:
        release.set()  # let the abandoned worker thread finish
    assert result.output == "Tool 'stuck' timed out after 0.01 s and was cancelled."


async def test_cancellation_from_outside_propagates() -> None:
    started = asyncio.Event()

    @tool
    async def slow() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(slow.execute({}, ctx()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_tool_context_parameter_is_injected_and_hidden(tmp_path: Path) -> None:
    streamed: list[str] = []

    @tool
    def where(c: ToolContext, suffix: str = "") -> str:
        c.emit_output("working")
        return str(c.workspace) + suffix

    assert list(props(where)) == ["suffix"]
    context = ToolContext(workspace=tmp_path, emit_output=streamed.append)
    result = await where.execute({"suffix": "!"}, context)
    assert result.output == f"{tmp_path}!"
    assert streamed == ["working"]


# --- return values ----------------------------------------------------------------------------


def test_render_plain_values() -> None:
    assert render_value("as is") == ("as is", {})
    assert render_value(None) == ("(no output)", {})
    assert render_value(42)[0] == "42"
    assert render_value(True)[0] == "true"
    assert render_value({"a": [1, None]})[0] == '{\n  "a": [\n    1,\n    null\n  ]\n}'
    assert render_value(Point(x=1))[0] == '{\n  "x": 1,\n  "y": 0\n}'

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque " + "z" * 100 + ">"

    text, meta = render_value(Opaque(), max_chars=20)
    assert text == "<opaque zzzzzzzzzzzz\n… (89 more characters)"
    assert meta == {"value_type": "Opaque"}


async def test_a_dataframe_is_rendered_with_a_limit_and_kept_whole() -> None:
    frame = pd.DataFrame({"n": range(100), "sq": [i * i for i in range(100)]})

    @tool
    def table() -> pd.DataFrame:
        return frame

    result = await table.execute({}, ctx())
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "[DataFrame: 100 rows x 2 columns]"
    assert lines[1].split() == ["n", "sq"]
    assert lines[2].split() == ["0", "0", "0"]
    assert lines[21].split() == ["19", "19", "361"]
    assert lines[22] == "… 80 more rows"
    assert len(lines) == 23
    assert result.metadata["value"] is frame
    assert result.metadata["value_type"] == "DataFrame"


def test_a_series_and_a_small_frame() -> None:
    text, meta = render_value(pd.Series([1.5, 2.5], name="price"))
    assert text.splitlines()[0] == "[Series 'price': 2 rows, dtype float64]"
    assert "more rows" not in text
    assert isinstance(meta["value"], pd.Series)
    small, _ = render_value(pd.DataFrame({"a": [1]}), max_rows=5)
    assert small.splitlines()[0] == "[DataFrame: 1 rows x 1 columns]"


# --- end to end through a session ---------------------------------------------------------


@tool(lane="query")
def inventory(item: str, warehouse: Literal["north", "south"] = "north") -> dict[str, Any]:
    """Count an item in a warehouse.

    Args:
        item: The item's name.
        warehouse: Which warehouse.
    """
    return {"item": item, "warehouse": warehouse, "count": 7}


class RecordingClient(ScriptedClient):
    """A scripted model that also records the tools it was offered."""

    def __init__(self, turns: list[Any]) -> None:
        super().__init__(turns)
        self.offered: list[list[ToolDefinition]] = []

    def stream(  # type: ignore[override]
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        self.offered.append(list(tools or []))
        return super().stream(messages, system=system, tools=tools)


def _session(
    manager: SessionManager,
    workspace: Path,
    turns: list[Any],
    *,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
) -> Any:
    registry = default_registry()
    registry.register(inventory)
    return manager.create_session(
        SessionConfig(
            workspace=str(workspace),
            permission_policy=PermissionPolicy(allow=allow or [], deny=deny or []),
        ),
        llm=RecordingClient(turns),
        tools=registry,
    )


async def test_end_to_end_a_function_tool_runs_in_a_session(
    manager: SessionManager, workspace: Path
) -> None:
    session = _session(
        manager,
        workspace,
        [
            turn(
                "Checking.",
                ("inventory", {"item": "bolts", "warehouse": "south"}),
                ("inventory", {"item": "nuts", "warehouse": "east"}),
                ("read", {"file_path": "hello.txt"}),
            ),
            turn("There are 7 bolts."),
        ],
        allow=["inventory", "read"],
    )
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    result = await session.send_async("how many bolts?")
    # the model was offered the function's schema next to the built-ins
    assert result.text == "There are 7 bolts."
    offered = {d.name: d for d in session.llm.offered[0]}
    assert offered["inventory"].parameters == inventory.parameters
    assert offered["inventory"].description == "Count an item in a warehouse."
    assert {"read", "bash", "inventory"} <= set(offered)

    ends = {e.id: e for e in events if isinstance(e, ToolEnd)}
    assert ends["t1_inventory"].exit_code == 0
    assert '"count": 7' in ends["t1_inventory"].output
    assert ends["t2_inventory"].exit_code == 1
    assert "argument 'warehouse': Input should be 'north' or 'south'" in (
        ends["t2_inventory"].output
    )
    assert "hello world" in ends["t3_read"].output

    results = session.messages[2].tool_results()
    assert [r.tool_use_id for r in results] == ["t1_inventory", "t2_inventory", "t3_read"]
    assert '"warehouse": "south"' in results[0].content and not results[0].is_error
    assert results[1].is_error
    # the model saw the validation error on its next call
    assert "'east'" in session.llm.requests[1][-1].tool_results()[1].content


async def test_end_to_end_a_deny_rule_on_the_tool_name_stops_it(
    manager: SessionManager, workspace: Path
) -> None:
    ran: list[str] = []

    @tool
    def launch(target: str) -> str:
        ran.append(target)
        return "launched"

    registry = default_registry()
    registry.register(launch)
    session = manager.create_session(
        SessionConfig(
            workspace=str(workspace),
            permission_policy=PermissionPolicy(allow=["launch"], deny=["launch"]),
        ),
        llm=ScriptedClient([turn("", ("launch", {"target": "moon"})), turn("ok")]),
        tools=registry,
    )
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    await session.send_async("launch it")
    assert ran == []
    assert any(isinstance(e, PermissionDenied) and e.tool_name == "launch" for e in events)
    result = session.messages[2].tool_results()[0]
    assert result.is_error
    assert result.content == "Permission denied: Tool 'launch' is blocked by permission policy."


def test_tool_result_type_is_the_engine_one() -> None:
    assert isinstance(asyncio.run(inventory.execute({"item": "x"}, ctx())), ToolResult)
