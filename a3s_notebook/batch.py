"""Batch runs: one session per cell of a grid (prompts x models x settings), in a DataFrame.

Each cell is a real session made by a :class:`~a3s_notebook.engine.SessionManager` on the
batch's folder, so every cell leaves its JSONL log there, and its row of the frame is read
back from that log (a resumed cell's row is the same as when it ran).

- **Session ids** come from the cell's content (prompt, model, settings and the base
  config): a re-run of the same grid finds the logs of the cells that finished (they hold
  an ``agent_end``) and does not run them again (``resumed`` is True in their row). A cell
  whose log is incomplete (it failed, or the process died) is archived
  (``<id>-<time>.jsonl``) and run again.
- **Concurrency** is bounded by ``concurrency`` cells at once, and per provider by
  ``provider_concurrency`` (``{"openai": 4}``): a provider's rate limit is respected by
  never having more of its calls in flight than that. ``provider_rpm`` (``{"openai": 60}``)
  spaces every LLM call of the cells to that many requests per minute per provider (one
  token bucket per provider, shared by all the cells of this process; see
  :mod:`a3s_notebook.llm.rate_limit`). Each call still goes through the provider's retry
  policy (429 and 5xx retried with backoff and ``Retry-After``).
- **Budget**: once the cost of the finished cells reaches ``budget_usd``, no new cell
  starts; cells already running finish, and the cells not started are ``skipped``. Cells
  with no known price (scripted, local models) cost ``None`` and count as 0 here.
- **Approvals** are settled by rules only: a call the rules leave to a human is denied
  with the reason :data:`BATCH_DENY_REASON` (the model sees it) and counted in
  ``approvals_denied``.
- **Dask**: ``client=`` a ``distributed.Client`` runs the cells on its workers; each worker
  makes its own session manager on the shared folder and writes its own log. Workers share
  no bucket, so ``provider_rpm`` is divided by the number of workers when the batch starts:
  each worker process gets its share (workers that join later add theirs to the total).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a3s_notebook.engine import _sync
from a3s_notebook.engine.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from a3s_notebook.engine import SessionConfig, SessionManager
    from a3s_notebook.llm.rate_limit import RequestRateLimiter
    from a3s_notebook.llm.types import LlmClient

__all__ = [
    "BATCH_DENY_REASON",
    "BatchCell",
    "BatchProgress",
    "COLUMNS",
    "batch_cells",
    "cell_row",
    "run_batch",
    "run_batch_async",
    "run_cell",
]

BATCH_DENY_REASON = "batch run: no human to approve"
"""What the model is told when a call of a batch cell would have needed a human."""

COLUMNS = [
    "prompt",
    "model",
    "settings",
    "session_id",
    "status",
    "answer",
    "tokens",
    "cost_usd",
    "latency_s",
    "tool_calls",
    "approvals_denied",
    "error",
    "resumed",
]
"""The columns of :func:`run_batch`'s frame, in order."""

ModelSpec = str | tuple[str, Callable[[], "LlmClient"]]
"""A model of the grid: ``"provider/model"``, or ``(name, factory)`` where ``factory()``
makes a fresh client for each cell (e.g. a ``ScriptedClient`` with turns of its own)."""


@dataclass(frozen=True)
class BatchCell:
    """One cell of the grid: what to run, and the id its session and log get."""

    prompt: str
    model: str
    settings: dict[str, Any]
    session_id: str
    provider: str
    factory: Callable[[], LlmClient] | None = field(default=None, repr=False, compare=False)

    @property
    def settings_label(self) -> str:
        """The settings as compact JSON (``{}`` for none): the frame's ``settings``."""
        return json.dumps(self.settings, sort_keys=True, separators=(",", ":"), default=str)


# --- the grid -----------------------------------------------------------------------------


def _check_models(models: Sequence[ModelSpec]) -> list[tuple[str, str, Any]]:
    from a3s_notebook.llm.factory import parse_model

    if isinstance(models, (str, tuple)) or not isinstance(models, Sequence) or not models:
        raise ConfigError(
            "run_batch(models=...) must be a non-empty list, e.g. "
            "models=['openai/gpt-4o-mini', 'scripted/echo']"
        )
    out: list[tuple[str, str, Any]] = []
    for item in models:
        factory = None
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], str) or not callable(item[1]):
                raise ConfigError(
                    "run_batch(models=...): a custom model is (name, factory), e.g. "
                    "('scripted/mine', lambda: ScriptedClient(turns=[...])); got "
                    f"{item!r}"
                )
            name, factory = item
        elif isinstance(item, str):
            name = item
        else:
            raise ConfigError(
                f"run_batch(models=...): {item!r} is not a model name: use 'provider/model' "
                "or (name, factory)"
            )
        provider, _ = parse_model(name)
        out.append((name, provider, factory))
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"run_batch(models=...) names a model twice: {names}")
    return out


def _check_settings(settings: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    from a3s_notebook.engine import SessionConfig

    if settings is None:
        return [{}]
    if isinstance(settings, Mapping) or not isinstance(settings, Sequence) or not settings:
        raise ConfigError(
            "run_batch(settings=...) is a non-empty list of dicts of SessionConfig fields, "
            "e.g. settings=[{'max_tool_rounds': 5}, {'max_tool_rounds': 20}]"
        )
    out: list[dict[str, Any]] = []
    for item in settings:
        if not isinstance(item, Mapping):
            raise ConfigError(f"run_batch(settings=...): {item!r} is not a dict of config fields")
        unknown = sorted(set(item) - set(SessionConfig.model_fields))
        if unknown:
            raise ConfigError(
                f"run_batch(settings=...): unknown SessionConfig field(s) {unknown}: use "
                f"fields of SessionConfig ({', '.join(sorted(SessionConfig.model_fields))})"
            )
        for banned in ("workspace", "storage_type", "parent_id"):
            if banned in item:
                raise ConfigError(
                    f"run_batch(settings=...): '{banned}' is set by the batch, not per cell"
                )
        out.append(dict(item))
    return out


def _cell_id(prompt: str, model: str, settings: dict[str, Any], base: dict[str, Any]) -> str:
    data = json.dumps([prompt, model, settings, base], sort_keys=True, default=str)
    return "batch-" + hashlib.sha256(data.encode()).hexdigest()[:20]


def batch_cells(
    prompts: Sequence[str],
    models: Sequence[ModelSpec],
    settings: Sequence[Mapping[str, Any]] | None = None,
    config: SessionConfig | None = None,
) -> list[BatchCell]:
    """The cells of the grid, prompt-major (prompt, then model, then settings), with the
    session id each gets (the same for the same content: a re-run finds its log)."""
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
        raise ConfigError("run_batch(prompts=...) must be a non-empty list of prompt strings")
    for p in prompts:
        if not isinstance(p, str) or not p.strip():
            raise ConfigError(f"run_batch(prompts=...): {p!r} is not a non-empty string")
    if len(set(prompts)) != len(prompts):
        raise ConfigError("run_batch(prompts=...) holds the same prompt twice")
    base = _base_config(config).model_dump(mode="json")
    cells = [
        BatchCell(
            prompt=p,
            model=name,
            settings=s,
            session_id=_cell_id(p, name, s, base),
            provider=provider,
            factory=factory,
        )
        for p in prompts
        for name, provider, factory in _check_models(models)
        for s in _check_settings(settings)
    ]
    ids = [c.session_id for c in cells]
    if len(set(ids)) != len(ids):
        raise ConfigError("run_batch(settings=...) holds the same settings twice")
    return cells


def _base_config(config: SessionConfig | None) -> SessionConfig:
    from a3s_notebook.engine import SessionConfig, StorageBackend

    if config is None:
        return SessionConfig()
    if not isinstance(config, SessionConfig):
        raise ConfigError(
            f"run_batch(config=...) must be a SessionConfig, got {type(config).__name__}"
        )
    if config.storage_type is StorageBackend.MEMORY:
        raise ConfigError(
            "run_batch(config=...): storage_type is 'memory', but a batch keeps every cell's "
            "log in its folder (to resume and to analyse): leave storage_type at 'file'"
        )
    return config


# --- one cell -----------------------------------------------------------------------------


def cell_row(records: list[dict[str, Any]] | None, *, session_id: str = "") -> dict[str, Any]:
    """A cell's numbers read from its log records: ``complete`` (it has an ``agent_end``),
    ``answer``, ``tokens``, ``cost_usd`` (``None`` if a call had no price), ``latency_s``,
    ``tool_calls``, ``approvals_denied`` (calls refused by the batch for want of a human)
    and ``error``."""
    from a3s_notebook.engine._log import read_log
    from a3s_notebook.engine.events import (
        AgentEnd,
        AgentStart,
        ConfirmationReceived,
        ErrorEvent,
        ToolEnd,
        UsageRecorded,
    )

    row: dict[str, Any] = {
        "complete": False,
        "answer": None,
        "tokens": 0,
        "cost_usd": None,
        "latency_s": None,
        "tool_calls": 0,
        "approvals_denied": 0,
        "error": None,
    }
    if not records:
        return row
    started: float | None = None
    costs: list[float | None] = []
    for ts, event in read_log(records, source=f"session {session_id}"):
        if isinstance(event, AgentStart):
            started = ts
        elif isinstance(event, AgentEnd):
            row["complete"] = True
            row["answer"] = event.text
            if started is not None and ts is not None:
                row["latency_s"] = round(ts - started, 3)
        elif isinstance(event, UsageRecorded):
            row["tokens"] += event.record.total_tokens
            costs.append(event.record.cost_usd)
        elif isinstance(event, ToolEnd):
            row["tool_calls"] += 1
        elif isinstance(event, ConfirmationReceived):
            if event.decided_by == "batch" and not event.approved:
                row["approvals_denied"] += 1
        elif isinstance(event, ErrorEvent):
            row["error"] = event.message
    if costs and all(c is not None for c in costs):
        row["cost_usd"] = float(sum(c for c in costs if c is not None))
    return row


def _cell_config(base: SessionConfig, cell: BatchCell, folder: Path) -> SessionConfig:
    from a3s_notebook.engine import SessionConfig

    data = base.model_dump()
    data.update(cell.settings)
    if not base.workspace:
        # one workspace per cell: cells that write files must not see each other's
        data["workspace"] = str(folder / "workspaces" / cell.session_id)
    if not data.get("name"):
        data["name"] = f"{cell.model} · {cell.prompt[:40]}"
    try:
        return SessionConfig.model_validate(data)
    except Exception as exc:
        raise ConfigError(f"run_batch(settings={cell.settings!r}): {exc}") from exc


def _load(manager: SessionManager, session_id: str) -> list[dict[str, Any]] | None:
    return manager.store.load(session_id)


async def _run_cell_async(
    manager: SessionManager,
    cell: BatchCell,
    base: SessionConfig,
    folder: Path,
    limiter: RequestRateLimiter | None = None,
) -> dict[str, Any]:
    """Run one cell to its end in ``manager`` and return its row (errors go in the row)."""
    from a3s_notebook.engine.events import ConfirmationRequired

    error: str | None = None
    sid = cell.session_id
    try:
        if manager.store.exists(sid):
            # an earlier attempt that did not finish: keep it beside, start afresh
            archive = getattr(manager.store, "archive", None)
            if archive is not None:
                archive(sid)
            manager.store.delete(sid)
        config = _cell_config(base, cell, folder)
        llm = cell.factory() if cell.factory is not None else None
        if limiter is not None and limiter.limits(cell.provider):
            if llm is None:
                from a3s_notebook.llm.factory import create_client

                llm = create_client(cell.model)
            # every call of this cell (its turns, its title) takes the provider's token
            llm = limiter.wrap(llm, cell.provider)
        session = manager.create_session(config, model=cell.model, llm=llm, session_id=sid)
    except Exception as exc:
        return _row(cell, cell_row(_load(manager, sid), session_id=sid), error=_describe(exc))

    def settle(event: Any) -> None:
        # no human watches a batch: what the rules leave to one is refused, and said so
        if isinstance(event, ConfirmationRequired):
            session.confirm(event.tool_id, False, BATCH_DENY_REASON, decided_by="batch")

    session.subscribe(settle)
    try:
        await session.send_async(cell.prompt)
    except Exception as exc:
        error = _describe(exc)
    finally:
        manager.forget_session(sid)
    return _row(cell, cell_row(_load(manager, sid), session_id=sid), error=error)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _row(
    cell: BatchCell, numbers: dict[str, Any], *, error: str | None = None, resumed: bool = False
) -> dict[str, Any]:
    complete = bool(numbers.pop("complete", False))
    if error is not None or not complete:
        numbers["error"] = error or numbers.get("error") or "the run did not finish"
        status = "failed"
    else:
        status = "done"
    return {
        "prompt": cell.prompt,
        "model": cell.model,
        "settings": cell.settings_label,
        "session_id": cell.session_id,
        "status": status,
        **numbers,
        "resumed": resumed,
    }


def _skipped(cell: BatchCell) -> dict[str, Any]:
    return {
        "prompt": cell.prompt,
        "model": cell.model,
        "settings": cell.settings_label,
        "session_id": cell.session_id,
        "status": "skipped",
        "answer": None,
        "tokens": 0,
        "cost_usd": None,
        "latency_s": None,
        "tool_calls": 0,
        "approvals_denied": 0,
        "error": "not started: the batch budget was spent",
        "resumed": False,
    }


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one cell in this process (what a Dask worker calls): its own session manager on
    the shared folder, its own log; returns the cell's row. ``spec`` is made by the batch.
    """
    from a3s_notebook.engine import SessionConfig, SessionManager

    cell: BatchCell = spec["cell"]
    folder = Path(spec["folder"])
    base = SessionConfig.model_validate(spec["config"])
    limiter = _worker_limiter(spec.get("rpm_key"), spec.get("rpm"))
    with SessionManager(folder) as manager:
        return _sync.run_sync(lambda: _run_cell_async(manager, cell, base, folder, limiter))


_WORKER_LIMITERS: dict[str, RequestRateLimiter] = {}
_WORKER_LIMITERS_LOCK = threading.Lock()
_WORKER_LIMITERS_KEPT = 16


def _worker_limiter(key: str | None, rpm: Mapping[str, float] | None) -> RequestRateLimiter | None:
    """This process's limiter for one batch: the cells of a batch that land on this
    worker (in any of its threads) share it; other batches have their own."""
    from a3s_notebook.llm.rate_limit import RequestRateLimiter

    if not key or not rpm:
        return None
    with _WORKER_LIMITERS_LOCK:
        limiter = _WORKER_LIMITERS.get(key)
        if limiter is None:
            limiter = _WORKER_LIMITERS[key] = RequestRateLimiter(rpm)
            while len(_WORKER_LIMITERS) > _WORKER_LIMITERS_KEPT:  # the oldest batches
                del _WORKER_LIMITERS[next(iter(_WORKER_LIMITERS))]
        return limiter


# --- progress -----------------------------------------------------------------------------


@dataclass
class BatchProgress:
    """Where a batch is: what a progress display shows, updated as cells start and end."""

    total: int
    done: int = 0
    running: int = 0
    failed: int = 0
    skipped: int = 0
    resumed: int = 0
    cost_usd: float = 0.0

    @property
    def finished(self) -> int:
        """Cells that will not run again in this batch (done, failed or skipped)."""
        return self.done + self.failed + self.skipped

    def line(self) -> str:
        """One line of text, e.g. ``4/6 done · 2 running · 0 failed · $0.0012``."""
        parts = [f"{self.done}/{self.total} done", f"{self.running} running"]
        parts.append(f"{self.failed} failed")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.resumed:
            parts.append(f"{self.resumed} resumed")
        parts.append(f"${self.cost_usd:.4f}")
        return " · ".join(parts)


ProgressCallback = Callable[[BatchProgress], None]


class _WidgetProgress:
    """An ipywidgets bar and a line of text, displayed once, updated in place."""

    def __init__(self, total: int) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self._bar = widgets.IntProgress(value=0, min=0, max=max(total, 1), description="batch")
        self._text = widgets.HTML(value="")
        self.box = widgets.HBox([self._bar, self._text])
        self.box.add_class("a3s-batch-progress")
        display(self.box)  # type: ignore[no-untyped-call,unused-ignore]

    def __call__(self, p: BatchProgress) -> None:
        import html

        self._bar.value = p.finished
        self._bar.bar_style = "danger" if p.failed else ("success" if p.finished == p.total else "")
        self._text.value = f"<span>{html.escape(p.line())}</span>"


class _TqdmProgress:
    def __init__(self, total: int) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        self._bar = tqdm(total=total, desc="batch", unit="cell", file=sys.stderr)

    def __call__(self, p: BatchProgress) -> None:
        self._bar.n = p.finished
        self._bar.set_postfix_str(
            f"running={p.running} failed={p.failed} cost=${p.cost_usd:.4f}", refresh=False
        )
        self._bar.refresh()
        if p.finished == p.total:
            self._bar.close()


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except Exception:
        return False
    return ip is not None and "ipykernel" in type(ip).__module__


def _progress(progress: Any, total: int) -> ProgressCallback | None:
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress  # type: ignore[no-any-return]
    if progress == "widget":
        return _WidgetProgress(total)
    if progress == "tqdm":
        try:
            return _TqdmProgress(total)
        except ImportError:
            raise ConfigError("run_batch(progress='tqdm') needs tqdm: pip install tqdm") from None
    if progress == "auto":
        if _in_kernel():
            return _WidgetProgress(total)
        try:
            return _TqdmProgress(total)
        except ImportError:
            return None
    raise ConfigError(
        f"run_batch(progress={progress!r}): use 'auto', 'widget', 'tqdm', None or a "
        "function of BatchProgress"
    )


# --- scheduling ---------------------------------------------------------------------------


class _Scheduler:
    """Which cell starts next: bounded overall and per provider, and none once the budget
    is spent. Shared by the local and the Dask drivers."""

    def __init__(
        self,
        cells: list[BatchCell],
        rows: dict[str, dict[str, Any]],
        *,
        concurrency: int,
        provider_concurrency: Mapping[str, int],
        budget_usd: float | None,
        report: ProgressCallback | None,
    ) -> None:
        self.rows = rows
        self.pending = [c for c in cells if c.session_id not in rows]
        self.concurrency = concurrency
        self.per_provider = dict(provider_concurrency)
        self.in_flight: dict[str, int] = {}
        self.budget = budget_usd
        self.report = report
        self.progress = BatchProgress(total=len(cells))
        for row in rows.values():  # resumed cells
            self._count(row)
        self._tell()

    def _count(self, row: dict[str, Any]) -> None:
        p = self.progress
        if row["status"] == "done":
            p.done += 1
        elif row["status"] == "failed":
            p.failed += 1
        else:
            p.skipped += 1
        if row.get("resumed"):
            p.resumed += 1
        cost = row.get("cost_usd")
        if isinstance(cost, (int, float)) and not math.isnan(cost):
            p.cost_usd += float(cost)

    def _tell(self) -> None:
        if self.report is not None:
            self.report(self.progress)

    def spent(self) -> bool:
        """Whether the budget is used up."""
        return self.budget is not None and self.progress.cost_usd >= self.budget

    def next(self) -> BatchCell | None:
        """The next cell to start now, or None (none may start yet, or none is left)."""
        if self.spent() and self.pending:
            for cell in self.pending:
                self.rows[cell.session_id] = row = _skipped(cell)
                self._count(row)
            self.pending = []
            self._tell()
        if self.progress.running >= self.concurrency:
            return None
        for i, cell in enumerate(self.pending):
            limit = self.per_provider.get(cell.provider)
            if limit is not None and self.in_flight.get(cell.provider, 0) >= limit:
                continue
            del self.pending[i]
            self.in_flight[cell.provider] = self.in_flight.get(cell.provider, 0) + 1
            self.progress.running += 1
            self._tell()
            return cell
        return None

    def finished(self, cell: BatchCell, row: dict[str, Any]) -> None:
        """A started cell ended with ``row``."""
        self.in_flight[cell.provider] -= 1
        self.progress.running -= 1
        self.rows[cell.session_id] = row
        self._count(row)
        self._tell()


async def _drive_local(
    sched: _Scheduler,
    manager: SessionManager,
    base: SessionConfig,
    folder: Path,
    limiter: RequestRateLimiter | None = None,
) -> None:
    running: dict[asyncio.Task[dict[str, Any]], BatchCell] = {}
    try:
        while True:
            while (cell := sched.next()) is not None:
                task = asyncio.ensure_future(_run_cell_async(manager, cell, base, folder, limiter))
                running[task] = cell
            if not running:
                return
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                cell = running.pop(task)
                try:
                    row = task.result()
                except Exception as exc:  # _run_cell_async puts errors in the row
                    row = _row(cell, cell_row(None), error=_describe(exc))
                sched.finished(cell, row)
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def _drive_dask(
    sched: _Scheduler,
    client: Any,
    base: SessionConfig,
    folder: Path,
    rpm: Mapping[str, float] | None = None,
) -> None:
    try:
        from distributed import as_completed
    except ImportError:
        raise ConfigError(
            "run_batch(client=...) needs Dask: pip install 'a3s-notebook[dask]'"
        ) from None
    config = base.model_dump(mode="json")
    share: dict[str, float] | None = None
    if rpm:
        # workers share no bucket: each gets its part of the limit
        workers = max(1, _worker_count(client))
        share = {p: n / workers for p, n in rpm.items()}
    rpm_key = uuid.uuid4().hex
    futures: dict[Any, BatchCell] = {}
    queue = as_completed()  # type: ignore[no-untyped-call,unused-ignore]

    def submit_ready() -> None:
        while (cell := sched.next()) is not None:
            spec = {
                "cell": cell,
                "folder": str(folder),
                "config": config,
                "rpm": share,
                "rpm_key": rpm_key,
            }
            # a fresh key each time: a re-run must not be handed a result the cluster still
            # holds from an earlier submission of the same cell
            key = f"a3s-{cell.session_id}-{uuid.uuid4().hex[:8]}"
            fut = client.submit(run_cell, spec, pure=False, key=key)
            futures[fut] = cell
            queue.add(fut)  # type: ignore[no-untyped-call,unused-ignore]

    submit_ready()
    try:
        while futures:
            fut = next(queue)
            cell = futures.pop(fut)
            try:
                row = fut.result()
            except Exception as exc:
                row = _row(cell, cell_row(None), error=f"on a Dask worker: {_describe(exc)}")
            sched.finished(cell, row)
            submit_ready()
    finally:
        for fut in futures:
            fut.cancel()


def _worker_count(client: Any) -> int:
    """The Dask workers now (0 when the scheduler does not say)."""
    try:
        return len(client.scheduler_info().get("workers", {}))
    except Exception:
        return 0


# --- the entry points ---------------------------------------------------------------------


def _rate_limiter(
    provider_rpm: Mapping[str, float] | RequestRateLimiter | None,
    cells: list[BatchCell],
    dask: bool,
) -> RequestRateLimiter | None:
    """The batch's limiter: a dict of requests per minute checked against the grid's
    providers (a limit no cell uses is a typo), or a limiter the caller made."""
    from a3s_notebook.llm.rate_limit import RequestRateLimiter, check_rpm

    if provider_rpm is None:
        return None
    if isinstance(provider_rpm, RequestRateLimiter):
        if dask:
            raise ConfigError(
                "run_batch(provider_rpm=RequestRateLimiter(...), client=...): a limiter "
                "lives in this process; with Dask give a dict, e.g. provider_rpm={'openai': 60}"
            )
        limiter = provider_rpm
    else:
        limiter = RequestRateLimiter(check_rpm(provider_rpm, "run_batch(provider_rpm=...)"))
    used = sorted({c.provider for c in cells})
    unused = sorted(set(limiter.rpm) - set(used))
    if unused:
        raise ConfigError(
            f"run_batch(provider_rpm=...): no model of the grid uses {unused}; the grid's "
            f"providers are {used}"
        )
    return limiter


def _prepare(
    prompts: Sequence[str],
    models: Sequence[ModelSpec],
    settings: Sequence[Mapping[str, Any]] | None,
    config: SessionConfig | None,
    concurrency: int,
    folder: str | Path,
    budget_usd: float | None,
    provider_concurrency: Mapping[str, int] | None,
) -> tuple[list[BatchCell], SessionConfig, Path, dict[str, int]]:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"run_batch(concurrency={concurrency!r}): use a whole number >= 1")
    if budget_usd is not None and (
        isinstance(budget_usd, bool)
        or not isinstance(budget_usd, (int, float))
        or not math.isfinite(budget_usd)
        or budget_usd < 0
    ):
        raise ConfigError(f"run_batch(budget_usd={budget_usd!r}): use a number of USD >= 0")
    limits: dict[str, int] = {}
    for provider, n in (provider_concurrency or {}).items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(
                f"run_batch(provider_concurrency={{{provider!r}: {n!r}}}): use a whole number >= 1"
            )
        limits[str(provider).lower()] = n
    base = _base_config(config)
    cells = batch_cells(prompts, models, settings, base)
    path = Path(os.fspath(folder)).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"run_batch(folder={str(folder)!r}): cannot create it: {exc}") from exc
    return cells, base, path, limits


def _resumed(cells: Iterable[BatchCell], folder: Path) -> dict[str, dict[str, Any]]:
    """The rows of the cells whose logs are complete."""
    from a3s_notebook.engine.store import FileSessionStore

    store = FileSessionStore(folder)
    rows: dict[str, dict[str, Any]] = {}
    for cell in cells:
        records = store.load(cell.session_id)
        if records is None:
            continue
        numbers = cell_row(records, session_id=cell.session_id)
        if numbers["complete"]:
            rows[cell.session_id] = _row(cell, numbers, resumed=True)
    return rows


def _frame(cells: list[BatchCell], rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame([rows[c.session_id] for c in cells], columns=COLUMNS)
    frame["cost_usd"] = frame["cost_usd"].astype("float64")
    frame["latency_s"] = frame["latency_s"].astype("float64")
    return frame


def _scheduled(
    prompts: Sequence[str],
    models: Sequence[ModelSpec],
    settings: Sequence[Mapping[str, Any]] | None,
    config: SessionConfig | None,
    concurrency: int,
    folder: str | Path,
    budget_usd: float | None,
    provider_concurrency: Mapping[str, int] | None,
    progress: Any,
    provider_rpm: Mapping[str, float] | RequestRateLimiter | None = None,
    dask: bool = False,
) -> tuple[list[BatchCell], SessionConfig, Path, _Scheduler, RequestRateLimiter | None]:
    """Check everything, find the resumed cells and show the progress (in the caller's
    thread: a display made from a worker thread could land in another cell's output)."""
    cells, base, path, limits = _prepare(
        prompts, models, settings, config, concurrency, folder, budget_usd, provider_concurrency
    )
    limiter = _rate_limiter(provider_rpm, cells, dask)
    rows = _resumed(cells, path)
    sched = _Scheduler(
        cells,
        rows,
        concurrency=concurrency,
        provider_concurrency=limits,
        budget_usd=budget_usd,
        report=_progress(progress, len(cells)),
    )
    return cells, base, path, sched, limiter


async def _local(
    sched: _Scheduler, base: SessionConfig, path: Path, limiter: RequestRateLimiter | None
) -> None:
    from a3s_notebook.engine import SessionManager

    with SessionManager(path) as manager:
        await _drive_local(sched, manager, base, path, limiter)


async def run_batch_async(
    prompts: Sequence[str],
    models: Sequence[ModelSpec],
    *,
    settings: Sequence[Mapping[str, Any]] | None = None,
    config: SessionConfig | None = None,
    concurrency: int = 8,
    folder: str | Path = ".a3s/batch",
    budget_usd: float | None = None,
    provider_concurrency: Mapping[str, int] | None = None,
    provider_rpm: Mapping[str, float] | RequestRateLimiter | None = None,
    progress: Any = "auto",
) -> pd.DataFrame:
    """:func:`run_batch` for async code (``await run_batch_async(...)``): the cells run on
    this loop. Takes the same arguments, without ``client``."""
    cells, base, path, sched, limiter = _scheduled(
        prompts,
        models,
        settings,
        config,
        concurrency,
        folder,
        budget_usd,
        provider_concurrency,
        progress,
        provider_rpm,
    )
    await _local(sched, base, path, limiter)
    return _frame(cells, sched.rows)


def run_batch(
    prompts: Sequence[str],
    models: Sequence[ModelSpec],
    *,
    settings: Sequence[Mapping[str, Any]] | None = None,
    config: SessionConfig | None = None,
    concurrency: int = 8,
    folder: str | Path = ".a3s/batch",
    budget_usd: float | None = None,
    provider_concurrency: Mapping[str, int] | None = None,
    provider_rpm: Mapping[str, float] | RequestRateLimiter | None = None,
    progress: Any = "auto",
    client: Any = None,
) -> pd.DataFrame:
    """Run one session per cell of prompts x models (x settings); one row per cell.

    Args:
        prompts: the prompts (distinct strings).
        models: ``"provider/model"`` names, or ``(name, factory)`` pairs whose
            ``factory()`` makes a fresh client per cell.
        settings: optional list of dicts of :class:`SessionConfig` fields, one grid
            axis (e.g. ``[{"max_tool_rounds": 3}, {"max_tool_rounds": 20}]``).
        config: the base config of every cell (its rules decide the approvals). Without
            a ``workspace``, each cell gets its own under ``folder/workspaces/<id>``.
        concurrency: at most this many cells at once.
        folder: where the cells' logs go (shared by the Dask workers).
        budget_usd: no new cell starts once the finished cells cost this much.
        provider_concurrency: at most this many cells at once per provider.
        provider_rpm: at most this many LLM calls a minute per provider, e.g.
            ``{"openai": 60}``: every call of every cell (titles too) waits for its
            provider's token; calls are spaced evenly (``60 / rpm`` s), never in a burst.
            One bucket per provider, shared by all the cells of this process. With
            ``client``, each Dask worker process gets ``rpm / workers`` (the workers
            present when the batch starts). A :class:`RequestRateLimiter` instead of a
            dict shares one limiter between batches (or, in tests, a clock).
        progress: ``"auto"`` (a widget in a notebook, a tqdm bar elsewhere), ``"widget"``,
            ``"tqdm"``, ``None``, or a function called with a :class:`BatchProgress`.
        client: a ``distributed.Client``: the cells run on its workers.

    Returns:
        A DataFrame with the columns of :data:`COLUMNS`, in grid order; ``status`` is
        ``done``, ``failed`` or ``skipped`` (not started: the budget was spent).

    Safe from any thread and inside a running event loop (a notebook cell): the local
    cells then run on a fresh loop in a worker thread.
    """
    if client is not None and not hasattr(client, "submit"):
        raise ConfigError(
            f"run_batch(client=...) must be a distributed.Client, got {type(client).__name__}"
        )
    cells, base, path, sched, limiter = _scheduled(
        prompts,
        models,
        settings,
        config,
        concurrency,
        folder,
        budget_usd,
        provider_concurrency,
        progress,
        provider_rpm,
        dask=client is not None,
    )
    if client is None:
        _sync.run_sync(lambda: _local(sched, base, path, limiter))
    else:
        _drive_dask(sched, client, base, path, limiter.rpm if limiter is not None else None)
    return _frame(cells, sched.rows)
