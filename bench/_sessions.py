"""Session logs written by the product's own store, at any size, for the cost benchmarks.

One real session is run through :class:`~a3s_notebook.engine.SessionManager` (a
``FileSessionStore``, the scripted model): a run with a tool round (a grep and a write)
and an answer, then two runs answered in one call. Its lines
are what the store writes (messages, events and usage interleaved). A session file of any
size is that session's lines repeated with new ids, timestamps, models and token counts:
each replica line is the template's dict with those values changed, dumped the way the
store dumps it (checked byte for byte on the template), and the replicas are checked with
the engine's own reader (``read_log``).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

MODELS = [
    ("openai", "gpt-4o-mini", 0.0003),
    ("openai", "gpt-4o", 0.005),
    ("anthropic", "claude-sonnet-4", 0.006),
    ("anthropic", "claude-haiku-4", 0.001),
    ("local", "llama-3-8b", None),
]
"""(provider, model, USD per 1k tokens or None for a model without a price)."""
DAYS = 30
T0 = 1_760_000_000.0  # a fixed start (October 2025), so the day buckets do not drift
CALLS_PER_BLOCK = 4
"""LLM calls in one repetition of the template session's runs."""

_TEXT = (
    "The session engine appends one JSON line per durable event and never rewrites a "
    "line; the cost ledger is one usage record per call. "
)


def template_lines(work: Path) -> list[bytes]:
    """The lines of one real session, as the store wrote them (run through the product)."""
    from a3s_notebook.engine import SessionConfig, SessionManager
    from a3s_notebook.engine.permissions import PermissionPolicy
    from a3s_notebook.llm.scripted import ScriptedClient, ScriptedTurn

    root = Path(tempfile.mkdtemp(prefix="template-", dir=work))
    ws = root / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("a needle in the notes\n" * 20)
    turns = [
        ScriptedTurn(
            text="Let me look.",
            tool_calls=[
                {"name": "grep", "args": {"pattern": "needle", "path": "."}},
                {"name": "write", "args": {"file_path": "out.txt", "content": "x"}},
            ],
        ),
        ScriptedTurn(text=_TEXT * 3),
        ScriptedTurn(text=_TEXT * 2),
        ScriptedTurn(text=_TEXT * 4),
    ]
    config = SessionConfig(
        name="template",
        workspace=str(ws),
        permission_policy=PermissionPolicy().allow_rule("grep"),
    )
    with SessionManager(root / "sessions") as manager:
        session = manager.create_session(config, llm=ScriptedClient(turns=turns))
        session.send("Find the needle in the notes and write it out. " + _TEXT)
        session.send("Summarise what you found. " + _TEXT)
        session.send("And once more, briefly.")
        path = manager.store.path(session.id)  # type: ignore[attr-defined]
    lines = path.read_bytes().splitlines()
    shutil.rmtree(root, ignore_errors=True)
    calls = sum(1 for ln in lines if orjson.loads(ln)["type"] == "usage_recorded")
    assert calls == CALLS_PER_BLOCK, calls
    for ln in lines:  # orjson writes exactly what the store wrote
        assert orjson.dumps(orjson.loads(ln)) == ln, ln[:200]
    return lines


class Replicator:
    """Session files made of the template's lines, with new ids, times and usage."""

    def __init__(self, lines: list[bytes], seed: int = 42) -> None:
        self.header = orjson.loads(lines[0])
        assert self.header["type"] == "session_created"
        self.sid = self.header["session_id"]
        self.block = [orjson.loads(ln) for ln in lines[1:]]
        t_first = self.block[0]["ts"]
        self.offsets = [ev["ts"] - t_first for ev in self.block]
        self.tool_ids = sorted(
            {ev["id"] for ev in self.block if ev["type"] in ("tool_start", "tool_end")}
        )
        self.rng = random.Random(seed)  # the same data on every machine

    def session(self, sid: str, index: int, calls: int) -> bytes:
        """One session file of ``calls`` LLM calls (a multiple of CALLS_PER_BLOCK)."""
        assert calls % CALLS_PER_BLOCK == 0
        rng = self.rng
        provider, model, price = MODELS[index % len(MODELS)]
        start = T0 + rng.random() * DAYS * 86_400
        header = dict(self.header, session_id=sid, created_at=start, model=f"{provider}/{model}")
        header["llm_config"] = {"provider": provider, "model": model}
        header["config"] = dict(header["config"], name=f"bench session {index}")
        out = [orjson.dumps(header)]
        old_sid = self.sid.encode()
        new_sid = sid.encode()
        turn = 0
        ts = start
        for rep in range(calls // CALLS_PER_BLOCK):
            base = ts + 5.0
            ids = {t.encode(): f"call_{rep}_{k}".encode() for k, t in enumerate(self.tool_ids)}
            for ev, offset in zip(self.block, self.offsets, strict=True):
                ts = base + offset
                if ev["type"] == "usage_recorded":
                    turn += 1
                    prompt = rng.randrange(200, 20_000)
                    completion = rng.randrange(10, 2_000)
                    record = dict(
                        ev["record"],
                        session_id=sid,
                        turn=turn,
                        model=model,
                        provider=provider,
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        total_tokens=prompt + completion,
                        cache_read_tokens=prompt // 2 if turn % 3 == 0 else 0,
                        cost_usd=None if price is None else (prompt + completion) * price / 1000,
                        latency_ms=rng.uniform(200, 5_000),
                        ttft_ms=rng.uniform(50, 800),
                        timestamp=_iso(ts),
                        estimated=False,
                        provenance={"execution_count": rep % 50, "cell_id": f"c{rep % 50}"},
                    )
                    line = orjson.dumps({**ev, "record": record, "ts": ts})
                else:
                    line = orjson.dumps({**ev, "ts": ts})
                    if b"call_" in line:
                        for old, new in ids.items():
                            line = line.replace(old, new)
                    if old_sid in line:
                        line = line.replace(old_sid, new_sid)
                out.append(line)
        return b"\n".join(out) + b"\n"


def _iso(ts: float) -> str:
    # LlmCostRecord.timestamp as model_dump(mode="json") writes it (UTC, microseconds)
    micro = round((ts % 1) * 1e6) % 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{micro:06d}Z"


def check_with_engine(path: Path, calls: int) -> None:
    """Read a replica with the engine's own reader: every line an event, ``calls`` usages."""
    import warnings

    from a3s_notebook.engine._log import read_log
    from a3s_notebook.engine.events import UsageRecorded
    from a3s_notebook.engine.store import read_records

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any skipped line fails the check
        records = read_records(path)
        entries = read_log(records, source=str(path))
    assert len(entries) == len(records), (len(entries), len(records))
    usage = sum(isinstance(e, UsageRecorded) for _ts, e in entries)
    assert usage == calls, (usage, calls)


def generate(folder: Path, work: Path, files: int, calls_per_file: int) -> dict[str, Any]:
    """Write ``files`` session files of ``calls_per_file`` calls each; returns a summary."""
    start = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rep = Replicator(template_lines(work))
    lines = 0
    size = 0
    for f in range(files):
        data = rep.session(f"bench{f:05d}", f, calls_per_file)
        lines += data.count(b"\n")
        size += len(data)
        (folder / f"bench{f:05d}.jsonl").write_bytes(data)
    for f in {0, files - 1}:
        check_with_engine(folder / f"bench{f:05d}.jsonl", calls_per_file)
    return {"seconds": time.perf_counter() - start, "lines": lines, "bytes": size}
