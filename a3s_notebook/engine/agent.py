"""The agent loop (spec section 1): stream an LLM call, run the tools it asks for, repeat.

Each tool call goes through: parse check -> permission policy -> confirmation (when the
decision is Ask and the tool's lane is not a YOLO lane) -> lane queue -> tool. Every call
the model makes gets exactly one ``tool_end`` event and one tool result, whatever path
it took (quirks 2 and 3 fixed).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from a3s_notebook._markdown import safe_markdown
from a3s_notebook.engine._guard import GateDecision, gate_tool_call
from a3s_notebook.engine.compaction import should_auto_compact
from a3s_notebook.engine.config import SessionState
from a3s_notebook.engine.context import with_context
from a3s_notebook.engine.errors import AgentError, ExternalTaskError, SessionPausedError
from a3s_notebook.engine.events import (
    AgentEnd,
    AgentStart,
    ErrorEvent,
    HistoryReplaced,
    PermissionDenied,
    ReasoningDeltaEvent,
    StateChanged,
    TextDeltaEvent,
    ToolEnd,
    ToolOutputDelta,
    ToolStart,
    TurnEnd,
    TurnStart,
)
from a3s_notebook.engine.hooks import HookBlockedError, split_model
from a3s_notebook.engine.lanes import ExternalTaskResult, SessionLane
from a3s_notebook.engine.permissions import PermissionDecision
from a3s_notebook.engine.planning import PlannedRun
from a3s_notebook.engine.tasks import TaskStatus
from a3s_notebook.engine.tools import ToolContext, ToolResult, lane_of, scrubbed_environ
from a3s_notebook.engine.tools._media import valid_media
from a3s_notebook.llm.types import (
    PARSE_ERROR_KEY,
    Done,
    LlmResponse,
    Message,
    ReasoningDelta,
    TextDelta,
    TokenUsage,
    ToolCall,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseStart,
)

if TYPE_CHECKING:
    from a3s_notebook.engine._run import RunDeps
    from a3s_notebook.engine.config import ContextUsage, SessionConfig

__all__ = ["MAX_ARGUMENT_DEPTH", "AgentResult", "run_agent"]

MAX_ARGUMENT_DEPTH = 64
"""Tool arguments nested deeper than this (objects and arrays) are not run: the call gets
an error result asking for flatter arguments. No tool needs more, and arguments a few
hundred levels deep cannot be written to the log or sent back to a provider."""


@dataclass
class AgentResult:
    """What a run returns: the final text, the full history, usage and cost of the run."""

    text: str
    messages: list[Message]
    usage: TokenUsage
    tool_calls_count: int
    session_id: str = ""
    model: str = ""
    cost_usd: float | None = None
    turns: int = 0

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        cost = "unknown" if self.cost_usd is None else f"${self.cost_usd:.6f}"
        return (
            f"AgentResult(text={self.text[:60]!r}{'...' if len(self.text) > 60 else ''}, "
            f"turns={self.turns}, tool_calls={self.tool_calls_count}, "
            f"tokens={self.usage.total_tokens}, cost={cost})"
        )

    def _repr_markdown_(self) -> str:
        cost = "unknown" if self.cost_usd is None else f"${self.cost_usd:.6f}"
        est = " (estimated)" if self.usage.estimated else ""
        return (
            f"{safe_markdown(self.text)}\n\n---\n*{self.model} · {self.turns} LLM calls · "
            f"{self.tool_calls_count} tool calls · {self.usage.total_tokens} tokens{est} · "
            f"cost {cost}*"
        )


@dataclass
class _Outcome:
    call: ToolCall
    output: str
    exit_code: int
    duration_ms: int = 0


async def run_agent(deps: RunDeps, prompt: str, *, plan: bool | None = None) -> AgentResult:
    """Run one prompt to its final answer. The caller holds the session's Generate lane.

    ``plan`` overrides ``config.planning_enabled`` for this run (see
    :mod:`a3s_notebook.engine.planning`): the prompt is planned first and its steps
    are given to the loop one by one.
    """
    deps.emit(AgentStart(prompt=prompt))
    planned: PlannedRun | None = None
    total = TokenUsage()
    tool_calls = 0
    run_cost: float | None = None
    turn = 0
    before = len(deps.messages)
    try:
        # a blocked prompt never enters the history (the guard, then generate_start hooks)
        deps.screen_prompt(prompt)
        await _generate_start(deps, prompt)
        # a history that ends on unanswered tool calls (a log cut short by a full disk or
        # a crash, then restored) would be refused by the provider: answer them first
        _close_dangling_calls(deps, "the run that made this call did not finish")
        before = len(deps.messages)
        deps.add_message(Message.user(prompt))
        await deps.probe_context_window()
        planning = deps.config.planning_enabled if plan is None else plan
        planned = await PlannedRun.begin(deps, prompt, planning=planning)
        step_first_turn = 0  # each plan step has its own max_tool_rounds
        # context is looked up once per prompt and sent with every call of the run
        context = await deps.resolve_context(prompt) if deps.resolve_context else None
        while True:
            turn += 1
            if deps.state is SessionState.PAUSED:
                raise SessionPausedError(
                    f"Session {deps.session_id} was paused: the run stopped at a turn boundary. "
                    "Call resume() and send() to go on."
                )
            if turn - step_first_turn > deps.config.max_tool_rounds:
                raise AgentError(f"Max tool rounds ({deps.config.max_tool_rounds}) exceeded")
            await deps.maybe_auto_compact()
            deps.check_budget()
            if turn > 1:
                await _generate_start(deps, prompt)
            deps.emit(TurnStart(turn=turn, tools=deps.tools.names()))
            # the queue's per-command timeout bounds each LLM call, never a human's wait
            response, latency_ms, ttft_ms = await deps.queue.timed(
                SessionLane.GENERATE, lambda: _call_llm(deps, context)
            )
            usage = response.usage
            total = total + usage
            record = deps.record_usage(
                usage,
                turn=turn,
                latency_ms=latency_ms,
                ttft_ms=ttft_ms,
                tool_names=[c.name for c in response.message.tool_calls()],
            )
            if record.cost_usd is not None:
                run_cost = (run_cost or 0.0) + record.cost_usd
            stored = deps.add_message(_refuse_deep_arguments(response.message))
            deps.emit(TurnEnd(turn=turn, usage=usage))
            calls = stored.tool_calls()
            await deps.hooks.fire(
                "generate_end",
                {
                    "session_id": deps.session_id,
                    "prompt": prompt,
                    "response_text": stored.text(),
                    "tool_calls": [{"name": c.name, "args": c.args} for c in calls],
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": usage.total_tokens,
                    },
                    "duration_ms": int(latency_ms),
                },
            )
            if not calls:
                text = stored.text()
                follow = None if planned is None else await planned.answered(text)
                if follow is not None:
                    # the plan's next step: one more user message on the same history
                    deps.add_message(Message.user(follow))
                    step_first_turn = turn
                    continue
                if deps.turn_complete is not None:
                    await deps.turn_complete(prompt, text)
                deps.emit(AgentEnd(text=text, usage=total))
                await deps.maybe_auto_compact()
                return AgentResult(
                    text=text,
                    messages=list(deps.messages),
                    usage=total,
                    tool_calls_count=tool_calls,
                    session_id=deps.session_id,
                    model=deps.model_name,
                    cost_usd=run_cost,
                    turns=turn,
                )
            tool_calls += len(calls)
            await _run_tools(deps, calls)
    except asyncio.CancelledError:
        if planned is not None:
            planned.abort(TaskStatus.CANCELLED)
        _close_dangling_calls(deps, "the run was interrupted")
        deps.emit(ErrorEvent(message="Run cancelled"))
        raise
    except SessionPausedError as exc:
        # a pause is not a failure: the state stays Paused, the history whole
        if planned is not None:
            planned.abort(TaskStatus.CANCELLED)
        deps.emit(StateChanged(state=SessionState.PAUSED.value, reason=str(exc)))
        raise
    except Exception as exc:
        if planned is not None:
            planned.abort(TaskStatus.FAILED)
        if turn and not any(m.role == "assistant" for m in deps.messages[before:]):
            # failed before any answer: the history is as it was before the prompt, or
            # every later prompt would drag the failed one along (the log keeps the try)
            _rollback(deps, before)
        else:
            _close_dangling_calls(deps, f"the run failed: {exc}")
        deps.set_error()
        deps.emit(ErrorEvent(message=str(exc)))
        raise


async def _generate_start(deps: RunDeps, prompt: str) -> None:
    """Fire ``generate_start`` before an LLM call; a block stops the run."""
    provider, model = split_model(deps.model_name)
    outcome = await deps.hooks.fire(
        "generate_start",
        {
            "session_id": deps.session_id,
            "prompt": prompt,
            "system_prompt": deps.system_prompt(),
            "model_provider": provider,
            "model_name": model,
            "available_tools": [d.name for d in deps.tools.definitions()],
        },
    )
    if outcome.decision == "block":
        raise HookBlockedError(
            f"Prompt blocked by hook '{outcome.hook}': {outcome.reason or 'Blocked'}"
        )


def _rollback(deps: RunDeps, length: int) -> None:
    messages = list(deps.messages[:length])
    deps.emit(
        HistoryReplaced(
            reason="rollback",
            messages=messages,
            used_tokens=deps.context_usage.used_tokens,
        )
    )


async def _call_llm(
    deps: RunDeps, context: str | None = None
) -> tuple[LlmResponse, float, float | None]:
    """One streamed call (the run's context appended to the system prompt); text and
    tool starts are forwarded as events."""
    llm = deps.llm
    started = time.perf_counter()
    ttft: float | None = None
    response: LlmResponse | None = None
    async for ev in llm.stream(
        list(deps.messages),
        system=with_context(deps.system_prompt(), context),
        tools=deps.tools.definitions(),
    ):
        if ttft is None and not isinstance(ev, Done):
            ttft = (time.perf_counter() - started) * 1000
        if isinstance(ev, TextDelta):
            deps.emit(TextDeltaEvent(text=ev.text))
        elif isinstance(ev, ReasoningDelta):
            deps.emit(ReasoningDeltaEvent(text=ev.text))
        elif isinstance(ev, ToolUseStart):
            deps.emit(ToolStart(id=ev.id, name=ev.name))
        elif isinstance(ev, Done):
            response = ev.response
    if response is None:
        raise AgentError(f"{llm.provider}/{llm.model}: the stream ended without a response")
    return response, (time.perf_counter() - started) * 1000, ttft


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels deep
    (iterative: a hostile value cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _refuse_deep_arguments(message: Message) -> Message:
    """The model's message with the arguments of every call nested too deep replaced by
    a parse error (the call then gets an error result, as for arguments that are not
    JSON). Kept as they were, they would break the run: the history could not be
    serialised for the log, the widgets or the next request."""
    blocks: list[Any] = []
    changed = False
    for block in message.content:
        if isinstance(block, ToolUseBlock) and _too_deep(block.input, MAX_ARGUMENT_DEPTH):
            problem = (
                f"the arguments for tool '{block.name}' are nested more than "
                f"{MAX_ARGUMENT_DEPTH} levels deep, so the call was not run. Send flatter "
                "arguments."
            )
            block = block.model_copy(update={"input": {PARSE_ERROR_KEY: problem}})
            changed = True
        blocks.append(block)
    return message.model_copy(update={"content": blocks}) if changed else message


def _close_dangling_calls(deps: RunDeps, why: str) -> None:
    """Give every unanswered tool call of the last assistant message an error result.

    Without this the next LLM call would be rejected (a tool_use with no tool_result).
    """
    if not deps.messages or deps.messages[-1].role != "assistant":
        return
    calls = deps.messages[-1].tool_calls()
    if not calls:
        return
    deps.add_message(_results_message(calls, {}, why))


async def _run_tools(deps: RunDeps, calls: list[ToolCall]) -> None:
    """Run one response's tool calls; results go back in call order as one message."""
    outcomes: dict[str, _Outcome] = {}
    parallel: list[ToolCall] = []
    sequential: list[ToolCall] = []
    # one decision per call, taken once: the gate may emit a security event and runs the
    # pre_tool_use hooks, whose rewritten arguments are what the call then runs with
    gates: dict[str, GateDecision] = {}
    for c in calls:
        if PARSE_ERROR_KEY not in c.args:
            gates[c.id] = await gate_tool_call(deps, c)
    calls = [
        c.model_copy(update={"args": g.args})
        if (g := gates.get(c.id)) is not None and g.args is not None
        else c
        for c in calls
    ]
    for call in calls:
        if _is_parallel_query(deps, call, gates.get(call.id)):
            parallel.append(call)
        else:
            sequential.append(call)

    async def one(call: ToolCall) -> None:
        outcomes[call.id] = await _run_one(deps, call, gates.get(call.id))

    # read-only tools that need no human run side by side in the Query lane; the rest
    # (and Query tools that need a confirmation: quirk 2 fixed) are taken one by one
    parallel_task = asyncio.gather(*(one(c) for c in parallel)) if parallel else None
    try:
        for call in sequential:
            await one(call)
        if parallel_task is not None:
            await parallel_task
    except BaseException:
        if parallel_task is not None:
            parallel_task.cancel()
            await asyncio.gather(parallel_task, return_exceptions=True)
        # keep what finished; calls that did not finish get an error result
        deps.add_message(_results_message(calls, outcomes, "the run was interrupted"))
        raise
    deps.add_message(_results_message(calls, outcomes, "no result"))


def _results_message(calls: list[ToolCall], outcomes: dict[str, _Outcome], why: str) -> Message:
    blocks = []
    for c in calls:
        o = outcomes.get(c.id)
        if o is None:
            blocks.append(
                ToolResultBlock(
                    tool_use_id=c.id, content=f"Tool '{c.name}' was not run: {why}.", is_error=True
                )
            )
        else:
            blocks.append(
                ToolResultBlock(tool_use_id=c.id, content=o.output, is_error=o.exit_code != 0)
            )
    return Message(role="user", content=list(blocks))


def _is_parallel_query(deps: RunDeps, call: ToolCall, gate: GateDecision | None) -> bool:
    if gate is None:
        return False
    if lane_of(deps.tools, call.name) is not SessionLane.QUERY:
        return False
    if gate.decision is PermissionDecision.ALLOW:
        return True
    if gate.decision is PermissionDecision.ASK and not gate.must_ask:
        return not deps.confirmations.requires_confirmation(call.name)
    return False


async def _run_one(deps: RunDeps, call: ToolCall, gate: GateDecision | None) -> _Outcome:
    """Decide, maybe confirm, execute, and emit ``tool_end`` for one call."""
    name, args = call.name, call.args
    if PARSE_ERROR_KEY in args or gate is None:
        return _finish(deps, call, f"Error: {args.get(PARSE_ERROR_KEY, 'bad arguments')}", 1)
    if gate.decision is PermissionDecision.DENY:
        deps.emit(PermissionDenied(tool_id=call.id, tool_name=name, args=args, reason=gate.reason))
        if gate.blocked_by_guard:
            text = f"Tool '{name}' was blocked by the security guard: {gate.reason}"
        elif gate.hook is not None:
            text = f"Permission denied: Tool '{name}' was not run. {gate.reason}"
        elif gate.rule is not None and gate.rule.startswith("protected:"):
            text = f"Permission denied: Tool '{name}' may not read this file: {gate.reason}."
        else:
            text = f"Permission denied: Tool '{name}' is blocked by permission policy."
        return _finish(deps, call, text, 1)
    needs_human = gate.decision is PermissionDecision.ASK and (
        gate.must_ask or deps.confirmations.requires_confirmation(name)
    )
    if needs_human and gate.must_ask and not deps.confirmations.policy.enabled:
        text = (
            f"Tool '{name}' needs a human approval ({gate.reason}) but confirmations are "
            "turned off for this deps, so it was not run."
        )
        deps.emit(PermissionDenied(tool_id=call.id, tool_name=name, args=args, reason=text))
        return _finish(deps, call, text, 1)
    if needs_human:
        fut = deps.confirmations.request_confirmation(
            call.id, name, args, reason=gate.reason, suggested_rule=gate.suggested_rule
        )
        response = await deps.confirmations.wait_for_decision(call.id, fut)
        if not response.approved:
            if response.timed_out:
                ms = deps.confirmations.policy.default_timeout_ms
                text = (
                    f"Tool '{name}' execution timed out waiting for confirmation ({ms}ms). "
                    "Execution rejected."
                )
            else:
                text = (
                    f"Tool '{name}' execution was rejected by user. "
                    f"Reason: {response.reason or 'No reason provided'}"
                )
            return _finish(deps, call, text, 1)
    return await _execute(deps, call)


async def _execute(deps: RunDeps, call: ToolCall) -> _Outcome:
    lane = lane_of(deps.tools, call.name)

    # a secret split across two output chunks is still caught
    stream = deps.stream_redactor()

    def emit_output(text: str) -> None:
        safe = stream.feed(text)
        if safe:
            deps.emit(ToolOutputDelta(id=call.id, name=call.name, delta=safe))

    policy = deps.permission_policy
    ctx = ToolContext(
        workspace=deps.workspace,
        session_id=deps.session_id,
        tool_id=call.id,
        emit_output=emit_output,
        set_tasks=deps.set_tasks,
        get_tasks=lambda: list(deps.tasks),
        env=scrubbed_environ(deps.config.env_passthrough),
        can_read=policy.can_read,
        run_subagent=deps.run_subagent,
    )
    started = time.perf_counter()

    async def run() -> ToolResult:
        return await deps.tools.execute(call.name, call.args, ctx)

    try:
        result = await deps.queue.submit(
            lane,
            run,
            command_type=call.name,
            payload=call.args,
            on_external=lambda outcome: external_tool_result(call.name, outcome),
        )
    except ExternalTaskError as exc:
        # the model reads why the handler failed (or never answered), like any tool error
        result = ToolResult.error(call.name, str(exc))
    tail = stream.flush()
    if tail:
        deps.emit(ToolOutputDelta(id=call.id, name=call.name, delta=tail))
    ms = int((time.perf_counter() - started) * 1000)
    deps.tool_metrics.record(call.name, result.exit_code == 0, ms)
    if "value" in result.metadata:
        deps.tool_values[call.id] = result.metadata["value"]
    output = deps.screen_tool_output(call, result.output)
    hooked = await deps.hooks.fire(
        "post_tool_use",
        {
            "session_id": deps.session_id,
            "tool": call.name,
            "args": call.args,
            "result": {
                "success": result.exit_code == 0,
                "output": output,
                "exit_code": result.exit_code,
                "duration_ms": ms,
            },
        },
        tool_id=call.id,
    )
    if hooked.output is not None:
        output = hooked.output
    return _finish(deps, call, output, result.exit_code, ms, result.metadata)


def external_tool_result(name: str, outcome: ExternalTaskResult) -> ToolResult:
    """A tool's result from an external handler's: a string is the output; a dict with
    ``output`` gives the output (and ``exit_code``); anything else is shown as JSON."""
    value = outcome.result
    if isinstance(value, ToolResult):
        return value
    if isinstance(value, str):
        return ToolResult(name=name, output=value)
    if isinstance(value, dict) and "output" in value:
        code = value.get("exit_code", 0)
        return ToolResult(
            name=name,
            output=str(value["output"]),
            exit_code=code if isinstance(code, int) else 1,
            metadata={"external": True},
        )
    return ToolResult(name=name, output=json.dumps(value, default=str))


def _finish(
    deps: RunDeps,
    call: ToolCall,
    output: str,
    exit_code: int,
    duration_ms: int = 0,
    metadata: dict[str, Any] | None = None,
) -> _Outcome:
    deps.emit(
        ToolEnd(
            id=call.id,
            name=call.name,
            output=output,
            exit_code=exit_code,
            duration_ms=duration_ms,
            args=call.args,
            media=valid_media((metadata or {}).get("media")),
        )
    )
    return _Outcome(call, output, exit_code, duration_ms)


def auto_compact_due(config: SessionConfig, cu: ContextUsage) -> bool:
    """Whether a session with this config and context usage crossed its auto-compaction
    threshold."""
    return config.auto_compact and should_auto_compact(
        cu.used_tokens, cu.max_tokens, config.auto_compact_threshold
    )
