"""The scripted provider: replay, estimates, the summary mode, the demo's wording."""

from __future__ import annotations

import pytest

from a3s_notebook.llm.errors import UnknownModelError
from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn, demo_behaviour, scripted_client
from a3s_notebook.llm.types import Done, Message, TextDelta, ToolUseBlock, complete


async def test_replay_streams_text_and_tool_calls() -> None:
    client = ScriptedClient(
        [ScriptedTurn(text="hello there world", tool_calls=[{"name": "ls", "args": {"path": "."}}])]
    )
    events = [e async for e in client.stream([Message.user("hi")])]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "hello there world"
    done = events[-1]
    assert isinstance(done, Done)
    call = done.response.message.tool_calls()[0]
    assert (call.name, call.args) == ("ls", {"path": "."})
    assert done.response.usage.estimated and done.response.stop_reason == "tool_use"
    after = await complete(client, [Message.user("again")])
    assert after.message.text() == "[scripted model: no more scripted turns]"


async def test_prompt_estimate_is_incremental_and_exact() -> None:
    client = ScriptedClient(["a"] * 10)
    history: list[Message] = []
    for i in range(6):
        history.append(Message.user("x" * (40 * (i + 1))))
        got = (await complete(client, history)).usage.prompt_tokens
        assert got == sum(m.char_count() for m in history) // 4
        history.append(Message.assistant("y" * 12))
    # a history replaced wholesale (as compaction does) is counted from scratch
    fresh = [Message.user("z" * 400)]
    assert (await complete(client, fresh)).usage.prompt_tokens == 100


async def test_summary_requests_get_a_summary() -> None:
    client = ScriptedClient(["never used"])
    prompt = "Please summarize the conversation below\n\nuser: plan a trip\n\nassistant: ok"
    out = await complete(client, [Message.user(prompt)])
    assert out.message.text().startswith("Goal: plan a trip")
    assert client.calls == 1


def test_unknown_scripted_model_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="scripted/demo, scripted/demo-fast, scripted/echo"):
        scripted_client("nope")


def test_demo_quotes_the_denial_reason() -> None:
    history = [Message.user("write notes")]
    for step in range(4):  # plan, look, ask to write (denied), update the plan
        turn = demo_behaviour(history)
        assert turn.tool_calls, step
        blocks = [
            ToolUseBlock(id=f"{c['name']}-{step}", name=c["name"], input=c["args"])
            for c in turn.tool_calls
        ]
        history.append(Message(role="assistant", content=list(blocks)))
        results = [
            Message.tool_result(
                b.id, "Tool 'write' execution was rejected by user. Reason: not today", True
            )
            if b.name == "write"
            else Message.tool_result(b.id, "ok")
            for b in blocks
        ]
        history.append(Message(role="user", content=[r.content[0] for r in results]))
    final = demo_behaviour(history)
    assert final.tool_calls == []
    assert final.text.startswith("**I did not write `notes.md`.**")
    assert "Reason: not today" in final.text
