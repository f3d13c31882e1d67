"""The scripted provider: offline, deterministic, no key.

Two uses:

* ``ScriptedClient(turns=[...])`` replays the given turns (text and tool calls) one per
  LLM call, for tests and reproducible demos.
* ``scripted/demo`` is a built-in behaviour: it writes a task list, streams text, calls a
  read-only tool, asks to ``write`` a file (which needs approval with the default policy)
  and ends with an answer that reflects what the human decided.

Usage is estimated as characters / 4 and marked ``estimated=True``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from a3s_notebook.llm.errors import UnknownModelError
from a3s_notebook.llm.types import (
    Done,
    LlmResponse,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    TokenUsage,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseInputDelta,
    ToolUseStart,
    parse_tool_arguments,
)

__all__ = ["SCRIPTED_MODELS", "ScriptedClient", "ScriptedTurn", "scripted_client"]

SUMMARY_MARKER = "summarize the conversation"
"""Compaction prompts contain this phrase; the scripted model answers them with a summary."""


@dataclass
class ScriptedTurn:
    """One scripted LLM response: text, optional reasoning, optional tool calls.

    ``tool_calls`` items are ``{"name": ..., "args": {...}}`` (an ``"id"`` is optional).
    ``raw_args`` in an item sends those exact argument characters instead of JSON, to
    test what happens with malformed arguments.
    """

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str | None = None


Behaviour = Callable[[list[Message]], ScriptedTurn]


def _estimate(chars: int) -> int:
    return max(1, chars // 4) if chars else 0


def _chunks(text: str, size: int) -> list[str]:
    # split on word boundaries so a live view looks like real streaming
    words = re.findall(r"\S+\s*|\s+", text)
    out: list[str] = []
    buf = ""
    for w in words:
        buf += w
        if len(buf) >= size:
            out.append(buf)
            buf = ""
    if buf:
        out.append(buf)
    return out


class ScriptedClient:
    """A deterministic LLM that needs no network.

    Args:
        turns: responses replayed in order, one per call.
        behaviour: a function of the conversation that returns the next turn (used
            instead of ``turns``).
        model: the model name shown (``scripted/<model>``).
        delay: seconds between streamed chunks (0 for tests, a little for live demos).
        chunk_chars: about how many characters each text delta carries.
    """

    def __init__(
        self,
        turns: Sequence[ScriptedTurn | str] | None = None,
        *,
        behaviour: Behaviour | None = None,
        model: str = "replay",
        delay: float = 0.0,
        chunk_chars: int = 12,
    ) -> None:
        self._turns = [ScriptedTurn(text=t) if isinstance(t, str) else t for t in turns or []]
        self._behaviour = behaviour
        self._model = model
        self.delay = delay
        self.chunk_chars = chunk_chars
        self.calls = 0
        self.requests: list[list[Message]] = []
        self._ids = itertools.count(1)
        self._counted: tuple[Message | None, Message | None, int, int] = (None, None, 0, 0)

    @property
    def provider(self) -> str:
        """Always ``"scripted"``."""
        return "scripted"

    @property
    def model(self) -> str:
        """The scripted model's name."""
        return self._model

    def __repr__(self) -> str:
        return f"ScriptedClient(model='scripted/{self._model}')"

    def _next_turn(
        self, messages: list[Message], tools: list[ToolDefinition] | None
    ) -> ScriptedTurn:
        if not tools and messages and SUMMARY_MARKER in messages[-1].text().lower():
            return ScriptedTurn(text=_summary(messages[-1].text()))
        if self._behaviour is not None:
            return self._behaviour(messages)
        index = self.calls
        if index < len(self._turns):
            return self._turns[index]
        return ScriptedTurn(text="[scripted model: no more scripted turns]")

    async def stream(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream the next scripted turn."""
        turn = self._next_turn(messages, tools)
        self.calls += 1
        self.requests.append(list(messages))
        blocks: list[TextBlock | ToolUseBlock] = []
        if turn.reasoning:
            for piece in _chunks(turn.reasoning, self.chunk_chars):
                await self._pause()
                yield ReasoningDelta(text=piece)
        if turn.text:
            for piece in _chunks(turn.text, self.chunk_chars):
                await self._pause()
                yield TextDelta(text=piece)
            blocks.append(TextBlock(text=turn.text))
        out_chars = len(turn.text) + len(turn.reasoning or "")
        for call in turn.tool_calls:
            call_id = str(call.get("id") or f"call_{self._model}_{self.calls}_{next(self._ids)}")
            name = str(call["name"])
            raw = call["raw_args"] if "raw_args" in call else json.dumps(call.get("args", {}))
            await self._pause()
            yield ToolUseStart(id=call_id, name=name)
            yield ToolUseInputDelta(id=call_id, text=raw)
            blocks.append(
                ToolUseBlock(id=call_id, name=name, input=parse_tool_arguments(raw, name))
            )
            out_chars += len(name) + len(raw)
        in_chars = len(system or "") + self._history_chars(messages)
        in_chars += sum(len(json.dumps(t.parameters)) + len(t.description) for t in tools or [])
        prompt, completion = _estimate(in_chars), _estimate(out_chars)
        usage = TokenUsage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            estimated=True,
        )
        message = Message(role="assistant", content=list(blocks), reasoning_content=turn.reasoning)
        stop = "tool_use" if turn.tool_calls else "end_turn"
        yield Done(response=LlmResponse(message=message, usage=usage, stop_reason=stop))

    def _history_chars(self, messages: list[Message]) -> int:
        """Characters of the history, counting only what is new since the last call.

        Histories only grow between calls (compaction starts a new one), so the count of
        an unchanged prefix is reused: the estimate costs the same at round 10 and 1,000.
        """
        first, last, n, chars = self._counted
        if n and len(messages) >= n and messages[0] is first and messages[n - 1] is last:
            total = chars + sum(m.char_count() for m in messages[n:])
        else:
            total = sum(m.char_count() for m in messages)
        if messages:
            self._counted = (messages[0], messages[-1], len(messages), total)
        return total

    async def _pause(self) -> None:
        # always yield to the loop, so a scripted run interleaves like a real one
        await asyncio.sleep(self.delay)


def _summary(prompt: str) -> str:
    lines = [ln for ln in prompt.splitlines() if ln.strip()]
    firsts = [ln for ln in lines if ln.startswith("user:")][:1]
    goal = firsts[0][len("user:") :].strip() if firsts else "(unknown)"
    return (
        f"Goal: {goal[:300]}\n"
        f"Current State: {len(lines)} lines of earlier conversation were summarised "
        "by the scripted model."
    )


# --- the built-in demo behaviour --------------------------------------------------------


def _since_prompt(messages: list[Message]) -> tuple[str, list[Message]]:
    """The last real user prompt and the messages after it."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.role == "user" and not m.tool_results() and m.text().strip():
            return m.text(), messages[i + 1 :]
    return "", messages


def _last_results(after: list[Message]) -> list[ToolResultBlock]:
    for m in reversed(after):
        if m.tool_results():
            return m.tool_results()
    return []


def demo_behaviour(messages: list[Message]) -> ScriptedTurn:
    """The ``scripted/demo`` agent: plan, look, ask to write, answer."""
    prompt, after = _since_prompt(messages)
    step = sum(1 for m in after if m.role == "assistant")
    short = " ".join(prompt.split())[:80]
    tasks = [
        {
            "id": "1",
            "content": "Look at the workspace",
            "status": "in_progress",
            "priority": "high",
        },
        {"id": "2", "content": "Write notes.md", "status": "pending", "priority": "medium"},
        {"id": "3", "content": "Report back", "status": "pending", "priority": "low"},
    ]
    if step == 0:
        return ScriptedTurn(
            text=f'I\'ll work on: "{short}". First, a short plan.',
            tool_calls=[{"name": "todo_write", "args": {"todos": tasks}}],
        )
    if step == 1:
        return ScriptedTurn(
            text="Let me look at the files in the workspace.",
            tool_calls=[{"name": "ls", "args": {"path": "."}}],
        )
    if step == 2:
        listing = _last_results(after)
        files = listing[0].content if listing else "(nothing)"
        content = (
            "# Notes\n\n"
            f"Request: {short}\n\n"
            "Files in the workspace:\n\n"
            + "\n".join(f"- {ln}" for ln in files.splitlines()[:20])
            + "\n"
        )
        tasks[0]["status"] = "completed"
        tasks[1]["status"] = "in_progress"
        return ScriptedTurn(
            text="Now I'll write my notes to `notes.md`. This needs your approval.",
            tool_calls=[
                {"name": "todo_write", "args": {"todos": tasks}},
                {"name": "write", "args": {"file_path": "notes.md", "content": content}},
            ],
        )
    if step == 3:
        results = _last_results(after)
        ok = bool(results) and not results[-1].is_error
        tasks[0]["status"] = "completed"
        tasks[1]["status"] = "completed" if ok else "failed"
        tasks[2]["status"] = "completed"  # the answer that follows is the report
        return ScriptedTurn(
            text="Updating the plan.",
            tool_calls=[{"name": "todo_write", "args": {"todos": tasks}}],
        )
    # final answer: say what happened to the write, found by its tool-use id
    write_ids = {
        b.id
        for m in after
        if m.role == "assistant"
        for b in m.content
        if isinstance(b, ToolUseBlock) and b.name == "write"
    }
    write_result: ToolResultBlock | None = None
    for m in after:
        for r in m.tool_results():
            if r.tool_use_id in write_ids:
                write_result = r
    if write_result is not None and not write_result.is_error:
        return ScriptedTurn(
            text=(
                "**Done.** I listed the workspace and wrote my notes to `notes.md`.\n\n"
                f"- Request: {short}\n- Result: {write_result.content}"
            )
        )
    detail = write_result.content if write_result is not None else "no result"
    return ScriptedTurn(
        text=(
            "**I did not write `notes.md`.** The write was not carried out: "
            f"{detail}\n\nI listed the workspace; nothing was changed."
        )
    )


def echo_behaviour(messages: list[Message]) -> ScriptedTurn:
    """The ``scripted/echo`` model: answers with the prompt, no tools."""
    prompt, _ = _since_prompt(messages)
    return ScriptedTurn(text=f"Echo: {prompt}")


SCRIPTED_MODELS: dict[str, tuple[Behaviour, float]] = {
    "demo": (demo_behaviour, 0.01),
    "demo-fast": (demo_behaviour, 0.0),
    "echo": (echo_behaviour, 0.0),
}
"""Built-in scripted models: name -> (behaviour, seconds between streamed chunks)."""


def recorded_turns(path: str) -> list[ScriptedTurn]:
    """The model's turns of a recorded session log: each assistant message's text,
    reasoning and tool calls (with their recorded ids), in order."""
    from pathlib import Path

    from a3s_notebook.engine._log import read_log
    from a3s_notebook.engine.events import MessageAdded
    from a3s_notebook.engine.store import read_records

    file = Path(path).expanduser()
    if not path or not file.is_file():
        raise UnknownModelError(
            f"scripted/replay:{path}: no session log there; write scripted/replay:PATH with "
            "the path of a session's .jsonl file (e.g. .a3s/sessions/<id>.jsonl)"
        )
    turns: list[ScriptedTurn] = []
    for _ts, event in read_log(read_records(file), source=str(file)):
        if not isinstance(event, MessageAdded) or event.message.role != "assistant":
            continue
        m = event.message
        calls = [{"id": c.id, "name": c.name, "args": c.args} for c in m.tool_calls()]
        turns.append(ScriptedTurn(text=m.text(), tool_calls=calls, reasoning=m.reasoning_content))
    if not turns:
        raise UnknownModelError(
            f"scripted/replay:{path}: the log has no answer of a model to play back"
        )
    return turns


def scripted_client(model: str) -> ScriptedClient:
    """The scripted client for ``scripted/<model>``: ``demo``, ``demo-fast`` or ``echo``;
    ``replay:PATH`` plays back the model's answers recorded in a session log (the tools
    run again, for real, under the new session's rules)."""
    if model.startswith("replay:"):
        path = model[len("replay:") :]
        return ScriptedClient(turns=recorded_turns(path), model=model)
    try:
        behaviour, delay = SCRIPTED_MODELS[model]
    except KeyError:
        known = ", ".join(f"scripted/{m}" for m in SCRIPTED_MODELS)
        raise UnknownModelError(
            f"unknown scripted model 'scripted/{model}': use one of {known}, or pass "
            "llm=ScriptedClient(turns=[...]) to replay your own turns"
        ) from None
    return ScriptedClient(behaviour=behaviour, model=model, delay=delay)
