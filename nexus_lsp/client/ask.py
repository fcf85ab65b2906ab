"""The headless LSP client behind ``nexus-lsp ask`` and ``nexus-lsp demo``.

It spawns ``python -m nexus_lsp --stdio`` and plays the editor: it initializes with
the workspace folder and the settings (``initializationOptions`` and
``workspace/configuration``), advertises ``workspace.applyEdit`` with
``documentChanges`` and resource operations and applies every edit to disk itself
(``client/edits.py``), sends one ``nexus/session/send`` and renders the turn as it streams
(``client/render.py``). The server runs in its own process group, so a Ctrl-C in the
terminal reaches only this client:

- the first Ctrl-C sends ``$/cancelRequest`` for the turn and waits for the server's
  ``turnEnd`` and ``-32800`` answer (the session stays valid and can be continued);
- a second Ctrl-C stops waiting and quits at once.

The server is shut down with ``shutdown``/``exit`` in every case, and killed only if
it does not exit in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pygls.io_ import run_async
from pygls.lsp.client import LanguageClient

from nexus_lsp import wire
from nexus_lsp.client.editor import EditorSide
from nexus_lsp.client.permission import TerminalQuestions
from nexus_lsp.client.render import TurnRenderer
from nexus_lsp.lsp.converter import dict_converter

__all__ = ["AskOutcome", "AskRequest", "OutcomeStatus", "run_ask", "transcript_path"]

log = logging.getLogger(__name__)

T = TypeVar("T")

OutcomeStatus = Literal["endTurn", "maxIterations", "cancelled", "error", "failed"]

SHUTDOWN_TIMEOUT = 5.0
QUICK_SHUTDOWN_TIMEOUT = 1.0
STDERR_TAIL_CHARS = 2000
LAST_SESSION = "last"


@dataclass(frozen=True)
class AskRequest:
    """One headless turn: where, what, and with which server."""

    workspace: Path
    prompt: str
    session_id: str | None = None  # an id, LAST_SESSION, or None for a new session
    settings: Mapping[str, Any] = field(default_factory=dict)
    server_command: Sequence[str] = (sys.executable, "-m", "nexus_lsp", "--stdio")
    env: Mapping[str, str] | None = None
    # Ask permission questions on the terminal (stdin is one); else the server denies
    # the calls that need a question (protocol v2 §1).
    ask_permissions: bool = False


@dataclass(frozen=True)
class AskOutcome:
    """How the turn ended. ``failed`` means no turn result (server or request failure)."""

    status: OutcomeStatus
    session_id: str | None = None
    message: str = ""
    error_code: str | None = None
    result: Mapping[str, Any] | None = None


def transcript_path(workspace: Path, session_id: str) -> Path:
    return workspace / wire.NEXUS_DIR / wire.SESSIONS_DIR / session_id / wire.CONTEXT_MD


async def run_ask(request: AskRequest, renderer: TurnRenderer) -> AskOutcome:
    """Run one turn through a freshly spawned server; never raises for turn outcomes."""
    client = AskClient(request, renderer)
    # The server's stderr is kept for the error message should it die.
    with _sigint_handler(client.interrupt), tempfile.TemporaryFile() as stderr_log:
        try:
            await client.start(stderr_log)
            return await client.run_turn()
        except ServerFailure as exc:
            return AskOutcome("failed", renderer.state.session_id, str(exc))
        except AskQuit:
            return AskOutcome("cancelled", renderer.state.session_id, "quit before the turn ended")
        finally:
            await client.close()


class ServerFailure(Exception):
    """The server exited, or answered something the client cannot use."""


class AskQuit(Exception):
    """The user pressed Ctrl-C twice: stop waiting."""


class AskClient(LanguageClient):
    """A pygls client that is the editor for one turn."""

    def __init__(self, request: AskRequest, renderer: TurnRenderer) -> None:
        super().__init__("nexus-lsp ask", _version(), converter_factory=dict_converter)
        self.request = request
        self.root = request.workspace.resolve()
        self.renderer = renderer
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: IO[bytes] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._exited: asyncio.Task[int] | None = None
        self._quit = asyncio.Event()
        self._cancel_requested = False
        self._send_id: str | None = None
        questions = TerminalQuestions(renderer) if request.ask_permissions else None
        self.editor = EditorSide(self.root, request.settings, renderer, questions)
        self.editor.register(self)

    # -- lifecycle -------------------------------------------------------------------
    async def start(self, stderr_log: IO[bytes]) -> None:
        """Spawn the server; its stderr goes to ``stderr_log`` (its log reaches us as
        ``window/logMessage``, shown with --verbose)."""
        command = list(self.request.server_command)
        self._stderr = stderr_log
        env = dict(self.request.env) if self.request.env is not None else None
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=self._stderr,
                env=env,
                cwd=self.root,
                start_new_session=True,  # Ctrl-C in the terminal must not reach the server
            )
        except OSError as exc:
            raise ServerFailure(f"cannot start the server {command[0]!r}: {exc}") from exc
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self.protocol.set_writer(self._proc.stdin)
        self._tasks.append(
            asyncio.create_task(
                run_async(
                    stop_event=self._stop_event,
                    reader=self._proc.stdout,
                    protocol=self.protocol,
                    logger=log,
                    error_handler=self.report_server_error,
                )
            )
        )
        self._exited = asyncio.create_task(self._proc.wait())

    async def close(self) -> None:
        """shutdown + exit, then wait for the process (kill it if it will not go)."""
        proc = self._proc
        if proc is None:
            return
        timeout = QUICK_SHUTDOWN_TIMEOUT if self._quit.is_set() else SHUTDOWN_TIMEOUT
        if proc.returncode is None:
            with contextlib.suppress(ServerFailure, AskQuit, JsonRpcException, TimeoutError):
                await asyncio.wait_for(self._call(lsp.SHUTDOWN, None, quittable=False), timeout)
                self.protocol.notify(lsp.EXIT, None)
        try:
            await asyncio.wait_for(asyncio.shield(self._exited or proc.wait()), timeout)
        except TimeoutError:
            log.warning("server did not exit after shutdown; killing it")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
            with contextlib.suppress(OSError):
                await proc.stdin.wait_closed()
        self._stop_event.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._exited is not None:
            await asyncio.gather(self._exited, return_exceptions=True)

    def interrupt(self) -> None:
        """SIGINT: first cancel the turn, then quit."""
        if self._cancel_requested:
            self.renderer.note(self.renderer.style.yellow("⏹ quitting"))
            self._quit.set()
            return
        self._cancel_requested = True
        if self._send_id is None:
            self.renderer.note(self.renderer.style.yellow("⏹ interrupted before the turn started"))
            return
        self.renderer.note(
            self.renderer.style.yellow("⏹ cancelling the turn… (Ctrl-C again to quit at once)")
        )
        self.protocol.notify(lsp.CANCEL_REQUEST, lsp.CancelParams(id=self._send_id))

    # -- the turn --------------------------------------------------------------------
    async def run_turn(self) -> AskOutcome:
        result = await self._call(
            lsp.INITIALIZE, self.editor.initialize_params(self.name, self.version)
        )
        self._check_server(result)
        self.protocol.notify(lsp.INITIALIZED, lsp.InitializedParams())
        session_id = self.request.session_id
        if session_id == LAST_SESSION:
            session_id = await self._last_session()
        if self._cancel_requested:
            return AskOutcome("cancelled", session_id, "interrupted before the turn started")
        params: dict[str, Any] = {"prompt": self.request.prompt}
        if session_id is not None:
            params["sessionId"] = session_id
        self._send_id = f"ask-{uuid.uuid4().hex[:12]}"
        try:
            answer = await self._call(wire.SESSION_SEND, params, msg_id=self._send_id)
        except JsonRpcRequestCancelled:
            return AskOutcome("cancelled", self.renderer.state.session_id or session_id)
        except JsonRpcException as exc:
            return _request_failed(wire.SESSION_SEND, exc, session_id)
        return _turn_outcome(answer)

    async def _last_session(self) -> str:
        try:
            answer = await self._call(wire.SESSION_LIST, {})
        except JsonRpcException as exc:
            raise ServerFailure(f"{wire.SESSION_LIST} failed: {exc.message}") from exc
        sessions = answer.get("sessions") if isinstance(answer, Mapping) else None
        if not sessions:
            raise ServerFailure(f"no session to continue in {self.root / wire.NEXUS_DIR}")
        return str(sessions[0]["sessionId"])

    def _check_server(self, result: Any) -> None:
        experimental = getattr(getattr(result, "capabilities", None), "experimental", None)
        nexus = experimental.get("nexus") if isinstance(experimental, Mapping) else None
        version = nexus.get("protocolVersion") if isinstance(nexus, Mapping) else None
        if version != wire.PROTOCOL_VERSION:
            raise ServerFailure(
                f"the server does not speak nexus protocol {wire.PROTOCOL_VERSION} "
                f"(capabilities.experimental.nexus.protocolVersion = {version!r})"
            )

    async def _call(
        self, method: str, params: Any, *, msg_id: str | None = None, quittable: bool = True
    ) -> Any:
        """Send a request; give up when the server exits or (if quittable) on quit."""
        answer: asyncio.Future[Any] = self.protocol.send_request_async(
            method, params, msg_id=msg_id
        )
        return await self._until_done(answer, method, quittable=quittable)

    async def _until_done(self, work: Awaitable[T], what: str, *, quittable: bool) -> T:
        work_future = asyncio.ensure_future(work)
        quit_waiter = asyncio.ensure_future(self._quit.wait())
        assert self._exited is not None
        waiting: set[asyncio.Future[Any]] = {work_future, self._exited}
        if quittable:
            waiting.add(quit_waiter)
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            quit_waiter.cancel()
            await asyncio.gather(quit_waiter, return_exceptions=True)
        if work_future.done():
            return work_future.result()
        work_future.cancel()
        if quittable and self._quit.is_set():
            raise AskQuit
        raise ServerFailure(self._death_note(what))

    def _death_note(self, what: str) -> str:
        code = self._proc.returncode if self._proc is not None else None
        note = f"the server exited (code {code}) during {what}"
        tail = self._stderr_tail()
        return f"{note}; its last words:\n{tail}" if tail else note

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(size - STDERR_TAIL_CHARS, 0))
        return self._stderr.read().decode("utf-8", "replace").strip()

    def report_server_error(self, error: Exception, source: Any) -> None:
        log.error("protocol error (%s): %s", getattr(source, "__name__", source), error)


def _turn_outcome(answer: Any) -> AskOutcome:
    if not isinstance(answer, Mapping):
        raise ServerFailure(f"{wire.SESSION_SEND} answered {answer!r}, not a result object")
    stop = answer.get("stopReason")
    session_id = answer.get("sessionId")
    sid = session_id if isinstance(session_id, str) else None
    if stop in ("endTurn", "maxIterations", "cancelled"):
        return AskOutcome(stop, sid, result=answer)
    if stop == "error":
        error = answer.get("error")
        if not isinstance(error, Mapping):
            error = {}
        code = str(error.get("code", "unknown"))
        return AskOutcome("error", sid, str(error.get("message", "")), code, answer)
    raise ServerFailure(f"{wire.SESSION_SEND} answered an unknown stopReason {stop!r}")


def _request_failed(method: str, exc: JsonRpcException, session_id: str | None) -> AskOutcome:
    reason = exc.data.get("reason") if isinstance(exc.data, Mapping) else None
    detail = f" ({reason})" if reason else ""
    message = f"{method} failed: {exc.code} {exc.message}{detail}"
    return AskOutcome("failed", session_id, message, str(reason or exc.code))


@contextlib.contextmanager
def _sigint_handler(handler: Callable[[], None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        # Not the main thread, or no signal support on this platform: default Ctrl-C.
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nexus-lsp")
    except PackageNotFoundError:
        return "0"
