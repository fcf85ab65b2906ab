"""A real language server as the editor's diagnostics source: ``ruff server``.

The test editor attaches ruff beside nexus-lsp, as an editor runs several language
servers on one file, and answers ``nexus/editor/diagnostics`` with what ruff says
(``textDocument/diagnostic``, pull diagnostics) about the files' current text.

A small JSON-RPC client of its own: pygls' client cannot read ruff's
``initialize`` result (lsprotocol refuses its notebook selector).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["RuffServer"]

RUFF = str(Path(sys.executable).with_name("ruff"))
WAIT = 15.0


class RuffServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._versions: dict[str, int] = {}

    async def __aenter__(self) -> RuffServer:
        self._process = await asyncio.create_subprocess_exec(
            RUFF, "server", cwd=self.root, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        self._reader = asyncio.ensure_future(self._read())
        root_uri = self.root.as_uri()
        await self.request("initialize", {
            "processId": None, "rootUri": root_uri,
            "workspaceFolders": [{"uri": root_uri, "name": self.root.name}],
            "capabilities": {"textDocument": {"diagnostic": {"dynamicRegistration": False}}},
        })
        self.notify("initialized", {})
        return self

    async def __aexit__(self, *exc: object) -> None:
        process = self._process
        if process is None:
            return
        with contextlib.suppress(Exception):
            await self.request("shutdown", None)
            self.notify("exit", None)
        try:
            await asyncio.wait_for(process.wait(), WAIT)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def diagnostics(self, uri: str, text: str) -> list[dict[str, Any]]:
        """What ruff reports about ``text`` as the document ``uri``."""
        version = self._versions.get(uri)
        if version is None:
            self._versions[uri] = 1
            self.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "python", "version": 1, "text": text}})
        else:
            self._versions[uri] = version + 1
            self.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version + 1},
                "contentChanges": [{"text": text}]})
        report = await self.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
        items: list[dict[str, Any]] = report.get("items", [])
        return items

    # JSON-RPC -----------------------------------------------------------------

    async def request(self, method: str, params: Any) -> Any:
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await asyncio.wait_for(future, WAIT)

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        body = json.dumps(message).encode()
        self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        while True:
            length = 0
            while (line := await stdout.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if not line:
                return
            message = json.loads(await stdout.readexactly(length))
            if "method" in message and "id" in message:  # a request of ruff's: answer plainly
                items = message.get("params", {}).get("items", [])
                result = [None] * len(items) if message["method"] == "workspace/configuration" \
                    else None
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            elif "id" in message and message["id"] in self._pending:
                future = self._pending.pop(message["id"])
                if "error" in message:
                    future.set_exception(RuntimeError(str(message["error"])))
                else:
                    future.set_result(message.get("result"))
