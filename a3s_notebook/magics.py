"""IPython magics: ``%a3s_session`` (manage sessions) and ``%%ask`` (run a prompt).

How ``%%ask`` keeps approval buttons clickable: ipykernel does not process widget
messages while a cell runs synchronously, but it does while a cell *awaits*. So when
the extension loads, an input transformer rewrites a ``%%ask`` cell into
``await <run_ask_cell>(line, body)``: the cell awaits the run, the kernel keeps
handling button clicks, and the result is still the cell's value (``_`` works in the
next cell). ``--background`` returns at once and leaves the run as a task on the
kernel's loop. With autoawait off, ``%%ask`` still works but blocks, so approvals can
then only be settled by rules or timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Bool, Float, Unicode, default

from a3s_notebook._markdown import safe_markdown

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    from a3s_notebook.engine import AgentResult, Session, SessionManager
    from a3s_notebook.widgets import SessionView

__all__ = ["A3sMagics", "AskResult", "interpolate", "load_ipython_extension", "run_ask_cell"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(text: str, namespace: dict[str, Any]) -> str:
    """Fill ``{name}`` from ``namespace``; unknown names (and JSON braces) stay as they are."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return str(namespace[name]) if name in namespace else m.group(0)

    return _PLACEHOLDER.sub(sub, text)


class AskResult:
    """The value of a ``%%ask`` cell: the answer, its usage and cost, Markdown to show.

    ``str(result)`` is the answer text; ``result.cost_usd`` is None when the model has
    no known price.
    """

    def __init__(self, result: AgentResult, session: Session, fmt: str = "markdown") -> None:
        self.result = result
        self.session = session
        self.format = fmt

    @property
    def text(self) -> str:
        """The final answer."""
        return self.result.text

    @property
    def usage(self) -> Any:
        """Token usage of this run."""
        return self.result.usage

    @property
    def cost_usd(self) -> float | None:
        """USD of this run; None when no price is known."""
        return self.result.cost_usd

    def __str__(self) -> str:
        return self.result.text

    def __repr__(self) -> str:
        return self.result.text

    def done(self) -> bool:
        """Always True (a result is a finished run): code written for :class:`AskHandle`,
        which Voila's ``%%ask`` may return, works on a result too."""
        return True

    def __await__(self) -> Any:
        # `await _` works whether `_` is a result or a background handle
        return self
        yield  # pragma: no cover  (makes this a generator: awaiting returns at once)

    def _footer(self) -> str:
        r = self.result
        from a3s_notebook.engine.telemetry import NO_PRICE_SCRIPTED, is_scripted_model

        if r.cost_usd is not None:
            cost = f"${r.cost_usd:.6f}"
        else:  # the same words as the Usage panel
            cost = NO_PRICE_SCRIPTED if is_scripted_model(r.model) else "cost unknown"
        est = " (estimated)" if r.usage.estimated else ""
        return (
            f"{self.session.name} · {r.model} · {r.turns} LLM calls · {r.tool_calls_count} tool "
            f"calls · {r.usage.total_tokens} tokens{est} · {cost}"
        )

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        r = self.result
        meta = {
            "a3s": {
                "session": self.session.id,
                "model": r.model,
                "usage": r.usage.model_dump(),
                "cost_usd": r.cost_usd,
            }
        }
        data: dict[str, Any] = {"text/plain": r.text}
        if self.format == "markdown":
            # the model's raw HTML and images must not make the browser fetch anything
            data["text/markdown"] = f"{safe_markdown(r.text)}\n\n<sub>{self._footer()}</sub>"
        return data, meta


def _shown(path: Path) -> str:
    """A folder as the user thinks of it: relative to the notebook's folder when inside it
    (and so no machine path in a saved notebook), else absolute."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path)
    return "the notebook's folder (.)" if not rel.parts else f"./{rel.as_posix()}"


class _ArgParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so a typo never kills the kernel."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}\n\n{self.format_usage()}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise _HelpShown(message or "")


class _UsageError(Exception):
    pass


class _HelpShown(Exception):
    pass


def _ask_parser() -> _ArgParser:
    p = _ArgParser(
        prog="%%ask",
        description="Run the cell body as a prompt in an agent session. {name} is "
        "filled from your variables; unknown placeholders stay as they are.",
    )
    p.add_argument("-s", "--session", help="session name or id (default: the current one)")
    p.add_argument(
        "-m",
        "--model",
        help="switch the session to this provider/model first; several, comma separated "
        "(-m a,b,c), run the prompt on each model side by side (a fork of the session each)",
    )
    p.add_argument(
        "--background",
        action="store_true",
        help="return at once; the run goes on as a task (the result is in the returned handle)",
    )
    p.add_argument("--quiet", action="store_true", help="no live view; only the result")
    p.add_argument(
        "--plan",
        action="store_true",
        help="plan this prompt first and run the plan's steps one by one "
        "(as config planning_enabled=true does for every prompt)",
    )
    p.add_argument(
        "--thinking",
        metavar="BUDGET",
        type=int,
        help="turn the session's extended thinking on with BUDGET tokens (>= 1024; 0 turns "
        "it off); it stays set for later prompts",
    )
    p.add_argument("-f", "--format", choices=["markdown", "text"], default="markdown")
    p.add_argument(
        "--tools",
        metavar="FN1,FN2",
        help="give the agent these functions (or tools) from your variables first",
    )
    return p


DEFAULT_THINKING_BUDGET = 8000
"""The budget ``%a3s_session config thinking=on`` uses when none was set."""


def _thinking_value(key: str, value: str, manager: Any, session_id: str) -> int | None:
    """``thinking=on|off`` or ``thinking_budget=N|off`` as a budget (None: off)."""
    word = value.strip().lower()
    if word in ("off", "false", "no", "none", "0", ""):
        return None
    if key == "thinking":
        if word in ("on", "true", "yes"):
            return manager.thinking_budget(session_id) or DEFAULT_THINKING_BUDGET
        raise _UsageError("thinking takes on or off (set the size with thinking_budget=N)")
    try:
        return int(word)
    except ValueError:
        raise _UsageError(
            f"thinking_budget takes a number of tokens (>= 1024) or off, not {value!r}"
        ) from None


class RunStillGoingError(RuntimeError):
    """Raised when the answer of a background ``%%ask`` run is read before the run ended."""


class AskHandle:
    """What ``%%ask --background`` returns (and ``%%ask`` in Voila when the run needs a human).

    While the run goes on it is a handle: ``done()``, ``cancel()``, ``await handle``. Once
    the run ended it behaves like the :class:`AskResult` it holds: ``.text``, ``.usage``,
    ``.cost_usd``, ``str()`` and its Markdown; reading those earlier raises
    :class:`RunStillGoingError`. Displayed (as a cell's value), it updates in place when
    the run ends.
    """

    def __init__(self, task: asyncio.Task[Any], session: Session) -> None:
        self.task = task
        self.session = session
        self._displays: list[Any] = []
        task.add_done_callback(self._refresh)

    def done(self) -> bool:
        """Whether the run finished."""
        return self.task.done()

    def result(self) -> Any:
        """The AskResult; re-raises the run's error (RunStillGoingError while it runs)."""
        return self._result_for("result()")

    def _result_for(self, what: str) -> Any:
        if not self.task.done():
            raise RunStillGoingError(
                f"{what}: the %%ask run in session {self.session.name!r} is still going; "
                "`await` the handle, or read it once done() is True"
            )
        return self.task.result()

    def cancel(self) -> bool:
        """Stop the run and its pending confirmations."""
        return self.session.cancel()

    def __await__(self) -> Any:
        return self.task.__await__()

    @property
    def text(self) -> str:
        """The final answer (the run must have ended)."""
        return str(self._result_for(".text").text)

    @property
    def usage(self) -> Any:
        """Token usage of the run (the run must have ended)."""
        return self._result_for(".usage").usage

    @property
    def cost_usd(self) -> float | None:
        """USD of the run; None when no price is known (the run must have ended)."""
        cost: float | None = self._result_for(".cost_usd").cost_usd
        return cost

    def _state(self) -> str:
        if not self.task.done():
            return "running"
        if self.task.cancelled():
            return "cancelled"
        exc = self.task.exception()
        if exc is not None:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return f"failed: {first}"
        return "done"

    def _finished(self) -> AskResult | None:
        if self.task.done() and not self.task.cancelled() and self.task.exception() is None:
            finished: AskResult = self.task.result()
            return finished
        return None

    def __str__(self) -> str:
        finished = self._finished()
        return str(finished) if finished is not None else repr(self)

    def __repr__(self) -> str:
        finished = self._finished()
        if finished is not None:
            return repr(finished)
        return f"<%%ask in session {self.session.name!r}: {self._state()}>"

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        finished = self._finished()
        if finished is not None:
            return finished._repr_mimebundle_(include, exclude)
        state = self._state()
        note = (
            "running in the background; the answer shows here when it ends"
            if state == "running"
            else state
        )
        markdown = f"*%%ask in session `{self.session.name}`: {safe_markdown(note)}*"
        return {"text/plain": repr(self), "text/markdown": markdown}, {}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        data, meta = self._repr_mimebundle_()
        if _in_voila() and not self.task.done():
            # Voila's page ignores display updates: an Output widget's outputs can change
            import ipywidgets

            out = ipywidgets.Output()
            out.outputs = (_display_data(data, meta),)
            display(out)  # type: ignore[no-untyped-call]
            self._displays.append(out)
            return
        # a display id, so the output can be replaced when the run ends (see _refresh)
        handle = display(data, metadata=meta, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if handle is not None and not self.task.done():
            self._displays.append(handle)

    def _refresh(self, task: asyncio.Task[Any]) -> None:
        """The run ended: every place showing this handle now shows its result."""
        data, meta = self._repr_mimebundle_()
        for shown in self._displays:
            if hasattr(shown, "outputs"):  # the Output widget of a Voila page
                shown.outputs = (_display_data(data, meta),)
            else:
                shown.update(data, metadata=meta, raw=True)
        self._displays.clear()


def _display_data(data: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """A display_data output (the form an Output widget's ``outputs`` hold)."""
    return {"output_type": "display_data", "data": data, "metadata": metadata}


def cost_summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Calls, tokens, cost and median latency per ``provider/model``, with a total row.

    Rounded for reading (cost to 4 decimals, latency to 0.01 s); a model without a price
    has ``<NA>`` cost, and the total counts only the priced calls (``unpriced_calls`` says
    how many were not).
    """
    import pandas as pd

    columns = ["calls", "input_tokens", "output_tokens", "total_tokens", "cost_usd"]
    columns += ["unpriced_calls", "median_latency_s"]
    if frame.empty:
        return pd.DataFrame(columns=columns).rename_axis("model")
    key = frame["provider"].astype(str) + "/" + frame["model"].astype(str)

    def block(part: pd.DataFrame) -> dict[str, Any]:
        cost = part["cost_usd"].sum(min_count=1)
        latency = part["latency_ms"].median()
        return {
            "calls": len(part),
            "input_tokens": int(part["input_tokens"].sum()),
            "output_tokens": int(part["output_tokens"].sum()),
            "total_tokens": int(part["total_tokens"].sum()),
            "cost_usd": pd.NA if pd.isna(cost) else round(float(cost), 4),
            "unpriced_calls": int(part["cost_usd"].isna().sum()),
            "median_latency_s": pd.NA if pd.isna(latency) else round(float(latency) / 1000, 2),
        }

    rows = {name: block(part) for name, part in frame.groupby(key, sort=True)}
    if len(rows) > 1:
        rows["total"] = block(frame)
    out = pd.DataFrame.from_dict(rows, orient="index")[columns]
    out = out.astype({"cost_usd": "Float64", "median_latency_s": "Float64"})
    out.index.name = "model"
    return out


@magics_class
class A3sMagics(Magics):
    """``%a3s_session`` and ``%%ask``. Defaults are traitlets:
    ``%config A3sMagics.default_model = "openai/gpt-4o-mini"``.
    """

    default_model = Unicode("scripted/demo", help="model of new sessions, as provider/model").tag(
        config=True
    )
    sessions_dir = Unicode(".a3s/sessions", help="folder of the session JSONL files").tag(
        config=True
    )
    default_workspace = Unicode(".", help="workspace of new sessions").tag(config=True)
    confirmation_timeout = Float(
        300.0,
        help="seconds an approval card waits before the call is rejected (the environment "
        "variable A3S_CONFIRMATION_TIMEOUT overrides the default: headless runs set it low)",
    ).tag(config=True)

    @default("confirmation_timeout")
    def _default_timeout(self) -> float:
        value = os.environ.get("A3S_CONFIRMATION_TIMEOUT")
        if value:
            try:
                return float(value)
            except ValueError:
                print(
                    f"a3s: ignoring A3S_CONFIRMATION_TIMEOUT={value!r}: use a number of seconds",
                    file=sys.stderr,
                )
        return 300.0

    notebook_rules = Bool(
        True, help="new sessions allow read-only tools (read, ls, glob, grep, todo_write)"
    ).tag(config=True)
    show_view = Bool(True, help="%%ask shows the live SessionView").tag(config=True)

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._manager: SessionManager | None = None
        self.current: Session | None = None
        self.background: list[AskHandle] = []
        self.last_error: BaseException | None = None
        """The last failure of a magic, whole (``%a3s_session debug`` prints it)."""
        self._prompts: set[asyncio.Task[None]] = set()

    # --- sessions ------------------------------------------------------------------

    @property
    def manager(self) -> SessionManager:
        """The SessionManager behind the magics (created on first use)."""
        if self._manager is None:
            from a3s_notebook.engine import SessionManager

            self._manager = SessionManager(self.sessions_dir, default_model=self.default_model)
        return self._manager

    def _new_session(
        self,
        name: str,
        *,
        model: str | None = None,
        workspace: str | None = None,
        system: str | None = None,
        timeout: float | None = None,
        yolo: list[str] | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        request_timeout: float | None = None,
    ) -> tuple[Session, str | None]:
        from a3s_notebook.engine import (
            ConfirmationPolicy,
            PermissionPolicy,
            SessionConfig,
            validate_session_id,
        )
        from a3s_notebook.engine.store import LockingSessionStore

        validate_session_id(name)
        note = None
        m = self.manager
        if name in m or m.store.exists(name):
            # re-running a cell starts over; the old session's file is kept: a byte copy
            # under a new unique id (never overwriting an earlier archive)
            if name in m:
                m.forget_session(name)
            store = m.store
            if isinstance(store, LockingSessionStore):
                archived = store.archive(name)
                store.delete(name)
            else:
                archived = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
                store.rename(name, archived)
            note = f"an earlier session '{name}' was kept as '{archived}'"
        seconds = self.confirmation_timeout if timeout is None else timeout
        confirmation = ConfirmationPolicy.enabled_policy().with_timeout(int(seconds * 1000))
        if yolo:
            confirmation = confirmation.with_yolo_lanes(yolo)
        config = SessionConfig(
            name=name,
            workspace=workspace or self.default_workspace,
            system_prompt=system,
            permission_policy=PermissionPolicy.notebook() if self.notebook_rules else None,
            confirmation_policy=confirmation,
        )
        session = m.create_session(
            config,
            model=model or self.default_model,
            session_id=name,
            base_url=base_url,
            api_key_env=api_key_env,
            timeout=request_timeout,
        )
        self.current = session
        return session, note

    def _session(self, name: str | None) -> Session:
        if name:
            session = self.manager.find(name)
            return session
        if self.current is None:
            try:
                self.current = self.manager.get_session("default")
            except KeyError:
                self.current, _ = self._new_session("default")
                # the user named no workspace: say which folder the agent may now touch
                print(
                    f"Started session 'default' ({self.current.model_name}) with workspace "
                    f"{_shown(self.current.workspace)}; protected files (.env*, .a3s/**, "
                    "keys) stay out of the agent's reach. Use %a3s_session new NAME "
                    "--workspace DIR to choose."
                )
        return self.current

    # --- %%ask ---------------------------------------------------------------------

    @cell_magic
    def ask(self, line: str, cell: str) -> Any:
        """Run the cell as a prompt. See ``%%ask --help``.

        This synchronous path is used when autoawait is off; normally the extension's
        input transformer sends ``%%ask`` cells to :meth:`ask_async` instead.
        """
        from a3s_notebook.engine._sync import run_sync

        return run_sync(lambda: self.ask_async(line, cell))

    async def ask_async(self, line: str, cell: str) -> Any:
        """Run ``%%ask`` (the cell awaits this, so widget clicks keep arriving).

        A failure is one line (``UsageError: %%ask: ...``), not a traceback through the
        SDKs; ``%a3s_session debug`` prints the whole traceback of the last failure.
        """
        from a3s_notebook._kernel_status import kernel_stays_busy

        try:
            # from the start: the front end asks for a subshell as soon as the view shows
            with kernel_stays_busy(self.shell):
                return await self._ask(line, cell)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise self._one_line("%%ask", exc) from None

    def _one_line(self, where: str, exc: BaseException) -> Exception:
        """Keep the whole failure for ``%a3s_session debug``; return a one-line error."""
        from IPython.core.error import UsageError

        self.last_error = exc
        text = str(exc).strip().splitlines()
        message = text[0] if text else type(exc).__name__
        if len(text) > 1 and len(message) < 60:
            message += " " + text[1].strip()
        return UsageError(f"{where}: {message} (details: %a3s_session debug)")

    async def _ask(self, line: str, cell: str) -> Any:
        parser = _ask_parser()
        try:
            args = parser.parse_args(shlex.split(line))
        except _HelpShown:
            return None  # argparse printed the help
        except _UsageError as exc:
            print(str(exc).rstrip(), file=sys.stderr)
            return None
        session = self._session(args.session)
        self.current = session
        if args.model and "," in args.model:
            return await self._ask_compare(args, session, cell)
        if args.model:
            self.manager.configure(session.id, model=args.model)
        if args.thinking is not None:
            self.manager.set_thinking(session.id, args.thinking or None)
        if args.tools:
            for name in [n.strip() for n in args.tools.split(",") if n.strip()]:
                self._add_user_tool(session, name)
        prompt = interpolate(cell.strip(), self.shell.user_ns if self.shell else {})
        if not prompt:
            print(
                "%%ask: the cell is empty; write the prompt below the %%ask line", file=sys.stderr
            )
            return None
        provenance = self._provenance()
        view = None
        if not args.quiet and self.show_view:
            view = self._show(session)
        elif not self._in_kernel():
            self._attach_console(session)

        async def go() -> AskResult:
            try:
                result = await session.send_async(
                    prompt, provenance=provenance, plan=True if args.plan else None
                )
            finally:
                if view is not None:
                    # a run that failed or was cancelled ends without agent_end: the text
                    # saved with the view must still show what happened
                    view.refresh()
                    view.detach()
            return AskResult(result, session, args.format)

        if not args.background and _in_voila():
            # Voila shows a page only after every cell ran, so an awaiting cell's approval
            # card could never be clicked: once the run needs a human it goes on in the
            # background (the cell's value is then its handle)
            return await self._until_a_human_is_needed(session, go())
        if args.background:
            task = asyncio.ensure_future(go())
            handle = AskHandle(task, session)
            self.background.append(handle)
            return handle
        try:
            with _interrupt_cancels(session):
                return await go()
        except (asyncio.CancelledError, KeyboardInterrupt):
            # an interrupted cell: stop the run cleanly, keep the session usable
            session.cancel()
            print(
                f"%%ask interrupted: the run in session '{session.name}' was stopped; its "
                "history is kept up to the last complete message.",
                file=sys.stderr,
            )
            raise

    async def _ask_compare(self, args: argparse.Namespace, session: Session, cell: str) -> Any:
        """``%%ask -m a,b,c``: the prompt on each model at once, one column per model."""
        from a3s_notebook._compare import parse_models, run_compare

        models = parse_models(args.model)
        if args.background:
            raise _UsageError("%%ask: --background runs one model; drop it to compare models")
        prompt = interpolate(cell.strip(), self.shell.user_ns if self.shell else {})
        if not prompt:
            raise _UsageError("%%ask: the cell is empty; write the prompt below the %%ask line")
        tools = [n.strip() for n in (args.tools or "").split(",") if n.strip()]

        def prepare(fork: Session) -> None:
            for name in tools:
                self._add_user_tool(fork, name)
            if not self._in_kernel() and not args.quiet:
                self._attach_console(fork)

        show = None
        if not args.quiet and self.show_view and self._in_kernel():
            from IPython.display import display

            show = display
        return await run_compare(
            self.manager,
            session,
            models,
            prompt,
            provenance=self._provenance(),
            prepare=prepare,
            display=show,
        )

    async def _until_a_human_is_needed(
        self, session: Session, run: Coroutine[Any, Any, AskResult]
    ) -> AskResult | AskHandle:
        """Await the run until it ends (its result) or asks for a confirmation (a handle)."""
        loop = asyncio.get_running_loop()
        needed = asyncio.Event()

        def on_event(event: Any) -> None:
            if event.type == "confirmation_required":
                loop.call_soon_threadsafe(needed.set)

        unsubscribe = session.subscribe(on_event)
        task = asyncio.ensure_future(run)
        waiter = asyncio.ensure_future(needed.wait())
        try:
            with _interrupt_cancels(session):
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        except (asyncio.CancelledError, KeyboardInterrupt):
            session.cancel()
            task.cancel()
            raise
        finally:
            unsubscribe()
            waiter.cancel()
        if task.done():
            return task.result()
        handle = AskHandle(task, session)
        self.background.append(handle)
        return handle

    def _provenance(self) -> dict[str, Any]:
        shell = self.shell
        prov: dict[str, Any] = {"source": "%%ask"}
        if shell is not None:
            prov["execution_count"] = getattr(shell, "execution_count", None)
            header = getattr(shell, "parent_header", None) or {}
            cell_id = (header.get("metadata") or {}).get("cellId")
            if cell_id:
                prov["cell_id"] = cell_id
        return prov

    def _in_kernel(self) -> bool:
        return self.shell is not None and getattr(self.shell, "kernel", None) is not None

    def _show(self, session: Session) -> SessionView | None:
        """Display the live view (kept current in a saved notebook) and return it, to be
        detached when the run ends; None in a terminal (events are printed)."""
        if not self._in_kernel():
            self._attach_console(session)
            return None
        try:
            from a3s_notebook.widgets import SessionView
        except Exception as exc:  # the front end was not built: say so, still run
            print(f"(a3s: live view unavailable: {exc})", file=sys.stderr)
            self._attach_console(session)
            return None
        view = SessionView(session)
        view.show()
        return view

    def _attach_console(self, session: Session) -> None:
        """Terminal IPython: print events as they come, ask for approvals on stdin."""
        from a3s_notebook._console import ConsolePrinter

        printer = ConsolePrinter()
        unsubscribe = session.subscribe(printer)

        def on_event(event: Any) -> None:
            if (
                event.type == "confirmation_required"
                and sys.stdin is not None
                and sys.stdin.isatty()
            ):
                task = asyncio.get_running_loop().create_task(
                    self._ask_terminal(session, event.tool_id)
                )
                self._prompts.add(task)  # a task nobody references may be collected early
                task.add_done_callback(self._prompts.discard)
            elif event.type in ("agent_end", "error"):
                unsubscribe()
                unsub2()

        unsub2 = session.subscribe(on_event)

    async def _ask_terminal(self, session: Session, tool_id: str) -> None:
        answer = await asyncio.to_thread(input, "  approve? [y/N/a(lways)] ")
        choice = answer.strip().lower()
        if choice in ("y", "yes", "a", "always"):
            session.confirm(tool_id, True, always=choice.startswith("a"))
        else:
            reason = await asyncio.to_thread(input, "  reason (optional): ")
            session.confirm(tool_id, False, reason.strip() or None)

    # --- %a3s_session ----------------------------------------------------------------

    @line_magic
    def a3s_session(self, line: str) -> Any:
        """Manage agent sessions. ``%a3s_session help`` lists the subcommands."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"%a3s_session: {exc}", file=sys.stderr)
            return None
        if not words:
            return self._show_current()
        command, rest = words[0], words[1:]
        handler = getattr(self, f"_cmd_{command.replace('-', '_')}", None)
        if handler is None:
            print(f"%a3s_session: unknown subcommand '{command}'.\n\n{_HELP}", file=sys.stderr)
            return None
        try:
            return handler(rest)
        except _HelpShown:
            pass  # argparse printed the help
        except _UsageError as exc:
            print(str(exc).rstrip(), file=sys.stderr)
        except (ValueError, KeyError) as exc:
            self.last_error = exc
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"%a3s_session {command}: {message}", file=sys.stderr)
        except Exception as exc:
            raise self._one_line(f"%a3s_session {command}", exc) from None
        return None

    def _add_user_tool(self, session: Session, name: str) -> str:
        """Add the function (or tool) the user's variable ``name`` holds; its tool name."""
        namespace = self.shell.user_ns if self.shell is not None else {}
        if name not in namespace:
            raise _UsageError(
                f"no variable '{name}' in this notebook: define the function first, then "
                f"pass its name (--tools {name})"
            )
        made = session.add_tool(namespace[name])
        return made.name

    def _cmd_tools(self, args: list[str]) -> None:
        p = self._parser("tools", "List the agent's tools, or add / remove one of your own.")
        p.add_argument("action", nargs="?", choices=["add", "remove"])
        p.add_argument("name", nargs="?", help="a variable holding a function, or a tool name")
        a = p.parse_args(args)
        s = self._session(None)
        if a.action == "add" and a.name:
            print(f"added tool '{self._add_user_tool(s, a.name)}' to '{s.name}'")
            return
        if a.action == "remove" and a.name:
            removed = s.remove_tool(a.name)
            print(f"removed tool '{a.name}'" if removed else f"'{s.name}' has no tool '{a.name}'")
            return
        if a.action:
            raise _UsageError(f"%a3s_session tools {a.action} needs a NAME")
        from a3s_notebook.engine.tools import lane_of, needs_approval_of

        for name in s.tools.names():
            approval = {True: "asks", False: "never asks", None: "by rules"}[
                needs_approval_of(s.tools, name)
            ]
            print(f"{name:<24} {lane_of(s.tools, name).value:<8} approval: {approval}")
        missing = s.missing_tools()
        if missing:
            print(
                f"not registered since the restore: {', '.join(missing)} (add them again: "
                "%a3s_session tools add NAME, or %a3s_session mcp add)"
            )

    def _cmd_skills(self, args: list[str]) -> None:
        p = self._parser("skills", "List skills, or load / unload one (a name or a .md path).")
        p.add_argument("action", nargs="?", choices=["load", "unload"])
        p.add_argument("name", nargs="?")
        a = p.parse_args(args)
        s = self._session(None)
        if a.action and not a.name:
            raise _UsageError(f"%a3s_session skills {a.action} needs a NAME")
        if a.action == "load":
            skill = s.load_skill(a.name)
            print(f"loaded skill '{skill.name}': {skill.description}")
            return
        if a.action == "unload":
            done = s.unload_skill(a.name)
            print(f"unloaded skill '{a.name}'" if done else f"skill '{a.name}' is not loaded")
            return
        loaded = {skill.name for skill in s.skills()}
        available = s.available_skills()
        if not available and not loaded:
            print("No skills: put NAME.md files in ./skills/ or ~/.a3s/skills/")
        for name, path in available.items():
            print(f"{'*' if name in loaded else ' '} {name:<24} {_shown(path)}")

    def _cmd_mcp(self, args: list[str]) -> None:
        """``mcp add NAME [--env VAR]... -- COMMAND ARGS...``, ``mcp add NAME --url URL``,
        ``mcp list``, ``mcp remove NAME``."""
        command: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, command = args[:cut], args[cut + 1 :]
        p = self._parser("mcp", "Connect MCP servers: their tools become the agent's tools.")
        p.add_argument("action", choices=["add", "list", "remove"])
        p.add_argument("name", nargs="?")
        p.add_argument("--url", help="a streamable HTTP server instead of a command")
        p.add_argument(
            "--env", action="append", default=[], metavar="VAR", help="pass this variable"
        )
        p.add_argument("--timeout", type=float, default=60.0, help="seconds per tool call")
        a = p.parse_args(args)
        s = self._session(None)
        if a.action == "list":
            servers = s.mcp_servers()
            if not servers:
                print("No MCP server. Add one: %a3s_session mcp add NAME -- COMMAND ARGS...")
            for name, conn in servers.items():
                tools = [t for t in s.tools.names() if t.startswith(f"mcp__{name}__")]
                state = "running" if conn.is_running else "starts at the next prompt"
                print(f"{name}: {conn.server.describe()} ({state}); tools: {', '.join(tools)}")
            return
        if not a.name:
            raise _UsageError(f"%a3s_session mcp {a.action} needs a NAME")
        if a.action == "remove":
            gone = s.remove_mcp_server(a.name)
            print(f"removed MCP server '{a.name}'" if gone else f"no MCP server '{a.name}'")
            return
        if not command and not a.url:
            raise _UsageError("%a3s_session mcp add NAME -- COMMAND ARGS...  (or --url URL)")
        if command and shutil.which(command[0]) is None:
            # the server starts lazily: a mistyped command must still fail in this cell
            raise _UsageError(f"%a3s_session mcp add: no program '{command[0]}' on PATH")
        names = s.add_mcp_server(
            a.name,
            command[0] if command else None,
            command[1:],
            url=a.url,
            env_passthrough=a.env,
            timeout=a.timeout,
        )
        if names:
            print(f"MCP server '{a.name}': {len(names)} tools ({', '.join(names)})")
        else:
            print(f"MCP server '{a.name}' added; it starts at the next prompt")

    def _cmd_hooks(self, args: list[str]) -> pd.DataFrame:
        import pandas as pd

        s = self._simple("hooks", "The current session's hooks, in the order they run.", args)
        cols = ["name", "event", "matcher", "priority", "kind"]
        return pd.DataFrame([{c: h.describe()[c] for c in cols} for h in s.hooks], columns=cols)

    def _cmd_memory(self, args: list[str]) -> pd.DataFrame | None:
        p = self._parser("memory", "The agent's memories: list, search, clear, on, off.")
        p.add_argument("action", nargs="?", default="list")
        p.add_argument("text", nargs="*")
        a = p.parse_args(args)
        s = self._session(None)
        text = " ".join(a.text).strip()
        if a.action == "on":
            store = text or "file"
            if store not in ("file", "memory"):
                raise _UsageError("%a3s_session memory on [file|memory]")
            s.update_config(memory=store)
            where = s.memory.store if s.memory is not None else store
            print(f"memory on for '{s.name}': {where}")
            return None
        if a.action == "off":
            s.update_config(memory=None)
            print(f"memory off for '{s.name}' (the stored memories stay)")
            return None
        if s.memory is None:
            raise _UsageError(
                f"%a3s_session memory: memory is off for '{s.name}': turn it on with "
                "%a3s_session memory on"
            )
        if a.action == "list":
            return s.memories()
        if a.action == "search":
            if not text:
                raise _UsageError("%a3s_session memory search TEXT")
            return s.memories(text)
        if a.action == "clear":
            removed = s.memory.clear()
            print(f"cleared {removed} memories")
            return None
        raise _UsageError(
            f"%a3s_session memory: unknown action '{a.action}' (use list, search TEXT, clear, "
            "on [file|memory], off)"
        )

    def _cmd_debug(self, args: list[str]) -> None:
        self._parser("debug", "Print the whole traceback of the last failure.").parse_args(args)
        import traceback

        if self.last_error is None:
            print("No failure recorded in this kernel.")
            return
        exc = self.last_error
        print("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())

    def _parser(self, name: str, help: str) -> _ArgParser:
        return _ArgParser(prog=f"%a3s_session {name}", description=help)

    def _show_current(self) -> Any:
        if self.current is None:
            print("No session yet. Start one with: %a3s_session new NAME [--model provider/model]")
            return None
        return self._cmd_show([])

    def _cmd_replay(self, args: list[str]) -> Any:
        p = self._parser(
            "replay",
            "Replay a recorded session (name, id or .jsonl file) into a fresh view, with its "
            "recorded timing; nothing is run again.",
        )
        p.add_argument("name")
        p.add_argument("--speed", type=float, default=1.0, help="how much faster (default 1)")
        p.add_argument(
            "--max-pause", type=float, default=5.0, help="longest pause in seconds (default 5)"
        )
        p.add_argument("--step", action="store_true", help="a Next button, one event per click")
        p.add_argument(
            "--interactive",
            action="store_true",
            help="stop at each approval for the class's click; the recording's outcome plays",
        )
        a = p.parse_args(args)
        if a.interactive and not (self._in_kernel() and self.show_view):
            raise ValueError(
                "--interactive needs a notebook: the class decides on the approval "
                "cards of the view (run it in Jupyter, with the views shown)"
            )
        replay = self.manager.replay(
            a.name,
            speed=a.speed,
            max_pause=a.max_pause,
            step_by_step=a.step,
            interactive=a.interactive,
        )
        if self._in_kernel() and self.show_view:
            from IPython.display import display

            display(replay)  # type: ignore[no-untyped-call,unused-ignore]  # plays as a task
            return None
        self._attach_console(replay.session)
        replay.play()
        return None

    def _cmd_help(self, args: list[str]) -> None:
        print(_HELP)

    def _cmd_new(self, args: list[str]) -> None:
        p = self._parser("new", "Start a new session and make it the current one.")
        p.add_argument("name")
        p.add_argument("--model", "-m", help="provider/model, e.g. openai/gpt-4o-mini")
        p.add_argument("--workspace", "-w", help="folder the agent may touch")
        p.add_argument(
            "--create", action="store_true", help="make the --workspace folder if it is missing"
        )
        p.add_argument("--system", "-s", help="system prompt")
        p.add_argument("--timeout", "-t", type=float, help="seconds an approval waits")
        p.add_argument("--yolo", help="lanes that skip approval, comma separated: query,execute")
        p.add_argument(
            "--base-url", help="an OpenAI-compatible server, e.g. http://localhost:8000/v1 (vLLM)"
        )
        p.add_argument(
            "--api-key-env",
            metavar="VAR",
            help="the environment variable that holds the server's key (never the key itself: "
            "a cell's text is saved in the notebook)",
        )
        p.add_argument(
            "--request-timeout",
            type=float,
            metavar="SECONDS",
            help="seconds to connect and to wait for each part of an answer (default 600)",
        )
        a = p.parse_args(args)
        created = None
        if a.workspace:
            # a mistyped folder must not silently become a new, empty workspace
            folder = Path(a.workspace).expanduser()
            if not folder.exists():
                if not a.create:
                    raise ValueError(
                        f"workspace {a.workspace!r} does not exist: check the path, or add "
                        "--create to make it"
                    )
                folder.mkdir(parents=True)
                created = f"created the folder {_shown(folder.resolve())}"
            elif not folder.is_dir():
                raise ValueError(f"workspace {a.workspace!r} is a file, not a folder")
        yolo = [x for x in (a.yolo or "").split(",") if x.strip()]
        session, note = self._new_session(
            a.name,
            model=a.model,
            workspace=a.workspace,
            system=a.system,
            timeout=a.timeout,
            yolo=yolo,
            base_url=a.base_url,
            api_key_env=a.api_key_env,
            request_timeout=a.request_timeout,
        )
        msg = f"session '{session.name}' ({session.model_name}) in {_shown(session.workspace)}"
        print(msg + "".join(f"; {n}" for n in (created, note) if n))

    def _cmd_queue(self, args: list[str]) -> None:
        s = self._simple(
            "queue", "The lane queue: lanes, metrics, external tasks, dead letters.", args
        )
        print("\n".join(_queue_report(s)))

    def _cmd_use(self, args: list[str]) -> None:
        p = self._parser("use", "Make a session current (restoring it from its file if needed).")
        p.add_argument("name")
        a = p.parse_args(args)
        self.current = self.manager.find(a.name)
        print(f"current session: '{self.current.name}' ({self.current.model_name})")

    def _cmd_list(self, args: list[str]) -> pd.DataFrame:
        import pandas as pd

        self._parser(
            "list",
            "List the sessions of this kernel and of the session folder, last used first "
            "(stored sessions are listed from their logs' headers and title changes: none "
            "is restored until used).",
        ).parse_args(args)
        rows = []
        for info in self.manager.stored_sessions():
            row: dict[str, Any] = {
                "current": "*" if self.current is not None and info.id == self.current.id else "",
                "name": info.name,
                "title": info.title or "",
                "id": info.id,
                "model": info.model,
                "state": "stored",
                "messages": None,
                "tokens": None,
                "cost_usd": None,
                "modified": info.modified,
            }
            if info.open:  # restored here: its live figures are at hand
                s = self.manager.get_session(info.id)
                row.update(
                    state=s.state.value,
                    messages=len(s.messages),
                    tokens=s.total_usage.total_tokens,
                    cost_usd=s.total_cost,
                    title=s.config.title or "",
                )
            rows.append(row)
        frame = pd.DataFrame(
            rows,
            columns=[
                "current",
                "name",
                "title",
                "id",
                "model",
                "state",
                "messages",
                "tokens",
                "cost_usd",
                "modified",
            ],
        )
        frame["modified"] = pd.to_datetime(frame["modified"], unit="s", utc=True)
        # the session used last first: that is the one a user looks for
        frame = frame.sort_values("modified", ascending=False, na_position="last", kind="stable")
        frame = frame.reset_index(drop=True)
        frame["modified"] = frame["modified"].dt.floor("s").astype("datetime64[ns, UTC]")
        return frame.astype({"messages": "Int64", "tokens": "Int64", "cost_usd": "Float64"})

    def _cmd_show(self, args: list[str]) -> Any:
        self._parser("show", "Show the current session's live view.").parse_args(args)
        session = self._session(None)
        if not self._in_kernel():
            return session
        try:
            from a3s_notebook.widgets import SessionView
        except Exception as exc:
            print(f"(a3s: live view unavailable: {exc})", file=sys.stderr)
            return session
        return SessionView(session)

    def _cmd_pending(self, args: list[str]) -> Any:
        self._parser(
            "pending",
            "The approvals the current session waits for, as cards to decide. After a page "
            "reload while %%ask waits, run it in a subshell console (JupyterLab: right-click "
            "the notebook > New Subshell Console for Notebook): a normal cell would wait "
            "behind the %%ask cell.",
        ).parse_args(args)
        s = self.current
        if s is None:
            print("No session yet. Start one with: %a3s_session new NAME [--model provider/model]")
            return None
        from a3s_notebook.widgets._text import args_summary

        pending = s.pending_confirmations()
        if not pending:
            print(f"'{s.name}' waits for no approval")
            return None
        for p in pending:
            what = f"{p.tool_name} {args_summary(p.args)}".rstrip()
            print(f"{what}: waits for approval ({round(p.remaining_ms / 1000)} s left)")
        if not self._in_kernel():
            return None
        try:
            from a3s_notebook.widgets import ApprovalCards
        except Exception as exc:  # the front end was not built: the lines above still help
            print(f"(a3s: approval cards unavailable: {exc})", file=sys.stderr)
            return None
        return ApprovalCards(s)

    _CONFIG_KEYS = (
        "model",
        "name",
        "system",
        "workspace",
        "timeout",
        "request_timeout",
        "thinking",
        "thinking_budget",
        "yolo",
        "auto_compact",
        "auto_compact_threshold",
        "max_context_length",
        "cost_limit_usd",
        "token_limit",
        "max_tool_rounds",
        "planning_enabled",
        "goal_tracking",
        "title",
        "auto_title",
    )

    def _cmd_config(self, args: list[str]) -> Any:
        p = self._parser(
            "config",
            "Print (KEY) or set (KEY=VALUE) a setting of the current "
            "session. Keys: " + ", ".join(self._CONFIG_KEYS),
        )
        p.add_argument("setting", nargs="?")
        p.add_argument("more", nargs="*", help="more KEY=VALUE settings, set in order")
        a = p.parse_args(args)
        session = self._session(None)
        if not a.setting:
            return {k: self._get(session, k) for k in self._CONFIG_KEYS}
        if a.more:
            return self._set_many(session, [a.setting, *a.more])
        key, sep, value = a.setting.partition("=")
        key = key.strip()
        if key not in self._CONFIG_KEYS:
            raise _UsageError(f"unknown key '{key}': use one of {', '.join(self._CONFIG_KEYS)}")
        if not sep:
            print(f"{key} = {self._get(session, key)!r}")
            return None
        self._set(session, key, value.strip())
        print(f"{key} = {self._get(session, key)!r}")
        return None

    def _set_many(self, session: Session, settings: list[str]) -> None:
        """``config K1=V1 K2=V2``: every key is checked before anything is set."""
        pairs = []
        for setting in settings:
            key, sep, value = setting.partition("=")
            key = key.strip()
            if not sep:
                raise _UsageError(
                    f"'{setting}' is not KEY=VALUE (several settings need a value each)"
                )
            if key not in self._CONFIG_KEYS:
                raise _UsageError(f"unknown key '{key}': use one of {', '.join(self._CONFIG_KEYS)}")
            pairs.append((key, value.strip()))
        for key, value in pairs:
            self._set(session, key, value)
            print(f"{key} = {self._get(session, key)!r}")

    def _get(self, s: Session, key: str) -> Any:
        if key == "model":
            return s.model_name
        if key == "system":
            return s.config.system_prompt
        if key == "timeout":
            return s.confirmations.policy.default_timeout_ms / 1000
        if key == "request_timeout":
            return (s.llm_config or {}).get("timeout")
        if key == "thinking":
            return self.manager.thinking_budget(s.id) is not None
        if key == "thinking_budget":
            return self.manager.thinking_budget(s.id)
        if key == "yolo":
            return sorted(lane.value.lower() for lane in s.confirmations.policy.yolo_lanes)
        return getattr(s.config, key)

    def _set(self, s: Session, key: str, value: str) -> None:
        if key == "model":
            self.manager.configure(s.id, model=value)
            return
        if key == "request_timeout":
            seconds = None if value.lower() in ("", "none", "default") else float(value)
            self.manager.set_request_timeout(s.id, seconds)
            return
        if key in ("thinking", "thinking_budget"):
            self.manager.set_thinking(s.id, _thinking_value(key, value, self.manager, s.id))
            return
        if key == "timeout":
            policy = s.confirmations.policy.with_timeout(
                int(float(value) * 1000), s.confirmations.policy.timeout_action
            )
            s.set_confirmation_policy(policy)
            return
        if key == "yolo":
            lanes = [x for x in value.split(",") if x.strip()]
            s.set_confirmation_policy(s.confirmations.policy.with_yolo_lanes(lanes))
            return
        field = "system_prompt" if key == "system" else key
        parsed: Any = value
        if value.lower() in ("none", "null", ""):
            parsed = None
        elif value.lower() in ("true", "false"):
            parsed = value.lower() == "true"
        else:
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
        if field in ("name", "system_prompt", "workspace", "title") and parsed is not None:
            parsed = value
        s.update_config(**{field: parsed})

    def _simple(self, name: str, help: str, args: list[str]) -> Session:
        self._parser(name, help).parse_args(args)
        return self._session(None)

    def _cmd_pause(self, args: list[str]) -> None:
        s = self._simple("pause", "Pause the current session (Active -> Paused).", args)
        print(f"paused '{s.name}'" if s.pause() else f"'{s.name}' is {s.state.value}, not Active")

    def _cmd_resume(self, args: list[str]) -> None:
        s = self._simple("resume", "Resume the current session (Paused -> Active).", args)
        print(f"resumed '{s.name}'" if s.resume() else f"'{s.name}' is {s.state.value}, not Paused")

    def _cmd_clear(self, args: list[str]) -> None:
        s = self._simple("clear", "Empty the current session's history.", args)
        s.clear()
        print(f"cleared '{s.name}'")

    def _cmd_compact(self, args: list[str]) -> None:
        s = self._simple("compact", "Compact the current session's history now.", args)
        before = len(s.messages)
        changed = s.compact()
        print(
            f"compacted '{s.name}': {before} -> {len(s.messages)} messages"
            if changed
            else f"'{s.name}' has too little history to compact ({before} messages)"
        )

    def _cmd_fork(self, args: list[str]) -> None:
        p = self._parser("fork", "Copy the current session into a new one and switch to it.")
        p.add_argument("name")
        a = p.parse_args(args)
        src = self._session(None)
        child = self.manager.fork_session(src.id, a.name, name=a.name)
        self.current = child
        print(f"forked '{src.name}' into '{child.name}' ({len(child.messages)} messages)")

    def _cmd_delete(self, args: list[str]) -> None:
        p = self._parser("delete", "Delete a session and its file.")
        p.add_argument("name")
        a = p.parse_args(args)
        s = self.manager.find(a.name)
        self.manager.destroy_session(s.id)
        if self.current is s:
            self.current = None
        print(f"deleted '{s.name}'")

    def _rule(self, kind: str, args: list[str]) -> None:
        p = self._parser(kind, f"Add a {kind} rule, e.g. 'Bash(git:*)' or 'write'.")
        p.add_argument("rule", nargs="+")
        a = p.parse_args(args)
        rule = " ".join(a.rule)
        s = self._session(None)
        getattr(s, kind)(rule)
        print(f"{kind} {rule}")

    def _cmd_allow(self, args: list[str]) -> None:
        self._rule("allow", args)

    def _cmd_deny(self, args: list[str]) -> None:
        self._rule("deny", args)

    def _cmd_ask(self, args: list[str]) -> None:
        self._rule("ask", args)

    def _cmd_rules(self, args: list[str]) -> pd.DataFrame | None:
        import pandas as pd

        p = self._parser("rules", "List the current session's rules; --remove RULE drops one.")
        p.add_argument("--remove", metavar="RULE", help="the rule to remove")
        a = p.parse_args(args)
        s = self._session(None)
        if a.remove:
            ok = s.remove_rule(a.remove)
            print(f"removed {a.remove}" if ok else f"no rule '{a.remove}' (see %a3s_session rules)")
            return None
        rows = [{"list": k, "rule": r} for k, rules in s.rules().items() for r in rules]
        return pd.DataFrame(rows, columns=["list", "rule"])

    def _cmd_tasks(self, args: list[str]) -> pd.DataFrame:
        import pandas as pd

        s = self._simple("tasks", "The agent's task list.", args)
        rows = [
            {"id": t.id, "task": t.content, "status": t.status.value, "priority": t.priority.value}
            for t in s.tasks
        ]
        return pd.DataFrame(rows, columns=["id", "task", "status", "priority"])

    def _cmd_cost(self, args: list[str]) -> pd.DataFrame:
        from a3s_notebook.analysis.costs import cost_by_day, cost_by_model, cost_by_session

        p = self._parser(
            "cost",
            "What the session spent: calls, tokens and cost per model with a total row; "
            "--raw for the ledger (one row per LLM call), --by to group it.",
        )
        p.add_argument("--by", choices=["model", "day", "session"])
        p.add_argument("--raw", action="store_true", help="the ledger: one row per LLM call")
        p.add_argument("--all", action="store_true", help="every session, not only the current")
        a = p.parse_args(args)
        frame = self.manager.costs() if a.all or a.by == "session" else self._session(None).costs()
        if a.raw:
            return frame
        if a.by == "model":
            return cost_by_model(frame)
        if a.by == "day":
            return cost_by_day(frame)
        if a.by == "session":
            return cost_by_session(frame)
        return cost_summary_table(frame)

    def _cmd_kernel_tools(self, args: list[str]) -> None:
        from a3s_notebook.notebook_tools import KERNEL_TOOL_NAMES, notebook_tools

        p = self._parser(
            "kernel-tools",
            "Give the current session the kernel-aware tools (inspect, python, notebook_read, "
            "notebook_edit, propose_cell), or take them away. `python` asks before each run.",
        )
        p.add_argument("state", nargs="?", choices=["on", "off"])
        a = p.parse_args(args)
        s = self._session(None)
        if a.state is None:
            have = [n for n in KERNEL_TOOL_NAMES if n in s.tools]
            print(f"kernel tools in '{s.name}': {', '.join(have) if have else 'off'}")
        elif a.state == "on":
            shell = self.shell
            if shell is None:
                raise ValueError("kernel tools need an IPython shell")
            for t in notebook_tools(lambda: shell.user_ns, shell=shell):
                s.add_tool(t)
            print(f"kernel tools on in '{s.name}': {', '.join(KERNEL_TOOL_NAMES)}")
        else:
            for name in KERNEL_TOOL_NAMES:
                s.remove_tool(name)
            print(f"kernel tools off in '{s.name}'")

    def _cmd_export(self, args: list[str]) -> None:
        from a3s_notebook.export import export_session

        p = self._parser("export", "Write the current session to PATH (.md or .jsonl).")
        p.add_argument("path")
        a = p.parse_args(args)
        path = export_session(self._session(None), Path(a.path))
        print(f"wrote {path}")


def _queue_report(session: Session) -> list[str]:
    """The lines of ``%a3s_session queue``: lanes, metrics, external tasks, dead letters."""
    stats = session.queue_stats()
    metrics = session.queue_metrics()
    state = "running" if session.queue.running else "stopped (session.start_queue())"
    lines = [f"queue: {state}; {stats.total_pending} waiting, {stats.total_active} running"]
    lines.append(f"{'lane':<9}{'mode':<10}{'wait':>5}{'run':>5}{'max':>5}")
    for name, lane in stats.lanes.items():
        lines.append(
            f"{name:<9}{lane.handler_mode:<10}{lane.pending:>5}{lane.active:>5}"
            f"{lane.max_concurrency:>5}"
        )
    if metrics is None:
        lines.append("metrics: off (queue_config enable_metrics=True turns them on)")
    else:
        lines.append(
            f"{'lane':<9}{'submitted':>10}{'done':>6}{'failed':>7}{'retried':>8}{'dead':>6}"
            f"{'p50 ms':>9}{'p95 ms':>9}"
        )
        for name, m in metrics.lanes.items():
            p50 = "-" if m.latency_p50_ms is None else f"{m.latency_p50_ms:.0f}"
            p95 = "-" if m.latency_p95_ms is None else f"{m.latency_p95_ms:.0f}"
            lines.append(
                f"{name:<9}{m.submitted:>10}{m.completed:>6}{m.failed:>7}{m.retried:>8}"
                f"{m.dead_lettered:>6}{p50:>9}{p95:>9}"
            )
    for task in session.pending_external_tasks():
        lines.append(
            f"external task {task.task_id}: {task.command_type} in {task.lane.value} "
            "(session.complete_external_task(task_id, result))"
        )
    dead = session.dead_letters()
    if not session.queue.config.enable_dlq:
        lines.append("dead letters: off (queue_config enable_dlq=True keeps them)")
    else:
        lines.append(f"dead letters: {len(dead)}")
        for d in dead:
            error = d.error.splitlines()[0] if d.error else ""
            lines.append(
                f"  {d.command_id} {d.command_type} ({d.lane_id}) after {d.attempts} tries: "
                f"{error[:200]}"
            )
    return lines


_HELP = """%a3s_session SUBCOMMAND [options]   (each subcommand takes --help)

  new NAME [--model M] [--workspace DIR [--create]] [--system TEXT] [--timeout SECONDS]
           [--yolo LANES] [--base-url URL] [--api-key-env VAR] [--request-timeout SECONDS]
  use NAME            make a session current (restores it from its file)
  list                the sessions, as a table
  show                the live view of the current session
  pending             the approvals waiting, as cards (after a page reload: in a subshell
                      console, New Subshell Console for Notebook)
  config KEY          print a setting;  config KEY=VALUE [KEY=VALUE...]  sets them
                      e.g. config planning_enabled=true goal_tracking=true
  pause | resume | clear | compact
  fork NAME           copy the current session and switch to the copy
  delete NAME
  replay NAME [--speed 4] [--max-pause SECONDS] [--step] [--interactive]
                                         replay a recorded session or file
  allow RULE | deny RULE | ask RULE      e.g. allow 'Bash(git:*)'
  rules [--remove RULE]
  tasks               the agent's task list
  queue               the lane queue: lanes, metrics, external tasks, dead letters
  cost [--by model|day|session] [--raw] [--all]   calls, tokens, cost per model, a total
  export PATH         .md (transcript, approvals, cost) or .jsonl
  kernel-tools [on|off]  inspect/python/notebook_read/notebook_edit/propose_cell
  tools [add NAME | remove NAME]   the agent's tools; add a function from your variables
  mcp add NAME [--env VAR] -- COMMAND ARGS... | mcp add NAME --url URL | mcp list | mcp remove NAME
  hooks               the hooks: name, event, matcher, priority, kind
  skills [load NAME | unload NAME]   skills from ./skills/ and ~/.a3s/skills/ (* = loaded)
  memory [list | search TEXT | clear | on [file|memory] | off]   the agent's memories
  debug               the whole traceback of the last failure
  help

%%ask [-s SESSION] [-m MODEL] [--background] [--quiet] [-f markdown|text] [--tools FN1,FN2]
      [--plan] [--thinking BUDGET]
  the cell body is the prompt; {name} is filled from your variables;
  -m A,B,C runs it on each model side by side"""


def _in_voila() -> bool:
    """Whether this kernel was started by Voila (it sets these in the kernel's environment)."""
    return bool(os.environ.get("VOILA_REQUEST_URL") or os.environ.get("VOILA_BASE_URL"))


@contextlib.contextmanager
def _interrupt_cancels(session: Session) -> Iterator[None]:
    """While a run awaits, a kernel interrupt (SIGINT) cancels it.

    ipykernel 7 does not always turn SIGINT into a cancellation of an awaiting cell
    (with subshells the cell may not run on the thread that owns its SIGINT handler),
    and a KeyboardInterrupt raised inside the event loop would not reach the run. So
    the run installs its own handler and restores the previous one afterwards.
    """
    task = asyncio.current_task()
    if task is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()

    def cancel() -> None:
        session.cancel()
        task.cancel()

    def on_sigint(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(cancel)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _magics_instance(shell: InteractiveShell) -> A3sMagics:
    instance = shell.magics_manager.registry.get("A3sMagics")
    if not isinstance(instance, A3sMagics):
        raise RuntimeError("a3s_notebook is not loaded: run %load_ext a3s_notebook")
    return instance


async def run_ask_cell(line: str, body: str) -> Any:
    """What a rewritten ``%%ask`` cell awaits."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = _magics_instance(shell)
    return await magics.ask_async(line, body)


def _rewrite_ask(lines: list[str]) -> list[str]:
    """Input transformer: ``%%ask ARGS`` + body -> ``await run_ask_cell(ARGS, body)``."""
    if not lines or not lines[0].startswith("%%ask"):
        return lines
    first = lines[0]
    if not (first.strip() == "%%ask" or first[len("%%ask")] in " \t"):
        return lines
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not getattr(shell, "autoawait", False) or shell.loop_runner is None:
        return lines
    args = first[len("%%ask") :].strip()
    body = "".join(lines[1:])
    call = (
        "await __import__('a3s_notebook.magics', fromlist=['run_ask_cell'])"
        f".run_ask_cell({args!r}, {body!r})\n"
    )
    return [call]


# IPython's check_complete runs the cleanup transformers to decide whether Enter ends the
# input in terminal IPython; a rewritten cell would look complete after its first line.
# Transformers marked with side effects are skipped there, so "%%ask" waits for its body.
_rewrite_ask.has_side_effects = True  # type: ignore[attr-defined]


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the magics and the ``%%ask`` rewrite (``%load_ext a3s_notebook``)."""
    ipython.register_magics(A3sMagics)
    if _rewrite_ask not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(_rewrite_ask)
    kernel = getattr(ipython, "kernel", None)
    if kernel is not None:
        from a3s_notebook._kernel_info import answer_info_requests_at_once

        # a page reloaded while %%ask awaits must be able to connect (see _kernel_info)
        try:
            answer_info_requests_at_once(kernel)
        except Exception:  # a convenience: never keep the extension from loading
            logging.getLogger("a3s_notebook").exception("could not hook the kernel's requests")


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Remove the ``%%ask`` rewrite (``%unload_ext a3s_notebook``)."""
    if _rewrite_ask in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(_rewrite_ask)
