"""Driving ``nexus-lsp acp`` (a real subprocess) with the ACP package's client side.

:class:`AcpEditor` is the client: it records every ``session/update``, answers
``fs/read_text_file`` from its buffers (then the disk) and ``fs/write_text_file``
into its buffers and the disk, and answers permission questions as told. A test
can hold a file write (``hold_writes``) to cancel while a tool waits for the editor.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION
from acp.client.connection import ClientSideConnection
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    DeniedOutcome,
    FileSystemCapabilities,
    Implementation,
    ReadTextFileResponse,
    RequestPermissionResponse,
    WriteTextFileResponse,
)
from acp.stdio import spawn_agent_process

from .lsp_support import WAIT, server_env

__all__ = ["AcpEditor", "acp_connected", "kind_of"]


def kind_of(update: Any) -> str:
    return str(update.session_update)


class AcpEditor:
    def __init__(self) -> None:
        self.updates: list[tuple[str, Any]] = []
        self.buffers: dict[str, str] = {}  # unsaved editor buffers, by absolute path
        self.writes: list[tuple[str, str]] = []
        self.reads: list[str] = []
        self.permission_answer: str | None = "allow_once"
        self.permission_requests: list[Any] = []
        self.hold_writes = False
        self.write_waiting = asyncio.Event()
        self.hold_permissions = False  # questions never answered (a cancel withdraws them)
        self.permission_waiting = asyncio.Event()
        self._changed = asyncio.Condition()
        self.conn: ClientSideConnection | None = None

    def on_connect(self, conn: Any) -> None:
        pass

    # the Client interface ---------------------------------------------------------

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        async with self._changed:
            self.updates.append((session_id, update))
            self._changed.notify_all()

    async def read_text_file(
        self, path: str, session_id: str, line: int | None = None, limit: int | None = None,
        **_: Any,
    ) -> ReadTextFileResponse:
        self.reads.append(path)
        text = self.buffers.get(path)
        if text is None:
            text = _read(path)
        if line is not None or limit is not None:  # ACP lines are 1-based
            lines = text.splitlines(keepends=True)
            start = (line or 1) - 1
            text = "".join(lines[start : start + limit if limit else None])
        return ReadTextFileResponse(content=text)

    async def write_text_file(
        self, content: str, path: str, session_id: str, **_: Any
    ) -> WriteTextFileResponse:
        if self.hold_writes:
            self.write_waiting.set()
            await asyncio.Event().wait()  # never answered: the turn is cancelled meanwhile
        self.writes.append((path, content))
        self.buffers[path] = content
        _write(path, content)
        return WriteTextFileResponse()

    async def request_permission(
        self, options: list[Any], session_id: str, tool_call: Any, **_: Any
    ) -> RequestPermissionResponse:
        self.permission_requests.append((options, tool_call))
        if self.hold_permissions:
            self.permission_waiting.set()
            await asyncio.Event().wait()
        if self.permission_answer is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=self.permission_answer)
        )

    # waiting ------------------------------------------------------------------------

    def of(self, session_id: str, kind: str | None = None) -> list[Any]:
        return [
            u for sid, u in self.updates
            if sid == session_id and (kind is None or kind_of(u) == kind)
        ]

    async def wait_for(self, predicate: Callable[[str, Any], bool]) -> Any:
        async def find() -> Any:
            async with self._changed:
                while True:
                    for sid, update in self.updates:
                        if predicate(sid, update):
                            return update
                    await self._changed.wait()

        return await asyncio.wait_for(find(), WAIT)


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _write(path: str, content: str) -> None:  # the editor saves what it was sent
    Path(path).write_text(content, encoding="utf-8")


def acp_command() -> list[str]:
    exe = shutil.which("nexus-lsp")
    assert exe is not None, "nexus-lsp is not on PATH (run with PATH=.venv/bin:$PATH)"
    return [exe, "acp"]


@asynccontextmanager
async def acp_connected(
    settings: dict[str, Any], *, fs: bool = True, extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[AcpEditor, ClientSideConnection]]:
    """A fresh ``nexus-lsp acp`` process, initialized (fs offered when ``fs``)."""
    editor = AcpEditor()
    command = acp_command()
    args = [*command[1:], "--settings", json.dumps(settings), *extra_args]
    async with spawn_agent_process(
        editor, command[0], *args, env=server_env(**(env or {})),
        transport_kwargs={"stderr": None}, use_unstable_protocol=True,
    ) as (conn, _process):
        editor.conn = conn
        capabilities = ClientCapabilities(
            fs=FileSystemCapabilities(read_text_file=fs, write_text_file=fs)
        )
        await asyncio.wait_for(
            conn.initialize(
                protocol_version=PROTOCOL_VERSION, client_capabilities=capabilities,
                client_info=Implementation(name="pytest-acp", version="1"),
            ),
            WAIT,
        )
        yield editor, conn
