"""The scripted provider: offline, deterministic, no key.

Two uses:

* ``ScriptedClient(turns=[...])`` replays the given turns (text and tool calls) one per
  LLM call, for tests and reproducible demos.
* ``scripted/demo`` is a built-in behaviour: it writes a task list, streams text, calls a
  read-only tool, asks to ``write`` a file (which needs approval with the default policy)
  and ends with an answer that reflects what the human decided.
* ``scripted/team`` starts two sub-agents in parallel (two ``task`` calls in one response;
  the session needs ``max_subagent_depth >= 1``) and sums up their reports.

A sub-agent of a scripted session gets a client of its own (:meth:`ScriptedClient.for_subagent`):
the turns given for its task's description in ``subagents=``, else a small default
behaviour (list the workspace, report).

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

PLAN_MARKER = "You are the planner"
GOAL_MARKER = "You extract the goal"
GOAL_CHECK_MARKER = "You judge progress towards a goal"
"""The planner's system prompts (:mod:`a3s_notebook.engine.planning`) begin with these
phrases; the built-in scripted models answer them with a plan, a goal or a verdict
derived from the prompt (see :func:`planner_turn`)."""
TITLE_MARKER = "write a short title for this conversation"
"""Title prompts contain this phrase (engine/_title.py); the scripted model answers them
with the request's first words."""


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
        subagents: the script of each sub-agent, by the ``description`` of its ``task``
            call: turns, or a behaviour. A sub-agent not named here lists the workspace
            and reports.
        id_prefix: put before every tool call id (sub-agents' calls get their own ids).
    """

    def __init__(
        self,
        turns: Sequence[ScriptedTurn | str] | None = None,
        *,
        behaviour: Behaviour | None = None,
        model: str = "replay",
        delay: float = 0.0,
        chunk_chars: int = 12,
        subagents: dict[str, Sequence[ScriptedTurn | str] | Behaviour] | None = None,
        id_prefix: str = "",
    ) -> None:
        self._turns = [ScriptedTurn(text=t) if isinstance(t, str) else t for t in turns or []]
        self._behaviour = behaviour
        self._model = model
        self.delay = delay
        self.chunk_chars = chunk_chars
        self.calls = 0
        self._titles = 0
        self.requests: list[list[Message]] = []
        self.systems: list[str | None] = []
        """The system prompt of each call (what context providers added is in it)."""
        self._ids = itertools.count(1)
        self._subagents = dict(subagents or {})
        self._id_prefix = id_prefix
        self._children = itertools.count(1)
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

    def for_subagent(self, description: str) -> ScriptedClient:
        """The client of a sub-agent started by a ``task`` call with this description:
        its own script (``subagents=``), its own call ids, this client's pace."""
        script = self._subagents.get(description, subagent_behaviour)
        prefix = f"{self._id_prefix}sub{next(self._children)}_"
        if callable(script):
            return ScriptedClient(
                behaviour=script,
                model=self._model,
                delay=self.delay,
                chunk_chars=self.chunk_chars,
                subagents=self._subagents,
                id_prefix=prefix,
            )
        return ScriptedClient(
            list(script),
            model=self._model,
            delay=self.delay,
            chunk_chars=self.chunk_chars,
            subagents=self._subagents,
            id_prefix=prefix,
        )

    def _next_turn(
        self, messages: list[Message], tools: list[ToolDefinition] | None, system: str | None
    ) -> ScriptedTurn:
        if not tools and messages and SUMMARY_MARKER in messages[-1].text().lower():
            return ScriptedTurn(text=_summary(messages[-1].text()))
        if not tools and messages and TITLE_MARKER in messages[-1].text().lower():
            return ScriptedTurn(text=_title(messages[-1].text()))
        if self._behaviour is not None:
            # a behaviour (the built-in models) plans too; replayed turns replay every
            # call, the planner's included, so a test can script a bad plan
            planned = planner_turn(messages, system, tools)
            if planned is not None:
                return planned
            return self._behaviour(messages)
        # a title call answered above does not use up a scripted turn
        index = self.calls - self._titles
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
        turn = self._next_turn(messages, tools, system)
        if not tools and messages and TITLE_MARKER in messages[-1].text().lower():
            self._titles += 1
        self.calls += 1
        self.requests.append(list(messages))
        self.systems.append(system)
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
            call_id = str(
                call.get("id")
                or f"call_{self._id_prefix}{self._model}_{self.calls}_{next(self._ids)}"
            )
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


# --- the planner's answers ------------------------------------------------------------

_CLAUSE_SPLIT = re.compile(r"(?:[.;!?\n]+\s*|,?\s+then\s+|\s+and\s+)", re.IGNORECASE)


def _clauses(prompt: str) -> list[str]:
    """The parts of a request (sentences, "then" and "and" clauses), at most 4."""
    parts = [
        re.sub(r"^(?:then|and)\s+", "", p.strip(" ,"), flags=re.I)
        for p in _CLAUSE_SPLIT.split(prompt)
    ]
    return [" ".join(p.split())[:120] for p in parts if len(p.strip(" ,")) > 2][:4]


def scripted_plan(prompt: str) -> dict[str, Any]:
    """The scripted planner's plan for a prompt: understand the request, one step per
    clause (a wave: they depend only on the first step), then a report that depends on
    them all."""
    short = " ".join(prompt.split())[:120] or "the request"
    parts = _clauses(prompt) or [short]
    steps: list[dict[str, Any]] = [
        {"id": "step-1", "description": f"Understand the request: {short}", "dependencies": []}
    ]
    for i, part in enumerate(parts, 2):
        steps.append({"id": f"step-{i}", "description": part, "dependencies": ["step-1"]})
    steps.append(
        {
            "id": f"step-{len(steps) + 1}",
            "description": "Report the results",
            "dependencies": [s["id"] for s in steps[1:]],
        }
    )
    complexity = "Simple" if len(steps) <= 3 else "Medium"
    return {"goal": short, "complexity": complexity, "steps": steps, "required_tools": []}


def scripted_goal(prompt: str) -> dict[str, Any]:
    """The scripted goal of a prompt: the prompt, with one criterion per clause."""
    short = " ".join(prompt.split())[:120] or "the request"
    criteria = [f"Done: {part}" for part in _clauses(prompt)] or [f"Done: {short}"]
    return {"description": short, "success_criteria": criteria}


def scripted_verdict(text: str) -> dict[str, Any]:
    """The scripted verdict: achieved when the current state says something (a scripted
    run always answers), with nothing remaining."""
    state = text.partition("Current State:")[2].strip()
    achieved = bool(state) and state != "(no answer)"
    return {"achieved": achieved, "progress": 1.0 if achieved else 0.0, "remaining_criteria": []}


def planner_turn(
    messages: list[Message], system: str | None, tools: list[ToolDefinition] | None
) -> ScriptedTurn | None:
    """The scripted answer to a planner call (a tool-less call whose system prompt is a
    planner's), or None for any other call."""
    if tools or not system or not messages:
        return None
    prompt = messages[-1].text()
    if system.startswith(PLAN_MARKER):
        answer = scripted_plan(prompt)
    elif system.startswith(GOAL_MARKER):
        answer = scripted_goal(prompt)
    elif system.startswith(GOAL_CHECK_MARKER):
        answer = scripted_verdict(prompt)
    else:
        return None
    return ScriptedTurn(text=json.dumps(answer))


def _title(prompt: str) -> str:
    for line in prompt.splitlines():
        if line.startswith("Request:"):
            words = line[len("Request:") :].split()[:6]
            if words:
                title = " ".join(words).rstrip(".?!,;:")
                return title[:1].upper() + title[1:]
    return "Scripted conversation"


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


_STEP = re.compile(r"^Step (\d+) of (\d+) \(([^)\n]*)\): (.*)$", re.MULTILINE)


def _plan_step_turn(prompt: str, after: list[Message], *, look: bool) -> ScriptedTurn | None:
    """The answer to one step of a planned run (None when ``prompt`` is not a step):
    with ``look``, the first step lists the workspace first; every step then says what
    it did, and the last one reports."""
    m = _STEP.search(prompt)
    if m is None:
        return None
    number, total, desc = int(m.group(1)), int(m.group(2)), m.group(4).strip()
    answered = sum(1 for x in after if x.role == "assistant")
    if look and number == 1 and answered == 0:
        return ScriptedTurn(
            text="Let me look at the workspace first.",
            tool_calls=[{"name": "ls", "args": {"path": "."}}],
        )
    if number == total:
        return ScriptedTurn(text=f"**Done.** All {total} steps of the plan are complete.")
    return ScriptedTurn(text=f"Step {number} of {total} done: {desc}")


def demo_behaviour(messages: list[Message]) -> ScriptedTurn:
    """The ``scripted/demo`` agent: plan, look, ask to write, answer. In a planned run
    it answers each step of the plan instead."""
    prompt, after = _since_prompt(messages)
    stepped = _plan_step_turn(prompt, after, look=True)
    if stepped is not None:
        return stepped
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
    prompt, after = _since_prompt(messages)
    stepped = _plan_step_turn(prompt, after, look=False)
    if stepped is not None:
        return stepped
    return ScriptedTurn(text=f"Echo: {prompt}")


def subagent_behaviour(messages: list[Message]) -> ScriptedTurn:
    """A scripted sub-agent: list the workspace, then report on the task."""
    prompt, after = _since_prompt(messages)
    short = " ".join(prompt.split())[:80]
    if not any(m.role == "assistant" for m in after):
        return ScriptedTurn(
            text="Looking at the workspace.", tool_calls=[{"name": "ls", "args": {"path": "."}}]
        )
    results = _last_results(after)
    if not results or results[0].is_error:
        detail = results[0].content if results else "no result"
        return ScriptedTurn(text=f'Report on "{short}": I could not list the workspace ({detail}).')
    entries = [ln.strip() for ln in results[0].content.splitlines() if ln.strip()]
    shown = ", ".join(entries[:8]) + (" …" if len(entries) > 8 else "")
    return ScriptedTurn(
        text=f'Report on "{short}": the workspace has {len(entries)} entries: {shown}.'
    )


def team_behaviour(messages: list[Message]) -> ScriptedTurn:
    """The ``scripted/team`` agent: two sub-agents in parallel, then a summary."""
    prompt, after = _since_prompt(messages)
    short = " ".join(prompt.split())[:80]
    if not any(m.role == "assistant" for m in after):
        return ScriptedTurn(
            text=f'I\'ll split "{short}" between two sub-agents working in parallel.',
            tool_calls=[
                {
                    "name": "task",
                    "args": {
                        "description": "Survey the files",
                        "prompt": f"List the files in the workspace that matter for: {short}",
                        "agent": "explore",
                    },
                },
                {
                    "name": "task",
                    "args": {
                        "description": "Look for notes",
                        "prompt": f"Find notes or docs in the workspace about: {short}",
                        "agent": "explore",
                    },
                },
            ],
        )
    reports = [r.content.split("\n\n[sub-agent", 1)[0] for r in _last_results(after)]
    lines = "\n".join(f"- {r}" for r in reports) or "- (no reports)"
    return ScriptedTurn(text=f"**Both sub-agents reported.**\n\n{lines}")


SCRIPTED_MODELS: dict[str, tuple[Behaviour, float]] = {
    "demo": (demo_behaviour, 0.01),
    "demo-fast": (demo_behaviour, 0.0),
    "echo": (echo_behaviour, 0.0),
    "team": (team_behaviour, 0.01),
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
    """The scripted client for ``scripted/<model>``: ``demo``, ``demo-fast``, ``team`` or
    ``echo``; ``replay:PATH`` plays back the model's answers recorded in a session log (the
    tools run again, for real, under the new session's rules)."""
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
