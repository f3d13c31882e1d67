"""Agent memory and context providers (engine-spec section 9), end to end.

Stores on real files in temp folders, two real processes on one memory file, threads,
scripted sessions whose model calls ``remember`` / ``recall``, and what the model was
sent (the scripted client keeps each call's system prompt).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from a3s_notebook.engine import Session, SessionConfig, SessionManager
from a3s_notebook.engine.context import (
    ContextItem,
    ContextQuery,
    ContextType,
    render_context,
    resolve_context,
)
from a3s_notebook.engine.errors import ConfigError
from a3s_notebook.engine.events import (
    AgentEvent,
    ContextResolved,
    MemoriesSearched,
    MemoryCleared,
    MemoryRecalled,
    MemoryStored,
)
from a3s_notebook.engine.lanes import SessionLane
from a3s_notebook.engine.memory import (
    MEMORY_FILE,
    AgentMemory,
    FileMemoryStore,
    InMemoryMemoryStore,
    MemoryFileWarning,
    MemoryItem,
    MemoryStore,
    MemoryType,
    query_words,
)
from a3s_notebook.engine.tools import lane_of
from a3s_notebook.llm.scripted import ScriptedClient
from a3s_notebook.widgets import EventStream

from .conftest import turn

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400.0
NOW = 1_800_000_000.0  # a fixed "now" for every clock below


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_store(kind: str, tmp_path: Path, clock: Clock) -> MemoryStore:
    if kind == "file":
        return FileMemoryStore(tmp_path / "m" / "memories.jsonl", clock=clock)
    return InMemoryMemoryStore(clock=clock)


STORES = ["memory", "file"]


# --- items and relevance ------------------------------------------------------------------


def test_item_defaults_clamping_and_errors() -> None:
    item = MemoryItem(content="x")
    assert item.importance == 0.5 and item.memory_type is MemoryType.EPISODIC
    assert item.tags == [] and item.access_count == 0 and item.last_accessed is None
    assert len(item.id) == 36  # a uuid4
    assert MemoryItem(content="x", importance=3).importance == 1.0
    assert MemoryItem(content="x", importance=-1).importance == 0.0
    data = json.loads(item.model_dump_json())
    assert data["memory_type"] == "episodic" and "_lower" not in data
    with pytest.raises(ValueError, match="importance"):
        MemoryItem(content="x", importance=math.nan)
    with pytest.raises(ValueError, match="must not be empty"):
        MemoryItem(content="  ")
    memory = AgentMemory(InMemoryMemoryStore())
    with pytest.raises(ValueError, match="memory_type 'fact' is not one of: episodic"):
        memory.remember("x", memory_type="fact")
    with pytest.raises(ValueError, match="memory importance"):
        memory.remember("x", importance="high")


def test_relevance_is_the_spec_formula_at_the_injected_time() -> None:
    clock = Clock()
    memory = AgentMemory(InMemoryMemoryStore(clock=clock))
    item = memory.remember("fresh", importance=0.6)
    assert item.timestamp.timestamp() == NOW
    assert memory.relevance(item) == pytest.approx(0.6 * 0.7 + 1.0 * 0.3)
    clock.now = NOW + 30 * DAY  # one e-folding time later
    assert memory.relevance(item) == pytest.approx(0.6 * 0.7 + math.exp(-1) * 0.3)


@pytest.mark.parametrize("kind", STORES)
def test_search_matches_words_and_orders_by_relevance(kind: str, tmp_path: Path) -> None:
    clock = Clock(NOW - 60 * DAY)
    store = make_store(kind, tmp_path, clock)
    memory = AgentMemory(store, clock=clock)
    old = memory.remember("The sales report uses polars", importance=0.9)
    clock.now = NOW
    new = memory.remember("polars is faster than pandas for the sales data", importance=0.5)
    other = memory.remember("The user lives in Lyon", importance=1.0)
    # quirk 5 fixed: a long question finds a memory that shares one word with it
    found = store.search("Which library should I use for the quarterly SALES numbers?", 10)
    # old: 0.9*0.7 + e^-2*0.3 = 0.671 > new: 0.5*0.7 + 0.3 = 0.65
    assert [i.id for i in found] == [old.id, new.id]
    assert other.id not in [i.id for i in store.search("sales polars", 10)]
    assert store.search("the and for with", 10) == []  # only common words: nothing
    assert query_words("The SALES, the sales & Polars!") == ["sales", "polars"]
    # ties on relevance: more words of the query first
    clock.now = NOW
    a = memory.remember("alpha", importance=0.3)
    b = memory.remember("alpha beta", importance=0.3)
    assert [i.id for i in store.search("alpha beta", 2)] == [b.id, a.id]


@pytest.mark.parametrize("kind", STORES)
def test_store_interface(kind: str, tmp_path: Path) -> None:
    clock = Clock()
    store = make_store(kind, tmp_path, clock)
    memory = AgentMemory(store, clock=clock)
    a = memory.remember("first", importance=0.2, tags=["Data"])
    clock.now += 10
    b = memory.remember("second", importance=0.9, tags=["prefs"], memory_type="semantic")
    clock.now += 10
    c = memory.remember("third", importance=0.75, tags="data")
    assert store.count() == 3
    assert store.retrieve(b.id) == b and store.retrieve("nope") is None
    assert [i.id for i in store.search_by_tags(["data"], 10)] == [c.id, a.id]
    assert [i.id for i in store.get_recent(2)] == [c.id, b.id]
    assert [i.id for i in store.get_important(0.7, 10)] == [b.id, c.id]
    assert [i.id for i in store.all()] == [a.id, b.id, c.id]
    store.store(b.model_copy(update={"content": "second, edited"}))  # same id: replaced
    assert store.count() == 3 and store.retrieve(b.id).content == "second, edited"  # type: ignore[union-attr]
    store.record_access([a.id])
    got = store.retrieve(a.id)
    assert got is not None and got.access_count == 1
    assert got.last_accessed is not None and got.last_accessed.timestamp() == clock.now
    assert store.delete(a.id) and not store.delete(a.id)
    assert store.clear() == 2 and store.count() == 0


def test_tiers_stats_and_the_frame() -> None:
    clock = Clock()
    memory = AgentMemory(InMemoryMemoryStore(clock=clock), clock=clock)
    first = memory.remember("keep csv exports small", importance=0.4, tags=["csv"])
    memory.remember_failure("load data.csv", "file not found", ["read"])
    ok = memory.remember_success("plot sales", ["python"], "a chart")
    assert ok.content == "Success: plot sales\nTools: python\nResult: a chart"
    assert ok.importance == 0.8 and ok.tags == ["success", "pattern"]
    assert ok.memory_type is MemoryType.PROCEDURAL
    for n in range(12):
        memory.add_working(memory.item(f"w{n}", importance=n / 20))
    assert len(memory.working()) == 10 and "w0" not in [i.content for i in memory.working()]
    assert memory.stats().long_term_count == 3 and memory.stats().short_term_count == 3
    frame = memory.frame()
    assert next(iter(frame["content"])).startswith("Failure: load data.csv")  # importance 0.9
    assert list(memory.frame("csv")["id"]) == [memory.recent(3)[1].id, first.id]


# --- the file store -----------------------------------------------------------------------


def test_torn_and_garbage_lines_are_skipped_with_a_warning_and_never_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "memories.jsonl"
    good = MemoryItem(content="a good memory", importance=0.7)
    garbage = b'{"content": 42}'
    torn = b'{"id": "x", "content": "half a li'
    path.write_bytes(good.model_dump_json().encode() + b"\n" + garbage + b"\nnot json\n" + torn)
    with pytest.warns(MemoryFileWarning) as caught:
        store = FileMemoryStore(path)
        assert [i.content for i in store.all()] == ["a good memory"]
    assert len(caught) == 3 and "line 2" in str(caught[0].message)
    # an append after a torn last line starts on a line of its own
    added = MemoryItem(content="added later")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning for lines already reported
        store.store(added)
        assert [i.content for i in store.all()] == ["a good memory", "added later"]
        # a rewrite (a delete) keeps every line it could not read, byte for byte
        assert store.delete(good.id)
        assert store.clear() == 1
    lines = path.read_bytes().split(b"\n")
    assert garbage in lines and b"not json" in lines and torn in lines
    with pytest.warns(MemoryFileWarning):
        assert FileMemoryStore(path).count() == 0


def test_the_file_store_refuses_a_folder_and_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").mkdir()
    with pytest.raises(Exception, match="is a folder: remove or rename it"):
        FileMemoryStore(tmp_path / "m.jsonl")


def test_a_second_store_on_the_same_file_sees_every_change(tmp_path: Path) -> None:
    path = tmp_path / "memories.jsonl"
    one, two = FileMemoryStore(path), FileMemoryStore(path)
    a = AgentMemory(one).remember("from one")
    assert [i.content for i in two.all()] == ["from one"]
    AgentMemory(two).remember("from two")
    two.record_access([a.id])
    got = one.retrieve(a.id)
    assert got is not None and got.access_count == 1
    assert [i.content for i in one.all()] == ["from one", "from two"]


WRITER = """
import sys
from a3s_notebook.engine.memory import AgentMemory, FileMemoryStore
memory = AgentMemory(FileMemoryStore(sys.argv[1]))
for n in range(int(sys.argv[3])):
    item = memory.remember(f"{sys.argv[2]} {n}")
    if n % 5 == 0:
        memory.recall(sys.argv[2])  # a rewrite now and then, between the other's appends
print("done")
"""


def test_two_processes_on_one_memory_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ws" / MEMORY_FILE
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, "40"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "done" in out and "Warning" not in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every line is a whole item
        items = FileMemoryStore(path).all()
    contents = sorted(i.content for i in items)
    assert contents == sorted([f"alpha {n}" for n in range(40)] + [f"beta {n}" for n in range(40)])
    assert sum(i.access_count for i in items) > 0


def test_threads_on_two_store_objects_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "memories.jsonl"
    memories = [AgentMemory(FileMemoryStore(path)), AgentMemory(FileMemoryStore(path))]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        memory = memories[n % 2]
        try:
            for k in range(15):
                memory.remember(f"thread {n} item {k}")
                if k % 4 == 0:
                    memory.recall(f"thread {n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert FileMemoryStore(path).count() == 90


# --- sessions: config, events, the API ----------------------------------------------------


def test_config_field_is_checked_persisted_and_restored(
    manager: SessionManager, workspace: Path
) -> None:
    with pytest.raises(ConfigError, match="memory"):
        SessionConfig(memory="disk")  # type: ignore[arg-type]
    session = manager.create_session(
        SessionConfig(workspace=str(workspace)), llm=ScriptedClient([]), session_id="mem"
    )
    assert session.memory is None and "remember" not in session.tools
    with pytest.raises(ConfigError, match=r"memory is off .*update_config\(memory='file'\)"):
        session.remember("x")
    session.update_config(memory="file")
    assert session.memory is not None and session.context_provider_names() == ["memory"]
    assert {"remember", "recall"} <= set(session.tools.names())
    session.remember("restored sessions remember")
    restored = SessionManager(manager.store).restore_session("mem")
    assert restored.config.memory == "file"
    assert [i.content for i in restored.recall("restored")] == ["restored sessions remember"]
    assert (workspace / MEMORY_FILE).is_file()
    restored.update_config(memory=None)
    assert restored.memory is None and restored.context_provider_names() == []
    assert "remember" not in restored.tools and "recall" not in restored.tools


def test_memory_events_are_in_the_session_log(make_session: Callable[..., Session]) -> None:
    session = make_session([], memory="memory")
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    item = session.remember("the deadline is Friday", importance=0.9, tags=["plan"])
    assert [i.id for i in session.recall("when is the deadline?")] == [item.id]
    assert session.memory is not None
    assert session.memory.search(tags=["plan"]) == [session.memory.store.retrieve(item.id)]
    assert session.memory.clear() == 1
    logged = [e for e in session.events() if e.type.startswith("memor")]
    assert logged == [e for e in seen if e.type.startswith("memor")]
    stored, recalled, searched, *cleared = logged
    assert isinstance(stored, MemoryStored) and stored.memory_id == item.id
    assert stored.content == "the deadline is Friday" and stored.tags == ["plan"]
    assert isinstance(recalled, MemoryRecalled) and recalled.content == item.content
    assert recalled.relevance == pytest.approx(0.9 * 0.7 + 0.3, abs=1e-3)
    assert isinstance(searched, MemoriesSearched) and searched.result_count == 1
    assert [(c.tier, c.count) for c in cleared if isinstance(c, MemoryCleared)] == [
        ("long_term", 1),
        ("short_term", 1),
        ("working", 0),
    ]
    assert session.memories().empty


# --- the tools through the gate, and memory across two sessions ----------------------------


def test_scripted_runs_remember_then_recall_in_another_session(
    manager: SessionManager, workspace: Path
) -> None:
    config = SessionConfig(workspace=str(workspace), memory="file")
    first = manager.create_session(
        config,
        llm=ScriptedClient(
            [
                turn(
                    "",
                    (
                        "remember",
                        {
                            "content": "The user wants charts in plotly",
                            "importance": 0.9,
                            "tags": ["prefs"],
                            "memory_type": "semantic",
                        },
                    ),
                ),
                "Noted.",
            ]
        ),
    )
    assert lane_of(first.tools, "recall") is SessionLane.QUERY
    # no rule allows them, yet no confirmation is asked: the tools say they need none
    assert first.send("Remember: I like plotly charts").text == "Noted."
    ends = [e for e in first.events() if e.type == "tool_end"]
    assert [(e.name, e.exit_code) for e in ends] == [("remember", 0)]  # type: ignore[union-attr]
    assert "Remembered (semantic, importance 0.9)" in ends[0].output  # type: ignore[union-attr]

    llm = ScriptedClient([turn("", ("recall", {"query": "plotly charts"})), "Use plotly."])
    second = manager.create_session(config, llm=llm)
    second.send("How should charts look?")
    result = llm.requests[1][-1].content[0]
    assert "[semantic, importance 0.9, tags: prefs] The user wants charts in plotly" in (
        result.content  # type: ignore[union-attr]
    )
    # a rule still applies: a denied remember is not run
    denied = manager.create_session(
        config.model_copy(update={"permission_policy": None}),
        llm=ScriptedClient([turn("", ("remember", {"content": "secret plan"})), "ok"]),
    )
    denied.deny("remember")
    denied.send("keep this")
    assert [i.content for i in denied.recall("secret plan")] == []


def test_bad_tool_arguments_are_an_error_result(make_session: Callable[..., Session]) -> None:
    session = make_session(
        [
            turn(
                "",
                ("remember", {"content": "x", "importance": "very"}),
                ("remember", {"content": "x", "tags": [1]}),
                ("remember", {"content": "x", "memory_type": "fact"}),
            ),
            "ok",
        ],
        memory="memory",
    )
    session.send("go")
    outputs = [e.output for e in session.events() if e.type == "tool_end"]  # type: ignore[union-attr]
    assert outputs == [
        "Tool 'remember' argument 'importance' must be of type number, got string",
        "Argument 'tags' must be an array of strings",
        "memory_type 'fact' is not one of: episodic, semantic, procedural, working",
    ]
    assert session.memory is not None and session.memory.store.count() == 1  # the run itself


# --- context providers --------------------------------------------------------------------


def test_memory_and_function_context_reach_the_models_system_prompt(
    make_session: Callable[..., Session],
) -> None:
    session = make_session(["one", "two"], memory="memory", system_prompt="Be brief.")
    llm = session.llm
    assert isinstance(llm, ScriptedClient)
    session.remember("Revenue is reported in EUR", importance=0.9)
    session.remember("The cat is called Tom")
    asked: list[str] = []

    def docs(query: str) -> list[dict[str, Any]]:
        asked.append(query)
        return [{"content": "Q3 revenue: 1.2M EUR", "source": "report.md", "relevance": 0.5}]

    async def glossary(query: str) -> str:
        return "EUR: the euro"

    session.add_context_provider(docs)
    session.add_context_provider(glossary, name="terms")
    assert session.context_provider_names() == ["memory", "docs", "terms"]
    seen: list[AgentEvent] = []
    session.subscribe(seen.append)
    session.send("What was the revenue?")
    assert asked == ["What was the revenue?"]
    assert llm.systems[0] == (
        "Be brief.\n\n"
        '<context source="memory" type="Memory">\nRevenue is reported in EUR\n</context>\n\n'
        '<context source="report.md" type="Resource">\nQ3 revenue: 1.2M EUR\n</context>\n\n'
        '<context source="terms" type="Resource">\nEUR: the euro\n</context>'
    )
    (resolved,) = [e for e in seen if isinstance(e, ContextResolved)]
    assert resolved.total_items == 3 and resolved.failed == {}
    assert [i["provider"] for i in resolved.items] == ["memory", "docs", "terms"]
    assert resolved in session.events()  # in the log: what a prompt was given, later
    # the finished run was remembered (spec: on_turn_complete); the next run recalls it
    assert session.remove_context_provider("docs") and not session.remove_context_provider("docs")
    session.send("And the revenue trend?")
    assert "Success: What was the revenue?\nTools: \nResult: one" in (llm.systems[1] or "")
    assert "Q3 revenue" not in (llm.systems[1] or "")


def test_a_failing_or_hanging_provider_is_skipped_and_reported(
    make_session: Callable[..., Session],
) -> None:
    session = make_session(["fine"])
    llm = session.llm
    assert isinstance(llm, ScriptedClient)

    def broken(query: str) -> str:
        raise RuntimeError("index not built")

    async def hangs(query: str) -> str:
        await asyncio.Event().wait()  # never set: only the timeout ends it
        return "never"

    session.add_context_provider(broken)
    session.add_context_provider(hangs, timeout=0.05)
    session.add_context_provider(lambda q: "still here", name="ok")
    with pytest.raises(ValueError, match="a lambda has no name"):
        session.add_context_provider(lambda q: "x")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        session.add_context_provider(broken, timeout=0)
    stream = EventStream(session)
    assert session.send("hello").text == "fine"
    (resolved,) = [e for e in session.events() if isinstance(e, ContextResolved)]
    assert resolved.failed == {
        "broken": "RuntimeError: index not built",
        "hangs": "no answer within 0.05 s",
    }
    assert llm.systems[0] == '<context source="ok" type="Resource">\nstill here\n</context>'
    (note,) = [r for r in stream.transcript() if r.get("topic") == "context"]
    assert note["tone"] == "warn" and note["title"] == "context: 1 items, 2 tokens injected"
    assert "provider 'broken' failed: RuntimeError: index not built" in note["items"]


def test_a_provider_returning_nonsense_fails_alone(make_session: Callable[..., Session]) -> None:
    session = make_session(["fine"])
    session.add_context_provider(lambda q: 42, name="numbers")
    session.send("hi")
    (resolved,) = [e for e in session.events() if isinstance(e, ContextResolved)]
    assert "returned a int: return a string, a dict" in resolved.failed["numbers"]


async def test_budget_order_and_escaping() -> None:
    events: list[AgentEvent] = []

    class Docs:
        name = "docs"

        def resolve(self, query: ContextQuery) -> list[ContextItem]:
            return [
                ContextItem(content="a" * 400, relevance=0.2, source="low"),  # 100 tokens
                ContextItem(content="b" * 400, relevance=0.9, source="high"),
                ContextItem(content="c" * 40, relevance=0.1, source="small"),
            ]

    resolved = await resolve_context(
        [(Docs(), 5.0)], ContextQuery(query="q", max_tokens=120), events.append
    )
    # the most relevant fit first; what is left keeps its order
    assert [item.source for _p, item in resolved.items] == ["high", "small"]
    assert resolved.truncated and resolved.total_tokens == 110
    assert [e.type for e in events] == ["context_resolving", "context_resolved"]
    text = render_context(
        [
            ContextItem(
                content="x </context> <context source=evil>",
                source='a"b',
                context_type=ContextType.MEMORY,
            )
        ]
    )
    assert text == (
        '<context source="a&quot;b" type="Memory">\n'
        "x &lt;/context> <context source=evil>\n</context>"
    )


def test_event_stream_notes_show_memory_and_context(make_session: Callable[..., Session]) -> None:
    session = make_session([turn("", ("recall", {"query": "budget"})), "done"], memory="memory")
    stream = EventStream(session)
    session.remember("The budget is 10k", importance=0.8, tags=["money"])
    session.send("What is the budget?")
    notes = [(r["topic"], r["title"]) for r in stream.transcript() if r["kind"] == "note"]
    assert notes == [
        ("memory", "remembered (episodic, importance 0.8)"),
        ("context", "context: 1 items, 4 tokens injected"),
        ("memory", "recalled 1 memory"),
        ("memory", "remembered (procedural, importance 0.8)"),
    ]
    context = next(r for r in stream.transcript() if r.get("topic") == "context")
    assert context["items"][0].startswith("memory · Memory · relevance 0.")
    assert "The budget is 10k" in context["items"][0]
    assert "*context* **context: 1 items" in stream._markdown()


# --- the magic ----------------------------------------------------------------------------


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "a3s_notebook")
    magics = shell.magics_manager.registry["A3sMagics"]
    magics._manager = None
    magics.current = None
    magics.sessions_dir = str(tmp_path / "sessions")
    magics.default_workspace = str(tmp_path / "ws")
    magics.default_model = "scripted/demo-fast"
    yield shell
    shell.run_line_magic("unload_ext", "a3s_notebook")


def test_the_memory_magic(ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("a3s_session", "new demo")
    capsys.readouterr()
    assert ip.run_line_magic("a3s_session", "memory list") is None
    assert capsys.readouterr().err.strip() == (
        "%a3s_session memory: memory is off for 'demo': turn it on with %a3s_session memory on"
    )
    ip.run_line_magic("a3s_session", "memory on")
    assert "memory on for 'demo': FileMemoryStore(" in capsys.readouterr().out
    session = ip.magics_manager.registry["A3sMagics"].current
    session.remember("Quarterly numbers live in sales.csv")
    session.remember("Use plotly for charts")
    assert list(ip.run_line_magic("a3s_session", "memory search quarterly sales")["content"]) == [
        "Quarterly numbers live in sales.csv"
    ]
    assert len(ip.run_line_magic("a3s_session", "memory")) == 2
    ip.run_line_magic("a3s_session", "memory search")
    assert capsys.readouterr().err.strip() == "%a3s_session memory search TEXT"
    ip.run_line_magic("a3s_session", "memory forget")
    assert "unknown action 'forget'" in capsys.readouterr().err
    ip.run_line_magic("a3s_session", "memory clear")
    assert capsys.readouterr().out.strip() == "cleared 2 memories"
    ip.run_line_magic("a3s_session", "memory off")
    assert session.memory is None and session.config.memory is None


def test_a_secret_in_a_providers_document_never_reaches_the_model(
    make_session: Callable[..., Session],
) -> None:
    session = make_session(["fine"])
    llm = session.llm
    assert isinstance(llm, ScriptedClient)
    session.add_secret("db", "s3cr3t-Passw0rd-xyz")
    session.add_context_provider(lambda q: "connect with s3cr3t-Passw0rd-xyz", name="env_docs")
    session.send("how do I connect?")
    assert "s3cr3t" not in (llm.systems[0] or "")
    assert "[REDACTED:db]" in (llm.systems[0] or "")
    (resolved,) = [e for e in session.events() if isinstance(e, ContextResolved)]
    assert "s3cr3t" not in json.dumps(resolved.items)


def test_the_memory_table_in_the_session_view(make_session: Callable[..., Session]) -> None:
    from a3s_notebook.widgets import MemoryTable, SessionView

    assert MemoryTable().layout.display == "none"
    session = make_session(["ok"])
    view = SessionView(session)
    table = view.memory_widget
    assert table in view.parts and table.layout.display == "none"
    assert "Memories" not in view._repr_markdown_()
    session.update_config(memory="memory")  # turned on: shown
    assert table.layout.display is None and table.store == "this process only"
    session.remember("low", importance=0.1)
    session.remember("high <b>", importance=0.9, tags=["t"])
    assert [(m["content"], m["tags"]) for m in table.memories] == [
        ("high <b>", ["t"]),
        ("low", []),
    ]
    session.recall("high")
    assert table.memories[0]["access_count"] == 1 and table.total == 2
    assert "| high \\<b\\> | episodic | 0.90 | 0.93 | 1 |" in view._repr_markdown_()
    assert session.memory is not None
    session.memory.clear()
    assert table.memories == [] and table.total == 0
    assert table._repr_markdown_() == "memories: none yet"
    session.update_config(memory=None)
    assert table.layout.display == "none" and table._repr_markdown_() == "memories: off"
    assert table.errors == []
