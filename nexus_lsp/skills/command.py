"""``run_command`` (protocol v2 §2): a shell command in the workspace, bounded and killable.

The command runs as ``/bin/sh -c <command>`` in a new session (so in its own process
group), stdin from ``/dev/null``, in a workspace folder confined like file paths, with
the server's environment minus the provider key variable and every name matching
``commands.envDeny``. stdout and stderr share one pipe, so they interleave as
produced; it is read in chunks on the event loop (asyncio subprocess, never a thread).

Bounds, whatever the command prints:

- the model gets at most ``session.maxToolOutputChars``: the head and the tail, with
  a marker saying what was cut in between (a test run's verdict is at its end);
- the editor gets the output as it comes, up to ``commands.maxStoredOutputBytes``
  (what is streamed is what the store and the transcript can hold), then a marker;
  it is reported in few large pieces, not one per read (``skills/stream.py``);
- memory holds the head, a bounded tail and one read chunk.

Timeout (``timeoutSeconds``, default ``commands.timeoutSeconds``) and cancel end the
whole process group: SIGTERM, SIGKILL 2 s later. When the shell exits on its own,
whatever it left running in its group is ended the same way, so no process of the
group outlives the call. A non-zero exit is a normal result the model reads.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import fnmatch
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from nexus_lsp import wire
from nexus_lsp.config import CommandSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.errors import ToolError
from nexus_lsp.skills.base import OutputReport, Skill, SkillArguments, SkillOutput
from nexus_lsp.skills.stream import OutputCoalescer
from nexus_lsp.skills.workspace import Workspace

__all__ = [
    "CommandLimits", "RunCommand", "command_environment", "group_members", "head_and_tail",
]

log = logging.getLogger(__name__)

SHELL = "/bin/sh"
PIPE_BYTES = 1024 * 1024  # the pipe's kernel buffer: fewer wake-ups for a chatty command
F_SETPIPE_SZ = 1031  # Linux fcntl; elsewhere the pipe keeps its size
KILL_GRACE_SECONDS = 2.0
GROUP_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class CommandLimits:
    """What run_command reads from the settings at each call."""

    commands: CommandSettings
    key_env: str  # the provider's key variable: never in a command's environment
    max_output_chars: int


class RunCommandArgs(SkillArguments):
    command: str = Field(min_length=1, description="The shell command line (run with /bin/sh -c).")
    cwd: str | None = Field(
        default=None, description="Folder to run in, relative to the workspace (default: its root)."
    )
    timeout_seconds: float | None = Field(
        default=None, gt=0, alias="timeoutSeconds",
        description="Stop the command after this many seconds (default from the settings).",
    )


def command_environment(
    environ: Mapping[str, str], key_env: str, deny: tuple[str, ...]
) -> dict[str, str]:
    """``environ`` without the provider key variable and names matching ``deny``."""
    patterns = [p.upper() for p in deny]
    return {
        name: value
        for name, value in environ.items()
        if name != key_env and not any(fnmatch.fnmatchcase(name.upper(), p) for p in patterns)
    }


def head_and_tail(head: str, tail: str, total: int, limit: int) -> tuple[str, bool]:
    """The model's view: all of it when it fits in ``limit``, else head + marker + tail."""
    if total <= limit and len(head) + len(tail) == total:
        return head + tail, False
    marker_room = 80
    keep = max(limit - marker_room, 2)
    first = head[: keep // 2]
    last = tail[-(keep - len(first)):] if tail else ""
    cut = total - len(first) - len(last)
    marker = f"\n[… {cut:,} characters cut; {total:,} in all …]\n"
    return f"{first}{marker}{last}", True


class _Output:
    """The command's text: a head, a bounded tail, the count, and what was streamed."""

    def __init__(self, head_chars: int, tail_chars: int, stream_bytes: int,
                 report: OutputReport) -> None:
        self.head: list[str] = []
        self.head_len = 0
        self.head_chars = head_chars
        self.tail: deque[str] = deque()
        self.tail_len = 0
        self.tail_chars = tail_chars
        self.total = 0
        self.streamed = 0
        self.stream_bytes = stream_bytes
        self.stream_cut = False
        self._stream_out = OutputCoalescer(report)  # few large reports, not one per read
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if not text:
            return
        self.total += len(text)
        if not self.stream_cut:
            self._stream(text, len(data))
        if self.head_len < self.head_chars:
            part = text[: self.head_chars - self.head_len]
            self.head.append(part)
            self.head_len += len(part)
            text = text[len(part):]
        if text:
            self.tail.append(text)
            self.tail_len += len(text)
            while self.tail and self.tail_len - len(self.tail[0]) >= self.tail_chars:
                self.tail_len -= len(self.tail.popleft())

    def _stream(self, text: str, size: int) -> None:
        room = self.stream_bytes - self.streamed
        if size > room:  # what fits is shown, up to the bound to the byte, then the marker
            self.stream_cut = True
            part = text.encode()[:room].decode("utf-8", "ignore")  # no half character
            self.streamed += len(part.encode())
            self._stream_out.add(part)
            self._stream_out.add(
                f"\n[output shown up to {self.stream_bytes:,} bytes; the rest is cut here]\n")
            return
        self.streamed += size
        self._stream_out.add(text)

    def flush(self) -> None:
        """Report the streamed text still held: the command's output has ended."""
        self._stream_out.flush()

    def text(self) -> tuple[str, str]:
        tail = "".join(self.tail)
        return "".join(self.head), tail[-self.tail_chars:] if self.tail_chars else ""


class RunCommand(Skill[RunCommandArgs]):
    name = wire.TOOL_RUN_COMMAND
    kind = "execute"
    description = (
        "Run a shell command in the workspace (/bin/sh -c; stdin is empty; no secrets in "
        "the environment) and read its output and exit code. Use it to run tests, builds "
        "and linters. Long output is cut in the middle. Never runs in parallel."
    )
    arguments = RunCommandArgs
    own_timeout = True
    exclusive = True

    def __init__(self, workspace: Workspace, limits: Callable[[], CommandLimits]) -> None:
        self.workspace = workspace
        self.limits = limits

    def subject(self, arguments: Mapping[str, Any]) -> str:
        command = arguments.get("command", "")
        return command if isinstance(command, str) else ""

    def title(self, arguments: Mapping[str, Any]) -> str:
        cwd = arguments.get("cwd")
        where = f" in `{cwd}`" if isinstance(cwd, str) and cwd not in ("", ".") else ""
        return f"Run `{self.subject(arguments)}`{where}"

    async def run(self, args: RunCommandArgs, token: CancellationToken) -> SkillOutput:
        return await self.invoke(args, token, lambda text: None)

    async def invoke(
        self, args: RunCommandArgs, token: CancellationToken, report: OutputReport
    ) -> SkillOutput:
        limits = self.limits()
        cwd = self.workspace.resolve(args.cwd or ".")
        if not cwd.is_dir():
            raise ToolError("failed", f"cwd: {self.workspace.relative(cwd)} is not a folder")
        timeout = args.timeout_seconds or limits.commands.timeout_seconds
        env = command_environment(os.environ, limits.key_env, limits.commands.env_deny)
        limit = limits.max_output_chars
        output = _Output(limit, limit, limits.commands.max_stored_output_bytes, report)
        # The checkpoint journal's scan before and after (nexus_lsp.checkpoints), when
        # the workspace keeps one: what the command changed can then be reverted.
        checkpoint = getattr(self.workspace, "command_checkpoint", None)
        if checkpoint is None:
            return await self._run(args, cwd, env, output, (timeout, limit))
        async with checkpoint():
            return await self._run(args, cwd, env, output, (timeout, limit))

    async def _run(self, args: RunCommandArgs, cwd: Path, env: dict[str, str],
                   output: _Output, bounds: tuple[float, int]) -> SkillOutput:
        timeout, limit = bounds
        started = time.monotonic()
        try:
            run = await _Run.spawn(args.command, cwd, env, output)
        except OSError as exc:
            raise ToolError("failed", f"cannot start {SHELL}: {exc}") from exc
        ended = "exit"
        try:
            try:
                await asyncio.wait_for(run.exited.wait(), timeout)
            except TimeoutError:
                ended = "timeout"
            # Ends what the shell left running (background jobs hold the pipe open).
            await run.end_group()
            await run.finish_reading()
        except BaseException:  # the turn was cancelled (or the server is going away)
            await asyncio.shield(run.end_group())
            run.close()
            output.flush()
            raise
        run.close()
        output.flush()  # before the result: the final update follows every chunk
        duration_ms = int((time.monotonic() - started) * 1000)
        return self._result(args, run.returncode, output, ended, timeout, duration_ms, limit)

    def _result(self, args: RunCommandArgs, code: int | None, output: _Output,
                ended: str, timeout: float, duration_ms: int, limit: int) -> SkillOutput:
        exit_code = code if code is not None and code >= 0 else None
        sig = signal.Signals(-code).name if code is not None and code < 0 else None
        head, tail = output.text()
        shown, cut = head_and_tail(head, tail, output.total, limit - 200)
        if ended == "timeout":
            status = (f"timeout: stopped after {timeout:g} s (the process group was killed)")
        elif sig is not None:
            status = f"ended by signal {sig}"
        else:
            status = f"exit code {exit_code}"
        text = f"$ {args.command}\n{shown}{'' if shown.endswith(chr(10)) or not shown else chr(10)}"
        text += f"[{status}; {duration_ms} ms]"
        details: dict[str, Any] = {
            "exitCode": exit_code,
            "signal": sig,
            "durationMs": duration_ms,
            "truncated": cut or output.stream_cut,
        }
        if ended == "timeout":
            details["timedOut"] = True
        return SkillOutput(text, (), details)


class _Run(asyncio.SubprocessProtocol):
    """One command: its transport, and what it reports as it happens.

    Output is fed to :class:`_Output` straight from the pipe's callback (no stream
    buffer: one copy less per read). ``exited`` is set when the shell exits — not
    ``Process.wait()``, which on Python 3.11 also waits for the pipe to close, which a
    background job of the command keeps open.
    """

    def __init__(self, output: _Output) -> None:
        self.output = output
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()
        self.transport: asyncio.SubprocessTransport | None = None

    @classmethod
    async def spawn(cls, command: str, cwd: Path, env: dict[str, str], output: _Output) -> _Run:
        loop = asyncio.get_running_loop()
        run = cls(output)
        transport, _ = await loop.subprocess_exec(
            lambda: run, SHELL, "-c", command,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=cwd, env=env, start_new_session=True,
        )
        run.transport = transport
        _grow_pipe(transport)
        return run

    # protocol callbacks
    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        self.output.feed(bytes(data))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.output.feed(b"", final=True)
        self.closed.set()

    def process_exited(self) -> None:
        self.exited.set()

    # control
    @property
    def pid(self) -> int:
        assert self.transport is not None
        return self.transport.get_pid()

    @property
    def returncode(self) -> int | None:
        return self.transport.get_returncode() if self.transport is not None else None

    async def end_group(self) -> None:
        """SIGTERM to the process group, SIGKILL after the grace; wait for the shell."""
        pgid = self.pid  # start_new_session: the shell leads its own group
        if group_members(pgid):
            _signal_group(pgid, signal.SIGTERM)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + KILL_GRACE_SECONDS
            while group_members(pgid) and loop.time() < deadline:  # noqa: ASYNC110 - no event
                await asyncio.sleep(GROUP_POLL_SECONDS)
            if group_members(pgid):
                log.info("process group %d outlived SIGTERM by %g s: SIGKILL", pgid,
                         KILL_GRACE_SECONDS)
                _signal_group(pgid, signal.SIGKILL)
        await self.exited.wait()

    async def finish_reading(self) -> None:
        """Read to the end; a process that left the group (setsid) and kept the pipe
        open is not waited for."""
        try:
            await asyncio.wait_for(self.closed.wait(), KILL_GRACE_SECONDS)
        except TimeoutError:
            log.warning("a process outside the command's group keeps its output open; "
                        "stopped reading")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _grow_pipe(transport: asyncio.SubprocessTransport) -> None:
    pipe = transport.get_pipe_transport(1)
    fileobj = pipe.get_extra_info("pipe") if pipe is not None else None
    if fileobj is None:
        return
    with contextlib.suppress(OSError, ValueError):
        fcntl.fcntl(fileobj.fileno(), F_SETPIPE_SZ, PIPE_BYTES)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the group; zombies are dead and wait for a reaper."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        return [pgid]
    try:
        entries = os.listdir("/proc")
    except OSError:
        return [pgid]  # no /proc: the group exists, count it as alive
    members: list[int] = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(entry))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
