"""The bench's editor: a pygls client over stdio that timestamps what the server sends.

:class:`BenchClient` keeps every ``nexus/session/update`` with the moment it arrived
(``time.perf_counter()``), answers ``workspace/applyEdit`` with a handler a measure
installs, and drains the server's stderr so a chatty server never blocks on a full
pipe (the last lines are kept for error messages). :func:`connect` spawns a server
command and returns the client with the spawn → ``initialize`` result time.

Like the project's own clients it uses the server's dict converter, so the custom
``nexus/*`` payloads arrive as plain dicts (see the field notes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from nexus_lsp import wire
from nexus_lsp.lsp.converter import dict_converter

__all__ = [
    "BARE_SERVER",
    "KEY_ENV",
    "NEXUS_SERVER",
    "BenchClient",
    "Connection",
    "connect",
    "nexus_settings",
    "read_rss_kb",
    "uri",
]

NEXUS_SERVER = (sys.executable, "-m", "nexus_lsp")
BARE_SERVER = (sys.executable, str(Path(__file__).with_name("bare_server.py")))
KEY_ENV = "NEXUS_BENCH_KEY"
WAIT = 60.0  # upper bound for anything the bench waits for; a hang is an error, not a time
STDERR_LINES = 40

EditHandler = Callable[[float, types.ApplyWorkspaceEditParams],
                       Awaitable[types.ApplyWorkspaceEditResult]]


def uri(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


def server_env() -> dict[str, str]:
    # A key the scripted model accepts; it is not a secret and never leaves loopback.
    return {**os.environ, KEY_ENV: "bench-key-not-a-secret", "PYTHONUNBUFFERED": "1"}


def nexus_settings(model_url: str | None, **sections: dict[str, Any]) -> dict[str, Any]:
    """Settings (protocol §7) pointing at a scripted model on 127.0.0.1."""
    settings: dict[str, Any] = {
        "provider": {
            "kind": "openai",
            "baseUrl": model_url or "http://127.0.0.1:9/v1",
            "model": "scripted",
            "apiKeyEnv": KEY_ENV,
            "timeoutSeconds": 60,
            "maxRetries": 0,
        },
        "session": {"maxIterations": 4, "toolTimeoutSeconds": 60},
    }
    for name, values in sections.items():
        settings[name] = {**settings.get(name, {}), **values}
    return settings


def capabilities() -> types.ClientCapabilities:
    """An editor that applies workspace edits with versions and shows progress."""
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=True,
                resource_operations=[
                    types.ResourceOperationKind.Create,
                    types.ResourceOperationKind.Rename,
                    types.ResourceOperationKind.Delete,
                ],
            ),
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]
        ),
    )


def read_rss_kb(pid: int) -> int:
    """VmRSS of a live process, in KiB (from /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


class BenchClient(LanguageClient):
    """A pygls client that records updates with their arrival time."""

    def __init__(self) -> None:
        super().__init__("nexus-bench", "1", converter_factory=dict_converter)
        self.updates: list[tuple[float, dict[str, Any]]] = []
        self.shown: list[str] = []
        self.edit_handler: EditHandler | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._arrived = asyncio.Event()
        self._drain: asyncio.Task[None] | None = None

        @self.feature(wire.SESSION_UPDATE)
        def on_update(client: BenchClient, params: dict[str, Any]) -> None:
            client.updates.append((time.perf_counter(), params))
            client._arrived.set()

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        async def on_apply_edit(
            client: BenchClient, params: types.ApplyWorkspaceEditParams
        ) -> types.ApplyWorkspaceEditResult:
            arrived = time.perf_counter()
            if client.edit_handler is None:
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason="the bench expected no edit here")
            return await client.edit_handler(arrived, params)

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def on_progress_create(client: BenchClient, params: Any) -> None:
            return None

        @self.feature(types.PROGRESS)
        def on_progress(client: BenchClient, params: Any) -> None:
            return None

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def on_show_message(client: BenchClient, params: types.ShowMessageParams) -> None:
            client.shown.append(params.message)

        @self.feature(types.WINDOW_LOG_MESSAGE)
        def on_log_message(client: BenchClient, params: types.LogMessageParams) -> None:
            return None

    @property
    def pid(self) -> int:
        process = self._server
        if process is None:
            raise RuntimeError("the server is not running")
        return process.pid

    def drain_stderr(self) -> None:
        process = self._server
        if process is None or process.stderr is None:
            return
        self._drain = asyncio.create_task(self._read_stderr(process.stderr))

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    def diagnostics(self) -> str:
        return "\n".join(self.stderr_tail) or "(the server wrote nothing on stderr)"

    # requests --------------------------------------------------------------------

    def start_request(self, method: str, params: Any, msg_id: int | str | None = None
                      ) -> asyncio.Future[Any]:
        """Send now (not when awaited) and return the answer's future."""
        return asyncio.wrap_future(self.protocol.send_request(method, params, msg_id=msg_id))

    async def request(self, method: str, params: Any) -> Any:
        return await asyncio.wait_for(self.start_request(method, params), WAIT)

    async def wait_update(self, predicate: Callable[[dict[str, Any]], bool],
                          start: int = 0) -> tuple[float, dict[str, Any]]:
        """The first update from index ``start`` on that satisfies ``predicate``."""
        async with asyncio.timeout(WAIT):
            while True:
                for arrived, update in self.updates[start:]:
                    if predicate(update):
                        return arrived, update
                self._arrived.clear()
                await self._arrived.wait()

    async def close(self) -> None:
        """shutdown + exit, then wait for the process (killed if it does not go)."""
        process = self._server
        try:
            if process is not None and process.returncode is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.shutdown_async(None), 10)
                    self.exit(None)
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
            await asyncio.wait_for(self.stop(), 10)
        finally:
            if self._drain is not None:
                self._drain.cancel()
                await asyncio.gather(self._drain, return_exceptions=True)


class Connection:
    """A started client and the time from spawn to the ``initialize`` result."""

    def __init__(self, client: BenchClient, initialize_ms: float,
                 result: types.InitializeResult) -> None:
        self.client = client
        self.initialize_ms = initialize_ms
        self.result = result


@asynccontextmanager
async def connect(command: Sequence[str], root: Path, options: Any = None, *,
                  initialized: bool = True) -> AsyncIterator[Connection]:
    """Spawn ``command``, initialize it for workspace ``root``, yield, shut it down."""
    client = BenchClient()
    params = types.InitializeParams(
        capabilities=capabilities(),
        process_id=os.getpid(),
        root_uri=uri(root),
        workspace_folders=[types.WorkspaceFolder(uri=uri(root), name=root.name)],
        initialization_options=options,
    )
    started = time.perf_counter()
    await client.start_io(*command, env=server_env())
    try:
        client.drain_stderr()
        try:
            result = await asyncio.wait_for(client.initialize_async(params), WAIT)
        except Exception as exc:
            raise RuntimeError(f"{' '.join(command)}: initialize failed: {exc}\n"
                               f"{client.diagnostics()}") from exc
        initialize_ms = (time.perf_counter() - started) * 1000
        if initialized:
            client.initialized(types.InitializedParams())
        yield Connection(client, initialize_ms, result)
    finally:
        await client.close()
