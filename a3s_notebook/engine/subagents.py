"""Sub-agents: a ``task`` call runs a child session to its answer (engine-spec section 11).

A child is a session of its own (its history, its log file, ``parent_id`` set) made by the
parent's manager. What it may do is never wider than its parent:

- its tools are the parent's (all of them for a ``general`` sub-agent, the read-only ones
  for ``explore`` and ``plan``); ``task`` only while ``max_subagent_depth`` leaves a level;
- its permission rules, confirmation policy, security guard and environment are copies of
  the parent's, and the parent's hooks run in it too: what the parent denies or asks, the
  child denies or asks;
- its budget is what is left of the parent's; its model is the parent's, or one named in
  the parent's ``subagent_models``.

On the parent, the child shows as ``subagent_start``, ``subagent_progress`` (each turn and
tool call) and ``subagent_end`` events; its approval requests are repeated there (the
card names the child; deciding it on the parent decides the child's call) and its ledger
rows too (so the parent's totals and budget include its sub-agents). Cancelling the
parent's run cancels its children's.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine.config import SessionConfig
from a3s_notebook.engine.events import (
    AgentEvent,
    SubagentEnd,
    SubagentProgress,
    SubagentStart,
)
from a3s_notebook.engine.hitl import PendingConfirmationInfo
from a3s_notebook.engine.tools import ToolRegistry, ToolResult
from a3s_notebook.engine.tools._task import AGENT_TYPES, TaskTool

if TYPE_CHECKING:
    from a3s_notebook.engine.manager import SessionManager
    from a3s_notebook.engine.session import Session

__all__ = [
    "SubagentRunner",
    "child_config",
    "child_tools",
    "child_with_pending",
    "pending_of_children",
]

_FORWARDED = frozenset(
    {
        "usage_recorded",
        "confirmation_required",
        "confirmation_received",
        "confirmation_timeout",
        "confirmations_cancelled",
    }
)
_OUTPUT_HEAD = 300


def child_tools(parent: Session, agent: str) -> ToolRegistry:
    """The child's tools: the parent's, narrowed by the agent kind (the child's session
    adds ``task`` while its ``max_subagent_depth`` leaves a level)."""
    keep, _prompt = AGENT_TYPES[agent]
    registry = ToolRegistry()
    for name in parent.tools.names():
        tool = parent.tools.get(name)
        if tool is None or name.lower() == TaskTool.name:
            continue
        if keep is None or name.lower() in keep:
            registry.register(tool)
    return registry


def child_config(
    parent: Session, description: str, agent: str, max_steps: int | None
) -> SessionConfig:
    """The child's config: the parent's rules and limits (copies), one level less depth,
    the agent kind's system prompt and what is left of the parent's budget."""
    pc = parent.config
    steps = min(max_steps, pc.max_tool_rounds) if max_steps else pc.max_tool_rounds
    cost_left = None
    if pc.cost_limit_usd is not None:
        cost_left = max(0.0, pc.cost_limit_usd - (parent.total_cost or 0.0))
    tokens_left = None
    if pc.token_limit is not None:
        tokens_left = max(0, pc.token_limit - parent.total_usage.total_tokens)
    policy = pc.permission_policy.model_copy(deep=True) if pc.permission_policy else None
    return SessionConfig(
        name=f"{parent.name} / {description}"[:200],
        workspace=pc.workspace,
        system_prompt=AGENT_TYPES[agent][1],
        max_context_length=pc.max_context_length,
        auto_compact=pc.auto_compact,
        auto_compact_threshold=pc.auto_compact_threshold,
        storage_type=pc.storage_type,
        queue_config=pc.queue_config.model_copy(deep=True) if pc.queue_config else None,
        confirmation_policy=parent.confirmations.policy.model_copy(deep=True),
        permission_policy=policy,
        security_config=(pc.security_config.model_copy(deep=True) if pc.security_config else None),
        env_passthrough=list(pc.env_passthrough),
        max_tool_rounds=steps,
        cost_limit_usd=cost_left,
        token_limit=tokens_left,
        # a read-only kind starts no sub-agents of its own
        max_subagent_depth=(
            max(0, pc.max_subagent_depth - 1) if AGENT_TYPES[agent][0] is None else 0
        ),
        max_parallel_subagents=pc.max_parallel_subagents,
        subagent_models=list(pc.subagent_models),
    )


class _ChildCancelled(Exception):
    """The child's run was cancelled on its own (not with its parent's)."""


def _label(child: Session) -> str:
    return child.config.name.rsplit(" / ", 1)[-1] or child.id


class SubagentRunner:
    """Runs one session's ``task`` calls; made by the manager for each of its sessions."""

    def __init__(self, manager: SessionManager, parent: Session) -> None:
        self._manager = weakref.ref(manager)
        self._parent = weakref.ref(parent)
        # one bound per event loop (asyncio primitives belong to the loop they first wait on)
        self._slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()
        self.running: dict[str, str] = {}
        """Child session ids of the sub-agents running now, by the ``task`` call's id."""

    def _slot(self, limit: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        found = self._slots.get(loop)
        if found is None or found[0] != limit:
            # a changed limit applies to the calls that start from now on
            found = self._slots[loop] = (limit, asyncio.Semaphore(limit))
        return found[1]

    async def run(self, tool_id: str, args: dict[str, Any]) -> ToolResult:
        """Run one ``task`` call's sub-agent to its answer; the answer (and its cost) is
        the tool's result. Waits while ``max_parallel_subagents`` children run."""
        manager, parent = self._manager(), self._parent()
        if manager is None or parent is None:
            return ToolResult.error("task", "Tool 'task': the session's manager is gone")
        if parent.config.max_subagent_depth < 1:
            return ToolResult.error(
                "task",
                f"Tool 'task' is not available in session {parent.id}: "
                "SessionConfig.max_subagent_depth is 0 (no more levels of sub-agents)",
            )
        model = args.get("model")
        if model is not None and model not in parent.config.subagent_models:
            allowed = ", ".join(parent.config.subagent_models) or "none"
            return ToolResult.error(
                "task",
                f"Tool 'task': model {model!r} is not allowed for sub-agents of this session "
                f"(SessionConfig.subagent_models: {allowed}); leave 'model' out to use "
                "the session's own",
            )
        description = str(args["description"]).strip()
        agent = str(args.get("agent", "general"))
        steps = args.get("max_steps")
        async with self._slot(parent.config.max_parallel_subagents):
            return await self._run_child(
                manager, parent, tool_id, description, agent, str(args["prompt"]), steps, model
            )

    async def _run_child(
        self,
        manager: SessionManager,
        parent: Session,
        tool_id: str,
        description: str,
        agent: str,
        prompt: str,
        steps: int | None,
        model: str | None,
    ) -> ToolResult:
        config = child_config(parent, description, agent, int(steps) if steps else None)
        tools = child_tools(parent, agent)
        llm = None
        if model is None:
            # a client may make one of its own per child (the scripted model does: each
            # child follows its own script)
            make = getattr(parent.llm, "for_subagent", None)
            llm = make(description) if callable(make) else parent.llm
        child = manager.create_child_session(parent.id, config, model=model, llm=llm, tools=tools)
        self.running[tool_id] = child.id
        parent._emit(
            SubagentStart(
                task_id=tool_id,
                session_id=child.id,
                parent_session_id=parent.id,
                agent=agent,
                description=description,
            )
        )
        unsubscribe = child.subscribe(lambda ev: self._forward(parent, child, tool_id, ev))
        # the child runs as a task of its own: cancelling the parent's run cancels it (an
        # awaited task is cancelled with its awaiter), cancelling the child alone does not
        # cancel the parent's run (the call then fails)
        run = asyncio.ensure_future(child.send_async(prompt))
        try:
            try:
                result = await run
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    raise
                raise _ChildCancelled(f"the sub-agent was cancelled (session {child.id})") from None
        except asyncio.CancelledError:
            parent._emit(
                SubagentEnd(
                    task_id=tool_id,
                    session_id=child.id,
                    agent=agent,
                    output="cancelled",
                    success=False,
                )
            )
            raise
        except Exception as exc:
            parent._emit(
                SubagentEnd(
                    task_id=tool_id,
                    session_id=child.id,
                    agent=agent,
                    output=str(exc),
                    success=False,
                )
            )
            return ToolResult(
                name="task",
                output=f"Sub-agent '{description}' (session {child.id}) failed: {exc}",
                exit_code=1,
                metadata={"session_id": child.id},
            )
        finally:
            unsubscribe()
            self.running.pop(tool_id, None)
        parent._emit(
            SubagentEnd(
                task_id=tool_id, session_id=child.id, agent=agent, output=result.text, success=True
            )
        )
        cost = "unknown" if result.cost_usd is None else f"${result.cost_usd:.6f}"
        est = " (estimated)" if result.usage.estimated else ""
        footer = (
            f"\n\n[sub-agent session {child.id}: {result.turns} LLM calls, "
            f"{result.tool_calls_count} tool calls, {result.usage.total_tokens} tokens{est}, "
            f"cost {cost}]"
        )
        return ToolResult(
            name="task",
            output=result.text + footer,
            metadata={
                "session_id": child.id,
                "cost_usd": result.cost_usd,
                "total_tokens": result.usage.total_tokens,
            },
        )

    def _forward(self, parent: Session, child: Session, tool_id: str, ev: AgentEvent) -> None:
        """Repeat on the parent what its subscribers need of the child's run."""
        t = ev.type
        if t in _FORWARDED:
            if t == "confirmation_required":
                why = getattr(ev, "reason", None) or "approval needed"
                ev = ev.model_copy(update={"reason": f"sub-agent '{_label(child)}': {why}"})
            parent._emit(ev)
        elif t == "turn_start":
            self._progress(parent, child, tool_id, "turn", {"turn": getattr(ev, "turn", 0)})
        elif t == "tool_start":
            meta = {"tool_id": getattr(ev, "id", ""), "tool": getattr(ev, "name", "")}
            self._progress(parent, child, tool_id, "tool_start", meta)
        elif t == "tool_end":
            output = str(getattr(ev, "output", ""))
            meta = {
                "tool_id": getattr(ev, "id", ""),
                "tool": getattr(ev, "name", ""),
                "args": getattr(ev, "args", None),
                "exit_code": getattr(ev, "exit_code", 0),
                "output": output[:_OUTPUT_HEAD] + ("…" if len(output) > _OUTPUT_HEAD else ""),
            }
            self._progress(parent, child, tool_id, "tool_end", meta)

    @staticmethod
    def _progress(
        parent: Session, child: Session, tool_id: str, status: str, meta: dict[str, Any]
    ) -> None:
        parent._emit(
            SubagentProgress(task_id=tool_id, session_id=child.id, status=status, metadata=meta)
        )


def pending_of_children(manager: SessionManager, parent_id: str) -> list[PendingConfirmationInfo]:
    """The pending approvals of a session's children in memory (and theirs), each reason
    naming the child."""
    found: list[PendingConfirmationInfo] = []
    for child in manager.get_child_sessions(parent_id):
        for p in child.pending_confirmations():
            why = p.reason or "approval needed"
            if not why.startswith("sub-agent '"):
                why = f"sub-agent '{_label(child)}': {why}"
            found.append(p.model_copy(update={"reason": why}))
    return found


def child_with_pending(manager: SessionManager, parent_id: str, tool_id: str) -> Session | None:
    """The child of a session whose approval ``tool_id`` is pending (its own, or one of
    its children's: that child then passes the decision on)."""
    for child in manager.get_child_sessions(parent_id):
        if any(p.tool_id == tool_id for p in child.pending_confirmations()):
            return child
    return None
