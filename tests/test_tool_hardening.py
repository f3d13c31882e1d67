"""The built-in tools' side of the guard (issue 10).

Scrubbed environment for ``bash``; ``grep`` that cannot freeze the event loop and stops on
``cancel()``; ``ToolContext.can_read`` honoured by read, grep, glob and ls; ``write`` and
``edit`` refusing hard-linked files.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import regex  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a3s_notebook.engine.tools import (
    BASE_ENV_VARS,
    BashTool,
    EditTool,
    GlobTool,
    GrepTool,
    LsTool,
    ReadTool,
    ToolContext,
    WriteTool,
    _search,
    default_registry,
    hard_link_count,
    scrubbed_environ,
)
from a3s_notebook.engine.tools._access import ReadGate
from a3s_notebook.engine.tools._search import line_independent

HANG_GUARD_S = 60

# Catastrophic for the `regex` module too: overlapping alternatives under a quantifier, on a
# line that almost matches. (a+)+$ is not: regex detects that nesting and stays fast.
CATASTROPHIC = r"(a|aa)+$"
CATASTROPHIC_LINE = "a" * 40 + "b"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace


@pytest.fixture
def ctx(ws: Path) -> ToolContext:
    return ToolContext(workspace=ws)


def grep_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("a3s-grep")}


# ------------------------------------------------------------------------ scrubbed environment


def test_tool_context_defaults_are_safe(ws: Path) -> None:
    ctx = ToolContext(workspace=ws)
    assert ctx.env is None and ctx.can_read is None


def test_scrubbed_environ_keeps_only_the_base_and_named_variables() -> None:
    environ = {name: f"v-{name}" for name in BASE_ENV_VARS}
    environ |= {
        "PWD": "/somewhere",
        "OPENAI_API_KEY": "sk-x",
        "AWS_SECRET_ACCESS_KEY": "s",
        "GITHUB_TOKEN": "t",
        "MY_SETTING": "1",
        "OTHER": "2",
    }
    scrubbed = scrubbed_environ(["MY_SETTING", "NOT_SET"], environ=environ)
    assert scrubbed == {**{name: f"v-{name}" for name in BASE_ENV_VARS}, "MY_SETTING": "1"}
    assert set(BASE_ENV_VARS) == {
        "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "USER", "LOGNAME", "SHELL",
        "TMPDIR", "TZ",
    }  # fmt: skip
    # A secret-looking variable passes when the user names it exactly.
    assert scrubbed_environ(["GITHUB_TOKEN"], environ=environ)["GITHUB_TOKEN"] == "t"
    assert scrubbed_environ(environ={}) == {}


def test_scrubbed_environ_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    scrubbed = scrubbed_environ()
    assert scrubbed["PATH"] == "/usr/bin:/bin"
    assert "ANTHROPIC_API_KEY" not in scrubbed


@pytest.mark.parametrize(
    "entry", ["*_TOKEN", "AWS_*", "KEY?", "[A]PI", "{A,B}", "1ABC", "A-B", "A B", "", "A=B", "É"]
)
def test_scrubbed_environ_refuses_patterns_and_invalid_names(entry: str) -> None:
    with pytest.raises(ValueError) as caught:
        scrubbed_environ(["OK_NAME", entry], environ={"OK_NAME": "1"})
    assert repr(entry) in str(caught.value)


def test_scrubbed_environ_refuses_a_bare_string_and_non_strings() -> None:
    with pytest.raises(TypeError, match="not the string"):
        scrubbed_environ("FOO")
    with pytest.raises(ValueError, match="not a string"):
        scrubbed_environ([1])  # type: ignore[list-item]


async def test_bash_env_shows_no_secrets(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api_key = f"sk-test-{secrets.token_hex(16)}"
    token = secrets.token_hex(16)
    visible = secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    monkeypatch.setenv("FOO_TOKEN", token)
    monkeypatch.setenv("MY_VISIBLE_SETTING", visible)
    ctx = ToolContext(workspace=ws, env=scrubbed_environ(["MY_VISIBLE_SETTING"]))
    result = await BashTool().execute({"command": "env; printenv; set"}, ctx)
    assert result.exit_code == 0
    assert api_key not in result.output and token not in result.output
    assert f"MY_VISIBLE_SETTING={visible}" in result.output
    assert f"PATH={os.environ['PATH']}" in result.output

    # Without ctx.env the default is the scrubbed environment, not os.environ.
    default = await BashTool().execute({"command": "env"}, ToolContext(workspace=ws))
    assert default.exit_code == 0
    assert api_key not in default.output and token not in default.output
    assert visible not in default.output
    # ...and the registry path (what the agent calls) behaves the same.
    via_registry = await default_registry().execute(
        "bash", {"command": 'echo "[$OPENAI_API_KEY][$FOO_TOKEN]"'}, ToolContext(workspace=ws)
    )
    assert via_registry.output == "[][]\n"


async def test_bash_uses_exactly_the_given_env(ws: Path) -> None:
    ctx = ToolContext(workspace=ws, env={"PATH": os.environ["PATH"], "ONLY_THIS": "yes"})
    result = await BashTool().execute({"command": 'echo "$ONLY_THIS [$HOME]"; pwd'}, ctx)
    assert result.output == f"yes []\n{ws}\n"


# ----------------------------------------------------------------------------------- grep regex


def test_the_chosen_regex_engine_survives_nested_quantifiers() -> None:
    # The example freezes `re` for minutes; `regex` answers at once.
    compiled = regex.compile(r"(a+)+$")
    assert compiled.search("a" * 30 + "b", timeout=5.0) is None
    # But it has catastrophic patterns of its own: this one must hit the timeout.
    with pytest.raises(TimeoutError):
        regex.compile(CATASTROPHIC).search(CATASTROPHIC_LINE, timeout=0.05)


async def test_grep_nested_quantifier_example_does_not_hang(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("a" * 30 + "b\n" + "a" * 30 + "\n")
    result = await asyncio.wait_for(GrepTool().execute({"pattern": r"(a+)+$"}, ctx), HANG_GUARD_S)
    assert result.exit_code == 0
    assert result.output == "f.txt:2:" + "a" * 30


async def test_grep_too_slow_pattern_is_a_clear_error(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("fine\n")
    (ws / "b.txt").write_text("first\nsecond\n" + CATASTROPHIC_LINE + "\n")
    tool = GrepTool(line_timeout_s=0.1)
    result = await asyncio.wait_for(tool.execute({"pattern": CATASTROPHIC}, ctx), HANG_GUARD_S)
    assert result.is_error
    assert f"Regex pattern '{CATASTROPHIC}' is too slow" in result.output
    assert "b.txt line 3" in result.output
    assert "longer than 0.1 s" in result.output
    assert "remove nested quantifiers" in result.output


async def test_grep_invalid_pattern_message_stays_clear(ctx: ToolContext) -> None:
    bad = await GrepTool().execute({"pattern": "("}, ctx)
    assert bad.is_error
    assert bad.output.startswith("Invalid regex pattern '(': missing ) at position 1")
    assert "backslash" in bad.output
    deep = await GrepTool().execute({"pattern": "(" * 5000 + ")" * 5000}, ctx)
    assert deep.is_error and "nested too deeply" in deep.output
    repeat = await GrepTool().execute({"pattern": "a{2,1}"}, ctx)
    assert repeat.is_error and "min repeat greater than max repeat" in repeat.output


class _Watched:
    """A compiled pattern that records its searches, to know when the worker is inside one."""

    def __init__(self, pattern: str, hold: bool = False) -> None:
        self._compiled = regex.compile(pattern)
        self.pattern = pattern
        self.entered = threading.Event()
        # With hold, the first search waits (in the worker) until the test sets release.
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.calls = 0

    def search(self, line: str, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        self.release.wait(HANG_GUARD_S)
        return self._compiled.search(line, **kwargs)


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., _Watched]]:
    made: list[_Watched] = []

    def install(pattern: str, hold: bool = False) -> _Watched:
        watcher = _Watched(pattern, hold)
        made.append(watcher)
        monkeypatch.setattr(_search, "compile_pattern", lambda _p, _i: watcher)
        return watcher

    yield install
    for watcher in made:  # never leave a worker waiting
        watcher.release.set()


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds (the caller bounds it with a hang guard)."""
    while not condition():
        await asyncio.sleep(0)


async def test_catastrophic_grep_leaves_the_loop_free_and_cancel_stops_it(
    ws: Path, ctx: ToolContext, watched: Callable[..., _Watched]
) -> None:
    (ws / "f.txt").write_text(CATASTROPHIC_LINE + "\n")
    watcher = watched(CATASTROPHIC)
    before = grep_threads()
    # 2 s for the line: hundreds of times what 500 free ticks need, and the most the thread
    # may run on after cancel().
    grep = asyncio.create_task(GrepTool(line_timeout_s=2).execute({"pattern": "x"}, ctx))
    await asyncio.wait_for(_until(watcher.entered.is_set), HANG_GUARD_S)

    # The worker is about to enter the catastrophic search (a C call that releases the GIL).
    # A heartbeat task keeps ticking meanwhile. 50 000 ticks span many GIL switch intervals
    # (5 ms), so the worker is certainly inside the search during them; were the GIL held
    # there, the heartbeat would stall until the search ended and the grep would finish first.
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while ticks < 50_000 and not grep.done():
            await asyncio.sleep(0)
            ticks += 1

    await asyncio.wait_for(heartbeat(), HANG_GUARD_S)
    assert ticks == 50_000
    assert not grep.done()  # the search is still running: the loop was free meanwhile
    (worker,) = grep_threads() - before
    assert worker.is_alive()

    grep.cancel()
    await asyncio.wait_for(asyncio.gather(grep, return_exceptions=True), HANG_GUARD_S)
    assert grep.cancelled()
    # The line's search cannot be interrupted, only timed out: the thread ends by the line's
    # timeout at the latest. Joined off the loop with a hang guard.
    await asyncio.wait_for(asyncio.to_thread(worker.join, HANG_GUARD_S), HANG_GUARD_S + 5)
    assert not worker.is_alive()


@pytest.mark.parametrize("pattern", ["needle", "^needle"], ids=["batched", "line-by-line"])
async def test_cancel_stops_the_worker_between_lines(
    ws: Path, ctx: ToolContext, watched: Callable[..., _Watched], pattern: str
) -> None:
    (ws / "big.txt").write_text("x\n" * 100_000)
    watcher = watched(pattern, hold=True)
    before = grep_threads()
    grep = asyncio.create_task(GrepTool().execute({"pattern": pattern}, ctx))
    await asyncio.wait_for(_until(watcher.entered.is_set), HANG_GUARD_S)
    (worker,) = grep_threads() - before
    # The worker is held inside its first search; cancel, then let that search finish.
    grep.cancel()
    await asyncio.wait_for(asyncio.gather(grep, return_exceptions=True), HANG_GUARD_S)
    assert grep.cancelled()
    watcher.release.set()
    await asyncio.wait_for(asyncio.to_thread(worker.join, HANG_GUARD_S), HANG_GUARD_S + 5)
    assert not worker.is_alive()
    assert watcher.calls == 1  # it stopped at the next line, not at the end of the file


async def test_grep_too_slow_pattern_found_through_batches(ws: Path, ctx: ToolContext) -> None:
    # Not anchored, so lines are first searched in batches; the slow batch is abandoned and
    # the lines are searched one by one, which names the slow one.
    assert line_independent(r"(a|aa)+b")
    lines = ["fine"] * 300 + ["a" * 40] + ["fine"] * 300
    (ws / "f.txt").write_text("\n".join(lines) + "\n")
    tool = GrepTool(line_timeout_s=0.2)
    result = await asyncio.wait_for(tool.execute({"pattern": r"(a|aa)+b"}, ctx), HANG_GUARD_S)
    assert result.is_error
    assert "Regex pattern '(a|aa)+b' is too slow" in result.output
    assert "f.txt line 301" in result.output


@pytest.mark.parametrize(
    ("pattern", "independent"),
    [
        ("needle", True),
        (r"def \w+\(self", True),
        (r"(a|aa)+b", True),
        ("[^a]+x", True),
        ("(?i)Hello|wor.d", True),
        ("(?s)a.b", True),
        (r"x{2,}?y*", True),
        ("(?P<name>a)", True),
        ("--verbose", True),
        ("", True),
        ("^x", False),
        ("x$", False),
        (r"\Ax", False),
        (r"x\Z", False),
        (r"\bword", False),
        (r"\Bx", False),
        ("(?=a)b", False),
        ("(?<!a)b", False),
        (r"(a)\1", False),
        ("(?P<n>a)(?P=n)", False),
        ("(?(1)a|b)", False),
        ("(?>a+)b", False),
        ("a++b", False),
        ("(?m)x|^y", False),
        (r"\p{L}+", False),  # regex-only syntax: not judged, so not batched
        ("[[:alpha:]]", False),
        ("(", False),
    ],
)
def test_line_independent(pattern: str, independent: bool) -> None:
    assert line_independent(pattern) is independent


_ATOMS = st.sampled_from(
    ["a", "b", "A", " ", ".", "[ab]", "[^a]", r"\s", r"\S", r"\w", r"\W", r"\d", "1",
     "[a-b1]", "^", "$", r"\b", r"\B"]
)  # fmt: skip
_PATTERNS = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, inner).map(lambda pair: f"(?:{pair[0]}|{pair[1]})"),
        st.tuples(inner, st.sampled_from(["*", "+", "?", "{1,2}", "*?", "+?", "{2}"])).map(
            lambda pair: f"(?:{pair[0]}){pair[1]}"
        ),
        inner.map(lambda body: f"({body})"),
    ),
    max_leaves=6,
)


def _scan(
    root: Path, file: Path, pattern: str, ignore_case: bool, context: int, batched: bool
) -> tuple[list[str], int]:
    compiled = regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    run = _search._GrepRun(root, compiled, context, ReadGate(root, None), threading.Event(), 5, 60)
    run.batching = batched and run.batching
    run.batch_lines = 4  # several batches per file
    return run.search_file(file, "f.txt")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pattern=_PATTERNS,
    lines=st.lists(st.text(alphabet="abA 1\t-", max_size=8), max_size=25),
    ignore_case=st.booleans(),
    context=st.integers(min_value=0, max_value=2),
)
def test_batched_search_finds_exactly_what_line_by_line_search_finds(
    tmp_path_factory: pytest.TempPathFactory,
    pattern: str,
    lines: list[str],
    ignore_case: bool,
    context: int,
) -> None:
    root = tmp_path_factory.mktemp("prop").resolve()
    file = root / "f.txt"
    file.write_text("".join(line + "\n" for line in lines))
    batched = _scan(root, file, pattern, ignore_case, context, batched=True)
    one_by_one = _scan(root, file, pattern, ignore_case, context, batched=False)
    assert batched == one_by_one


class _Clock:
    """A monotonic clock that jumps past any deadline after ``ticks`` readings."""

    def __init__(self, ticks: int) -> None:
        self.left = ticks

    def monotonic(self) -> float:
        self.left -= 1
        return 0.0 if self.left >= 0 else 1e9


async def test_grep_deadline_returns_partial_hits_with_a_note(
    ws: Path, ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws / "f.txt").write_text("".join(f"hit {i}\n" for i in range(100)))
    # Readings: the deadline itself, the walk of the one directory, then one per line (an
    # anchored pattern is searched line by line, never in batches).
    monkeypatch.setattr(_search, "time", _Clock(2 + 3))
    result = await GrepTool().execute({"pattern": "^hit"}, ctx)
    assert result.exit_code == 0
    assert result.output.splitlines()[:3] == ["f.txt:1:hit 0", "f.txt:2:hit 1", "f.txt:3:hit 2"]
    assert "[search stopped after 60 s: results are incomplete" in result.output
    assert result.metadata["timed_out"] is True and result.metadata["matches"] == 3

    monkeypatch.setattr(_search, "time", _Clock(2 + 3))
    none = await GrepTool(timeout_s=5).execute({"pattern": "^nothing"}, ctx)
    assert none.is_error
    assert none.output.startswith("grep stopped after 5 s without a match for pattern: ^nothing")
    assert "(searched 1 of 1 files)" in none.output


async def test_grep_output_format_is_unchanged(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("a\nHIT one\nb\nc\nd\nHIT two\n")
    result = await GrepTool().execute({"pattern": "hit", "-i": True, "context": 1}, ctx)
    assert result.output.splitlines() == [
        "f.txt-1-a",
        "f.txt:2:HIT one",
        "f.txt-3-b",
        "--",
        "f.txt-5-d",
        "f.txt:6:HIT two",
    ]
    assert result.metadata == {
        "matches": 2,
        "files": 1,
        "truncated": False,
        "skipped": 0,
        "skipped_dirs": 0,
        "timed_out": False,
    }


# -------------------------------------------------------------------------------------- can_read


class _Policy:
    """A can_read callback denying .env, the session store and the 'secrets' directory."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, rel: str) -> bool:
        self.asked.append(rel)
        assert not rel.startswith(("./", "/")) and ".." not in rel.split("/"), rel
        # Exact names only: what lies below a denied directory is the gate's business.
        return rel not in {".env", ".a3s/sessions", "secrets"}


@pytest.fixture
def protected(ws: Path) -> Path:
    (ws / ".env").write_text("OPENAI_API_KEY=sk-live-secret\n")
    (ws / ".a3s/sessions").mkdir(parents=True)
    (ws / ".a3s/sessions/s1.jsonl").write_text('{"key": "sk-live-secret"}\n')
    (ws / ".a3s/readme.txt").write_text("the session store\n")
    (ws / "secrets").mkdir()
    (ws / "secrets/key.txt").write_text("sk-live-secret\n")
    (ws / "secrets/inner").mkdir()
    (ws / "secrets/inner/deep.txt").write_text("sk-live-secret\n")
    (ws / "src").mkdir()
    (ws / "src/app.py").write_text("KEY = load('sk-live-secret')\n")
    (ws / "notes.md").write_text("nothing here\n")
    (ws / "envlink").symlink_to(ws / ".env")
    (ws / "secretslink").symlink_to(ws / "secrets", target_is_directory=True)
    return ws


@pytest.fixture
def policy() -> _Policy:
    return _Policy()


@pytest.fixture
def guarded(protected: Path, policy: _Policy) -> ToolContext:
    return ToolContext(workspace=protected, can_read=policy)


def _never_inside(policy: _Policy, *directories: str) -> None:
    for directory in directories:
        assert not [rel for rel in policy.asked if rel.startswith(directory + "/")], directory


async def test_grep_skips_denied_files_and_directories(
    guarded: ToolContext, policy: _Policy
) -> None:
    result = await GrepTool().execute({"pattern": "sk-live"}, guarded)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "src/app.py:1:KEY = load('sk-live-secret')"
    # .env and the link to it are files; .a3s/sessions and secrets are directories.
    assert lines[-1] == (
        "[2 files skipped, 2 directories not searched: protected or denied by a Read rule]"
    )
    assert result.output.count("sk-live-secret") == 1
    assert result.metadata["skipped"] == 2 and result.metadata["skipped_dirs"] == 2
    _never_inside(policy, "secrets", ".a3s/sessions")

    none = await GrepTool().execute({"pattern": "OPENAI"}, guarded)
    assert none.output == (
        "No matches found for pattern: OPENAI\n\n"
        "[2 files skipped, 2 directories not searched: protected or denied by a Read rule]"
    )
    # A denied file the glob does not select is not counted.
    py_only = await GrepTool().execute({"pattern": "sk-live", "glob": "*.py"}, guarded)
    assert py_only.output.endswith(
        "[2 directories not searched: protected or denied by a Read rule]"
    )


@pytest.mark.parametrize(
    "path",
    [".env", "./.env", "src/../.env", ".//.env", "envlink", "secrets", "secrets/key.txt",
     "secretslink", "secretslink/key.txt", ".a3s/sessions", ".a3s/sessions/s1.jsonl"],
)  # fmt: skip
async def test_grep_refuses_a_denied_path(guarded: ToolContext, path: str) -> None:
    result = await GrepTool().execute({"pattern": "sk", "path": path}, guarded)
    assert result.is_error
    assert result.output == f"Refusing to search {path}: it is protected or denied by a Read rule"


@pytest.mark.parametrize(
    "path",
    [".env", "./.env", "src/../.env", "src//../.env", "envlink", "secrets/key.txt",
     "secrets/inner/deep.txt", "secretslink/key.txt", "./secrets/./key.txt",
     ".a3s/sessions/s1.jsonl"],
)  # fmt: skip
async def test_read_refuses_a_denied_path(guarded: ToolContext, path: str) -> None:
    result = await ReadTool().execute({"file_path": path}, guarded)
    assert result.is_error
    assert result.output == f"Refusing to read {path}: it is protected or denied by a Read rule"


async def test_read_refuses_absolute_paths_whatever_the_workspace_spelling(
    protected: Path, tmp_path: Path, policy: _Policy
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(protected, target_is_directory=True)
    for workspace in (protected, alias):
        ctx = ToolContext(workspace=workspace, can_read=policy)
        for spelled in (protected, alias):
            result = await ReadTool().execute({"file_path": str(spelled / ".env")}, ctx)
            assert result.is_error and "protected or denied by a Read rule" in result.output
        allowed = await ReadTool().execute({"file_path": str(alias / "notes.md")}, ctx)
        assert allowed.output == "     1\tnothing here"


async def test_read_allows_what_is_not_denied(guarded: ToolContext) -> None:
    result = await ReadTool().execute({"file_path": ".a3s/readme.txt"}, guarded)
    assert result.exit_code == 0 and "store" in result.output


async def test_glob_leaves_denied_paths_out(guarded: ToolContext, policy: _Policy) -> None:
    result = await GlobTool().execute({"pattern": "**/*"}, guarded)
    assert result.output == (
        ".a3s/readme.txt\nnotes.md\nsrc/app.py\n\n"
        "[2 files left out, 2 directories not searched: protected or denied by a Read rule]"
    )
    assert result.metadata["count"] == 3
    _never_inside(policy, "secrets", ".a3s/sessions")

    dotted = await GlobTool().execute({"pattern": ".e*"}, guarded)
    assert dotted.output == (
        "No files found matching pattern: .e*\n\n"
        "[1 file left out: protected or denied by a Read rule]"
    )
    named = await GlobTool().execute({"pattern": "secrets/*.txt"}, guarded)
    assert "key.txt" not in named.output
    assert named.output.endswith("[1 directory not searched: protected or denied by a Read rule]")
    inside = await GlobTool().execute({"pattern": "*.txt", "path": "secrets"}, guarded)
    assert inside.is_error
    assert inside.output == "Refusing to list secrets: it is protected or denied by a Read rule"
    clean = await GlobTool().execute({"pattern": "src/*.py"}, guarded)
    assert clean.output == "src/app.py"


async def test_ls_leaves_denied_entries_out(guarded: ToolContext, policy: _Policy) -> None:
    result = await LsTool().execute({}, guarded)
    assert result.output == (
        ".a3s/\nnotes.md\nsrc/\n\n[4 entries left out: protected or denied by a Read rule]"
    )
    assert result.metadata == {"count": 3, "skipped": 4}
    store = await LsTool().execute({"path": ".a3s"}, guarded)
    assert store.output == "readme.txt\n\n[1 entry left out: protected or denied by a Read rule]"
    for path in ("secrets", "./secrets", "secretslink", ".a3s/sessions", "secrets/inner"):
        refused = await LsTool().execute({"path": path}, guarded)
        assert refused.is_error
        assert (
            refused.output == f"Refusing to list {path}: it is protected or denied by a Read rule"
        )
    _never_inside(policy, "secrets", ".a3s/sessions")


async def test_ls_of_a_directory_with_only_denied_entries(ws: Path) -> None:
    (ws / "d").mkdir()
    (ws / "d/.env").write_text("x")
    ctx = ToolContext(workspace=ws, can_read=lambda rel: not rel.endswith(".env"))
    result = await LsTool().execute({"path": "d"}, ctx)
    assert result.output == (
        "(no entries shown)\n\n[1 entry left out: protected or denied by a Read rule]"
    )


async def test_without_can_read_everything_is_visible(protected: Path) -> None:
    ctx = ToolContext(workspace=protected)
    grep = await GrepTool().execute({"pattern": "sk-live"}, ctx)
    assert "skipped" not in grep.output and ".env:1:" in grep.output
    listing = await LsTool().execute({}, ctx)
    assert "left out" not in listing.output and ".env" in listing.output


# -------------------------------------------------------------------------------------- hard links


@pytest.fixture
def hard_linked(tmp_path: Path, ws: Path) -> tuple[Path, Path]:
    """A file outside the workspace and a hard link to it inside."""
    outside = tmp_path / "outside.txt"
    outside.write_text("ORIGINAL outside content\n")
    inside = ws / "linked.txt"
    os.link(outside, inside)
    return outside, inside


async def test_write_refuses_a_hard_linked_file(
    hard_linked: tuple[Path, Path], ctx: ToolContext
) -> None:
    outside, _inside = hard_linked
    result = await WriteTool().execute({"file_path": "linked.txt", "content": "pwned\n"}, ctx)
    assert result.is_error
    assert result.output == (
        "refusing to write linked.txt: it has 2 hard links, one of which may lead outside "
        "the workspace"
    )
    assert outside.read_text() == "ORIGINAL outside content\n"
    assert "ORIGINAL" not in str(result.metadata)


async def test_edit_refuses_a_hard_linked_file(
    hard_linked: tuple[Path, Path], ctx: ToolContext
) -> None:
    outside, _inside = hard_linked
    args = {"file_path": "linked.txt", "old_string": "ORIGINAL", "new_string": "pwned"}
    result = await EditTool().execute(args, ctx)
    assert result.is_error
    assert result.output.startswith("refusing to write linked.txt: it has 2 hard links")
    assert outside.read_text() == "ORIGINAL outside content\n"


async def test_write_and_edit_still_work_on_single_link_files(ws: Path, ctx: ToolContext) -> None:
    (ws / "one.txt").write_text("old\n")
    written = await WriteTool().execute({"file_path": "one.txt", "content": "new\n"}, ctx)
    assert written.exit_code == 0 and written.metadata["old_content"] == "old\n"
    edited = await EditTool().execute(
        {"file_path": "one.txt", "old_string": "new", "new_string": "newer"}, ctx
    )
    assert edited.exit_code == 0 and (ws / "one.txt").read_text() == "newer\n"
    assert edited.metadata["file_path"] == str((ws / "one.txt").resolve())


async def test_write_and_edit_refuse_a_fifo_without_blocking(ws: Path, ctx: ToolContext) -> None:
    os.mkfifo(ws / "pipe")
    write = await asyncio.wait_for(
        WriteTool().execute({"file_path": "pipe", "content": "x"}, ctx), HANG_GUARD_S
    )
    assert write.is_error and write.output == "Not a regular file: pipe"
    edit = await asyncio.wait_for(
        EditTool().execute({"file_path": "pipe", "old_string": "a", "new_string": "b"}, ctx),
        HANG_GUARD_S,
    )
    assert edit.is_error and edit.output == "Not a regular file: pipe"


def test_hard_link_count(hard_linked: tuple[Path, Path], ws: Path) -> None:
    outside, inside = hard_linked
    assert hard_link_count(inside) == 2 and hard_link_count(outside) == 2
    (ws / "single.txt").write_text("x")
    assert hard_link_count(ws / "single.txt") == 1
    assert hard_link_count(ws / "missing.txt") == 0
    assert hard_link_count(ws / "single.txt" / "below") == 0
    (ws / "sub").mkdir()
    (ws / "sub" / "child").mkdir()
    assert hard_link_count(ws / "sub") == 1  # a directory's count is its subdirectories
    (ws / "alias").symlink_to(inside)
    assert hard_link_count(ws / "alias") == 2
