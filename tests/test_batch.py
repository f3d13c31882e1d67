"""run_batch: a grid of real logged sessions, read back into one frame."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from a3s_notebook.batch import (
    BATCH_DENY_REASON,
    COLUMNS,
    BatchProgress,
    batch_cells,
    run_batch,
    run_batch_async,
)
from a3s_notebook.engine import ConfigError, PermissionPolicy, SessionConfig
from a3s_notebook.engine.store import read_records
from a3s_notebook.llm.errors import UnknownModelError
from a3s_notebook.llm.pricing import clear_prices, set_price
from a3s_notebook.llm.rate_limit import RateLimitedClient, RequestRateLimiter
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.llm.types import Message, StreamEvent, ToolDefinition

PROMPTS = ["alpha prompt", "beta prompt", "gamma prompt"]
MODELS = ["scripted/echo", "scripted/demo-fast"]


def test_grid_frame_has_one_row_per_cell_read_from_its_log(tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    df = run_batch(PROMPTS, models=MODELS, folder=folder, progress=None)
    assert list(df.columns) == COLUMNS
    assert len(df) == 6
    assert list(zip(df.prompt, df.model, strict=True)) == [(p, m) for p in PROMPTS for m in MODELS]
    assert set(df.status) == {"done"}
    echo = df[df.model == "scripted/echo"]
    assert list(echo.answer) == [f"Echo: {p}" for p in PROMPTS]
    assert (echo.tool_calls == 0).all() and (echo.tokens > 0).all()
    # cost unknown for a scripted model: NaN, never 0
    assert df.cost_usd.isna().all()
    # every cell is a real session with its own complete log in the folder
    for sid in df.session_id:
        records = read_records(folder / f"{sid}.jsonl")
        types = [r["type"] for r in records]
        assert types[0] == "session_created" and "agent_end" in types
    assert df.session_id.is_unique


def test_ids_come_from_the_cell_content() -> None:
    a = batch_cells(PROMPTS, MODELS)
    b = batch_cells(PROMPTS, MODELS)
    assert [c.session_id for c in a] == [c.session_id for c in b]
    other = batch_cells(PROMPTS, MODELS, settings=[{"max_tool_rounds": 3}])
    assert not {c.session_id for c in a} & {c.session_id for c in other}


def test_settings_are_a_grid_axis_and_reach_the_session(tmp_path: Path) -> None:
    df = run_batch(
        ["p"],
        models=["scripted/echo"],
        settings=[{"system_prompt": "be brief"}, {"system_prompt": "be long"}],
        folder=tmp_path,
        progress=None,
    )
    assert list(df.settings) == ['{"system_prompt":"be brief"}', '{"system_prompt":"be long"}']
    for sid, want in zip(df.session_id, ["be brief", "be long"], strict=True):
        created = read_records(tmp_path / f"{sid}.jsonl")[0]
        assert created["config"]["system_prompt"] == want


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"prompts": "one prompt"}, "prompts"),
        ({"models": "scripted/echo"}, "models"),
        ({"models": ["nomodel"]}, "no provider"),
        ({"settings": [{"bogus": 1}]}, "bogus"),
        ({"settings": [{"workspace": "x"}]}, "workspace"),
        ({"concurrency": 0}, "concurrency"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"provider_concurrency": {"scripted": 0}}, "provider_concurrency"),
        ({"provider_rpm": {"scripted": 0}}, r"provider_rpm.*requests per minute, a number > 0"),
        ({"provider_rpm": {"scripted": -5}}, r"provider_rpm.*a number > 0"),
        ({"provider_rpm": {"scripted": float("nan")}}, r"provider_rpm.*a number > 0"),
        ({"provider_rpm": {"scripted": "60"}}, r"provider_rpm.*a number > 0"),
        ({"provider_rpm": {"scripted": True}}, r"provider_rpm.*a number > 0"),
        ({"provider_rpm": [60]}, r"provider_rpm.*dict of provider to requests per minute"),
        ({"provider_rpm": {"opnai": 60}}, r"provider_rpm.*no model of the grid uses \['opnai'\]"),
        ({"progress": "fancy"}, "progress"),
        ({"config": SessionConfig(storage_type="memory")}, "storage_type"),
        ({"client": object()}, "distributed.Client"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, kwargs: dict[str, Any], needle: str) -> None:
    args: dict[str, Any] = {"prompts": ["p"], "models": ["scripted/echo"], "folder": tmp_path}
    args.update(kwargs)
    args.setdefault("progress", None)
    with pytest.raises((ConfigError, UnknownModelError), match=needle):
        run_batch(args.pop("prompts"), **args)


# --- concurrency --------------------------------------------------------------------------


class _Gate:
    """Counts the cells inside an LLM call; a barrier lets them in ``parties`` at a time."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.total_most = 0
        self.barrier: asyncio.Barrier | None = None


class _GatedClient(ScriptedClient):
    def __init__(self, gate: _Gate, provider: str) -> None:
        super().__init__(turns=["gated answer"], model="gated")
        self._gate = gate
        self._provider = provider

    @property
    def provider(self) -> str:
        return self._provider

    async def stream(  # type: ignore[override]
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        g, p = self._gate, self._provider
        g.now[p] = g.now.get(p, 0) + 1
        g.most[p] = max(g.most.get(p, 0), g.now[p])
        g.total_most = max(g.total_most, sum(g.now.values()))
        try:
            if g.parties > 1:
                if g.barrier is None:
                    g.barrier = asyncio.Barrier(g.parties)
                # only passes when `parties` cells are in a call at once; the timeout
                # turns a wrong bound into a failure instead of a hang
                await asyncio.wait_for(g.barrier.wait(), 30)
        finally:
            g.now[p] -= 1
        async for event in super().stream(messages, system=system, tools=tools):
            yield event


def test_concurrency_is_reached_and_never_exceeded(tmp_path: Path) -> None:
    gate = _Gate(parties=3)
    prompts = [f"prompt {i}" for i in range(6)]
    df = run_batch(
        prompts,
        models=[("gated/m", lambda: _GatedClient(gate, "gated"))],
        concurrency=3,
        folder=tmp_path,
        progress=None,
    )
    assert set(df.status) == {"done"}, df.error.tolist()
    assert gate.total_most == 3


def test_provider_concurrency_bounds_one_provider(tmp_path: Path) -> None:
    gate = _Gate(parties=1)
    seen: list[BatchProgress] = []
    df = run_batch(
        [f"prompt {i}" for i in range(4)],
        models=[
            ("slow/m", lambda: _GatedClient(gate, "slow")),
            ("fast/m", lambda: _GatedClient(gate, "fast")),
        ],
        concurrency=8,
        provider_concurrency={"slow": 1},
        folder=tmp_path,
        progress=lambda p: seen.append(BatchProgress(**vars(p))),
    )
    assert set(df.status) == {"done"}
    assert gate.most["slow"] == 1
    # the other provider's cells were not held back: 4 of them plus 1 slow at once
    assert max(p.running for p in seen) == 5
    assert seen[-1].done == 8 and seen[-1].running == 0


# --- requests per minute per provider -----------------------------------------------------


class _FakeTime:
    """An injected clock: a sleep moves it to the sleeper's wake-up time (not past it),
    so concurrent sleepers see the times a real clock would show."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now = max(self.now, self.now + seconds)
        await asyncio.sleep(0)  # let the other cells run, as a real sleep would


class _TimedClient(ScriptedClient):
    """Notes the injected clock's time at each call, under its provider."""

    def __init__(self, time: _FakeTime, provider: str, calls: list[tuple[str, float]]) -> None:
        super().__init__(turns=["timed answer"], model="timed")
        self._time, self._provider, self._calls = time, provider, calls

    @property
    def provider(self) -> str:
        return self._provider

    async def stream(  # type: ignore[override]
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        tools: list[ToolDefinition] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        self._calls.append((self._provider, self._time.now))
        async for event in super().stream(messages, system=system, tools=tools):
            yield event


async def test_provider_rpm_spaces_every_call_with_an_injected_clock(tmp_path: Path) -> None:
    time = _FakeTime()
    calls: list[tuple[str, float]] = []
    limiter = RequestRateLimiter({"limited": 30}, clock=time.clock, sleep=time.sleep)
    df = await run_batch_async(
        [f"prompt {i}" for i in range(5)],
        models=[
            ("limited/m", lambda: _TimedClient(time, "limited", calls)),
            ("free/m", lambda: _TimedClient(time, "free", calls)),
        ],
        concurrency=10,  # every cell starts at once: only the bucket spaces them
        provider_rpm=limiter,
        folder=tmp_path,
        progress=None,
    )
    assert set(df.status) == {"done"}, df.error.tolist()
    limited = sorted(t for p, t in calls if p == "limited")
    # 30 a minute: one call every 2 s from the first, whatever the cells' order
    assert limited == [2.0 * i for i in range(len(limited))] and len(limited) >= 5
    # the other provider is not held back: some of its calls share an instant
    free = [t for p, t in calls if p == "free"]
    assert len(free) == 5 and len(set(free)) < len(free)
    assert limiter.waited_s == pytest.approx(sum(time.sleeps)) and limiter.waited_s > 0


def test_rate_limited_client_keeps_the_inner_client_and_the_log_its_model(tmp_path: Path) -> None:
    inner = ScriptedClient(turns=["x"], model="mine")
    wrapped = RequestRateLimiter({"scripted": 600}).wrap(inner)
    assert isinstance(wrapped, RateLimitedClient) and wrapped.inner is inner
    assert (wrapped.provider, wrapped.model, wrapped.calls) == ("scripted", "mine", inner.calls)
    assert RequestRateLimiter({"openai": 60}).wrap(inner) is inner  # not limited: as is
    df = run_batch(
        ["p"],
        models=[("scripted/mine", lambda: ScriptedClient(turns=["x"], model="mine"))],
        provider_rpm={"scripted": 6000},
        folder=tmp_path,
        progress=None,
    )
    created = read_records(tmp_path / f"{df.session_id[0]}.jsonl")[0]
    assert df.status[0] == "done" and created["model"] == "scripted/mine"


def test_a_limiter_object_stays_in_its_process(tmp_path: Path) -> None:
    class _Cluster:
        def submit(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("nothing is submitted")

    with pytest.raises(ConfigError, match="with Dask give a dict"):
        run_batch(
            ["p"],
            models=["scripted/echo"],
            provider_rpm=RequestRateLimiter({"scripted": 60}),
            folder=tmp_path,
            client=_Cluster(),
            progress=None,
        )


def test_cells_on_one_worker_share_their_batch_limiter() -> None:
    from a3s_notebook.batch import _worker_limiter

    a = _worker_limiter("batch-a", {"openai": 30.0})
    assert a is not None and a is _worker_limiter("batch-a", {"openai": 30.0})
    assert _worker_limiter("batch-b", {"openai": 30.0}) is not a
    assert _worker_limiter("batch-a", None) is None


# --- budget, resume -----------------------------------------------------------------------


@pytest.fixture
def priced() -> Iterator[None]:
    # about $0.93 per echo cell (932 estimated tokens at $1000 per million)
    set_price("echo", provider="scripted", input_per_mtok=1000, output_per_mtok=1000)
    yield
    clear_prices()


def test_budget_stops_new_cells_and_marks_them_skipped(tmp_path: Path, priced: None) -> None:
    df = run_batch(
        PROMPTS,
        models=["scripted/echo"],
        concurrency=1,
        budget_usd=0.5,
        folder=tmp_path,
        progress=None,
    )
    assert list(df.status) == ["done", "skipped", "skipped"]
    assert df.cost_usd[0] > 0.5
    assert "budget" in df.error[1]
    # the skipped cells never became sessions
    assert sorted(p.stem for p in tmp_path.glob("*.jsonl")) == [df.session_id[0]]
    # a bigger budget goes on where it stopped: the first cell is not run again
    again = run_batch(
        PROMPTS,
        models=["scripted/echo"],
        concurrency=1,
        budget_usd=10,
        folder=tmp_path,
        progress=None,
    )
    assert list(again.status) == ["done"] * 3
    assert list(again.resumed) == [True, False, False]


_calls: list[str] = []


def _counting_client() -> ScriptedClient:
    _calls.append("made")
    return ScriptedClient(turns=["counted answer"], model="counted")


def _broken_client() -> ScriptedClient:
    raise RuntimeError("the model is down")


def test_resume_skips_complete_cells_and_reruns_failed_ones(tmp_path: Path) -> None:
    _calls.clear()
    first = run_batch(
        PROMPTS, models=[("scripted/counted", _broken_client)], folder=tmp_path, progress=None
    )
    assert set(first.status) == {"failed"}
    assert "the model is down" in first.error[0]
    first_ok = run_batch(["other"], models=["scripted/echo"], folder=tmp_path, progress=None)
    done = run_batch(
        PROMPTS, models=[("scripted/counted", _counting_client)], folder=tmp_path, progress=None
    )
    assert set(done.status) == {"done"} and len(_calls) == 3
    assert not done.resumed.any()
    _calls.clear()
    seen: list[BatchProgress] = []
    again = run_batch(
        PROMPTS,
        models=[("scripted/counted", _counting_client)],
        folder=tmp_path,
        progress=lambda p: seen.append(BatchProgress(**vars(p))),
    )
    assert _calls == []  # nothing ran
    assert again.resumed.all()
    cols = ["session_id", "answer", "tokens", "tool_calls", "status"]
    assert again[cols].equals(done[cols])
    assert seen[-1].resumed == 3 and seen[-1].done == 3
    assert first_ok.status[0] == "done"


def test_an_incomplete_log_is_archived_and_run_again(tmp_path: Path) -> None:
    [cell] = batch_cells(["p"], ["scripted/echo"])
    log = tmp_path / f"{cell.session_id}.jsonl"
    tmp_path.mkdir(exist_ok=True)
    run_batch(["p"], models=["scripted/echo"], folder=tmp_path, progress=None)
    # cut the log before its end, as a crash would
    lines = log.read_text().splitlines()
    cut = [ln for ln in lines if json.loads(ln)["type"] != "agent_end"]
    log.write_text("\n".join(cut) + "\n")
    df = run_batch(["p"], models=["scripted/echo"], folder=tmp_path, progress=None)
    assert df.status[0] == "done" and not df.resumed[0]
    archived = [p for p in tmp_path.glob(f"{cell.session_id}-*.jsonl")]
    assert len(archived) == 1


# --- approvals ----------------------------------------------------------------------------


def test_calls_needing_a_human_are_denied_with_a_reason_and_counted(tmp_path: Path) -> None:
    config = SessionConfig(permission_policy=PermissionPolicy(allow=["ls", "todo_write"]))
    df = run_batch(
        ["make notes"],
        models=["scripted/demo-fast"],
        config=config,
        folder=tmp_path,
        progress=None,
    )
    row = df.iloc[0]
    assert row.status == "done"
    assert row.approvals_denied == 1  # the write; ls and todo_write are allowed by rule
    assert BATCH_DENY_REASON in row.answer  # the model saw why
    records = read_records(tmp_path / f"{row.session_id}.jsonl")
    [received] = [r for r in records if r["type"] == "confirmation_received"]
    assert received["decided_by"] == "batch" and received["approved"] is False
    [write_end] = [r for r in records if r["type"] == "tool_end" and r["name"] == "write"]
    assert BATCH_DENY_REASON in write_end["output"]
    workspace = tmp_path / "workspaces" / row.session_id
    assert not (workspace / "notes.md").exists()


# --- threads and loops --------------------------------------------------------------------


async def test_sync_call_inside_a_running_loop(tmp_path: Path) -> None:
    df = run_batch(PROMPTS, models=["scripted/echo"], folder=tmp_path / "a", progress=None)
    assert set(df.status) == {"done"}
    df2 = await run_batch_async(
        PROMPTS, models=["scripted/echo"], folder=tmp_path / "b", progress=None
    )
    assert list(df2.answer) == list(df.answer)


# --- Dask ---------------------------------------------------------------------------------


def _pid_client(folder: str) -> ScriptedClient:
    Path(folder, f"pid-{os.getpid()}").touch()
    return ScriptedClient(turns=["from a worker"], model="pid")


def test_local_cluster_with_worker_processes(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    marks = tmp_path / "marks"
    marks.mkdir()
    folder = tmp_path / "shared"
    with (
        distributed.LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=2,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        import functools

        df = run_batch(
            PROMPTS,
            models=[
                "scripted/demo-fast",
                ("scripted/pid", functools.partial(_pid_client, str(marks))),
            ],
            folder=folder,
            client=client,
            provider_rpm={"scripted": 60_000},  # 30 000 a minute for each of the 2 workers
            progress=None,
        )
        assert set(df.status) == {"done"}, df.error.tolist()
        pids = {int(p.name.split("-")[1]) for p in marks.iterdir()}
        assert pids and os.getpid() not in pids  # the cells ran in the worker processes
        assert (df[df.model == "scripted/demo-fast"].approvals_denied == 5).all()
        for sid in df.session_id:
            assert (folder / f"{sid}.jsonl").exists()
        # resume works across the cluster too: nothing is submitted again
        again = run_batch(
            PROMPTS,
            models=[
                "scripted/demo-fast",
                ("scripted/pid", functools.partial(_pid_client, str(marks))),
            ],
            folder=folder,
            client=client,
            progress=None,
        )
        assert again.resumed.all()


# --- progress -----------------------------------------------------------------------------


def test_the_widget_shows_cells_done_running_failed_and_cost(tmp_path: Path) -> None:
    from a3s_notebook.batch import _WidgetProgress

    bar = _WidgetProgress(4)
    df = run_batch(
        ["a", "b"],
        models=["scripted/echo", ("scripted/broken", _broken_client)],
        folder=tmp_path,
        progress=bar,
    )
    assert list(df.status) == ["done", "failed", "done", "failed"]
    assert bar._bar.value == 4 and bar._bar.bar_style == "danger"
    assert "2/4 done · 0 running · 2 failed · $0.0000" in bar._text.value
    assert bar.box._dom_classes == ("a3s-batch-progress",)


def test_a_tqdm_bar_in_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    run_batch(PROMPTS, models=["scripted/echo"], folder=tmp_path, progress="tqdm")
    err = capsys.readouterr().err
    assert "3/3" in err and "failed=0" in err


def test_from_another_thread(tmp_path: Path) -> None:
    import threading

    out: list[Any] = []
    worker = threading.Thread(
        target=lambda: out.append(
            run_batch(["p"], models=["scripted/echo"], folder=tmp_path, progress=None)
        )
    )
    worker.start()
    worker.join()
    assert out and out[0].answer[0] == "Echo: p"
