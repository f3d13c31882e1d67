"""``%%ask -m a,b,c``: one prompt on several models at once, side by side.

Each model gets a fork of the current session (same history, config and rules, its own
log), switched to that model; the runs go on concurrently. In a notebook the view is one
column per model (its live stream, approvals and answer), each headed by the model and,
once it ends, its tokens, cost and latency. The cell's value is a :class:`CompareResult`.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from a3s_notebook._markdown import safe_markdown

if TYPE_CHECKING:
    import pandas as pd

    from a3s_notebook.engine import AgentResult, Session, SessionManager

__all__ = ["CompareResult", "ModelRun", "parse_models", "run_compare"]


def parse_models(text: str) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; one clear error for an empty or repeated name."""
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise ValueError(f"-m {text!r}: a model name is empty; write -m provider/a,provider/b")
    if len(set(names)) != len(names):
        raise ValueError(f"-m {text!r} names a model twice")
    return names


@dataclass
class ModelRun:
    """One column of a comparison: the model, its session and how its run ended."""

    model: str
    session: Session
    result: AgentResult | None = None
    error: str | None = None
    latency_s: float | None = None

    def summary(self) -> str:
        """``1234 tokens · $0.0012 · 2.3 s`` (or the error)."""
        if self.result is None:
            return f"failed: {self.error}"
        r = self.result
        cost = "cost unknown" if r.cost_usd is None else f"${r.cost_usd:.6f}"
        est = " (estimated)" if r.usage.estimated else ""
        lat = "" if self.latency_s is None else f" · {self.latency_s:.2f} s"
        return f"{r.usage.total_tokens} tokens{est} · {cost}{lat}"


class CompareResult:
    """The value of a ``%%ask -m a,b`` cell: one :class:`ModelRun` per model, in order.

    ``result["openai/gpt-4o"]`` is that model's :class:`ModelRun`; :meth:`frame` is a
    DataFrame (model, session, answer, tokens, cost, latency, tool calls, error).
    """

    def __init__(self, runs: list[ModelRun]) -> None:
        self.runs = runs

    def __getitem__(self, model: str) -> ModelRun:
        for run in self.runs:
            if run.model == model:
                return run
        raise KeyError(f"no model {model!r} in this comparison: {[r.model for r in self.runs]}")

    def frame(self) -> pd.DataFrame:
        """One row per model."""
        import pandas as pd

        rows = []
        for run in self.runs:
            r = run.result
            rows.append(
                {
                    "model": run.model,
                    "session": run.session.name,
                    "answer": None if r is None else r.text,
                    "tokens": None if r is None else r.usage.total_tokens,
                    "cost_usd": None if r is None else r.cost_usd,
                    "latency_s": run.latency_s,
                    "tool_calls": None if r is None else r.tool_calls_count,
                    "error": run.error,
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return "\n\n".join(f"== {run.model} ({run.summary()})\n{_text(run)}" for run in self.runs)

    def _repr_markdown_(self) -> str:
        parts = [
            f"### {safe_markdown(run.model)}\n\n{safe_markdown(_text(run))}\n\n"
            f"*{safe_markdown(run.summary())}*"
            for run in self.runs
        ]
        return "\n\n---\n\n".join(parts)


def _text(run: ModelRun) -> str:
    return run.result.text if run.result is not None else f"(no answer: {run.error})"


def _header(run: ModelRun, state: str) -> str:
    model = html.escape(run.model)
    return (
        f"<div class='a3s-compare-head'><b>{model}</b>"
        f"<div class='a3s-compare-stats'>{html.escape(state)}</div></div>"
    )


class _CompareView:
    """A grid of SessionViews, one column per model, each under a header."""

    def __init__(self, runs: list[ModelRun]) -> None:
        import ipywidgets as widgets

        from a3s_notebook.widgets import SessionView

        self._heads: list[Any] = []
        columns = []
        for run in runs:
            head = widgets.HTML(value=_header(run, "running…"))
            self._heads.append(head)
            columns.append(widgets.VBox([head, SessionView(run.session)]))
        self.box = widgets.GridBox(
            columns,
            layout=widgets.Layout(
                grid_template_columns=f"repeat({len(runs)}, minmax(0, 1fr))", grid_gap="8px"
            ),
        )
        self.box.add_class("a3s-compare")

    def finished(self, index: int, run: ModelRun) -> None:
        self._heads[index].value = _header(run, run.summary())


async def run_compare(
    manager: SessionManager,
    base: Session,
    models: Sequence[str],
    prompt: str,
    *,
    provenance: dict[str, Any] | None = None,
    prepare: Callable[[Session], None] | None = None,
    display: Callable[[Any], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> CompareResult:
    """Fork ``base`` once per model, switch each fork to its model, run ``prompt`` on all
    at once; failures stay in their column. ``prepare(session)`` runs on each fork first
    (e.g. to add tools); ``display`` shows the side-by-side view (None: no view)."""
    runs: list[ModelRun] = []
    for model in models:
        fork = manager.fork_session(base.id, name=f"{base.name} · {model}")
        runs.append(ModelRun(model, fork))
        try:
            manager.configure(fork.id, model=model)
        except Exception as exc:  # a bad name or a missing key: that column fails
            runs[-1].error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        if prepare is not None:
            prepare(fork)
    view = None
    if display is not None:
        view = _CompareView(runs)
        display(view.box)

    async def one(index: int, run: ModelRun) -> None:
        if run.error is None:
            started = clock()
            try:
                run.result = await run.session.send_async(prompt, provenance=provenance)
            except Exception as exc:
                run.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            run.latency_s = round(clock() - started, 3)
        if view is not None:
            view.finished(index, run)

    tasks = [asyncio.ensure_future(one(i, r)) for i, r in enumerate(runs)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        for run in runs:
            run.session.cancel()
        raise
    return CompareResult(runs)
