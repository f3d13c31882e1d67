"""A session: history, state, context usage, tasks, policies, the cost ledger, events.

Sessions are made by :class:`a3s_notebook.engine.manager.SessionManager`. Every entry
point has a sync and an async form (``send`` / ``send_async``, ``stream`` /
``stream_async``, ``compact`` / ``compact_async``); the sync forms work in a script, in
terminal IPython and inside a running Jupyter kernel.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine import _sync
from a3s_notebook.engine._ledger import LedgerTotals, build_cost_record, check_budget
from a3s_notebook.engine._log import read_log
from a3s_notebook.engine._protect import Protection
from a3s_notebook.engine._run import RunDeps, workspace_of
from a3s_notebook.engine._secrets import SecretRegistry, StreamRedactor
from a3s_notebook.engine._state import apply, initial_state
from a3s_notebook.engine.agent import AgentResult, auto_compact_due, run_agent
from a3s_notebook.engine.compaction import compact_messages, estimate_tokens
from a3s_notebook.engine.config import (
    ContextUsage,
    SessionConfig,
    SessionState,
)
from a3s_notebook.engine.context import (
    DEFAULT_PROVIDER_TIMEOUT_S,
    ContextProvider,
    ContextQuery,
    MemoryContextProvider,
    as_provider,
    resolve_context,
    turn_complete,
)
from a3s_notebook.engine.errors import (
    ConfigError,
    SessionPausedError,
    StoreError,
)
from a3s_notebook.engine.events import (
    DURABLE_TYPES,
    AgentEvent,
    ConfigChanged,
    ContextCompacted,
    ContextUsageUpdated,
    HistoryReplaced,
    HookDecision,
    MessageAdded,
    PersistenceFailed,
    SessionCreated,
    StateChanged,
    TaskUpdated,
    TurnStart,
    UsageRecorded,
    event_to_dict,
)
from a3s_notebook.engine.hitl import (
    ConfirmationManager,
    ConfirmationPolicy,
    PendingConfirmationInfo,
)
from a3s_notebook.engine.hooks import Hook, HookEngine
from a3s_notebook.engine.lanes import (
    DeadLetter,
    ExternalHandler,
    ExternalTask,
    LaneHandlerConfig,
    LaneQueue,
    QueueMetrics,
    QueueStats,
    SessionLane,
    SessionQueueConfig,
    TaskHandlerMode,
)
from a3s_notebook.engine.permissions import PermissionPolicy
from a3s_notebook.engine.security import SecurityGuard
from a3s_notebook.engine.skills import Skill, find_skills, load_skill_file, resolve_tool
from a3s_notebook.engine.store import FORMAT_VERSION, SessionStore
from a3s_notebook.engine.tasks import AgentGoal, ExecutionPlan, Task, TaskStatus
from a3s_notebook.engine.telemetry import LlmCostRecord, ToolMetrics
from a3s_notebook.engine.tools import FunctionTool, Tool, ToolRegistry, scrubbed_environ
from a3s_notebook.engine.tools._memory import MEMORY_TOOL_NAMES, memory_tools
from a3s_notebook.engine.tools._web import install_web_tools
from a3s_notebook.llm.types import (
    LlmClient,
    LlmResponse,
    Message,
    TokenUsage,
)

if TYPE_CHECKING:
    import pandas as pd

    from a3s_notebook.engine.manager import SessionManager
    from a3s_notebook.engine.memory import AgentMemory, MemoryItem, MemoryStore
    from a3s_notebook.engine.subagents import SubagentRunner

__all__ = ["Session"]

logger = logging.getLogger(__name__)

# a tool's whole output is in the history (message_added); its tool_end line keeps a head
_MAX_PERSISTED_OUTPUT = 2000

Subscriber = Callable[[AgentEvent], None]


class _BoundedValues(OrderedDict[str, Any]):
    """An insertion-ordered dict that forgets its oldest entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)


class Session:
    """One agent conversation with its own model, workspace, policies and ledger."""

    def __init__(
        self,
        session_id: str,
        config: SessionConfig,
        *,
        model_name: str,
        tools: ToolRegistry,
        store: SessionStore | None = None,
        llm: LlmClient | None = None,
        llm_factory: Callable[[], LlmClient] | None = None,
        llm_config: dict[str, Any] | None = None,
        created_at: float | None = None,
        hook_parent: HookEngine | None = None,
    ) -> None:
        self.id = session_id
        if config.permission_policy is None:
            config.permission_policy = PermissionPolicy()
        self._created = SessionCreated(
            session_id=session_id,
            format=FORMAT_VERSION,
            created_at=time.time() if created_at is None else created_at,
            model=model_name,
            llm_config=llm_config,
            config=config.to_dict(),
        )
        # all state lives here and changes only by events (see _state.apply)
        self._data = initial_state(self._created)
        self._data.config = config
        self.tools = tools
        install_web_tools(tools, config.web_fetch, config.web_search)
        self.tool_metrics = ToolMetrics()
        # the last whole values tools returned, by call id (bounded: objects can be large)
        self._tool_values: _BoundedValues = _BoundedValues(100)
        self.provenance: dict[str, Any] | None = None
        """Which notebook cell asked, during a run started with ``provenance=``."""
        self._store = store
        # lines a failed write left to write later, oldest first (see _write)
        self._unwritten: list[dict[str, Any]] = []
        self._write_lock = threading.Lock()
        self._llm = llm
        self._llm_factory = llm_factory
        self._subscribers: list[Subscriber] = []
        self._replaying = False
        self.queue = LaneQueue(config.queue_config, session_id=session_id, emit=self._emit)
        self.confirmations = ConfirmationManager(
            config.confirmation_policy or ConfirmationPolicy.enabled_policy(), self._emit
        )
        self._runs: set[asyncio.Task[Any]] = set()
        self._homes: dict[asyncio.Task[Any], asyncio.AbstractEventLoop] = {}
        self._window_probed = False
        self._mcp: dict[str, Any] = {}
        self._mcp_pending: set[str] = set()
        self._skills: dict[str, Skill] = {}
        self._skill_tools: dict[str, list[str]] = {}
        self._protect = Protection(self._emit)
        self.secrets: SecretRegistry = self._protect.secrets
        """Values that never leave the process: they become ``[REDACTED:<name>]``."""
        self._protect.load_known_secrets(self.workspace)
        self._protect.configure(config.security_config)
        self._totals = LedgerTotals(lambda: self._data.cost_records)
        self._manager: SessionManager | None = None
        self._subagents: SubagentRunner | None = None
        self._sync_task_tool()
        self.hooks = HookEngine(
            parent=hook_parent,
            emit_decision=self._hook_decided,
            workspace=lambda: self.workspace,
            environ=lambda: scrubbed_environ(self.config.env_passthrough),
        )
        """The session's hooks (spec section 12); the manager's hooks run here too."""
        # (provider, timeout) pairs, replaced whole on change (a run reads one list)
        self._context_providers: list[tuple[ContextProvider, float]] = []
        self.memory: AgentMemory | None = None
        """The agent's memory when ``config.memory`` turns it on (else None)."""
        self._memory_key: tuple[str, str] | None = None
        self._sync_memory()

    # --- state (derived from the log) -----------------------------------------------

    @property
    def config(self) -> SessionConfig:
        """The session's config. Change it with :meth:`update_config` (or the rule
        methods) so that the change is in the log; a field set directly is not persisted."""
        return self._data.config

    @property
    def state(self) -> SessionState:
        """Active, Paused, Completed or Error."""
        return self._data.state

    @property
    def messages(self) -> list[Message]:
        """The history (the live list: read it, change it only through the session)."""
        return self._data.messages

    @property
    def cost_records(self) -> list[LlmCostRecord]:
        """The ledger: one record per LLM call."""
        return self._data.cost_records

    @property
    def tasks(self) -> list[Task]:
        """The agent's task list."""
        return self._data.tasks

    @property
    def plan(self) -> ExecutionPlan | None:
        """The last plan made (``planning_enabled`` or ``send(..., plan=True)``), with
        its steps' statuses; kept by a restore."""
        return self._data.plan

    @property
    def goal(self) -> AgentGoal | None:
        """The last goal extracted (``goal_tracking``), with its progress; kept by a
        restore."""
        return self._data.goal

    @property
    def context_usage(self) -> ContextUsage:
        """How full the context window is."""
        return self._data.context_usage

    @property
    def model_name(self) -> str:
        """``provider/model``."""
        return self._data.model_name

    @property
    def llm_config(self) -> dict[str, Any] | None:
        """Provider, model and base URL (credentials masked); never a key."""
        return self._data.llm_config

    @property
    def created_at(self) -> float:
        """Unix time the session was created."""
        return self._data.created_at

    @property
    def updated_at(self) -> float:
        """Unix time of the last event that changed or recorded something."""
        return self._data.updated_at

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain data (a restored session has the same snapshot)."""
        return self._data.comparable()

    # --- identity and views -------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"Session(id={self.id!r}, name={self.config.name!r}, model={self.model_name!r}, "
            f"state={self.state.value}, messages={len(self.messages)})"
        )

    @property
    def name(self) -> str:
        """The config's name, or the id when the name is empty."""
        return self.config.name or self.id

    @property
    def title(self) -> str | None:
        """The session's short title (``config.title``), if one was generated or set."""
        return self.config.title

    @property
    def workspace(self) -> Path:
        """The folder the tools may touch."""
        return workspace_of(self.config)

    @property
    def permission_policy(self) -> PermissionPolicy:
        """The session's permission rules (shared, mutable)."""
        policy = self.config.permission_policy
        assert policy is not None
        return policy

    @property
    def llm(self) -> LlmClient:
        """The session's LLM client, created on first use (so a restore needs no key)."""
        if self._llm is None:
            if self._llm_factory is None:
                raise RuntimeError(
                    f"LLM client not configured for session {self.id}. "
                    "Pass model='provider/model' when creating it."
                )
            self._llm = self._llm_factory()
        return self._llm

    def system_prompt(self) -> str | None:
        """The system prompt sent with every call: the config's, then each loaded skill."""
        parts = [self.config.system_prompt or ""]
        parts += [skill.prompt() for skill in self._skills.values()]
        text = "\n\n".join(p for p in parts if p)
        return text or None

    # --- skills --------------------------------------------------------------------

    def available_skills(self) -> dict[str, Path]:
        """Skill files by name: the workspace's ``skills/``, then ``~/.a3s/skills``."""
        return find_skills(self.workspace)

    def skills(self) -> list[Skill]:
        """The loaded skills."""
        return list(self._skills.values())

    def load_skill(self, name_or_path: str) -> Skill:
        """Load a skill (by name, or a path to its ``.md``): its text joins the system
        prompt, its tools join the agent's, its ``allowed-tools`` rules are added. Kept in
        the config, so a restore loads it again."""
        skill = self._read_skill(name_or_path)
        self._activate(skill, name_or_path)
        if name_or_path not in self.config.skills:
            self.config.skills.append(name_or_path)
        self._config_changed()
        self._fire_skill_hook(
            "skill_load",
            {
                "skill_name": skill.name,
                "tool_names": self._skill_tools.get(name_or_path, []),
                "description": skill.description,
                "loaded_at": time.time(),
            },
        )
        return skill

    def unload_skill(self, name: str) -> bool:
        """Remove a loaded skill's text, tools and rules (a rule another loaded skill also
        grants stays); True if it was loaded."""
        key = next((k for k, s in self._skills.items() if name in (k, s.name)), None)
        if key is None:
            return False
        skill = self._skills.pop(key)
        tool_names = self._skill_tools.pop(key, [])
        for tool_name in tool_names:
            self.tools.unregister(tool_name)
        self._fire_skill_hook("skill_unload", {"skill_name": skill.name, "tool_names": tool_names})
        still = {r for s in self._skills.values() for r in s.allowed_tools}
        for rule in skill.allowed_tools:
            if rule not in still:
                self.permission_policy.remove_rule(rule, "allow")
        self.config.skills = [s for s in self.config.skills if s != key]
        self._config_changed()
        return True

    def _fire_skill_hook(self, event: str, payload: dict[str, Any]) -> None:
        # skills change from sync code (a magic, a cell); their hooks are notifications
        if not self.hooks.matching(event, payload):
            return
        _sync.run_sync(lambda: self.hooks.fire(event, payload), name=event)

    def _read_skill(self, name_or_path: str) -> Skill:
        path = Path(name_or_path).expanduser()
        if path.suffix == ".md" or path.is_file():
            if not path.is_absolute():
                path = self.workspace / path
            return load_skill_file(path)
        found = self.available_skills().get(name_or_path)
        if found is None:
            known = ", ".join(sorted(self.available_skills())) or "none found"
            raise ConfigError(
                f"no skill '{name_or_path}' in {self.workspace / 'skills'} or ~/.a3s/skills "
                f"(available: {known}); pass a path to its .md file instead"
            )
        return load_skill_file(found)

    def _activate(self, skill: Skill, key: str) -> None:
        added: list[str] = []
        for reference in skill.tools:
            fn = resolve_tool(reference, f"skill '{skill.name}'")
            added.append(self.add_tool(fn).name)
        for rule in skill.allowed_tools:
            self.permission_policy.add_rule("allow", rule)
        self._skills[key] = skill
        self._skill_tools[key] = added

    def _sync_skills(self) -> None:
        # a restore (or a config change) names the skills that must be loaded
        for key in list(self.config.skills):
            if key not in self._skills:
                try:
                    self._activate(self._read_skill(key), key)
                except ConfigError as exc:
                    logger.warning("session %s: skill %s not loaded: %s", self.id, key, exc)

    def history(self) -> list[Message]:
        """A copy of the conversation."""
        return list(self.messages)

    @property
    def total_usage(self) -> TokenUsage:
        """Tokens over all calls, derived from the ledger."""
        return self._totals.usage

    @property
    def total_cost(self) -> float | None:
        """USD over all priced calls, derived from the ledger; None if no call has a price."""
        return self._totals.cost

    def costs(self) -> pd.DataFrame:
        """The cost ledger as a pandas DataFrame, one row per LLM call."""
        from a3s_notebook.analysis.costs import records_frame

        return records_frame(self.cost_records)

    # --- secrets and the security guard (engine/_protect.py) -----------------------

    @property
    def security_guard(self) -> SecurityGuard | None:
        """The security guard, when ``config.security_config`` turns it on."""
        return self._protect.guard

    @security_guard.setter
    def security_guard(self, guard: SecurityGuard | None) -> None:
        self._protect.guard = guard

    def add_secret(self, name: str, value: str) -> None:
        """Register one more value to redact everywhere (e.g. a token your tools use)."""
        self.secrets.add(name, value)

    def stream_redactor(self) -> StreamRedactor:
        """A redactor for one stream of chunks (tool output, model text)."""
        return self._protect.stream_redactor()

    # --- events --------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: AgentEvent) -> None:
        """Log a durable event, apply it to the state, then tell the subscribers."""
        event = self._protect.redact_event(event)
        if event.type in DURABLE_TYPES:
            ts = time.time()
            self._write(event, ts)
            apply(self._data, event, ts)
            if isinstance(event, ConfigChanged):
                self._config_applied()
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                # a broken subscriber (a widget, a logger) must not break the run
                logger.exception("session %s: event subscriber failed on %s", self.id, event.type)

    # --- persistence ---------------------------------------------------------------

    def _write(self, event: AgentEvent, ts: float) -> None:
        """Append one event to the log: its JSON plus ``ts``, one line.

        A line that cannot be written now (a full disk) is kept, in order, and written
        before the next one: the file is always a prefix of the live log, and a disk that
        had a moment loses nothing. Each failure is a ``persistence_failed`` event.
        """
        if self._store is None:
            return
        line = event_to_dict(event)
        if event.type == "tool_end":
            output = line.get("output")
            if isinstance(output, str) and len(output) > _MAX_PERSISTED_OUTPUT:
                line["output"] = output[:_MAX_PERSISTED_OUTPUT] + "…"
        line["ts"] = ts
        with self._write_lock:
            self._unwritten.append(line)
        self._flush_log(event.type)

    def _flush_log(self, operation: str) -> bool:
        """Write the lines not yet in the log, oldest first; True when none is left."""
        failures: list[PersistenceFailed] = []
        with self._write_lock:
            store = self._store
            while store is not None and self._unwritten:
                try:
                    store.append(self.id, self._unwritten[0])
                except Exception as exc:
                    kept = len(self._unwritten)
                    logger.warning(
                        "session %s: could not persist %s (%d line(s) kept to write later): %s",
                        self.id,
                        operation,
                        kept,
                        exc,
                    )
                    failures.append(
                        PersistenceFailed(session_id=self.id, operation=operation, error=str(exc))
                    )
                    break
                self._unwritten.pop(0)
            done = not self._unwritten
        # told outside the lock: a subscriber may emit (and so write) in turn
        for failed in failures:
            for callback in list(self._subscribers):
                try:
                    callback(failed)
                except Exception:
                    logger.exception("event subscriber failed")
        return done

    def _start_log(self) -> None:
        """Write the first line of a new session's log; raise when it cannot be written
        (a read-only folder, a full disk), so a session never starts without its file."""
        if self._store is None:
            return
        line = event_to_dict(self._protect.redact_event(self._created))
        line["ts"] = self._created.created_at
        self._store.append(self.id, line)

    def _close_log(self) -> None:
        """Stop writing: later events (a cancelled run's cleanup) reach no file."""
        with self._write_lock:
            self._store = None
            self._unwritten.clear()

    def _replay(self, entries: list[tuple[float | None, AgentEvent]]) -> None:
        """Rebuild the state from logged events (a restore): apply, no writes, no events."""
        for ts, event in entries:
            if event.type in DURABLE_TYPES:
                apply(self._data, event, ts)
        self._config_applied()

    def _config_applied(self) -> None:
        # the parts of the session built from the config follow it
        if self.config.permission_policy is None:
            self.config.permission_policy = PermissionPolicy()
        self.confirmations.set_policy(
            self.config.confirmation_policy or ConfirmationPolicy.enabled_policy()
        )
        self._protect.configure(self.config.security_config)
        self._sync_skills()
        self._sync_task_tool()
        self._sync_memory()
        self.queue.reconfigure(self.config.queue_config)

    def _config_changed(self) -> None:
        self._emit(ConfigChanged(config=self.config.to_dict()))

    def update_config(self, **fields: Any) -> SessionConfig:
        """Change config fields and log the change, e.g. ``update_config(cost_limit_usd=2)``.

        Bad values raise :class:`ConfigError` naming the field; nothing changes then.
        """
        merged = {**self.config.to_dict(), **fields}
        SessionConfig.from_dict(merged)  # validate everything before changing anything
        self._emit(ConfigChanged(config=merged))
        return self.config

    # --- history, usage, tasks -----------------------------------------------------

    def _add_message(self, message: Message) -> Message:
        """Append a message (redacted first: the model, the file and the widgets see the
        same text) and return what was stored."""
        message = self._protect.redact_message(message)
        self._emit(MessageAdded(message=message))
        return message

    def _record_usage(
        self,
        usage: TokenUsage,
        *,
        turn: int | None,
        latency_ms: float | None,
        ttft_ms: float | None,
        tool_names: list[str],
        purpose: str = "generate",
        move_context: bool = True,
    ) -> LlmCostRecord:
        """Append a ledger row for one call and move the context bar."""
        record = build_cost_record(
            self.id,
            self.model_name,
            usage,
            turn=turn,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            tool_names=tool_names,
            provenance=self.provenance,
            purpose=purpose,
        )
        if self.config.parent_id is not None:
            record = record.model_copy(update={"parent_id": self.config.parent_id})
        self._emit(UsageRecorded(record=record))
        if move_context:
            # the usage event moved the window already; this tells the widgets
            self._emit_context()
        return record

    def _set_context_used(self, used: int) -> None:
        cu = self.context_usage
        self._emit(
            ContextUsageUpdated(
                used_tokens=used,
                max_tokens=cu.max_tokens,
                percent=used / cu.max_tokens if cu.max_tokens else 0.0,
                turns=len(self.messages),
            )
        )

    def _emit_context(self) -> None:
        cu = self.context_usage
        self._emit(
            ContextUsageUpdated(
                used_tokens=cu.used_tokens,
                max_tokens=cu.max_tokens,
                percent=cu.percent,
                turns=cu.turns,
            )
        )

    def set_tasks(self, tasks: list[Task]) -> None:
        """Replace the task list and broadcast ``task_updated``."""
        self._emit(TaskUpdated(session_id=self.id, tasks=list(tasks)))

    def get_tasks(self) -> list[Task]:
        """A copy of the task list."""
        return list(self.tasks)

    def active_task_count(self) -> int:
        """Tasks that are pending or in progress."""
        return sum(1 for t in self.tasks if TaskStatus(t.status).is_active())

    def _check_budget(self) -> None:
        check_budget(self.id, self.config, self._totals, self._emit)

    # --- state ---------------------------------------------------------------------

    def _set_state(self, state: SessionState, reason: str | None = None) -> None:
        self._emit(StateChanged(state=state.value, reason=reason))

    def pause(self) -> bool:
        """Active -> Paused; returns False (and changes nothing) from any other state.

        A run going on stops at its next turn boundary (its ``send`` raises
        :class:`SessionPausedError`); ``resume()`` and a new ``send()`` go on from there.
        """
        if self.state is not SessionState.ACTIVE:
            return False
        self._set_state(SessionState.PAUSED)
        return True

    def resume(self) -> bool:
        """Paused -> Active; returns False from any other state."""
        if self.state is not SessionState.PAUSED:
            return False
        self._set_state(SessionState.ACTIVE)
        return True

    def set_completed(self) -> None:
        """Mark the session completed."""
        self._set_state(SessionState.COMPLETED)

    def _set_error(self) -> None:
        self._set_state(SessionState.ERROR)

    # --- rules and confirmations ---------------------------------------------------

    def allow(self, rule: str) -> None:
        """Add an allow rule such as ``"Bash(git:*)"`` (persisted)."""
        self.permission_policy.add_rule("allow", rule)
        self._config_changed()

    def deny(self, rule: str) -> None:
        """Add a deny rule (persisted)."""
        self.permission_policy.add_rule("deny", rule)
        self._config_changed()

    def ask(self, rule: str) -> None:
        """Add an ask rule (persisted)."""
        self.permission_policy.add_rule("ask", rule)
        self._config_changed()

    def remove_rule(self, rule: str, kind: str | None = None) -> bool:
        """Remove a rule from the allow / deny / ask lists; True if one was removed."""
        removed = self.permission_policy.remove_rule(rule, kind)
        if removed:
            self._config_changed()
        return removed

    # --- tools of your own ------------------------------------------------------------

    def add_tool(self, fn: Callable[..., Any] | Tool, **options: Any) -> Tool:
        """Give the agent a tool: a Python function (sync or async; its schema comes from
        the signature, type hints and docstring) or a ready :class:`Tool`. ``options`` are
        :func:`a3s_notebook.engine.tools.tool`'s: ``name``, ``description``, ``lane``
        (``"query"`` for read-only tools, which run in parallel), ``needs_approval``,
        ``timeout``. The session's rules apply to it like to any tool. Returns the tool."""
        if isinstance(fn, Tool) and not options:
            made: Tool = fn
        else:
            if isinstance(fn, FunctionTool):
                fn = fn.fn
            if not callable(fn):
                raise TypeError(f"add_tool() takes a function or a Tool, got {type(fn).__name__}")
            made = FunctionTool(fn, **options)
        self.tools.register(made)
        return made

    def tool(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Decorator form of :meth:`add_tool`: ``@session.tool`` or
        ``@session.tool(lane="query")``; the function stays callable."""
        if fn is not None:
            return self.add_tool(fn, **options)

        def register(f: Callable[..., Any]) -> Any:
            return self.add_tool(f, **options)

        return register

    def tool_value(self, tool_id: str) -> Any:
        """The whole value a tool call returned (a DataFrame, a model...), when the tool
        kept one: the model and the log got its text. ``KeyError`` for other calls; the
        last 100 are kept, in memory only."""
        return self._tool_values[tool_id]

    def missing_tools(self) -> list[str]:
        """Tools the model had in this session's last logged call that are not registered
        now (after a restore: your functions and MCP servers are not in the file; add
        them again with :meth:`add_tool` / :meth:`add_mcp_server` and they work by name)."""
        last: list[str] = []
        for _ts, event in self.log():
            if isinstance(event, TurnStart) and event.tools is not None:
                last = event.tools
        return [name for name in last if name not in self.tools]

    def remove_tool(self, name: str) -> bool:
        """Take a tool away from the agent; True if it had one by that name."""
        return self.tools.unregister(name)

    async def add_mcp_server_async(
        self,
        name: str,
        command: str | None = None,
        args: Sequence[str] = (),
        *,
        url: str | None = None,
        env_passthrough: Sequence[str] = (),
        headers_from_env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        start: bool = False,
    ) -> list[str]:
        """Connect an MCP server (stdio ``command``/``args`` or streamable HTTP ``url``) and
        give the agent its tools, named ``mcp__<name>__<tool>``.

        The server starts lazily, at the next prompt (its tools are listed then), unless
        ``start=True``; returns the tool names when started now, else ``[]``.

        The server runs with a scrubbed environment plus the variables named in
        ``env_passthrough``; HTTP headers come from the variables named in
        ``headers_from_env``. Rules apply as to any tool (``mcp__<name>`` covers the server).
        A server of the same name is replaced.
        """
        from a3s_notebook.engine.mcp import McpConnection, McpServer

        self.remove_mcp_server(name)
        server = McpServer(
            name=name,
            command=command,
            args=tuple(args),
            url=url,
            env_passthrough=tuple(env_passthrough),
            headers_from_env=dict(headers_from_env or {}),
            cwd=str(self.workspace),
            timeout=timeout,
        )
        connection = McpConnection(server)
        self._mcp[name] = connection
        if not start:
            self._mcp_pending.add(name)
            return []
        return await self._start_mcp(name)

    async def _start_mcp(self, name: str) -> list[str]:
        from a3s_notebook.engine.mcp import add_mcp_tools

        self._mcp_pending.discard(name)
        try:
            return await add_mcp_tools(self.tools, self._mcp[name])
        except BaseException:
            self.remove_mcp_server(name)
            raise

    async def start_mcp_servers(self) -> dict[str, list[str]]:
        """Start the MCP servers added but not started yet; their tool names by server."""
        return {name: await self._start_mcp(name) for name in sorted(self._mcp_pending)}

    def add_mcp_server(
        self, name: str, command: str | None = None, *a: Any, **kw: Any
    ) -> list[str]:
        """Sync form of :meth:`add_mcp_server_async`."""
        return _sync.run_sync(
            lambda: self.add_mcp_server_async(name, command, *a, **kw), name="add_mcp_server"
        )

    def mcp_servers(self) -> dict[str, Any]:
        """The connected MCP servers by name (their ``McpConnection``)."""
        return dict(self._mcp)

    def remove_mcp_server(self, name: str) -> bool:
        """Take an MCP server's tools away and stop the server; True if there was one."""
        connection = self._mcp.pop(name, None)
        self._mcp_pending.discard(name)
        if connection is None:
            return False
        from a3s_notebook.engine.mcp import remove_mcp_tools

        remove_mcp_tools(self.tools, connection.name)
        connection.close()
        return True

    def rules(self) -> dict[str, list[str]]:
        """The rules by list: ``{"deny": [...], "allow": [...], "ask": [...]}``."""
        return self.permission_policy.rules()

    def set_permission_policy(self, policy: PermissionPolicy) -> None:
        """Replace the permission policy (persisted)."""
        self.config.permission_policy = policy.model_copy(deep=True)
        self._config_changed()

    def set_confirmation_policy(self, policy: ConfirmationPolicy) -> None:
        """Replace the confirmation policy (persisted)."""
        self.config.confirmation_policy = policy.model_copy(deep=True)
        self._config_changed()

    def confirm(
        self,
        tool_id: str,
        approved: bool = True,
        reason: str | None = None,
        *,
        always: bool = False,
        rule: str | None = None,
        decided_by: str = "user",
    ) -> bool:
        """Decide a pending tool call.

        ``approved=True`` runs it once; ``always=True`` also adds an allow rule (``rule``,
        or the tool's name) that the user can list with :meth:`rules` and remove with
        :meth:`remove_rule`; ``approved=False`` refuses it and ``reason`` is what the
        model is told. Returns False when ``tool_id`` is not pending (already decided,
        timed out or unknown).
        """
        pending = {p.tool_id: p for p in self.confirmations.pending_confirmation_details()}
        info = pending.get(tool_id)
        if info is None:
            # a sub-agent's request, shown on this session: its child decides it (and an
            # "always allow" rule goes to that child only)
            child = self._child_with_pending(tool_id)
            if child is None:
                return False
            return child.confirm(
                tool_id, approved, reason, always=always, rule=rule, decided_by=decided_by
            )
        added: str | None = None
        if approved and always:
            added = rule or info.suggested_rule
            if added is None:
                raise ValueError(
                    f"'always allow' is not offered for this {info.tool_name} call (a compound "
                    "or unparsable command, or a protected file): approve it once, or pass "
                    "rule='...' with a rule of your own"
                )
            self.allow(added)
        return self.confirmations.confirm(
            tool_id, approved, reason, decided_by=decided_by, rule_added=added
        )

    def pending_confirmations(self) -> list[PendingConfirmationInfo]:
        """Tool calls waiting for a decision: this session's, then its sub-agents' (each
        reason naming the sub-agent; :meth:`confirm` decides those too)."""
        own = self.confirmations.pending_confirmation_details()
        if self._manager is None:
            return own
        from a3s_notebook.engine.subagents import pending_of_children

        return own + pending_of_children(self._manager, self.id)

    def _child_with_pending(self, tool_id: str) -> Session | None:
        if self._manager is None:
            return None
        from a3s_notebook.engine.subagents import child_with_pending

        return child_with_pending(self._manager, self.id, tool_id)

    # --- sub-agents (engine/subagents.py) -------------------------------------------

    @property
    def parent_session_id(self) -> str | None:
        """The session this one was made from (a sub-agent's parent, a fork's source)."""
        return self.config.parent_id

    @property
    def is_child_session(self) -> bool:
        """True for a sub-agent (or a fork): a session with a parent."""
        return self.config.parent_id is not None

    def _sync_task_tool(self) -> None:
        # the task tool is there exactly while the config leaves a level of sub-agents
        from a3s_notebook.engine.tools._task import TaskTool

        current = self.tools.get(TaskTool.name)
        if self.config.max_subagent_depth >= 1:
            if current is None:
                self.tools.register(TaskTool())
        elif isinstance(current, TaskTool):
            self.tools.unregister(TaskTool.name)

    def queue_stats(self) -> QueueStats:
        """Pending and active commands per lane."""
        return self.queue.stats()

    # --- the queue's other parts (engine/lanes.py) -----------------------------------

    def set_lane_handler(
        self,
        lane: str | SessionLane,
        handler: ExternalHandler | None = None,
        *,
        mode: str | TaskHandlerMode | None = None,
        timeout_ms: int = 60000,
    ) -> LaneHandlerConfig:
        """Route a lane's commands to an external handler (persisted; the callable is not).

        ``set_lane_handler("execute", fn)`` sends every Execute-lane tool call to ``fn(task)``
        (sync or async; see :data:`ExternalHandler`): what it returns is the tool's
        result. With no ``handler`` and ``mode="external"`` the tasks wait for
        :meth:`complete_external_task`; ``mode="hybrid"`` runs them here and announces
        them; ``mode="internal"`` (or no arguments) goes back to normal. A task nobody
        completes within ``timeout_ms`` fails with a timeout.
        """
        which = SessionLane.parse(lane)
        if mode is None:
            mode = TaskHandlerMode.EXTERNAL if handler is not None else TaskHandlerMode.INTERNAL
        config = LaneHandlerConfig.model_validate({"mode": mode, "timeout_ms": timeout_ms})
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be a callable taking an ExternalTask, not {handler!r}")
        if handler is not None and config.mode is not TaskHandlerMode.EXTERNAL:
            raise ValueError(
                f"a handler runs tasks only in mode 'external' (got {config.mode.value!r}): "
                "leave mode out, or pass no handler"
            )
        queue = (self.config.queue_config or SessionQueueConfig()).model_dump(
            mode="json", exclude_none=True
        )
        handlers = dict(queue.get("lane_handlers") or {})
        if config.mode is TaskHandlerMode.INTERNAL:
            handlers.pop(which.value, None)
        else:
            handlers[which.value] = config.model_dump(mode="json")
        queue["lane_handlers"] = handlers
        self.update_config(queue_config=queue)
        self.queue.set_handler(which, handler)
        return config

    def lane_handler(self, lane: str | SessionLane) -> LaneHandlerConfig:
        """A lane's handler mode and timeout."""
        return self.queue.config.handler_of(SessionLane.parse(lane))

    def pending_external_tasks(self) -> list[ExternalTask]:
        """External tasks waiting for :meth:`complete_external_task`, oldest first."""
        return self.queue.pending_external_tasks()

    def complete_external_task(self, task_id: str, result: Any = None) -> bool:
        """Complete an external task; True if it was pending (False: unknown, done or
        timed out). ``result``: a string (the tool's output), a dict with ``output``
        (and ``exit_code``), an :class:`ExternalTaskResult`, or a dict with ``success``
        and ``error`` to fail it. Safe from any thread and inside a running loop."""
        return self.queue.complete_external_task(task_id, result)

    def dead_letters(self) -> list[DeadLetter]:
        """Commands that failed for good (empty unless ``queue_config.enable_dlq``)."""
        return self.queue.dead_letters()

    def queue_metrics(self) -> QueueMetrics | None:
        """Per-lane counts and latencies (None unless ``queue_config.enable_metrics``)."""
        return self.queue.metrics()

    def start_queue(self) -> None:
        """Accept commands and runs again after :meth:`stop_queue`."""
        self.queue.start()

    def stop_queue(self) -> None:
        """Refuse new commands and runs: they fail at once with
        :class:`QueueStoppedError` (nothing waits); work already queued finishes."""
        self.queue.stop()

    # --- title -----------------------------------------------------------------------

    async def generate_title_async(self, *, force: bool = False) -> str | None:
        """Ask the model for a short title and store it (``config.title``, logged).

        Once: a session that has a title keeps it unless ``force``. None before the
        first answer. The call is a ledger row with purpose ``title``.
        """
        from a3s_notebook.engine._title import clean_title, first_exchange, title_prompt
        from a3s_notebook.llm.types import Done

        if self.config.title and not force:
            return self.config.title
        exchange = first_exchange(self.messages)
        if exchange is None:
            return None
        response: LlmResponse | None = None
        # read the stream to its end: a generator left open is finalised later, on a
        # loop that may be gone by then
        async for event in self.llm.stream([Message.user(title_prompt(*exchange))]):
            if isinstance(event, Done):
                response = event.response
        if response is None:
            raise RuntimeError(f"{self.model_name}: the title call ended without an answer")
        self._record_usage(
            response.usage,
            turn=None,
            latency_ms=None,
            ttft_ms=None,
            tool_names=[],
            purpose="title",
            move_context=False,
        )
        title = clean_title(response.message.text())
        if not title:
            return None
        self.update_config(title=title)
        return title

    def generate_title(self, *, force: bool = False) -> str | None:
        """Sync form of :meth:`generate_title_async`."""
        return _sync.run_sync(
            lambda: self.generate_title_async(force=force),
            home_loop=self._home_loop(),
            name="generate_title",
        )

    async def _maybe_title(self) -> None:
        if not self.config.auto_title or self.config.title:
            return
        try:
            await self.generate_title_async()
        except Exception as exc:  # a title is a nicety: the answer stands
            logger.warning("session %s: no title generated: %s", self.id, exc)

    # --- hooks (engine/hooks.py) ------------------------------------------------------

    def hook(self, event: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """Decorator: ``@session.hook("pre_tool_use", matcher="bash")`` registers a hook
        (options as :meth:`HookEngine.add`)."""
        return self.hooks.hook(event, **options)

    def add_hook(
        self, event: str, handler: Callable[..., Any] | None = None, **options: Any
    ) -> Hook:
        """Register a hook: a callable or ``command="..."`` (see :class:`HookEngine`)."""
        return self.hooks.add(event, handler, **options)

    def _hook_decided(
        self,
        hook: str,
        event: str,
        decision: str,
        reason: str | None,
        tool_id: str | None,
        tool_name: str | None,
    ) -> None:
        self._emit(
            HookDecision(
                hook=hook,
                event=event,
                decision=decision,
                reason=reason,
                tool_id=tool_id,
                tool_name=tool_name,
            )
        )

    def _lifecycle_payload(self, event: str) -> dict[str, Any]:
        from a3s_notebook.engine.hooks import split_model

        if event == "session_start":
            provider, model = split_model(self.model_name)
            return {
                "session_id": self.id,
                "system_prompt": self.system_prompt(),
                "model_provider": provider,
                "model_name": model,
            }
        return {
            "session_id": self.id,
            "total_tokens": self.total_usage.total_tokens,
            "total_tool_calls": sum(len(m.tool_calls()) for m in self.messages),
            "duration_ms": int(max(0.0, time.time() - self.created_at) * 1000),
        }

    def _fire_lifecycle(self, event: str) -> None:
        """Fire ``session_start`` / ``session_end`` (the manager calls this); a hook's
        failure is logged, never raised."""
        if not self.hooks.matching(event, {}):
            return
        payload = self._lifecycle_payload(event)
        try:
            _sync.run_sync(lambda: self.hooks.fire(event, payload), home_loop=self._home_loop())
        except Exception:
            logger.exception("session %s: %s hooks failed", self.id, event)

    # --- runs ----------------------------------------------------------------------

    async def send_async(
        self, prompt: str, *, provenance: dict[str, Any] | None = None, plan: bool | None = None
    ) -> AgentResult:
        """Run a prompt to its final answer (async).

        ``plan=True`` plans this prompt first (``False`` does not), whatever
        ``config.planning_enabled`` says: see :mod:`a3s_notebook.engine.planning`.
        """
        return await self._run(prompt, provenance, home=True, plan=plan)

    async def _run(
        self,
        prompt: str,
        provenance: dict[str, Any] | None,
        *,
        home: bool,
        plan: bool | None = None,
    ) -> AgentResult:
        if plan is not None and not isinstance(plan, bool):
            raise TypeError(f"plan must be True, False or None (the config decides), got {plan!r}")
        self._check_not_paused()
        task = asyncio.current_task()
        if task is not None:
            self._runs.add(task)
            if home:
                # a run started from async code: sync calls must come to this loop
                self._homes[task] = asyncio.get_running_loop()
        try:
            # runs take the Generate lane one by one; the slot has no timeout (a run may
            # wait for a human), each LLM call and tool inside it is timed on its own
            if self._mcp_pending:
                # servers added since the last prompt start now, so the model sees their tools
                await self.start_mcp_servers()
            async with self.queue.slot(SessionLane.GENERATE):
                # the state as it is now, not as it was before this run waited its turn
                # (the run ahead may have paused the session, or failed)
                self._check_not_paused()
                if self.state is SessionState.ERROR:
                    self._set_state(SessionState.ACTIVE)
                # provenance belongs to this run only
                self.provenance = provenance
                try:
                    result = await run_agent(self._run_deps(), prompt, plan=plan)
                    await self._maybe_title()
                    return result
                finally:
                    self.provenance = None
        finally:
            if task is not None:
                self._runs.discard(task)
                self._homes.pop(task, None)

    def _run_deps(self) -> RunDeps:
        """What the agent loop is given: the live state and the operations it may call."""
        return RunDeps(
            session_id=self.id,
            data=self._data,
            tools=self.tools,
            queue=self.queue,
            confirmations=self.confirmations,
            tool_metrics=self.tool_metrics,
            tool_values=self._tool_values,
            hooks=self.hooks,
            get_llm=lambda: self.llm,
            get_security_guard=lambda: self.security_guard,
            emit=self._emit,
            add_message=self._add_message,
            record_usage=self._record_usage,
            check_budget=self._check_budget,
            maybe_auto_compact=self._maybe_auto_compact,
            probe_context_window=self._probe_context_window,
            screen_prompt=self._protect.screen_prompt,
            screen_tool_output=self._protect.screen_tool_output,
            security_event=self._protect.security_event,
            set_error=self._set_error,
            set_tasks=self.set_tasks,
            stream_redactor=self.stream_redactor,
            run_subagent=self._subagents.run if self._subagents is not None else None,
            resolve_context=self._resolve_context,
            turn_complete=self._turn_complete,
        )

    def _check_not_paused(self) -> None:
        if self.state is SessionState.PAUSED:
            raise SessionPausedError(f"Session {self.id} is paused. Call Resume before generating.")

    def _home_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop of a run started from async code, if one is going on."""
        for loop in list(self._homes.values()):
            if loop.is_running():
                return loop
        return None

    def send(
        self, prompt: str, *, provenance: dict[str, Any] | None = None, plan: bool | None = None
    ) -> AgentResult:
        """Run a prompt to its final answer (sync; works inside a running event loop too).

        ``plan`` as in :meth:`send_async`.

        Safe from any thread: a second ``send`` on a busy session waits its turn. Called on
        the thread whose event loop runs this session's work (e.g. a cell after
        ``%%ask --background``), it raises :class:`SyncDeadlockError` at once: ``await
        session.send_async(...)`` there instead.
        """
        return _sync.run_sync(
            lambda: self._run(prompt, provenance, home=False, plan=plan),
            home_loop=self._home_loop(),
            name="send",
        )

    async def stream_async(
        self, prompt: str, *, provenance: dict[str, Any] | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Run a prompt and yield its events as they happen (async iterator)."""
        queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        task = asyncio.ensure_future(self.send_async(prompt, provenance=provenance))
        task.add_done_callback(lambda _t: queue.put_nowait(None))
        try:
            while True:
                event = await queue.get()
                if event is None:
                    break
                yield event
            # surface the run's failure to the caller after its error event was yielded
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        finally:
            unsubscribe()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def stream(
        self, prompt: str, *, provenance: dict[str, Any] | None = None
    ) -> Iterator[AgentEvent]:
        """Run a prompt and yield its events (sync iterator; works inside a running loop)."""
        return _sync.iterate_sync(
            lambda: self.stream_async(prompt, provenance=provenance),
            home_loop=self._home_loop(),
            name="stream",
        )

    def cancel(self) -> bool:
        """Cancel pending confirmations and the running prompt; True if anything was stopped."""
        cancelled = self.confirmations.cancel_all() > 0
        if self._subagents is not None and self._manager is not None:
            # running sub-agents stop with their parent (their runs are awaited inside
            # this session's run, so cancelling it reaches them too; this is immediate)
            for child_id in list(self._subagents.running.values()):
                child = self._manager._sessions.get(child_id)
                if child is not None and child.cancel():
                    cancelled = True
        for task in list(self._runs):
            if not task.done():
                task.get_loop().call_soon_threadsafe(task.cancel)
                cancelled = True
        return cancelled

    # --- compaction and clear -------------------------------------------------------

    async def compact_async(self) -> bool:
        """Compact the history now (LLM summary, or truncation without one)."""
        return await self._compact(manual=True)

    def compact(self) -> bool:
        """Compact the history now; True if it changed."""
        return _sync.run_sync(self.compact_async, home_loop=self._home_loop(), name="compact")

    async def _probe_context_window(self) -> None:
        """Learn the model's context window once (its price data, or its own server) when
        the config sets none; the context bar then shows the real size."""
        if self.config.max_context_length or self._window_probed:
            return
        self._window_probed = True
        from a3s_notebook.llm.factory import context_window_of

        try:
            window = await context_window_of(self.llm)
        except Exception:  # a probe is a nicety: the documented default stays
            return
        cu = self.context_usage
        if window and window != cu.max_tokens:
            self._emit(
                ContextUsageUpdated(
                    used_tokens=cu.used_tokens,
                    max_tokens=window,
                    percent=cu.used_tokens / window,
                    turns=len(self.messages),
                )
            )

    async def _maybe_auto_compact(self) -> bool:
        if not auto_compact_due(self.config, self.context_usage):
            return False
        return await self._compact(manual=False)

    async def _compact(self, *, manual: bool) -> bool:
        before = len(self.messages)
        percent_before = self.context_usage.percent
        try:
            llm: LlmClient | None = self.llm
        except Exception:
            llm = None

        def ledger(response: LlmResponse) -> None:
            self._record_usage(
                response.usage,
                turn=None,
                latency_ms=None,
                ttft_ms=None,
                tool_names=[],
                purpose="compaction",
                move_context=False,
            )

        new = await compact_messages(self.messages, llm, ledger)
        if new is None:
            if not manual:
                # nothing to summarise: stop the check from firing on every turn
                self._set_context_used(self._estimated_context_tokens())
            return False
        self._emit(
            HistoryReplaced(
                reason="compact", messages=new, used_tokens=self._estimated_tokens_of(new)
            )
        )
        self._emit_context()
        self._emit(
            ContextCompacted(
                session_id=self.id,
                before_messages=before,
                after_messages=len(new),
                percent_before=percent_before,
            )
        )
        return True

    def _estimated_context_tokens(self) -> int:
        return self._estimated_tokens_of(self.messages)

    def _estimated_tokens_of(self, messages: list[Message]) -> int:
        chars = len(self.system_prompt() or "") + sum(m.char_count() for m in messages)
        return estimate_tokens(chars)

    def clear(self) -> None:
        """Empty the history and reset context usage (keeping the configured window)."""
        self._emit(HistoryReplaced(reason="clear", messages=[], used_tokens=0))
        self._emit_context()

    def log(self) -> list[tuple[float | None, AgentEvent]]:
        """Every durable event in this session's log with its time, oldest first."""
        if self._store is None:
            return []
        return read_log(self._store.load(self.id) or [], source=f"session {self.id}")

    def events(self) -> list[AgentEvent]:
        """The durable events in this session's log (messages, usage, approvals...)."""
        return [event for _ts, event in self.log()]

    # --- memory and context providers (engine/memory.py, engine/context.py) -----------

    def _sync_memory(self) -> None:
        """Build (or drop) the memory, its tools and its context provider as
        ``config.memory`` says; kept as it is while the setting and workspace stay."""
        want = self.config.memory
        key = None if want is None else (want, str(self.workspace))
        if key == self._memory_key:
            return
        self._memory_key = key
        self._context_providers = [
            entry
            for entry in self._context_providers
            if not isinstance(entry[0], MemoryContextProvider)
        ]
        for name in MEMORY_TOOL_NAMES:
            if getattr(self.tools.get(name), "memory", None) is self.memory is not None:
                self.tools.unregister(name)
        self.memory = None
        if want is None:
            return
        # imported here: a session without memory never loads the memory stores
        from a3s_notebook.engine.memory import AgentMemory

        self.memory = AgentMemory(self._memory_store(want), emit=self._emit)
        # the spec puts the memory provider first
        self._context_providers = [
            (MemoryContextProvider(self.memory), DEFAULT_PROVIDER_TIMEOUT_S),
            *self._context_providers,
        ]
        for tool in memory_tools(self.memory):
            self.tools.register(tool)

    def _memory_store(self, kind: str) -> MemoryStore:
        from a3s_notebook.engine.memory import MEMORY_FILE, FileMemoryStore, InMemoryMemoryStore

        if kind == "memory":
            return InMemoryMemoryStore()
        try:
            return FileMemoryStore(self.workspace / MEMORY_FILE)
        except StoreError as exc:
            # the spec's fallback; said out loud, since these memories will not last
            warnings.warn(
                f"session {self.id}: {exc} Memories are kept in this process only.",
                RuntimeWarning,
                stacklevel=2,
            )
            return InMemoryMemoryStore()

    def _require_memory(self) -> AgentMemory:
        if self.memory is None:
            raise ConfigError(
                f"memory is off for session '{self.name}': turn it on with "
                "session.update_config(memory='file') (or memory='memory' for this process "
                "only), or %a3s_session memory on"
            )
        return self.memory

    def remember(self, content: str, **options: Any) -> MemoryItem:
        """Store a memory (options: ``importance`` 0..1, ``tags``, ``memory_type``,
        ``metadata``); the agent can recall it in any session on this workspace."""
        return self._require_memory().remember(content, **options)

    def recall(self, query: str, limit: int = 5) -> list[MemoryItem]:
        """The memories most relevant to ``query`` (matched on its words)."""
        return self._require_memory().recall(query, limit)

    def memories(self, query: str | None = None) -> pd.DataFrame:
        """The memories as a DataFrame, most relevant first (those matching the words of
        ``query`` when given)."""
        return self._require_memory().frame(query)

    def add_context_provider(
        self,
        provider: Any,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_PROVIDER_TIMEOUT_S,
    ) -> ContextProvider:
        """Look up context for every prompt: an object with ``name`` and
        ``resolve(query)``, or a plain function ``fn(query: str)`` (sync or async) that
        returns a string, a dict with ``content`` (and ``source``, ``relevance``...), a
        :class:`~a3s_notebook.engine.context.ContextItem` or a list of them. What it
        returns is added to the system prompt of that prompt's run. A provider that fails
        or takes longer than ``timeout`` seconds is skipped (the run goes on). A provider
        with the same name is replaced. Returns the provider."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        made = as_provider(provider, name)
        kept = [e for e in self._context_providers if e[0].name != made.name]
        self._context_providers = [*kept, (made, float(timeout))]
        return made

    def remove_context_provider(self, name: str) -> bool:
        """Stop asking the provider ``name``; True if there was one."""
        kept = [e for e in self._context_providers if e[0].name != name]
        removed = len(kept) < len(self._context_providers)
        self._context_providers = kept
        return removed

    def context_provider_names(self) -> list[str]:
        """The providers asked before each prompt, in order (``memory`` first when on)."""
        return [p.name for p, _t in self._context_providers]

    async def _resolve_context(self, prompt: str) -> str | None:
        resolved = await resolve_context(
            list(self._context_providers),
            ContextQuery(query=prompt, session_id=self.id),
            self._emit,
        )
        text = resolved.text()
        # a provider's documents may hold a secret: it never reaches the model
        return self.secrets.redact(text) if text and len(self.secrets) else text

    async def _turn_complete(self, prompt: str, text: str) -> None:
        await turn_complete([p for p, _t in self._context_providers], self.id, prompt, text)
