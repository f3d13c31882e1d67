"""A client that connects while a ``%%ask`` cell waits on its approval (a reloaded page)
gets the kernel's info at once, and can decide the approval from a subshell.

A real ipykernel; a second client plays the reloaded page: ``kernel_info`` and
``comm_info`` are answered while the cell awaits (a3s_notebook/_kernel_info.py), then
``%a3s_session pending`` in a subshell shows the card, and a click on it (the comm message
the card sends) lets the run in the first client's cell finish.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager, start_new_kernel

from tests.test_kernel import collect, run

VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[tuple[KernelManager, Any]]:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def shell_reply(kc: Any, msg_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return dict(msg)


def message(client: Any, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
    """A message with an id of its own (hand-built messages reuse the session's count)."""
    msg = dict(client.session.msg(msg_type, content))
    msg["header"]["msg_id"] = uuid.uuid4().hex
    return msg


def wait_for_request(log: Path, timeout: float = 60) -> str:
    """The tool id of the approval the session's log shows asked for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                event = json.loads(line)
                if event.get("type") == "confirmation_required":
                    return str(event["tool_id"])
        time.sleep(0.2)
    pytest.fail("the run never asked for approval")


def statuses_until(client: Any, names: dict[str, str], last: tuple[str, str]) -> list[Any]:
    """The (state, whose) of the status messages ``client`` hears, up to ``last``; whose is
    ``names[parent msg_id]`` ("other" for any other parent)."""
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 30
    while last not in seen:
        msg = client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["msg_type"] == "status":
            whose = names.get(msg["parent_header"].get("msg_id"), "other")
            seen.append((msg["content"]["execution_state"], whose))
    return seen


def test_a_client_connecting_mid_approval_can_decide_it(
    kernel: tuple[KernelManager, Any], tmp_path: Path
) -> None:
    km, kc = kernel
    (tmp_path / "ws").mkdir()
    run(
        kc,
        "%load_ext a3s_notebook\n"
        f"%config A3sMagics.sessions_dir = {str(tmp_path / 's')!r}\n"
        f"%a3s_session new k --model scripted/demo --workspace {str(tmp_path / 'ws')!r} "
        "--timeout 120",
    )
    ask = kc.execute("%%ask --quiet\nLook at my workspace and write notes")
    tool_id = wait_for_request(tmp_path / "s" / "k.jsonl")

    page = km.client()  # the reloaded page
    page.start_channels()
    try:
        # answered while the cell awaits, not after it (up to 120 s)
        info = page.kernel_info()
        reply = shell_reply(page, info)
        assert reply["content"]["status"] == "ok"
        assert "kernel subshells" in reply["content"]["supported_features"]
        # the request's busy and idle (a client waits for that too) have it as parent; a
        # page ignores those (the server does not track info requests), so then the kernel
        # says busy for the cell: the page shows Busy, not Unknown
        names = {ask: "cell", info: "kernel_info"}
        assert statuses_until(page, names, ("busy", "cell")) == [
            ("busy", "kernel_info"),
            ("idle", "kernel_info"),
            ("busy", "cell"),
        ]
        comms = page.comm_info(target_name="jupyter.widget")
        names[comms] = "comm_info"
        assert shell_reply(page, comms)["content"]["status"] == "ok"
        assert statuses_until(page, names, ("busy", "cell")) == [
            ("busy", "comm_info"),
            ("idle", "comm_info"),
            ("busy", "cell"),
        ]

        # a subshell runs code at once: `%a3s_session pending` shows the card
        create = message(page, "create_subshell_request", {})
        page.control_channel.send(create)
        subshell = page.control_channel.get_msg(timeout=10)["content"]["subshell_id"]
        request = message(
            page,
            "execute_request",
            {"code": "%a3s_session pending", "silent": False, "store_history": False},
        )
        request["header"]["subshell_id"] = subshell
        page.shell_channel.send(request)
        assert shell_reply(page, request["header"]["msg_id"])["content"]["status"] == "ok"
        printed, view = "", None
        while view is None:
            msg = page.get_iopub_msg(timeout=10)
            if msg["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                continue
            if msg["msg_type"] == "stream":
                printed += msg["content"]["text"]
            elif msg["msg_type"] == "execute_result":
                view = msg["content"]["data"][VIEW]["model_id"]
        assert printed.startswith("write notes.md: waits for approval (")
        assert not (tmp_path / "ws" / "notes.md").exists()

        # the click on Approve: the comm message the card sends
        click = message(
            page,
            "comm_msg",
            {
                "comm_id": view,
                "data": {
                    "method": "custom",
                    "content": {"kind": "confirm", "tool_id": tool_id, "decision": "approve"},
                },
            },
        )
        page.shell_channel.send(click)
    finally:
        page.stop_channels()

    # the cell that started the run ends with its answer, in its own output
    out = collect(kc, ask, timeout=60)
    assert not out["error"], out
    assert "**Done.**" in "".join(out["result"])
    assert (tmp_path / "ws" / "notes.md").read_text().startswith("# Notes")


def test_pending_says_when_nothing_waits(kernel: tuple[KernelManager, Any], tmp_path: Path) -> None:
    _, kc = kernel
    out = run(kc, "%load_ext a3s_notebook\n%a3s_session pending")
    assert out["stream"] == [
        "No session yet. Start one with: %a3s_session new NAME [--model provider/model]\n"
    ]
    run(kc, f"%config A3sMagics.sessions_dir = {str(tmp_path / 's')!r}")
    run(kc, f"%a3s_session new idle --model scripted/demo --workspace {str(tmp_path)!r}")
    assert run(kc, "%a3s_session pending")["stream"] == ["'idle' waits for no approval\n"]


def test_another_kernel_is_left_as_it_is() -> None:
    """Without ipykernel 7's hooks nothing is changed, and the caller is told."""
    from a3s_notebook._kernel_info import answer_info_requests_at_once

    class OldKernel:
        session = object()
        shell_stream = None

        def dispatch_shell(self, msg: Any) -> None:  # ipykernel 6: no `concurrent`
            raise AssertionError("never called")

    kernel = OldKernel()
    assert answer_info_requests_at_once(kernel) is False
    assert answer_info_requests_at_once(object()) is False
    assert not hasattr(kernel, "_a3s_info_requests_at_once")


def test_a_cells_thread_keeps_its_output_after_a_client_connects(
    kernel: tuple[KernelManager, Any], tmp_path: Path
) -> None:
    """Answering ``kernel_info`` mid-cell makes it the shell's parent; the kernel gives the
    cell back its place, so a print from a thread the cell started still goes to the cell
    (not to the info request, where no page shows it)."""
    km, kc = kernel
    run(kc, "%load_ext a3s_notebook")
    cell = kc.execute(
        "import asyncio, pathlib, threading, time\n"
        "def later():\n"
        "    while not pathlib.Path('print').exists(): time.sleep(0.02)\n"
        "    print('from a thread of the cell')\n"
        "threading.Thread(target=later).start()\n"
        "while not pathlib.Path('done').exists(): await asyncio.sleep(0.02)\n"
    )
    statuses_until(kc, {cell: "cell"}, ("busy", "cell"))  # the cell runs
    page = km.client()  # the reloaded page
    page.start_channels()
    try:
        assert shell_reply(page, page.kernel_info())["content"]["status"] == "ok"
    finally:
        page.stop_channels()
    (tmp_path / "print").touch()
    deadline = time.monotonic() + 30
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["msg_type"] == "stream":
            assert msg["content"]["text"] == "from a thread of the cell\n"
            assert msg["parent_header"].get("msg_id") == cell
            break
    (tmp_path / "done").touch()
    assert not collect(kc, cell)["error"]
