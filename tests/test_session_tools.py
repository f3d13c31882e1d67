"""Python functions as a session's tools: @session.tool, lanes and approval, end to end."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd

from a3s_notebook.engine.events import AgentEvent, ConfirmationRequired, ToolEnd
from a3s_notebook.engine.tools import FunctionTool, tool

from .conftest import turn


def record(session: Any) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    session.subscribe(events.append)
    return events


async def test_a_decorated_function_is_a_tool_the_model_can_call(make_session: Any) -> None:
    session = make_session([turn("", ("add", {"a": 2, "b": 3})), turn("five")], allow=["add"])

    @session.tool
    def add(a: int, b: int) -> int:
        """Add two numbers.

        Args:
            a: the first number
            b: the second number
        """
        return a + b

    assert add(1, 1) == 2  # still a function
    events = record(session)
    result = await session.send_async("add them")
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert (end.exit_code, end.output) == (0, "5")
    assert result.text == "five"
    definition = next(d for d in session.tools.definitions() if d.name == "add")
    assert definition.description.startswith("Add two numbers")
    assert definition.parameters["properties"]["a"]["description"] == "the first number"


async def test_query_tools_run_side_by_side(make_session: Any) -> None:
    started: list[str] = []
    both = asyncio.Event()

    async def look(key: str) -> str:
        """Look a key up."""
        started.append(key)
        if len(started) == 2:
            both.set()
        # each call waits for the other: only parallel calls can both finish
        await asyncio.wait_for(both.wait(), timeout=30)
        return key.upper()

    session = make_session(
        [
            turn(
                "",
                {"id": "c1", "name": "look", "args": {"key": "a"}},
                {"id": "c2", "name": "look", "args": {"key": "b"}},
            ),
            turn("done"),
        ],
        allow=["look"],
    )
    session.add_tool(look, lane="query")
    await session.send_async("look both up")
    outputs = [b.content for m in session.messages for b in m.tool_results()]
    assert outputs == ["A", "B"]


async def test_needs_approval_is_honoured_and_rules_still_win(make_session: Any) -> None:
    ran: list[str] = []

    @tool(needs_approval=True)
    def launch(target: str) -> str:
        """Launch something."""
        ran.append(target)
        return "launched"

    @tool(needs_approval=False)
    def peek(what: str) -> str:
        """Peek at something harmless."""
        ran.append(what)
        return "seen"

    session = make_session(
        [
            turn("", ("launch", {"target": "rocket"})),
            turn("", ("peek", {"what": "sky"})),
            turn("", ("peek", {"what": "secret"})),
            turn("ok"),
        ],
        allow=["launch"],  # an allow rule does not skip a tool that asks for a human
        ask=["peek(*secret*)"],  # an explicit ask rule beats the tool's needs_approval=False
    )
    session.add_tool(launch)
    session.add_tool(peek)
    asked: list[ConfirmationRequired] = []

    def deny(event: AgentEvent) -> None:
        if isinstance(event, ConfirmationRequired):
            asked.append(event)
            asyncio.get_running_loop().call_soon(
                lambda: session.confirm(event.tool_id, False, "no")
            )

    session.subscribe(deny)
    await session.send_async("go")
    assert [a.tool_name for a in asked] == ["launch", "peek"]
    assert ran == ["sky"]


async def test_a_dataframe_result_is_text_for_the_model(make_session: Any) -> None:
    frame = pd.DataFrame({"city": [f"c{i}" for i in range(100)], "temp": range(100)})
    session = make_session([turn("", ("table", {})), turn("ok")], allow=["table"])
    session.add_tool(lambda: frame, name="table", description="The table.")
    events = record(session)
    await session.send_async("show the table")
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert "100 rows" in end.output and "more rows" in end.output
    # the model and the log got text; the whole frame is kept for you and the widgets
    assert session.tool_value(end.id) is frame
    from a3s_notebook.widgets import SessionView

    assert SessionView(session).events_widget.tool_value(end.id) is frame
    assert session.remove_tool("table") is True and "table" not in session.tools
    assert isinstance(tool(lambda x: x, name="same"), FunctionTool)


async def test_the_log_keeps_which_tools_each_call_had_and_a_restore_names_the_missing(
    make_session: Any, manager: Any
) -> None:
    def shout(text: str) -> str:
        """Capitals."""
        return text.upper()

    session = make_session([turn("", ("shout", {"text": "hi"})), turn("HI")], allow=["shout"])
    session.add_tool(shout)
    await session.send_async("shout")
    offered = [e.tools for e in session.events() if e.type == "turn_start"]
    assert all(tools and "shout" in tools and "bash" in tools for tools in offered)
    assert session.missing_tools() == []
    manager.forget_session(session.id)
    restored = type(manager)(manager.store).restore_session(session.id)
    assert restored.missing_tools() == ["shout"]
    restored.add_tool(shout)  # the same function again: it works by name
    assert restored.missing_tools() == []
