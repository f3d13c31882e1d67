"""The session manager: create, find, fork, restore and account for sessions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from a3s_notebook.engine._index import SessionInfo, stored_session_infos
from a3s_notebook.engine._log import read_log
from a3s_notebook.engine._secrets import secret_looking
from a3s_notebook.engine.agent import AgentResult
from a3s_notebook.engine.config import SessionConfig, StorageBackend, validate_session_id
from a3s_notebook.engine.errors import ConfigError, SessionNotFoundError, StoreError
from a3s_notebook.engine.events import (
    HistoryReplaced,
    ModelChanged,
    SessionCreated,
    SubagentStart,
)
from a3s_notebook.engine.hooks import HookEngine
from a3s_notebook.engine.session import Session
from a3s_notebook.engine.store import (
    FileSessionStore,
    LockingSessionStore,
    MemorySessionStore,
    SessionStore,
)
from a3s_notebook.engine.tools import ToolRegistry, default_registry
from a3s_notebook.llm._urls import mask_url
from a3s_notebook.llm.types import LlmClient

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_MODEL", "SessionManager"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "scripted/demo"
"""The offline default: needs no key and no network."""


MIN_THINKING_BUDGET = 1024
"""The smallest thinking budget (Anthropic's minimum ``budget_tokens``)."""


def check_thinking_budget(budget: object) -> None:
    """Raise :class:`ConfigError` unless ``budget`` is None or an int >= 1024."""
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        raise ConfigError(
            f"thinking_budget must be a number of tokens of at least {MIN_THINKING_BUDGET} "
            f"(e.g. 8000), or None (off) to turn thinking off; got {budget!r}"
        )


@dataclass(frozen=True)
class _ClientFactory:
    """Makes a session's client. The key lives only here, in memory: never in the config,
    the file or an event (``repr`` leaves it out)."""

    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float | None = None
    thinking_budget: int | None = None

    def __call__(self) -> LlmClient:
        from a3s_notebook.llm.factory import create_client

        return create_client(
            self.model,
            api_key=self.api_key,
            api_key_env=self.api_key_env,
            base_url=self.base_url,
            timeout=self.timeout,
            thinking_budget=self.thinking_budget,
        )


def _client_factory(
    model: str,
    api_key: str | None,
    base_url: str | None,
    *,
    api_key_env: str | None = None,
    timeout: float | None = None,
) -> _ClientFactory:
    return _ClientFactory(model, api_key, base_url, api_key_env, timeout)


def _restored_factory(model: str, llm_config: dict[str, Any] | None) -> _ClientFactory:
    """The client of a restored session, made at its first prompt (a restore needs no key)."""
    cfg = llm_config or {}
    timeout = cfg.get("timeout")
    budget = cfg.get("thinking_budget")
    factory = _client_factory(
        model,
        None,
        cfg.get("base_url"),
        api_key_env=cfg.get("api_key_env"),
        timeout=float(timeout) if isinstance(timeout, (int, float)) else None,
    )
    if isinstance(budget, int) and not isinstance(budget, bool):
        factory = replace(factory, thinking_budget=budget)
    return factory


def _open(store: SessionStore | None, session_id: str) -> None:
    if isinstance(store, LockingSessionStore):
        store.open_for_writing(session_id)


def _close(store: SessionStore | None, session_id: str) -> None:
    if isinstance(store, LockingSessionStore):
        try:
            store.close(session_id)
        except Exception as exc:  # closing must never hide what the caller was doing
            logger.warning("could not release session %s: %s", session_id, exc)


def _register_credentials(session: Session, api_key: str | None, base_url: str | None) -> None:
    """Make the key and any password in the base URL secrets the session redacts."""
    if api_key:
        session.add_secret("api_key", api_key)
    if base_url:
        parts = urlsplit(base_url)
        if parts.password:
            session.add_secret("base_url_password", parts.password)
        for key, value in parse_qsl(parts.query):
            if secret_looking(key) or key.lower() in ("key", "sig", "signature"):
                session.add_secret(f"base_url_{key}", value)


class SessionManager:
    """Creates and keeps sessions; persists them to one JSONL file each.

    Args:
        store: a folder for the JSONL files (default ``.a3s/sessions``), a
            :class:`SessionStore`, or ``"memory"`` to keep nothing on disk.
        default_model: used when ``create_session`` gets no model.
        tools: the tool registry given to new sessions (default: the built-in tools).
    """

    def __init__(
        self,
        store: SessionStore | str | Path | None = None,
        *,
        default_model: str = DEFAULT_MODEL,
        tools: Callable[[], ToolRegistry] = default_registry,
    ) -> None:
        if store is None:
            store = Path(".a3s/sessions")
        if isinstance(store, str) and store == "memory":
            store = MemorySessionStore()
        if isinstance(store, (str, Path)):
            store = FileSessionStore(store)
        self.store: SessionStore = store
        self._memory_store = MemorySessionStore()
        self.default_model = default_model
        self._tools = tools
        self._sessions: dict[str, Session] = {}
        self.hooks = HookEngine()
        """Hooks every session of this manager runs (with its own): the place for
        ``session_start`` hooks, which fire before a session is handed back."""

    def __repr__(self) -> str:
        return f"SessionManager(store={self.store.backend_name}, sessions={len(self._sessions)})"

    # --- create --------------------------------------------------------------------

    def create_session(
        self,
        config: SessionConfig | None = None,
        *,
        model: str | None = None,
        session_id: str | None = None,
        llm: LlmClient | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        tools: ToolRegistry | None = None,
        api_key_env: str | None = None,
        timeout: float | None = None,
    ) -> Session:
        """Make a new session and write its file header.

        ``model`` is ``"provider/model"`` (or ``provider:model``), e.g.
        ``"openai/gpt-4o-mini"``; ``llm`` passes a ready client instead (e.g. a
        ``ScriptedClient``). The API key is never stored. ``base_url`` points at any
        OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio): a provider's key from
        the environment is only ever sent to that provider's own address, so a local server
        needs none; ``api_key_env`` names the variable that holds a custom server's key.
        ``timeout`` is the seconds to connect and to wait for each part of an answer.
        """
        config = config if config is not None else SessionConfig()
        if not isinstance(config, SessionConfig):
            raise ConfigError(
                f"config must be a SessionConfig, got {type(config).__name__}: "
                "use SessionConfig(name=..., workspace=...)"
            )
        # The session owns its config: two sessions made from one SessionConfig object must
        # not share a PermissionPolicy ("always allow" in one would allow in the other)
        config = config.model_copy(deep=True)
        sid = validate_session_id(session_id) if session_id else uuid.uuid4().hex[:12]
        if sid in self._sessions or self.store.exists(sid):
            if sid not in self._sessions:
                # a session another process (or manager) has open: name it, as
                # restore_session would (SessionLockedError), rather than "use get_session"
                _open(self.store, sid)
                _close(self.store, sid)
            raise self._exists(sid)
        if config.workspace:
            ws = Path(config.workspace).expanduser()
            try:
                ws.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"SessionConfig.workspace: cannot create folder {ws}: {exc}"
                ) from exc
            config.workspace = str(ws.resolve())
        else:
            config.workspace = str(Path.cwd().resolve())
        model_name, llm_config, factory = self._resolve_model(
            model, llm, api_key, base_url, api_key_env=api_key_env, timeout=timeout
        )
        if factory is not None and llm is None:
            # fail now, not at the first prompt, for a bad model name or a missing key
            llm = factory()
        store = self._store_for(config)
        # one writer per session file: a second process gets SessionLockedError now
        _open(store, sid)
        try:
            if self.store.exists(sid):
                # made by another process between the check above and the lock: under the
                # lock, a second session_created line never joins its file
                raise self._exists(sid)
            session = Session(
                sid,
                config,
                model_name=model_name,
                tools=tools or self._tools(),
                store=store,
                llm=llm,
                llm_factory=factory,
                llm_config=llm_config,
                hook_parent=self.hooks,
            )
            _register_credentials(session, api_key, base_url)
            self._adopt(session)
            session._start_log()
        except BaseException:
            _close(store, sid)
            raise
        self._sessions[sid] = session
        session._fire_lifecycle("session_start")
        return session

    def _adopt(self, session: Session) -> None:
        """Make this manager the session's: it can start sub-agents (the ``task`` tool)."""
        from a3s_notebook.engine.subagents import SubagentRunner

        session._manager = self
        session._subagents = SubagentRunner(self, session)

    @staticmethod
    def _exists(sid: str) -> ConfigError:
        return ConfigError(
            f"a session with id '{sid}' already exists: use manager.get_session('{sid}') "
            "or choose another id"
        )

    def _store_for(self, config: SessionConfig) -> SessionStore:
        return self._memory_store if config.storage_type is StorageBackend.MEMORY else self.store

    def _resolve_model(
        self,
        model: str | None,
        llm: LlmClient | None,
        api_key: str | None,
        base_url: str | None,
        *,
        api_key_env: str | None = None,
        timeout: float | None = None,
    ) -> tuple[str, dict[str, Any] | None, Callable[[], LlmClient] | None]:
        if llm is not None:
            name = model or f"{llm.provider}/{llm.model}"
            return name, {"provider": llm.provider, "model": llm.model}, None
        name = model or self.default_model
        from a3s_notebook.llm.factory import parse_model

        provider, model_part = parse_model(name)
        canonical = f"{provider}/{model_part}"
        llm_config: dict[str, Any] = {"provider": provider, "model": model_part}
        if base_url:
            # credentials in the URL stay in the client's closure, never in the file
            llm_config["base_url"] = mask_url(base_url)
        if api_key_env:
            llm_config["api_key_env"] = api_key_env  # the variable's name, never its value
        if timeout is not None:
            llm_config["timeout"] = timeout
        factory = _client_factory(
            canonical, api_key, base_url, api_key_env=api_key_env, timeout=timeout
        )
        return canonical, llm_config, factory

    # --- find ----------------------------------------------------------------------

    def get_session(self, session_id: str) -> Session:
        """The session with this id, restoring it from the store if needed."""
        if session_id in self._sessions:
            return self._sessions[session_id]
        validate_session_id(session_id)
        if self.store.exists(session_id):
            return self.restore_session(session_id)
        raise SessionNotFoundError(f"Session not found: {session_id}")

    def get(self, session_id: str) -> Session:
        """Alias of :meth:`get_session`."""
        return self.get_session(session_id)

    def find(self, name_or_id: str) -> Session:
        """A session by id, or by name when no id matches."""
        try:
            return self.get_session(name_or_id)
        except (SessionNotFoundError, ValueError):
            for s in self._sessions.values():
                if s.config.name == name_or_id:
                    return s
            # a stored session not restored yet, by the name in its header
            for info in self.stored_sessions():
                if not info.open and info.name == name_or_id:
                    return self.get_session(info.id)
            raise SessionNotFoundError(f"Session not found: {name_or_id}") from None

    def list_sessions(self) -> list[Session]:
        """Sessions in memory, oldest first."""
        return sorted(self._sessions.values(), key=lambda s: s.created_at)

    def stored_sessions(self) -> list[SessionInfo]:
        """Every session of this manager and its store, oldest first, restoring none.

        A session in memory is listed with its live values (``open=True``); a stored one
        from its log's first line and its later title, name and model changes, found by a
        byte search and kept in an index (see :mod:`a3s_notebook.engine._index`): once
        indexed, a thousand long sessions list in milliseconds, and only what is opened is
        restored.
        """
        infos = {i.id: i for i in stored_session_infos(self.store)}
        for s in self._sessions.values():
            stored = infos.get(s.id)
            infos[s.id] = SessionInfo(
                id=s.id,
                name=s.name,
                model=s.model_name,
                created_at=s.created_at,
                modified=stored.modified if stored else None,
                size=stored.size if stored else None,
                workspace=s.config.workspace or None,
                parent_id=s.config.parent_id,
                open=True,
                title=s.config.title,
            )
        return sorted(infos.values(), key=lambda i: (i.created_at or 0.0, i.id))

    def session_count(self) -> int:
        """How many sessions are in memory."""
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    # --- lifecycle -----------------------------------------------------------------

    def destroy_session(self, session_id: str) -> bool:
        """Forget a session and delete its file; never raises for store failures."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session._fire_lifecycle("session_end")
            # a cancelled run's cleanup comes later, on its loop: it must not recreate
            # the file, so the session stops writing before the file goes
            session._close_log()
            for server in list(session.mcp_servers()):  # no orphan server processes
                session.remove_mcp_server(server)
            session.cancel()
        try:
            self.store.delete(session_id)
            self._memory_store.delete(session_id)
        except Exception as exc:
            logger.warning("could not delete session %s from the store: %s", session_id, exc)
        _close(self.store, session_id)
        return session is not None

    def forget_session(self, session_id: str) -> bool:
        """Drop a session from memory (its running prompt is cancelled); its file stays.

        The ``Session`` object stops writing its file: this process is no longer its
        writer, and another process (or a new session with this id) may be now. Get it
        again with :meth:`get_session` (a restore) to go on with it.
        """
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session._fire_lifecycle("session_end")
            store = session._store
            # a line a full disk held back gets a last chance before the file is let go
            session._flush_log("close")
            # a cancelled run's cleanup comes later, on its loop, and a stale reference may
            # be used any time: neither may write into the file of the id's next owner
            session._close_log()
            for server in list(session.mcp_servers()):  # no orphan server processes
                session.remove_mcp_server(server)
            session.cancel()
            _close(store, session_id)
        return session is not None

    def close(self) -> None:
        """Forget every session (running prompts are cancelled) and let go of their files,
        as a kernel shutdown does; the files stay. Another manager or process may then open
        them."""
        for session_id in list(self._sessions):
            self.forget_session(session_id)

    def __enter__(self) -> SessionManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pause_session(self, session_id: str) -> bool:
        """Active -> Paused."""
        return self.get_session(session_id).pause()

    def resume_session(self, session_id: str) -> bool:
        """Paused -> Active."""
        return self.get_session(session_id).resume()

    def clear(self, session_id: str) -> None:
        """Empty a session's history."""
        self.get_session(session_id).clear()

    def compact(self, session_id: str) -> bool:
        """Compact a session's history now."""
        return self.get_session(session_id).compact()

    def confirm_tool(
        self, session_id: str, tool_id: str, approved: bool, reason: str | None = None
    ) -> bool:
        """Decide a pending tool call of a session."""
        return self.get_session(session_id).confirm(tool_id, approved, reason)

    def cancel_operation(self, session_id: str) -> bool:
        """Cancel a session's pending confirmations and its running prompt."""
        return self.get_session(session_id).cancel()

    def configure(
        self,
        session_id: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        llm: LlmClient | None = None,
        api_key_env: str | None = None,
        timeout: float | None = None,
        thinking_budget: int | None = None,
    ) -> Session:
        """Switch a session's model (the key is kept in memory only); ``thinking_budget``
        turns thinking on for it (see :meth:`set_thinking`)."""
        session = self.get_session(session_id)
        check_thinking_budget(thinking_budget)
        name, llm_config, factory = self._resolve_model(
            model, llm, api_key, base_url, api_key_env=api_key_env, timeout=timeout
        )
        if thinking_budget is not None:
            if not isinstance(factory, _ClientFactory):
                raise ConfigError(
                    "thinking_budget needs a model name, not a ready client (llm=...): "
                    "configure thinking on that client"
                )
            factory = replace(factory, thinking_budget=thinking_budget)
            llm_config = {**(llm_config or {}), "thinking_budget": thinking_budget}
        if factory is not None and llm is None:
            llm = factory()
        _register_credentials(session, api_key, base_url)
        session._llm = llm
        session._llm_factory = factory
        session._emit(ModelChanged(model=name, llm_config=llm_config))
        session._window_probed = False  # the next run asks the (new) model its window
        return session

    def set_request_timeout(self, session_id: str, seconds: float | None) -> Session:
        """Change how long a session's requests may take (to connect, and for each part of
        an answer); ``None`` is the default (600 s). Same model, server and key."""
        from a3s_notebook.llm._retry import check_timeout

        check_timeout(seconds)
        session = self.get_session(session_id)
        factory = session._llm_factory
        if not isinstance(factory, _ClientFactory):
            raise ConfigError(
                f"session {session_id} was given a ready client (llm=...): set its timeout "
                "on that client, or use configure(model=..., timeout=...)"
            )
        factory = replace(factory, timeout=seconds)
        session._llm_factory = factory
        session._llm = factory()
        llm_config = dict(session.llm_config or {})
        if seconds is None:
            llm_config.pop("timeout", None)
        else:
            llm_config["timeout"] = seconds
        session._emit(ModelChanged(model=session.model_name, llm_config=llm_config))
        return session

    def set_thinking(self, session_id: str, budget: int | None) -> Session:
        """Turn a session's extended thinking on with ``budget`` tokens (at least
        :data:`MIN_THINKING_BUDGET`), or off with ``None``. Same model, server, key and
        timeout; logged, so a restore keeps it.

        Anthropic models get ``thinking={"type": "enabled", "budget_tokens": budget}`` (and
        ``max_tokens`` grows to leave room for the answer); OpenAI-compatible models get
        ``reasoning_effort`` low (under 4096), medium (under 16384) or high. A session
        given a ready client (``llm=...``) cannot change it: configure that client.
        """
        check_thinking_budget(budget)
        session = self.get_session(session_id)
        factory = session._llm_factory
        if not isinstance(factory, _ClientFactory):
            raise ConfigError(
                f"session {session_id} was given a ready client (llm=...): turn thinking on "
                "on that client (thinking_budget=... / reasoning_effort=...), or use "
                "configure(model=..., thinking_budget=...)"
            )
        factory = replace(factory, thinking_budget=budget)
        llm = factory()  # before any change: a bad combination raises and changes nothing
        session._llm_factory = factory
        session._llm = llm
        llm_config = dict(session.llm_config or {})
        if budget is None:
            llm_config.pop("thinking_budget", None)
        else:
            llm_config["thinking_budget"] = budget
        session._emit(ModelChanged(model=session.model_name, llm_config=llm_config))
        return session

    def thinking_budget(self, session_id: str) -> int | None:
        """The session's thinking budget in tokens, or None when thinking is off."""
        value = (self.get_session(session_id).llm_config or {}).get("thinking_budget")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    # --- fork and children ---------------------------------------------------------

    def fork_session(
        self, source_id: str, new_id: str | None = None, name: str | None = None
    ) -> Session:
        """Copy a session (history, usage, ledger, tasks, model) into a new one."""
        src = self.get_session(source_id)
        config = src.config.model_copy(deep=True)
        config.name = name if name is not None else f"{src.config.name or src.id} (fork)"
        config.parent_id = src.id
        child = self._create_like(src, config, new_id)
        child._emit(
            HistoryReplaced(
                reason="fork",
                messages=[m.model_copy(deep=True) for m in src.messages],
                used_tokens=src.context_usage.used_tokens,
                cost_records=[r.model_copy(deep=True) for r in src.cost_records],
                tasks=[t.model_copy(deep=True) for t in src.tasks],
            )
        )
        return child

    def create_child_session(
        self,
        parent_id: str,
        config: SessionConfig | None = None,
        session_id: str | None = None,
        *,
        model: str | None = None,
        llm: LlmClient | None = None,
        tools: ToolRegistry | None = None,
    ) -> Session:
        """A new session linked to a parent; inherits its confirmation policy and model
        (``model`` names another, ``llm`` passes another client), and the parent's hooks
        run in it too. ``tools`` replaces the default tools."""
        parent = self.get_session(parent_id)
        config = config or SessionConfig(workspace=parent.config.workspace)
        if config.confirmation_policy is None:
            # a copy: a child changing its policy must not change its parent's
            config.confirmation_policy = parent.confirmations.policy.model_copy(deep=True)
        config.parent_id = parent.id
        if model is not None:
            child = self.create_session(config, model=model, session_id=session_id, tools=tools)
        else:
            child = self._create_like(parent, config, session_id, llm=llm, tools=tools)
        # what the parent's hooks deny, the child may not do either
        child.hooks.parent = parent.hooks
        return child

    def _create_like(
        self,
        src: Session,
        config: SessionConfig,
        session_id: str | None,
        *,
        llm: LlmClient | None = None,
        tools: ToolRegistry | None = None,
    ) -> Session:
        """A new session on the same model and client as ``src`` (the key stays in memory)."""
        child = self.create_session(
            config, model=src.model_name, session_id=session_id, llm=llm or src.llm, tools=tools
        )
        child._llm_factory = src._llm_factory
        if child.llm_config != src.llm_config:
            child._emit(ModelChanged(model=src.model_name, llm_config=src.llm_config))
        return child

    def get_child_sessions(self, parent_id: str, *, restore: bool = False) -> list[Session]:
        """Sessions in memory whose parent is ``parent_id``, oldest first. A restored
        parent's sub-agents stay on disk until asked for: ``restore=True`` also restores
        the sub-agents its log names (``subagent_start``)."""
        if restore:
            for _ts, event in self.get_session(parent_id).log():
                if isinstance(event, SubagentStart) and event.session_id not in self._sessions:
                    try:
                        self.restore_session(event.session_id)
                    except SessionNotFoundError:
                        logger.warning(
                            "sub-agent %s of %s: its file is gone", event.session_id, parent_id
                        )
        children = [s for s in self._sessions.values() if s.config.parent_id == parent_id]
        return sorted(children, key=lambda s: s.created_at)

    def is_child_session(self, session_id: str) -> bool:
        """True when the session has a parent (a sub-agent, or a fork)."""
        return self.get_session(session_id).is_child_session

    # --- restore -------------------------------------------------------------------

    def restore_session(self, session_id: str) -> Session:
        """Rebuild a session from its log: a replay of its events.

        The log is read after the session is opened for writing (SessionLockedError, naming
        the holder, while another process or manager has it): read before, it could miss
        lines the last writer added just before letting go.
        """
        if not self.store.exists(session_id):
            raise SessionNotFoundError(f"Session not found: {session_id}")
        _open(self.store, session_id)
        try:
            session = self._replayed(session_id)
        except BaseException:
            _close(self.store, session_id)
            raise
        self._sessions[session_id] = session
        session._fire_lifecycle("session_start")
        return session

    def _replayed(self, session_id: str) -> Session:
        records = self.store.load(session_id)
        if records is None:
            raise SessionNotFoundError(f"Session not found: {session_id}")
        entries = read_log(records, source=f"session {session_id}")
        created = next((e for _ts, e in entries if isinstance(e, SessionCreated)), None)
        if created is None:
            raise StoreError(
                f"session {session_id}: the log has no session_created line, so its config is "
                "unknown. It was not written by a3s_notebook, or its first line is damaged."
            )
        config = SessionConfig.from_dict(created.config)
        llm_config = created.llm_config
        session = Session(
            session_id,
            config,
            model_name=created.model or self.default_model,
            tools=self._tools(),
            store=self.store,
            llm_config=llm_config,
            created_at=created.created_at,
            hook_parent=self.hooks,
        )
        self._adopt(session)
        session._replay([(ts, e) for ts, e in entries if e is not created])
        # lazy: a restore needs no key; the client is made at the first prompt
        session._llm_factory = _restored_factory(session.model_name, session.llm_config)
        return session

    def load_all_sessions(self) -> int:
        """Restore every stored session not yet in memory; returns how many were loaded."""
        n = 0
        for sid in self.store.list():
            if sid in self._sessions:
                continue
            try:
                self.restore_session(sid)
                n += 1
            except Exception as exc:
                logger.warning("could not restore session %s: %s", sid, exc)
        return n

    def replay(
        self,
        session_id_or_file: str | Path,
        speed: float = 1.0,
        *,
        max_pause: float | None = 5.0,
        sleep: Callable[[float], Any] | None = None,
        stream_text: bool = True,
        step_by_step: bool = False,
        interactive: bool = False,
        decide: Callable[[Any], Any] | None = None,
    ) -> Any:
        """A recorded session (an id in this store, a name, or a ``.jsonl`` file) ready to
        replay: a :class:`a3s_notebook.replay.Replay`. Shown in a notebook, it plays its
        events into a fresh view with the recorded timing divided by ``speed``; nothing is
        run again (no network, no tools). ``.play()`` plays it without a view;
        ``step_by_step=True`` shows a "Next" button instead of the recorded timing;
        ``interactive=True`` stops at each approval for the class's click (or
        ``decide(event)``), then plays the recorded outcome, the card showing both."""
        from a3s_notebook.replay import Replay, load_recording

        sid, entries = load_recording(session_id_or_file, self)
        return Replay(
            entries,
            speed=speed,
            max_pause=max_pause,
            sleep=sleep,
            source=sid,
            stream_text=stream_text,
            step_by_step=step_by_step,
            interactive=interactive,
            decide=decide,
        )

    # --- runs and costs ------------------------------------------------------------

    def send(self, session_id: str, prompt: str) -> AgentResult:
        """Run a prompt in a session (sync)."""
        return self.get_session(session_id).send(prompt)

    async def send_async(self, session_id: str, prompt: str) -> AgentResult:
        """Run a prompt in a session (async)."""
        return await self.get_session(session_id).send_async(prompt)

    def costs(self) -> pd.DataFrame:
        """The cost ledger of every session in memory, one row per LLM call."""
        from a3s_notebook.analysis.costs import records_frame

        # a sub-agent's calls are in its parent's ledger too: count each in its own session
        rows = [
            r
            for s in self.list_sessions()
            for r in s.cost_records
            if r.parent_id is None or r.session_id == s.id
        ]
        return records_frame(rows)
