"""The ``bash`` tool: a shell command in the workspace, its output streamed as it arrives.

The command runs as ``/bin/bash -c <command>`` in its own session (process group), so that a
timeout or a cancellation can kill everything it started, not only the shell. POSIX only.
Its environment is ``ctx.env``, or the scrubbed default (:func:`scrubbed_environ`): never the
kernel's whole environment, which holds the provider keys.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from a3s_notebook.engine.tools._base import ToolContext, ToolResult
from a3s_notebook.engine.tools._common import (
    MAX_OUTPUT_SIZE,
    BuiltinTool,
    ToolFailure,
    get_int,
    get_str,
    truncation_marker,
)
from a3s_notebook.engine.tools._env import scrubbed_environ

__all__ = ["DEFAULT_BASH_TIMEOUT_MS", "BashTool"]

DEFAULT_BASH_TIMEOUT_MS = 120_000
"""Default ``timeout`` of the bash tool, in milliseconds (2 minutes)."""

_READ_CHUNK = 64 * 1024
# Bytes of output kept: the first _HEAD_BYTES and the last _TAIL_BYTES. The tail matters for
# commands such as test runs whose verdict is printed last. Together with the marker they fit
# in MAX_OUTPUT_SIZE, so the registry's generic truncation never cuts bash output again.
_BODY_BYTES = MAX_OUTPUT_SIZE - 128
_TAIL_BYTES = _BODY_BYTES // 4
_HEAD_BYTES = _BODY_BYTES - _TAIL_BYTES
# After the shell exits, how long to wait for the output pipe to reach EOF. Processes the
# command left in the background keep the pipe open; without this bound a `server &` would
# hold the tool until its timeout.
_DRAIN_GRACE_S = 0.5
# How often the exit status is checked while the output pipe is still open.
_POLL_S = 0.05
# How long to wait for killed processes to be reaped before giving up on them.
_REAP_S = 2.0


class _Output:
    """Collects the merged output, bounded in memory, and streams it to ``emit``."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0
        self._streamed = 0
        self._stream_closed = False

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = _HEAD_BYTES - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk_rest = chunk[room:]
        else:
            chunk_rest = chunk
        if chunk_rest:
            self._tail += chunk_rest
            if len(self._tail) > _TAIL_BYTES:
                del self._tail[: len(self._tail) - _TAIL_BYTES]
        self._stream(chunk)

    def _stream(self, chunk: bytes) -> None:
        if self._stream_closed:
            return
        part = chunk[: _BODY_BYTES - self._streamed]
        self._streamed += len(part)
        # The incremental decoder keeps a multi-byte character split across two reads whole.
        text = self._decoder.decode(part)
        if text:
            self._emit(text)
        if len(part) < len(chunk):
            # Past the limit the live view stops; the final output keeps the tail as well.
            self._stream_closed = True
            flushed = self._decoder.decode(b"", final=True)
            self._emit(flushed + "\n[output truncated; live streaming stopped]\n")

    def finish(self) -> str:
        """Flush the stream and return the (possibly truncated) output text."""
        if not self._stream_closed:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                self._emit(rest)
        if self.total <= _BODY_BYTES:
            # Nothing was dropped: head and tail are contiguous.
            return (self._head + self._tail).decode("utf-8", errors="replace")
        omitted = self.total - len(self._head) - len(self._tail)
        return (
            self._head.decode("utf-8", errors="replace")
            + truncation_marker(omitted, self.total)
            + self._tail.decode("utf-8", errors="replace")
        )


def _kill_group(pid: int) -> None:
    # The shell is its group's leader (start_new_session), so its pid is the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _pump(stream: asyncio.StreamReader, output: _Output) -> None:
    while True:
        chunk = await stream.read(_READ_CHUNK)
        if not chunk:
            return
        output.feed(chunk)


def _raise_if_failed(reader: asyncio.Future[None]) -> None:
    if reader.done() and not reader.cancelled():
        error = reader.exception()
        if error is not None:
            raise error


async def _wait_exit(
    proc: asyncio.subprocess.Process,
    waiter: asyncio.Future[int],
    reader: asyncio.Future[None],
    timeout_s: float,
) -> bool:
    """Wait for the shell to exit; True if the timeout came first.

    ``Process.wait()`` resolves only once the output pipe is closed too, so a background
    process holding the pipe would hide the shell's exit; while the pipe is open the exit
    status is polled instead. The reader is watched as well so that a failure while
    streaming (a raising ``emit_output``) surfaces at once instead of after the timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while proc.returncode is None:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return True
        if reader.done():
            watched: set[asyncio.Future[Any]] = {waiter}
            step = remaining
        else:
            watched = {waiter, reader}
            step = min(remaining, _POLL_S)
        await asyncio.wait(watched, timeout=step, return_when=asyncio.FIRST_COMPLETED)
        _raise_if_failed(reader)
    return False


class BashTool(BuiltinTool):
    """``bash {command*, timeout}``: run a shell command in the workspace.

    stdout and stderr are merged and streamed through ``ctx.emit_output``. A non-zero exit
    gives exit code 1 with the real code in ``metadata["exit_code"]`` and ``[exit code N]``
    appended to the output. A timeout or a cancellation kills the whole process group.
    Background processes that still hold the output open when the shell exits are killed
    after a short grace, so ``server &`` cannot keep the call waiting until its timeout.
    The command is not confined to the workspace: it only starts there (spec).
    """

    def __init__(self, shell: str = "/bin/bash") -> None:
        super().__init__(
            "bash",
            "Run a bash command in the workspace directory. stdout and stderr are combined. "
            f"Default timeout {DEFAULT_BASH_TIMEOUT_MS} ms. Background processes that keep "
            "writing to the output are stopped when the command ends; redirect their output "
            "(e.g. `cmd > log 2>&1 &`) to keep them running.",
            {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command to run."},
                    "timeout": {
                        "type": "integer",
                        "description": f"Timeout in milliseconds. Default "
                        f"{DEFAULT_BASH_TIMEOUT_MS}.",
                    },
                },
                "required": ["command"],
            },
        )
        self._shell = shell

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run the command and wait for it, its timeout, or cancellation."""
        command = get_str(args, "command")
        timeout_ms = get_int(args, "timeout", DEFAULT_BASH_TIMEOUT_MS, minimum=1)
        env = dict(ctx.env) if ctx.env is not None else scrubbed_environ()
        try:
            proc = await asyncio.create_subprocess_exec(
                self._shell,
                "-c",
                command,
                cwd=ctx.workspace,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ToolFailure(f"Failed to start command: {exc}") from None
        assert proc.stdout is not None  # stdout=PIPE
        output = _Output(ctx.emit_output)
        reader: asyncio.Future[None] = asyncio.ensure_future(_pump(proc.stdout, output))
        waiter: asyncio.Future[int] = asyncio.ensure_future(proc.wait())
        try:
            timed_out = await _wait_exit(proc, waiter, reader, timeout_ms / 1000)
            if timed_out:
                _kill_group(proc.pid)
            else:
                await asyncio.wait({reader}, timeout=_DRAIN_GRACE_S)
                if not reader.done():
                    _kill_group(proc.pid)
            await self._settle(proc, reader, waiter)
        except BaseException:
            # Cancellation (or a failing emit_output) must not leave the command running.
            _kill_group(proc.pid)
            reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait({waiter}, timeout=_REAP_S)
            waiter.cancel()  # no-op when done; else the child watcher still reaps the shell
            self._close(proc)
            raise
        text = output.finish()
        if timed_out:
            message = f"Command timed out after {timeout_ms} ms"
            if text:
                message += "\n" + text
            return ToolResult(
                name=self.name,
                output=message,
                exit_code=1,
                metadata={"exit_code": None, "timed_out": True},
            )
        code = proc.returncode
        if code == 0:
            return ToolResult(name=self.name, output=text, metadata={"exit_code": 0})
        separator = "" if not text or text.endswith("\n") else "\n"
        return ToolResult(
            name=self.name,
            output=f"{text}{separator}[exit code {code}]",
            exit_code=1,
            metadata={"exit_code": code},
        )

    async def _settle(
        self,
        proc: asyncio.subprocess.Process,
        reader: asyncio.Future[None],
        waiter: asyncio.Future[int],
    ) -> None:
        """Let the killed or finished processes go and collect what they printed."""
        both: set[asyncio.Future[Any]] = {reader, waiter}
        await asyncio.wait(both, timeout=_REAP_S)
        if not reader.done():
            # Something escaped the group (setsid) and still holds the pipe: stop reading.
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self._close(proc)
        _raise_if_failed(reader)
        if not waiter.done():
            await asyncio.wait({waiter}, timeout=_REAP_S)
            waiter.cancel()

    @staticmethod
    def _close(proc: asyncio.subprocess.Process) -> None:
        # Process has no public close(); an unclosed transport would warn when collected after
        # the loop has gone, so close it here when the pipe could not be drained.
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
