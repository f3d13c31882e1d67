"""a3s_notebook: LLM agent sessions as first-class citizens of Jupyter.

The public names below are what users type; everything else is an implementation
detail. The engine and the LLM layer are imported lazily so that
``%load_ext a3s_notebook`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from a3s_notebook._version import __version__

if TYPE_CHECKING:
    from a3s_notebook.analysis import load_sessions
    from a3s_notebook.batch import run_batch, run_batch_async
    from a3s_notebook.engine import (
        AgentResult,
        ConfirmationPolicy,
        PermissionPolicy,
        SecurityConfig,
        Session,
        SessionConfig,
        SessionManager,
    )
    from a3s_notebook.export import export_session
    from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn

__all__ = [
    "AgentResult",
    "ConfirmationPolicy",
    "PermissionPolicy",
    "ScriptedClient",
    "ScriptedTurn",
    "SecurityConfig",
    "Session",
    "SessionConfig",
    "SessionManager",
    "__version__",
    "export_session",
    "load_sessions",
    "run_batch",
    "run_batch_async",
]

_LAZY = {
    "AgentResult": "a3s_notebook.engine",
    "ConfirmationPolicy": "a3s_notebook.engine",
    "PermissionPolicy": "a3s_notebook.engine",
    "SecurityConfig": "a3s_notebook.engine",
    "Session": "a3s_notebook.engine",
    "SessionConfig": "a3s_notebook.engine",
    "SessionManager": "a3s_notebook.engine",
    "ScriptedClient": "a3s_notebook.llm.scripted",
    "ScriptedTurn": "a3s_notebook.llm.scripted",
    "load_sessions": "a3s_notebook.analysis",
    "export_session": "a3s_notebook.export",
    "run_batch": "a3s_notebook.batch",
    "run_batch_async": "a3s_notebook.batch",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'a3s_notebook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext a3s_notebook``: register ``%a3s_session`` and ``%%ask``."""
    from a3s_notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext a3s_notebook``."""
    from a3s_notebook.magics import unload_ipython_extension as unload

    unload(ipython)
