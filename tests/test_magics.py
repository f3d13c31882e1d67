"""The magics in a real IPython shell (InteractiveShell), not by calling functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from a3s_notebook.magics import AskHandle, AskResult, RunStillGoingError

from .llm_server import llm_server_fixture  # noqa: F401  (provides `llm_server`)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "a3s_notebook")
    magics = shell.magics_manager.registry["A3sMagics"]
    magics._manager = None
    magics.current = None
    magics.sessions_dir = str(tmp_path / "sessions")
    magics.default_workspace = str(tmp_path / "ws")
    magics.default_model = "scripted/demo-fast"
    magics.confirmation_timeout = 0.2
    yield shell
    shell.run_line_magic("unload_ext", "a3s_notebook")
    shell.user_ns.pop("_", None)


def run(shell: InteractiveShell, cell: str) -> Any:
    result = shell.run_cell(cell, store_history=True)
    assert result.error_before_exec is None, result.error_before_exec
    assert result.error_in_exec is None, result.error_in_exec
    return result.result


def magics(shell: InteractiveShell) -> Any:
    return shell.magics_manager.registry["A3sMagics"]


def test_ask_with_approval_by_rule_and_result_in_underscore(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    run(ip, "%a3s_session new demo")
    run(ip, "%a3s_session allow write")
    run(ip, "topic = 'the sales data'")
    out = run(ip, "%%ask\nPlease look at {topic} and {unknown}")
    assert out.text.startswith("**Done.**")
    assert (tmp_path / "ws" / "notes.md").exists()
    # the result is the cell's value: the next cell sees it
    assert run(ip, "_.text") == out.text
    session = magics(ip).current
    assert session.messages[0].text() == "Please look at the sales data and {unknown}"
    # provenance: the ledger records which cell asked
    prov = session.cost_records[0].provenance
    assert prov["source"] == "%%ask" and isinstance(prov["execution_count"], int)
    bundle, meta = out._repr_mimebundle_()
    assert "text/markdown" in bundle and meta["a3s"]["session"] == "demo"


def test_unapproved_write_times_out_and_the_model_says_so(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    run(ip, "%a3s_session new strict")
    out = run(ip, "%%ask\nwrite notes")
    assert not (tmp_path / "ws" / "notes.md").exists()
    assert "timed out waiting for confirmation (200ms)" in out.text


def test_session_subcommands(
    ip: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(
        ip,
        "%a3s_session new one --model scripted/echo --system 'be brief' --timeout 5 --yolo query",
    )
    s = magics(ip).current
    assert s.model_name == "scripted/echo" and s.config.system_prompt == "be brief"
    assert s.confirmations.policy.default_timeout_ms == 5000
    run(ip, "%a3s_session config timeout")
    assert "timeout = 5.0" in capsys.readouterr().out
    run(ip, "%a3s_session config auto_compact=true")
    run(ip, "%a3s_session config cost_limit_usd=0.5")
    assert s.config.auto_compact is True and s.config.cost_limit_usd == 0.5
    run(ip, "%a3s_session config nonsense=1")
    assert "unknown key 'nonsense'" in capsys.readouterr().err
    run(ip, "%a3s_session config auto_compact_threshold=7")
    assert "auto_compact_threshold" in capsys.readouterr().err
    run(ip, "%%ask\nhello")
    run(ip, "%a3s_session deny 'Bash(rm:*)'")
    rules = run(ip, "%a3s_session rules")
    assert isinstance(rules, pd.DataFrame)
    assert ("deny", "Bash(rm:*)") in list(rules.itertuples(index=False, name=None))
    run(ip, "%a3s_session rules --remove 'Bash(rm:*)'")
    assert "Bash(rm:*)" not in s.rules()["deny"]
    run(ip, "%a3s_session deny 'Bash(git'")
    assert "does not parse" in capsys.readouterr().err

    costs = run(ip, "%a3s_session cost --raw")
    assert len(costs) == 1 and str(costs["cost_usd"].dtype) == "Float64"
    summary = run(ip, "%a3s_session cost")
    assert list(summary.index) == [f"{costs['provider'][0]}/{costs['model'][0]}"]
    assert summary["calls"].tolist() == [1]
    assert summary["total_tokens"].tolist() == [int(costs["total_tokens"].sum())]
    by_model = run(ip, "%a3s_session cost --by model")
    assert list(by_model.index) == ["echo"] or "echo" in by_model.to_string()
    listing = run(ip, "%a3s_session list")
    assert list(listing["name"]) == ["one"] and listing["current"].iloc[0] == "*"

    assert run(ip, "%a3s_session pause") is None
    assert "paused 'one'" in capsys.readouterr().out
    failed = ip.run_cell("%%ask\nwhile paused")
    assert "Call Resume before generating" in str(failed.error_in_exec)
    run(ip, "%a3s_session resume")
    run(ip, "%a3s_session fork two")
    assert magics(ip).current.name == "two"
    assert len(magics(ip).current.messages) == 2
    run(ip, "%a3s_session use one")
    assert magics(ip).current.name == "one"
    run(ip, f"%a3s_session export {tmp_path / 'one.md'}")
    md = (tmp_path / "one.md").read_text()
    assert "# Session one" in md and "Echo: hello" in md and "## Cost" in md
    run(ip, f"%a3s_session export {tmp_path / 'one.jsonl'}")
    first = json.loads((tmp_path / "one.jsonl").read_text().splitlines()[0])
    assert first["type"] == "session_created" and first["session_id"] == "one"
    run(ip, "%a3s_session clear")
    assert magics(ip).current.messages == []
    run(ip, "%a3s_session delete two")
    assert not (tmp_path / "sessions" / "two.jsonl").exists()
    tasks = run(ip, "%a3s_session tasks")
    assert list(tasks.columns) == ["id", "task", "status", "priority"]


def test_help_and_usage_errors(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%a3s_session help")
    assert "new NAME" in capsys.readouterr().out
    run(ip, "%a3s_session new --help")
    assert "--workspace" in capsys.readouterr().out
    run(ip, "%a3s_session frobnicate")
    assert "unknown subcommand 'frobnicate'" in capsys.readouterr().err
    run(ip, "%%ask --help\nignored")
    assert "--background" in capsys.readouterr().out
    run(ip, "%%ask --bogus\nx")
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    run(ip, "%a3s_session new ../evil")
    assert "unsafe characters" in capsys.readouterr().err


def test_new_twice_keeps_the_old_file(
    ip: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%a3s_session new again --model scripted/echo")
    run(ip, "%%ask\nfirst")
    run(ip, "%a3s_session new again --model scripted/echo")
    assert "was kept as 'again-" in capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "sessions").glob("again*.jsonl"))
    assert len(files) == 2
    assert magics(ip).current.messages == []


def test_ask_switches_session_and_model(ip: InteractiveShell) -> None:
    run(ip, "%a3s_session new a --model scripted/echo")
    run(ip, "%a3s_session new b --model scripted/echo")
    out = run(ip, "%%ask -s a -f text\nhi there")
    assert out.text == "Echo: hi there"
    bundle, _ = out._repr_mimebundle_()
    assert "text/markdown" not in bundle
    assert magics(ip).current.name == "a"
    run(ip, "%%ask -m scripted/demo-fast --quiet\nhi")
    assert magics(ip).current.model_name == "scripted/demo-fast"


def test_background_run_returns_at_once(ip: InteractiveShell) -> None:
    run(ip, "%a3s_session new bg --model scripted/echo")
    handle = run(ip, "%%ask --background\nlater")
    assert "bg" in repr(handle)
    ip.user_ns["h"] = handle
    result = run(ip, "await h")
    assert result.text == "Echo: later"
    assert handle.done()


def test_sync_path_with_autoawait_off(ip: InteractiveShell) -> None:
    run(ip, "%autoawait off")
    try:
        run(ip, "%a3s_session new sync --model scripted/echo")
        out = run(ip, "%%ask\nblocking")
        assert out.text == "Echo: blocking"
    finally:
        run(ip, "%autoawait on")


def test_config_traits(ip: InteractiveShell) -> None:
    run(ip, "%config A3sMagics.default_model = 'scripted/echo'")
    run(ip, "%a3s_session new traits")
    assert magics(ip).current.model_name == "scripted/echo"


def test_default_session_is_created_on_first_ask(ip: InteractiveShell) -> None:
    magics(ip).default_model = "scripted/echo"
    out = run(ip, "%%ask\nno session yet")
    assert out.text == "Echo: no session yet"
    assert magics(ip).current.id == "default"


def test_loadable_from_ipython_config(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "ipython_config.py").write_text(
        "c.InteractiveShellApp.extensions = ['a3s_notebook']\n"
        "c.A3sMagics.default_model = 'scripted/echo'\n"
        f"c.A3sMagics.sessions_dir = {str(tmp_path / 's')!r}\n"
    )
    code = "%a3s_session new cfg\n"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "IPython", f"--profile-dir={profile}", "--no-banner", "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert "session 'cfg' (scripted/echo)" in out.stdout, out.stdout + out.stderr


def test_load_ext_is_fast_and_lazy() -> None:
    code = (
        "import sys, time; from IPython.core.interactiveshell import InteractiveShell;"
        "ip = InteractiveShell.instance(); t = time.perf_counter();"
        "ip.run_line_magic('load_ext', 'a3s_notebook');"
        "print(time.perf_counter() - t, 'pydantic' in sys.modules, 'a3s_notebook.engine' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    seconds, _pydantic_loaded, engine_loaded = out.stdout.split()
    assert engine_loaded == "False"  # the engine loads at the first use, not at %load_ext
    assert float(seconds) < 5  # a loose sanity bound; bench/ measures the real figure


def test_new_with_base_url_talks_to_an_openai_compatible_server(
    ip: InteractiveShell, llm_server: Any
) -> None:
    from .llm_server import Reply

    llm_server.enqueue(Reply(text=["Hello from ", "vLLM."]))
    run(ip, f"%a3s_session new local --model vllm/qwen2.5 --base-url {llm_server.openai_url}")
    out = run(ip, "%%ask --quiet\nhi")
    assert out.text == "Hello from vLLM."
    assert llm_server.last_request.body["model"] == "qwen2.5"
    session = magics(ip).current
    assert session.model_name == "vllm/qwen2.5"
    assert session.llm_config["base_url"] == llm_server.openai_url


def test_a_local_server_session_with_a_named_key_and_a_request_timeout(
    ip: InteractiveShell, llm_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .llm_server import Reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-must-stay-home")
    monkeypatch.setenv("MY_SERVER_KEY", "local-server-key-123")
    llm_server.enqueue(Reply(text="hello from my server"))
    run(
        ip,
        f"%a3s_session new mine --model openai/local --base-url {llm_server.openai_url} "
        "--api-key-env MY_SERVER_KEY --request-timeout 5",
    )
    assert run(ip, "%%ask --quiet\nhi").text == "hello from my server"
    auth = llm_server.last_request.headers.get("authorization", "")
    # the named variable's key went to the server; the user's OpenAI key never did
    assert auth == "Bearer local-server-key-123"
    session = magics(ip).current
    assert session.llm_config["api_key_env"] == "MY_SERVER_KEY"
    assert session.llm_config["timeout"] == 5.0
    assert "local-server-key-123" not in Path(session._store.path(session.id)).read_text()


def test_in_voila_an_ask_cell_waits_unless_the_run_needs_a_human(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Voila renders only after every cell ran: an awaiting cell's card could not be clicked,
    # so a run that asks for an approval goes on in the background; one that does not is
    # awaited, and the next cell reads its answer as in JupyterLab
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    run(ip, "%a3s_session new v --model scripted/echo")
    assert run(ip, "%%ask\nin voila").text == "Echo: in voila"
    assert run(ip, "_.done() and (await _).text") == "Echo: in voila"

    run(ip, "%a3s_session new w --model scripted/demo-fast --timeout 30")
    handle = run(ip, "%%ask\nwrite notes")
    assert isinstance(handle, AskHandle) and run(ip, "_") is handle
    assert not handle.done() and repr(handle) == "<%%ask in session 'w': running>"
    session = magics(ip).current
    (pending,) = session.confirmations.pending_confirmation_details()
    assert pending.tool_name == "write"
    session.confirm(pending.tool_id, True)
    ip.user_ns["h"] = handle
    result = run(ip, "await h")
    assert handle.text == result.text and "Done" in handle.text
    assert (Path(session.config.workspace) / "notes.md").exists()


def test_a_background_handle_becomes_its_result_and_updates_its_display(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[dict[str, Any]] = []

    def publish(data: dict[str, Any], metadata: Any = None, **kw: Any) -> None:
        published.append({"data": data, **kw})

    monkeypatch.setattr(ip.display_pub, "publish", publish)
    run(ip, "%a3s_session new bg --model scripted/echo")
    handle = run(ip, "%%ask --background\nlater")
    # while it runs: a handle that says so, and reading the answer is one clear error
    assert repr(handle) == str(handle) == "<%%ask in session 'bg': running>"
    for attribute in ("text", "usage", "cost_usd"):
        with pytest.raises(RunStillGoingError, match=rf"\.{attribute}: the %%ask run in session"):
            getattr(handle, attribute)
    with pytest.raises(RunStillGoingError, match="still going; `await` the handle"):
        handle.result()
    # the cell's value is shown with a display id (the shell's displayhook calls
    # _ipython_display_), so it can be replaced when the run ends
    (shown,) = published
    display_id = shown["transient"]["display_id"]
    assert "running in the background" in shown["data"]["text/markdown"]

    ip.user_ns["h"] = handle
    result = run(ip, "await h")
    assert isinstance(result, AskResult) and handle.result() is result
    assert handle.done() and handle.text == str(handle) == repr(handle) == "Echo: later"
    assert handle.usage == result.usage and handle.cost_usd == result.cost_usd
    assert handle._repr_mimebundle_() == result._repr_mimebundle_()
    update = published[-1]
    assert update["update"] and update["transient"]["display_id"] == display_id
    assert update["data"] == result._repr_mimebundle_()[0]
    assert "Echo: later" in update["data"]["text/markdown"]
    # a finished handle shows as its result, with nothing left to update
    published.clear()
    run(ip, "h")
    assert [p["data"] for p in published] == [result._repr_mimebundle_()[0]]


def test_in_voila_a_running_handle_shows_in_an_output_widget_that_becomes_the_answer(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Voila's page ignores display updates, so the handle shows in an Output widget
    import ipywidgets

    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    run(ip, "%a3s_session new o --model scripted/echo")
    handle = run(ip, "%%ask --background\nlater")
    (out,) = shown  # the cell's value, shown by the shell's displayhook
    assert isinstance(out, ipywidgets.Output)
    (running,) = out.outputs
    assert "running in the background" in running["data"]["text/markdown"]
    ip.user_ns["h"] = handle
    result = run(ip, "await h")
    (answer,) = out.outputs
    assert answer == {
        "output_type": "display_data",
        "data": result._repr_mimebundle_()[0],
        "metadata": result._repr_mimebundle_()[1],
    }


def test_a_failed_or_cancelled_background_run_says_so(ip: InteractiveShell) -> None:
    run(ip, "%a3s_session new c --model scripted/demo-fast --timeout 30")
    handle = run(ip, "%%ask --background\nwrite notes")
    ip.user_ns["h"] = handle
    ip.run_cell("import asyncio\nawait asyncio.sleep(0)")  # let the run start
    handle.task.cancel()
    ip.run_cell("try:\n    await h\nexcept BaseException:\n    pass")
    assert repr(handle) == "<%%ask in session 'c': cancelled>"
    assert "cancelled" in handle._repr_mimebundle_()[0]["text/markdown"]


def test_ask_waits_for_its_body_in_terminal_ipython(ip: Any) -> None:
    # Enter after "%%ask" must not run the cell: the prompt comes on the next lines
    assert ip.check_complete("%%ask\n")[0] == "incomplete"
    assert ip.check_complete("%%ask -s x\nsummarise data.csv\n")[0] == "incomplete"
    assert ip.check_complete("%%ask\nsummarise data.csv\n\n")[0] == "complete"


def test_magic_errors_are_one_line_with_the_details_on_demand(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ip.run_cell("%%ask -s nosuch\nhello")
    err = capsys.readouterr()
    text = err.out + err.err
    assert result.error_in_exec is not None
    assert "UsageError: %%ask: " in text and "nosuch" in text
    # no traceback, and none of the internal rewrite
    assert "Traceback" not in text and "__import__" not in text and "run_ask_cell" not in text
    run(ip, "%a3s_session debug")
    details = capsys.readouterr().out
    assert "Traceback" in details and "SessionNotFoundError" in details


def test_tools_of_your_own_from_the_magics(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%a3s_session new t --model scripted/echo")
    run(
        ip,
        "def word_count(text: str) -> int:\n"
        "    '''Count the words of a text.'''\n"
        "    return len(text.split())",
    )
    run(ip, "%%ask --quiet --tools word_count\nhello")
    session = magics(ip).current
    assert "word_count" in session.tools
    capsys.readouterr()
    run(ip, "%a3s_session tools")
    listing = capsys.readouterr().out
    assert "word_count" in listing and "Execute" in listing and "bash" in listing
    run(ip, "%a3s_session tools remove word_count")
    assert "word_count" not in session.tools
    run(ip, "%a3s_session tools add word_count")
    assert "word_count" in session.tools
    failed = ip.run_cell("%%ask --tools nosuchfn\nhi")
    assert failed.error_in_exec is not None and "nosuchfn" in str(failed.error_in_exec)


def test_an_mcp_server_from_the_magics(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mcp")
    server = ROOT / "tests" / "mcp_server.py"
    run(ip, "%a3s_session new m --model scripted/echo")
    run(ip, f"%a3s_session mcp add srv -- {sys.executable} {server}")
    session = magics(ip).current
    # started lazily: its tools join at the next prompt
    assert "mcp__srv__add" not in session.tools and not session.mcp_servers()["srv"].is_running
    run(ip, "%%ask --quiet\nhi")
    assert "mcp__srv__add" in session.tools
    capsys.readouterr()
    run(ip, "%a3s_session mcp list")
    assert "srv:" in capsys.readouterr().out
    connection = session.mcp_servers()["srv"]
    run(ip, "%a3s_session mcp remove srv")
    assert "mcp__srv__add" not in session.tools and not connection.is_running


def test_the_request_timeout_is_a_setting_of_the_session(
    ip: InteractiveShell, llm_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .llm_server import Reply

    monkeypatch.setenv("MY_SERVER_KEY", "local-server-key-456")
    llm_server.enqueue(Reply(text="still here"))
    run(
        ip,
        f"%a3s_session new t --model openai/local --base-url {llm_server.openai_url} "
        "--api-key-env MY_SERVER_KEY",
    )
    run(ip, "%a3s_session config request_timeout=7.5")
    session = magics(ip).current
    assert session.llm_config["timeout"] == 7.5 and session.llm.timeout == 7.5
    # same server and key after the change
    assert run(ip, "%%ask --quiet\nhi").text == "still here"
    assert llm_server.last_request.headers.get("authorization") == "Bearer local-server-key-456"
    run(ip, "%a3s_session config request_timeout=none")
    assert "timeout" not in session.llm_config
    # kept in the log: a restore builds its client with the same setting
    run(ip, "%a3s_session config request_timeout=3")
    manager = magics(ip).manager
    manager.forget_session(session.id)
    assert manager.get_session(session.id).llm_config["timeout"] == 3.0


def test_the_cost_summary_has_a_row_per_model_and_a_total() -> None:
    from a3s_notebook.analysis.costs import records_frame
    from a3s_notebook.magics import cost_summary_table

    def rec(
        model: str, provider: str, tokens: int, cost: float | None, ms: float
    ) -> dict[str, Any]:
        return {
            "session_id": "s", "turn": 1, "timestamp": "2026-11-27T10:00:00+00:00",
            "model": model, "provider": provider, "input_tokens": tokens,
            "output_tokens": 10, "total_tokens": tokens + 10, "cost_usd": cost,
            "latency_ms": ms,
        }  # fmt: skip

    frame = records_frame(
        [
            rec("gpt-4o", "openai", 1000, 0.0123456, 1234.5),
            rec("gpt-4o", "openai", 2000, 0.02, 2000.0),
            rec("demo", "scripted", 500, None, 3.0),
        ]
    )
    table = cost_summary_table(frame)
    assert list(table.index) == ["openai/gpt-4o", "scripted/demo", "total"]
    assert table.loc["openai/gpt-4o", "calls"] == 2
    assert table.loc["openai/gpt-4o", "cost_usd"] == 0.0323
    assert table.loc["openai/gpt-4o", "median_latency_s"] == 1.62
    assert pd.isna(table.loc["scripted/demo", "cost_usd"])
    assert table.loc["total", "unpriced_calls"] == 1
    assert table.loc["total", "total_tokens"] == 3530
    assert table.loc["total", "cost_usd"] == 0.0323
    assert cost_summary_table(frame.iloc[:0]).empty


def test_a_missing_workspace_is_an_error_unless_asked_to_create_it(
    ip: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(ip, "%a3s_session new w --workspace nosuch-folder")
    err = capsys.readouterr().err
    assert "workspace 'nosuch-folder' does not exist" in err and "--create" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "nosuch-folder").exists()
    assert magics(ip).current is None
    (tmp_path / "a-file").write_text("x")
    run(ip, "%a3s_session new w --workspace a-file")
    assert "is a file, not a folder" in capsys.readouterr().err
    run(ip, "%a3s_session new w --workspace nosuch-folder --create")
    out = capsys.readouterr().out
    assert "in ./nosuch-folder; created the folder ./nosuch-folder" in out
    assert (tmp_path / "nosuch-folder").is_dir()
    assert magics(ip).current.workspace == (tmp_path / "nosuch-folder").resolve()


def test_list_reads_headers_and_restores_only_what_is_used(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    from a3s_notebook import SessionConfig, SessionManager

    with SessionManager(tmp_path / "sessions") as other:  # another kernel's sessions
        for sid, name in (("a1", "first"), ("b2", "second")):
            other.create_session(SessionConfig(name=name), model="scripted/echo", session_id=sid)
        other.get_session("a1").update_config(title="Planning a trip")  # after its header
    # "first" was used last: it comes first
    os.utime(tmp_path / "sessions" / "a1.jsonl", (2_000_000_000, 2_000_000_000))
    os.utime(tmp_path / "sessions" / "b2.jsonl", (1_900_000_000, 1_900_000_000))
    listing = run(ip, "%a3s_session list")
    assert list(listing["name"]) == ["first", "second"]
    assert list(listing["title"]) == ["Planning a trip", ""]
    assert str(listing["modified"][0]) == "2033-05-18 03:33:20+00:00"
    assert list(listing["state"]) == ["stored", "stored"]
    assert listing["messages"].isna().all() and str(listing["cost_usd"].dtype) == "Float64"
    assert str(listing["modified"].dtype) == "datetime64[ns, UTC]"
    assert magics(ip).manager.session_count() == 0  # listing restored nothing

    run(ip, "%a3s_session use second")
    assert magics(ip).manager.session_count() == 1
    listing = run(ip, "%a3s_session list").set_index("name")
    assert listing.loc["second", "current"] == "*" and listing.loc["second", "state"] == "Active"
    assert listing.loc["second", "messages"] == 0 and listing.loc["first", "state"] == "stored"


def test_the_footer_and_the_usage_panel_say_the_same_about_an_unpriced_model(
    ip: InteractiveShell,
) -> None:
    from a3s_notebook.engine.telemetry import NO_PRICE_SCRIPTED
    from a3s_notebook.widgets import UsagePanel

    run(ip, "%a3s_session new words")
    out = run(ip, "%%ask\nhello")
    assert out.cost_usd is None
    footer = out._footer()
    assert footer.endswith(f"· {NO_PRICE_SCRIPTED}") and "cost unknown" not in footer
    panel = UsagePanel(magics(ip).current)
    assert f"cost {NO_PRICE_SCRIPTED}" in panel._markdown()
