"""Kernel-aware tools: the notebook as the agent's world (opt-in per session).

The engine stays pure: it only receives these tools through ``session.add_tool``. They read
the user's variables through a *namespace provider* (a callable returning the live namespace
dict; the magics pass ``lambda: shell.user_ns``) and, when an IPython shell is given, run code
through it and propose cells with it.

- ``inspect`` (query lane, no approval): lists the user's variables with type and size, or
  describes one (a DataFrame's shape, dtypes, head and memory; a function's signature and
  docstring; any other object's ``repr``, bounded). It calls no user code beyond ``repr``:
  sizes are read only from built-in containers, NumPy arrays and pandas objects.
- ``python`` (execute lane, asks by default): runs code in the user's namespace (the shell's
  ``run_cell`` without storing history, else ``exec`` with the last expression's value kept),
  in a worker thread so the session stays responsive. Returns the captured stdout/stderr of
  that thread, the last expression's value (``repr``, bounded) and the exception text. On a
  timeout or a cancelled call, a ``KeyboardInterrupt`` is raised inside the running code
  (``PyThreadState_SetAsyncExc``): pure-Python code stops at its next bytecode; code blocked
  inside a C call (``time.sleep``, a socket read, a long NumPy call) stops only when that
  call returns, and until then a further ``python`` call is refused as busy. Under a shell,
  the shell displays what it normally displays (a value, a figure, a traceback) in the
  current cell's output.
- ``notebook_read`` (query lane): the cells of an ``.ipynb`` in the workspace (``file_path``),
  or with no ``file_path`` the kernel's history (``In``/``Out``), bounded.
- ``notebook_edit`` (execute lane): replace, insert or delete one cell by id or index with
  ``nbformat``, keeping every other cell, output and the metadata; write rules cover it
  (``Edit(*.ipynb)``/``Write(*.ipynb)`` through the ``file_path`` argument).
- ``propose_cell`` (query lane, no approval): code for the user's next cell, never run; with
  a shell it goes to ``shell.set_next_input(code, replace=False)``, which Jupyter shows as a
  new cell below the running ``%%ask`` cell once it finishes (a later proposal in the same
  cell replaces an earlier one). The proposals are also kept on the tool (``proposals``).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import copy
import ctypes
import inspect as _inspect
import io
import os
import re
import reprlib
import sys
import tempfile
import threading
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from a3s_notebook.engine.lanes import SessionLane
from a3s_notebook.engine.tools import (
    Tool,
    ToolContext,
    ToolResult,
    WorkspaceViolation,
    hard_link_count,
    resolve_in_workspace,
)
from a3s_notebook.engine.tools._media import MAX_MEDIA, media_from_bundle
from a3s_notebook.engine.tools._workspace import canonical_workspace, relative_display

__all__ = [
    "KERNEL_TOOL_NAMES",
    "InspectTool",
    "NotebookEditTool",
    "NotebookReadTool",
    "ProposeCellTool",
    "PythonTool",
    "notebook_tools",
    "user_variables",
]

Namespace = Callable[[], dict[str, Any]]

KERNEL_TOOL_NAMES = ("inspect", "python", "notebook_read", "notebook_edit", "propose_cell")
"""The names :func:`notebook_tools` returns, in order."""

MAX_REPR_CHARS = 2_000
"""Characters of one value's ``repr`` (a described object, the value of ``python``)."""

MAX_OUTPUT_CHARS = 20_000
"""Characters of one tool result handed to the model."""

MAX_CELL_CHARS = 2_000
"""Characters of one cell's source, and of one cell's outputs, in ``notebook_read``."""

DEFAULT_PYTHON_TIMEOUT_S = 60.0
"""Seconds a ``python`` call may run before it is interrupted."""

_HIDDEN_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters)"


def _safe_repr(value: object, limit: int = MAX_REPR_CHARS) -> str:
    """``repr`` bounded; built-in containers through :mod:`reprlib` so a huge list is cut
    before it is rendered whole."""
    r = reprlib.Repr()
    r.maxstring = limit
    r.maxother = limit
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxdict = 50
    try:
        text = r.repr(value) if _is_builtin(value) else repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} object: repr failed: {type(exc).__name__}: {exc}>"
    return _bound(text, limit)


def _is_builtin(value: object) -> bool:
    return type(value).__module__ == "builtins"


def _pandas_or_numpy(value: object) -> str | None:
    """``"pandas"`` / ``"numpy"`` for their own array types (never a user subclass's module)."""
    module = type(value).__module__.split(".", 1)[0]
    return module if module in ("pandas", "numpy") else None


def _size(value: object) -> str:
    """A cheap size: ``len`` of built-in containers, shape and bytes of arrays and frames;
    empty when reading it would run user code."""
    kind = _pandas_or_numpy(value)
    try:
        if kind is not None and hasattr(value, "shape"):
            shape = "x".join(str(n) for n in value.shape)
            if kind == "numpy":
                nbytes = getattr(value, "nbytes", None)
            else:
                usage = value.memory_usage(index=True, deep=False)  # type: ignore[attr-defined]
                nbytes = int(usage.sum()) if hasattr(usage, "sum") else int(usage)
            return f"{shape}, {_human_bytes(nbytes)}" if nbytes is not None else shape
        if _is_builtin(value) and isinstance(
            value, (str, bytes, bytearray, list, tuple, dict, set, frozenset)
        ):
            return f"len {len(value)}"
    except Exception:
        return ""
    return ""


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _type_name(value: object) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def user_variables(
    namespace: dict[str, Any], hidden: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The user's variables: no ``_``-prefixed names, modules, or IPython's own
    (``In``, ``Out``, ``exit``, ``quit``, ``get_ipython``, and what the shell put there
    itself: ``hidden`` is its ``user_ns_hidden``, a name counting while it holds that value)."""
    hidden = hidden or {}
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_")
        and not (name in hidden and hidden[name] is value)
        and name not in _HIDDEN_NAMES
        and not isinstance(value, types.ModuleType)
        and not _from_ipython(value)
    }


def _from_ipython(value: object) -> bool:
    """IPython's own helpers put in the namespace (``open``, ``exit``, ``get_ipython``)."""
    module = getattr(value, "__module__", None) if callable(value) else None
    return isinstance(module, str) and module.split(".", 1)[0] == "IPython"


# --- inspect -----------------------------------------------------------------------------------


_INSPECT_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "the variable to describe"},
    },
}


class InspectTool:
    """List the user's variables, or describe one."""

    name = "inspect"
    description = (
        "Look at the variables of the user's Python session (the notebook kernel). With no "
        "`name`, list them with type and size; with `name`, describe that variable: a "
        "DataFrame's shape, dtypes, first rows and memory, a function's signature and "
        "docstring, or another object's repr. Reads only; runs no code."
    )
    parameters: dict[str, Any]
    lane = SessionLane.QUERY
    needs_approval = False

    def __init__(
        self, namespace: Namespace, shell: Any = None, *, max_chars: int = MAX_OUTPUT_CHARS
    ) -> None:
        self.namespace = namespace
        self.shell = shell
        self.max_chars = max_chars
        self.parameters = copy.deepcopy(_INSPECT_PARAMS)

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        hidden = getattr(self.shell, "user_ns_hidden", None)
        variables = user_variables(self.namespace(), hidden if isinstance(hidden, dict) else None)
        name = args.get("name")
        if not name:
            return ToolResult(name=self.name, output=self._listing(variables))
        if not isinstance(name, str):
            return ToolResult.error(self.name, "`name` must be a string")
        if name not in variables:
            known = ", ".join(sorted(variables)[:50]) or "none"
            return ToolResult.error(
                self.name, f"No variable '{name}' in the user's namespace (variables: {known})"
            )
        return ToolResult(
            name=self.name, output=_bound(describe(name, variables[name]), self.max_chars)
        )

    def _listing(self, variables: dict[str, Any]) -> str:
        if not variables:
            return "(no user variables)"
        lines = [f"{len(variables)} variables:"]
        for var, value in sorted(variables.items()):
            size = _size(value)
            lines.append(f"- {var}: {_type_name(value)}" + (f" ({size})" if size else ""))
        return _bound("\n".join(lines), self.max_chars)


def describe(name: str, value: object) -> str:
    """The description ``inspect`` gives of one variable."""
    header = f"{name}: {_type_name(value)}"
    kind = _pandas_or_numpy(value)
    if kind == "pandas" and hasattr(value, "dtypes") and hasattr(value, "head"):
        return _describe_frame(header, value)
    if kind == "pandas" and hasattr(value, "dtype") and hasattr(value, "head"):
        v: Any = value
        head = v.head(10).to_string()
        return (
            f"{header}\nlength: {len(v)}, dtype: {v.dtype}, memory: "
            f"{_human_bytes(int(v.memory_usage(deep=False)))}\nhead:\n{head}"
        )
    if kind == "numpy" and hasattr(value, "shape"):
        a: Any = value
        return (
            f"{header}\nshape: {a.shape}, dtype: {a.dtype}, memory: {_human_bytes(a.nbytes)}\n"
            f"{_safe_repr(value)}"
        )
    if callable(value) and (
        _inspect.isroutine(value) or _inspect.isclass(value) or isinstance(value, types.MethodType)
    ):
        try:
            signature = f"{getattr(value, '__name__', name)}{_inspect.signature(value)}"
        except (TypeError, ValueError):
            signature = "(signature not available)"
        doc = _inspect.getdoc(value) or "(no docstring)"
        return f"{header}\nsignature: {signature}\n{_bound(doc, MAX_REPR_CHARS)}"
    size = _size(value)
    return f"{header}" + (f" ({size})" if size else "") + f"\n{_safe_repr(value)}"


def _describe_frame(header: str, frame: Any) -> str:
    memory = int(frame.memory_usage(index=True, deep=False).sum())
    dtypes = "\n".join(f"  {col}: {dtype}" for col, dtype in list(frame.dtypes.items())[:100])
    more_cols = f"\n  … {frame.shape[1] - 100} more columns" if frame.shape[1] > 100 else ""
    head = frame.head(5).to_string(max_cols=30, max_colwidth=60)
    return (
        f"{header}\nshape: {frame.shape[0]} rows x {frame.shape[1]} columns\n"
        f"memory: {_human_bytes(memory)} (without the contents of object columns)\n"
        f"dtypes:\n{dtypes}{more_cols}\nhead:\n{head}"
    )


# --- python ------------------------------------------------------------------------------------


class _ThreadRouter:
    """Stands in for ``sys.stdout``/``sys.stderr`` during a run: writes from the worker
    thread go to its buffer, writes from any other thread to the original stream."""

    def __init__(self, original: TextIO, thread: threading.Thread, buffer: io.StringIO) -> None:
        self.original = original
        self.thread = thread
        self.buffer = buffer

    def write(self, s: str) -> int:
        if threading.current_thread() is self.thread:
            return self.buffer.write(s)
        return self.original.write(s)

    def flush(self) -> None:
        if threading.current_thread() is not self.thread:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _Run:
    """One ``python`` call's worker thread and what it produced."""

    def __init__(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.value: Any = None
        self.has_value = False
        self.error: BaseException | None = None
        self.displays: list[dict[str, Any]] = []
        """MIME bundles the code displayed (a figure, the last value's formats)."""
        self.in_user_code = False
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def interrupt(self) -> bool:
        """Raise KeyboardInterrupt in the worker while it runs user code; True if sent."""
        with self.lock:
            thread = self.thread
            if not self.in_user_code or thread is None or thread.ident is None:
                return False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread.ident), ctypes.py_object(KeyboardInterrupt)
            )
            return True


_PYTHON_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "the Python code to run"},
        "timeout": {
            "type": "number",
            "description": "seconds before the code is interrupted (at most the tool's limit)",
        },
    },
    "required": ["code"],
}


class PythonTool:
    """Run Python code in the user's namespace."""

    name = "python"
    description = (
        "Run Python code in the user's Python session (the notebook kernel), in the user's "
        "namespace: variables it defines stay for the user. Returns stdout, stderr, the value "
        "of the last expression and the exception, if any. Use it for computations on the "
        "user's data; the user approves each call."
    )
    parameters: dict[str, Any]
    lane = SessionLane.EXECUTE
    needs_approval: bool | None = True

    def __init__(
        self,
        namespace: Namespace,
        shell: Any = None,
        *,
        timeout: float = DEFAULT_PYTHON_TIMEOUT_S,
        needs_approval: bool | None = True,
        max_chars: int = MAX_OUTPUT_CHARS,
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.namespace = namespace
        self.shell = shell
        self.parameters = copy.deepcopy(_PYTHON_PARAMS)
        self.timeout = timeout
        self.needs_approval = needs_approval
        self.max_chars = max_chars
        self._busy = threading.Lock()
        self._current: _Run | None = None

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        code = args.get("code")
        if not isinstance(code, str) or not code.strip():
            return ToolResult.error(self.name, "`code` must be a non-empty string")
        timeout = self.timeout
        asked = args.get("timeout")
        if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked > 0:
            timeout = min(float(asked), self.timeout)
        if not self._busy.acquire(blocking=False):
            return ToolResult.error(
                self.name,
                "Earlier code is still running (it was interrupted but is blocked in a call "
                "that has not returned yet); try again later.",
            )
        run = _Run()
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        thread = threading.Thread(
            target=self._work, args=(run, code, loop, done), name="a3s-python-tool", daemon=True
        )
        run.thread = thread
        self._current = run
        try:
            thread.start()
        except BaseException:
            self._busy.release()
            raise
        try:
            async with asyncio.timeout(timeout):
                await done.wait()
        except TimeoutError:
            run.interrupt()
            # the interrupt lands at the next bytecode; a call blocked in C may not return
            # for a while, so wait a short bounded time and report either way
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await done.wait()
            state = (
                "and was interrupted"
                if done.is_set()
                else "; it was interrupted but is still blocked in a call and will stop when "
                "that call returns"
            )
            text = self._render(run) if done.is_set() else ""
            message = f"Code timed out after {timeout:g} s {state}."
            return ToolResult.error(
                self.name, _bound(f"{message}\n{text}".rstrip(), self.max_chars)
            )
        except asyncio.CancelledError:
            run.interrupt()
            raise
        failed = run.error is not None
        metadata: dict[str, Any] = {
            "stdout": run.stdout.getvalue(),
            "stderr": run.stderr.getvalue(),
        }
        media = [m for m in map(media_from_bundle, run.displays) if m is not None]
        if media:
            metadata["media"] = media[:MAX_MEDIA]
        return ToolResult(
            name=self.name,
            output=_bound(self._render(run), self.max_chars),
            exit_code=1 if failed else 0,
            metadata=metadata,
        )

    def _render(self, run: _Run) -> str:
        parts: list[str] = []
        out = _ANSI.sub("", run.stdout.getvalue())
        err = _ANSI.sub("", run.stderr.getvalue())
        if out:
            parts.append(f"stdout:\n{_bound(out, self.max_chars // 2)}")
        if err:
            parts.append(f"stderr:\n{_bound(err, self.max_chars // 4)}")
        if run.has_value:
            parts.append(f"value ({_type_name(run.value)}):\n{_safe_repr(run.value)}")
        if run.displays:
            # the model cannot see an image: tell it what was shown to the user
            shown = [_display_summary(b) for b in run.displays[:MAX_MEDIA]]
            more = len(run.displays) - len(shown)
            parts.append(
                "displayed to the user:\n"
                + "\n".join(f"- {s}" for s in shown)
                + (f"\n- … {more} more" if more > 0 else "")
            )
        if run.error is not None:
            parts.append(f"error:\n{_format_error(run.error)}")
        return "\n".join(parts) if parts else "(no output)"

    def _work(
        self, run: _Run, code: str, loop: asyncio.AbstractEventLoop, done: asyncio.Event
    ) -> None:
        try:
            try:
                with _routed(run), _captured_displays(self.shell, run):
                    with run.lock:
                        run.in_user_code = True
                    try:
                        if self.shell is not None:
                            self._run_in_shell(run, code)
                        else:
                            self._run_exec(run, code)
                    finally:
                        with run.lock:
                            run.in_user_code = False
            except BaseException as exc:  # an interrupt landing outside the user's code
                if run.error is None:
                    run.error = exc
            finally:
                self._busy.release()
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(done.set)
        except BaseException:  # pragma: no cover - a late interrupt; nothing left to do
            pass

    def _run_in_shell(self, run: _Run, code: str) -> None:
        result = self.shell.run_cell(code, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            run.error = error
        elif result.result is not None:
            run.value, run.has_value = result.result, True

    def _run_exec(self, run: _Run, code: str) -> None:
        namespace = self.namespace()
        try:
            tree = ast.parse(code, "<agent>", "exec")
            last: ast.expr | None = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = tree.body.pop().value  # type: ignore[attr-defined]
            exec(compile(tree, "<agent>", "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last), "<agent>", "eval"), namespace)
                if value is not None:
                    run.value, run.has_value = value, True
        except BaseException as exc:
            run.error = exc


@contextlib.contextmanager
def _routed(run: _Run) -> Any:
    thread = threading.current_thread()
    out, err = sys.stdout, sys.stderr
    router_out = _ThreadRouter(out, thread, run.stdout)
    router_err = _ThreadRouter(err, thread, run.stderr)
    sys.stdout, sys.stderr = router_out, router_err
    try:
        yield
    finally:
        # restore only what is still ours (something else may have replaced it since)
        if sys.stdout is router_out:
            sys.stdout = out
        if sys.stderr is router_err:
            sys.stderr = err


def _display_summary(bundle: dict[str, Any]) -> str:
    kinds = ", ".join(sorted(k for k in bundle if k != "text/plain")) or "text/plain"
    alt = bundle.get("text/plain")
    text = _bound(alt, 200) if isinstance(alt, str) else ""
    return f"{kinds}: {text}" if text else kinds


@contextlib.contextmanager
def _captured_displays(shell: Any, run: _Run) -> Any:
    """Route what the worker thread displays into ``run.displays`` instead of the cell.

    In a kernel, ``display()`` (and matplotlib's inline backend after the code) goes to the
    display publisher and the last expression's value to the display hook; both would land
    in the output of the ``%%ask`` cell below the view. Calls from the worker thread are
    kept for the tool's row; every other thread's pass through unchanged.
    """
    if shell is None:
        yield
        return
    thread = threading.current_thread()
    patched: list[tuple[Any, str, Any, Any]] = []
    missing = object()

    def patch(obj: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(obj, name, None)
        if obj is None or not callable(original):
            return
        wrapper = make(original)
        before = vars(obj).get(name, missing)  # someone else's instance attribute, if any
        setattr(obj, name, wrapper)
        patched.append((obj, name, wrapper, before))

    def publish(original: Any) -> Any:
        def wrapper(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is thread and isinstance(data, dict):
                run.displays.append(dict(data))
                return None
            return original(data, metadata, *args, **kwargs)

        return wrapper

    def write_format_data(original: Any) -> Any:
        def wrapper(format_dict: Any, md_dict: Any = None) -> Any:
            if threading.current_thread() is thread and isinstance(format_dict, dict):
                if any(k != "text/plain" for k in format_dict):
                    run.displays.append(dict(format_dict))
                return None
            return original(format_dict, md_dict)

        return wrapper

    def finish_displayhook(original: Any) -> Any:
        def wrapper() -> Any:
            if threading.current_thread() is thread:
                if hasattr(hook, "msg"):
                    hook.msg = None  # the kernel's hook would send it to the cell
                return None
            return original()

        return wrapper

    hook = getattr(shell, "displayhook", None)
    patch(getattr(shell, "display_pub", None), "publish", publish)
    patch(hook, "write_format_data", write_format_data)
    patch(hook, "finish_displayhook", finish_displayhook)
    try:
        yield
    finally:
        for obj, name, wrapper, before in reversed(patched):
            # restore only what is still ours (something else may have replaced it since)
            if vars(obj).get(name) is wrapper:
                if before is missing:
                    delattr(obj, name)
                else:
                    setattr(obj, name, before)


def _format_error(exc: BaseException) -> str:
    tb = exc.__traceback__
    # drop the frames of this module and of IPython's runner: keep the user's code
    while tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith(
        ("a3s_notebook", "IPython")
    ):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return _bound(_ANSI.sub("", text).rstrip(), 4_000)


# --- notebook_read / notebook_edit -------------------------------------------------------------


def _nbformat() -> Any:
    import nbformat

    return nbformat


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _output_text(output: Any) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        return "".join(text) if isinstance(text, list) else str(text)
    if kind == "error":
        return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
    if kind in ("execute_result", "display_data"):
        data = output.get("data", {})
        if "text/plain" in data:
            text = data["text/plain"]
            return "".join(text) if isinstance(text, list) else str(text)
        return " ".join(f"[{mime}]" for mime in data) or "[display]"
    return f"[{kind}]"


_READ_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "the .ipynb file, in the workspace"},
        "offset": {"type": "integer", "description": "the first cell (index) to show"},
        "limit": {"type": "integer", "description": "how many cells to show (default 100)"},
    },
}


class NotebookReadTool:
    """Read the cells of a notebook file, or the kernel's history."""

    name = "notebook_read"
    description = (
        "Read a Jupyter notebook: with `file_path` (an .ipynb in the workspace), its cells in "
        "order with index, id, type, source and text outputs; without it, the running "
        "kernel's execution history (In/Out). Long sources and outputs are cut."
    )
    parameters: dict[str, Any]
    lane = SessionLane.QUERY
    needs_approval: bool | None = None

    def __init__(
        self,
        namespace: Namespace | None = None,
        *,
        max_cell_chars: int = MAX_CELL_CHARS,
        max_chars: int = MAX_OUTPUT_CHARS,
    ) -> None:
        self.namespace = namespace
        self.max_cell_chars = max_cell_chars
        self.parameters = copy.deepcopy(_READ_PARAMS)
        self.max_chars = max_chars

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        offset = args.get("offset") or 0
        limit = args.get("limit") or 100
        if not isinstance(offset, int) or not isinstance(limit, int) or offset < 0 or limit < 1:
            return ToolResult.error(self.name, "`offset` must be >= 0 and `limit` >= 1")
        file_path = args.get("file_path")
        if not file_path:
            history = self._history(offset, limit)
            saved = self._saved_notebook()
            if saved is None:
                return history
            # the server told the kernel which notebook it runs: its saved cells too
            try:
                shown = str(saved.relative_to(canonical_workspace(ctx.workspace)))
            except ValueError:
                note = f"(the running notebook {saved.name} is outside the workspace: not read)"
                return history.model_copy(update={"output": f"{history.output}\n\n{note}"})
            read = await self._read_file(shown, offset, limit, ctx)
            if history.is_error:
                return read
            text = f"{history.output}\n\nsaved file of the running notebook, {read.output}"
            return ToolResult(name=self.name, output=_bound(text, self.max_chars))
        if not isinstance(file_path, str):
            return ToolResult.error(self.name, "`file_path` must be a string")
        return await self._read_file(file_path, offset, limit, ctx)

    def _saved_notebook(self) -> Path | None:
        """The running notebook's file, when the server said (``__session__`` in the
        namespace, from Jupyter Server's ``JPY_SESSION_NAME``)."""
        ns = self.namespace() if self.namespace is not None else {}
        name = ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        if not isinstance(name, str) or not name.endswith(".ipynb"):
            return None
        path = Path(name).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        return path.resolve() if path.is_file() else None

    async def _read_file(
        self, file_path: str, offset: int, limit: int, ctx: ToolContext
    ) -> ToolResult:
        try:
            path = resolve_in_workspace(ctx.workspace, file_path, self.name)
        except WorkspaceViolation as exc:
            return ToolResult.error(self.name, str(exc))
        root = canonical_workspace(ctx.workspace)
        if ctx.can_read is not None and not ctx.can_read(relative_display(root, path)):
            return ToolResult.error(self.name, f"Reading '{file_path}' is not allowed")
        try:
            nb = await asyncio.to_thread(_read_notebook, path)
        except (OSError, ValueError) as exc:
            return ToolResult.error(self.name, f"Cannot read notebook '{file_path}': {exc}")
        cells = nb.cells
        shown = cells[offset : offset + limit]
        lines = [f"{file_path}: {len(cells)} cells (nbformat {nb.nbformat}.{nb.nbformat_minor})"]
        for index, cell in enumerate(shown, start=offset):
            cid = cell.get("id")
            head = f"--- cell {index}" + (f" id={cid}" if cid else "") + f" [{cell.cell_type}]"
            if cell.cell_type == "code" and cell.get("execution_count") is not None:
                head += f" In[{cell.execution_count}]"
            lines.append(head)
            lines.append(_bound(_source(cell), self.max_cell_chars))
            outputs = [_output_text(o) for o in cell.get("outputs", [])]
            if outputs:
                lines.append("output:")
                lines.append(
                    _bound("\n".join(o.rstrip("\n") for o in outputs), self.max_cell_chars)
                )
        if offset + limit < len(cells):
            lines.append(f"… {len(cells) - offset - limit} more cells (offset={offset + limit})")
        return ToolResult(name=self.name, output=_bound("\n".join(lines), self.max_chars))

    def _history(self, offset: int, limit: int) -> ToolResult:
        ns = self.namespace() if self.namespace is not None else {}
        inputs = ns.get("In")
        outputs = ns.get("Out")
        if not isinstance(inputs, list):
            return ToolResult.error(
                self.name, "No kernel history here: pass `file_path` to read a notebook file"
            )
        outs = outputs if isinstance(outputs, dict) else {}
        entries = [(n, src) for n, src in enumerate(inputs) if n > 0]
        shown = entries[offset : offset + limit]
        lines = [f"kernel history: {len(entries)} inputs"]
        for n, src in shown:
            lines.append(f"--- In[{n}]")
            lines.append(_bound(str(src), self.max_cell_chars))
            if n in outs:
                lines.append(f"Out[{n}]: {_safe_repr(outs[n], self.max_cell_chars)}")
        if offset + limit < len(entries):
            lines.append(f"… {len(entries) - offset - limit} more inputs (offset={offset + limit})")
        return ToolResult(name=self.name, output=_bound("\n".join(lines), self.max_chars))


def _read_notebook(path: Path) -> Any:
    nbf = _nbformat()
    with open(path, encoding="utf-8") as f:
        nb = nbf.read(f, as_version=nbf.NO_CONVERT)
    if nb.get("nbformat") != 4:
        raise ValueError(
            f"only nbformat 4 notebooks are supported (this one is {nb.get('nbformat')})"
        )
    return nb


_EDIT_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "the .ipynb file, in the workspace"},
        "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]},
        "cell_id": {"type": "string", "description": "the cell's id"},
        "index": {"type": "integer", "description": "the cell's position, from 0"},
        "new_source": {"type": "string", "description": "the source (replace, insert)"},
        "cell_type": {
            "type": "string",
            "enum": ["code", "markdown", "raw"],
            "description": "the cell's type (insert: default code; replace: default kept)",
        },
    },
    "required": ["file_path", "edit_mode"],
}


class NotebookEditTool:
    """Replace, insert or delete one cell of a notebook file."""

    name = "notebook_edit"
    description = (
        "Edit one cell of a Jupyter notebook (.ipynb in the workspace), keeping every other "
        "cell, output and metadata. `edit_mode`: 'replace' (the cell's source; a replaced "
        "code cell loses its outputs), 'insert' (a new cell at `index`, or after `cell_id`, "
        "or at the end) or 'delete'. Name the cell by `cell_id` or `index` (see notebook_read)."
    )
    parameters: dict[str, Any]
    lane = SessionLane.EXECUTE
    needs_approval: bool | None = None

    def __init__(self) -> None:
        self.parameters = copy.deepcopy(_EDIT_PARAMS)

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        file_path = args.get("file_path")
        mode = args.get("edit_mode")
        if not isinstance(file_path, str) or not file_path:
            return ToolResult.error(self.name, "`file_path` is required")
        if mode not in ("replace", "insert", "delete"):
            return ToolResult.error(self.name, "`edit_mode` must be replace, insert or delete")
        try:
            path = resolve_in_workspace(ctx.workspace, file_path, self.name)
        except WorkspaceViolation as exc:
            return ToolResult.error(self.name, str(exc))
        if path.suffix != ".ipynb":
            return ToolResult.error(self.name, f"'{file_path}' is not an .ipynb file")
        if hard_link_count(path) > 1:
            return ToolResult.error(
                self.name, f"'{file_path}' has more than one hard link; refusing to write it"
            )
        try:
            return await asyncio.to_thread(self._edit, path, file_path, mode, args)
        except (OSError, ValueError) as exc:
            return ToolResult.error(self.name, f"Cannot edit notebook '{file_path}': {exc}")

    def _edit(self, path: Path, shown: str, mode: str, args: dict[str, Any]) -> ToolResult:
        nbf = _nbformat()
        nb = _read_notebook(path)
        cells = nb.cells
        has_ids = nb.nbformat_minor >= 5
        cell_type = args.get("cell_type")
        if cell_type is not None and cell_type not in ("code", "markdown", "raw"):
            return ToolResult.error(self.name, "`cell_type` must be code, markdown or raw")
        source = args.get("new_source")
        if mode != "delete" and not isinstance(source, str):
            return ToolResult.error(self.name, f"`new_source` is required to {mode} a cell")

        located = self._locate(cells, args, mode)
        if isinstance(located, str):
            return ToolResult.error(self.name, located)
        if mode == "insert":
            new = _new_cell(nbf, cell_type or "code", source or "", has_ids)
            cells.insert(located, new)
            what = f"inserted a {new.cell_type} cell at index {located}"
        elif mode == "delete":
            removed = cells.pop(located)
            what = f"deleted {removed.cell_type} cell {located}"
        else:
            old = cells[located]
            kind = cell_type or old.cell_type
            if kind == old.cell_type:
                old.source = source
                if kind == "code":
                    old.outputs = []
                    old.execution_count = None
            else:
                new = _new_cell(nbf, kind, source or "", has_ids)
                if "id" in old:
                    new["id"] = old["id"]
                new.metadata = old.get("metadata", {})
                cells[located] = new
            what = f"replaced cell {located}"
        nbf.validate(nb)
        _write_atomic(path, nbf.writes(nb) + "\n")
        return ToolResult(name=self.name, output=f"{shown}: {what} ({len(cells)} cells)")

    @staticmethod
    def _locate(cells: list[Any], args: dict[str, Any], mode: str) -> int | str:
        cell_id = args.get("cell_id")
        index = args.get("index")
        if cell_id is not None and index is not None:
            return "Give `cell_id` or `index`, not both"
        if cell_id is not None:
            for i, cell in enumerate(cells):
                if cell.get("id") == cell_id:
                    return i + 1 if mode == "insert" else i  # insert after the named cell
            return f"No cell with id '{cell_id}'"
        if index is not None:
            if not isinstance(index, int) or isinstance(index, bool):
                return "`index` must be an integer"
            top = len(cells) if mode == "insert" else len(cells) - 1
            if not 0 <= index <= top:
                return f"`index` {index} is out of range (0..{top})"
            return index
        if mode == "insert":
            return len(cells)
        return f"Name the cell to {mode} by `cell_id` or `index`"


def _new_cell(nbf: Any, kind: str, source: str, has_ids: bool) -> Any:
    make = {
        "code": nbf.v4.new_code_cell,
        "markdown": nbf.v4.new_markdown_cell,
        "raw": nbf.v4.new_raw_cell,
    }[kind]
    cell = make(source)
    if not has_ids:
        cell.pop("id", None)
    return cell


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- propose_cell ------------------------------------------------------------------------------


_PROPOSE_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "the cell's code"}},
    "required": ["code"],
}


class ProposeCellTool:
    """Propose code for the user's next cell; never run."""

    name = "propose_cell"
    description = (
        "Propose Python code for the user's next notebook cell. It appears as a new cell "
        "below the current one after this answer, for the user to read, change and run; it is "
        "not run. One proposal per answer: proposing again replaces the earlier one."
    )
    parameters: dict[str, Any]
    lane = SessionLane.QUERY
    needs_approval = False

    def __init__(self, shell: Any = None) -> None:
        self.shell = shell
        self.proposals: list[str] = []
        self.parameters = copy.deepcopy(_PROPOSE_PARAMS)

    async def execute(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        code = args.get("code")
        if not isinstance(code, str) or not code.strip():
            return ToolResult.error(self.name, "`code` must be a non-empty string")
        self.proposals.append(code)
        if self.shell is not None:
            # in a kernel this is a payload sent with the running cell's reply: the frontend
            # adds the cell once the %%ask cell finishes (the last proposal wins)
            self.shell.set_next_input(code, replace=False)
            return ToolResult(
                name=self.name, output="Proposed: it will appear as a new cell below this one."
            )
        return ToolResult(name=self.name, output="Proposed (kept for the user; not run).")

    def take_proposals(self) -> list[str]:
        """The proposals so far, emptied."""
        taken, self.proposals = self.proposals, []
        return taken


# --- the set -----------------------------------------------------------------------------------


def notebook_tools(
    namespace: Namespace,
    shell: Any = None,
    *,
    python_timeout: float = DEFAULT_PYTHON_TIMEOUT_S,
) -> list[Tool]:
    """The kernel-aware tools (:data:`KERNEL_TOOL_NAMES`) over a namespace provider (a callable
    returning the live namespace dict) and, optionally, an IPython shell (``python`` then runs
    through ``run_cell``; ``propose_cell`` uses ``set_next_input``)."""
    return [
        InspectTool(namespace, shell),
        PythonTool(namespace, shell, timeout=python_timeout),
        NotebookReadTool(namespace),
        NotebookEditTool(),
        ProposeCellTool(shell),
    ]
