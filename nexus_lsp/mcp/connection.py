"""One live connection to an MCP server, on the official SDK (the only SDK user).

The SDK's client is an anyio context: it must be entered and left in one task, so
each connection has a *runner* task that holds it open until :meth:`close`. Calls are
made from the turns' tasks on the runner's session; cancelling such a call (a turn's
cancel, a tool timeout) cancels the SDK request, which tells the server
(``notifications/cancelled``).

A stdio server's stderr goes through a pipe read by a daemon thread: each line is
logged on ``nexus_lsp.mcp.server.<name>`` and the last lines are kept for the error
shown when the server fails. The end of that pipe is how a server that exits while
idle is noticed (``on_exit``); a call in flight sees the closed connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED

from nexus_lsp.config import McpServerSettings

__all__ = ["ConnectionLost", "McpConnection", "ToolInfo"]

STDERR_TAIL_LINES = 20
STDERR_LINE_BYTES = 4096
CLOSE_TIMEOUT = 8.0  # the SDK's own escalation: stdin closed, 2 s, SIGTERM, 2 s, SIGKILL


class ConnectionLost(Exception):
    """The server exited or its connection broke (during a call, or before it)."""


@dataclass(frozen=True, slots=True)
class ToolInfo:
    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False  # the server's readOnlyHint: may run beside other reads


class StderrPump:
    """Reads a server's stderr in a daemon thread: log lines, a tail, EOF = exit."""

    def __init__(self, name: str, on_eof: Callable[[], None]) -> None:
        self.log = logging.getLogger(f"nexus_lsp.mcp.server.{name}")
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._lock = threading.Lock()
        self._on_eof = on_eof
        self.done = threading.Event()
        read_fd, write_fd = os.pipe()
        self.writer: TextIO = os.fdopen(write_fd, "w")
        self._reader = os.fdopen(read_fd, "rb")
        threading.Thread(target=self._pump, name=f"mcp-stderr-{name}", daemon=True).start()

    def _pump(self) -> None:
        try:
            # bounded reads: a server printing one endless line costs no memory
            for raw in iter(lambda: self._reader.readline(STDERR_LINE_BYTES), b""):
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    self.log.info("%s", line)
                    with self._lock:
                        self._tail.append(line)
        finally:
            self._reader.close()
            self.done.set()
            self._on_eof()

    def close_writer(self) -> None:
        """Our copy of the pipe's write end: closed once the server has its own."""
        with contextlib.suppress(OSError):
            self.writer.close()

    def tail(self) -> str:
        with self._lock:
            return "\n".join(self._tail)


class McpConnection:
    """A started server: its tools, calls, and its end."""

    def __init__(self, name: str, config: McpServerSettings, root: Path,
                 on_exit: Callable[[], None]) -> None:
        self.name = name
        self.config = config
        self.root = root
        self.tools: list[ToolInfo] = []
        self.closing = False
        self._on_exit = on_exit
        self._client: Client | None = None
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._pump: StderrPump | None = None
        self._exited = False

    @property
    def alive(self) -> bool:
        return self._client is not None and not self._exited

    def stderr_tail(self) -> str:
        return self._pump.tail() if self._pump is not None else ""

    async def start(self, limit: float) -> list[ToolInfo]:
        """Connect and list the tools; raises with a message on failure (the process
        is then gone)."""
        ready: asyncio.Future[None] = self._loop.create_future()
        self._runner = asyncio.ensure_future(self._run(ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), limit)
        except BaseException:
            ready.cancel()  # the runner must not leave an exception nobody reads
            await self.close()
            await self._stderr_read()  # the whole stderr, for the message
            raise
        return self.tools

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        config = self.config
        if config.command is not None:
            self._pump = StderrPump(self.name, self._noticed_exit)
            cwd = self.root / config.cwd if config.cwd else self.root
            params = StdioServerParameters(command=config.command, args=list(config.args),
                                           env=dict(config.env) or None, cwd=str(cwd))
            return stdio_client(params, errlog=self._pump.writer)
        import httpx2

        http = httpx2.AsyncClient(headers=dict(config.headers) or None,
                                  timeout=httpx2.Timeout(30.0, read=300.0))
        stack.push_async_callback(http.aclose)
        assert config.url is not None
        return streamable_http_client(config.url, http_client=http)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                transport = self._transport(stack)
                if self._pump is not None:
                    stack.callback(self._pump.close_writer)
                client = await stack.enter_async_context(Client(transport))
                if self._pump is not None:
                    self._pump.close_writer()  # the server holds its own end now
                self.tools = await _list_tools(client)
                self._client = client
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else
                                    ConnectionLost("the start was cancelled"))
            elif not isinstance(exc, asyncio.CancelledError):
                logging.getLogger(__name__).warning(
                    "MCP server %s: the connection ended with %r", self.name, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._client = None

    def _noticed_exit(self) -> None:
        """From the stderr thread: the server's stderr closed (it exited)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            self._loop.call_soon_threadsafe(self._exit)

    def _exit(self) -> None:
        if self._exited or self.closing or self._client is None:
            return
        self._exited = True
        self._stop.set()
        self._on_exit()

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """The ``CallToolResult``; ConnectionLost when the server is gone."""
        client = self._client
        if client is None or self._exited:
            raise ConnectionLost("the server is not running")
        try:
            return await client.call_tool(tool, arguments)
        except MCPError as exc:
            if _connection_closed(exc):
                await self._stderr_read()  # its last words belong in the error
                self._exit()
                raise ConnectionLost(str(exc)) from None
            raise

    async def _stderr_read(self, limit: float = 1.0) -> None:
        """Wait (bounded: a child may hold the pipe open) until stderr was read to its end."""
        pump = self._pump
        if pump is not None and not pump.done.is_set():
            await asyncio.to_thread(pump.done.wait, limit)

    async def close(self) -> None:
        """Stop the server (stdio: stdin closed, then SIGTERM/SIGKILL of its group)."""
        self.closing = True
        self._stop.set()
        runner = self._runner
        if runner is None:
            return
        if self._client is None and not runner.done():
            runner.cancel()  # still starting (a server that never answers): no grace
        try:
            await asyncio.wait_for(asyncio.shield(runner), CLOSE_TIMEOUT)
        except TimeoutError:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        except BaseException:  # its failure was reported by start() or logged
            pass


def _connection_closed(exc: MCPError) -> bool:
    return getattr(exc, "code", None) == CONNECTION_CLOSED


async def _list_tools(client: Client) -> list[ToolInfo]:
    tools: list[ToolInfo] = []
    cursor: str | None = None
    for _ in range(100):  # pages; a server that pages forever is cut off here
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            hints = tool.annotations
            tools.append(ToolInfo(tool.name, tool.description or "", dict(tool.input_schema),
                                  bool(hints is not None and hints.read_only_hint)))
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools
