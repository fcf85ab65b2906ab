"""Running the ACP door: ``nexus-lsp acp`` over stdio, newline-delimited JSON.

stdout carries the protocol only: logs go to stderr (warnings and up) and to
``--log-file`` (everything), and ``sys.stdout`` is pointed at stderr while serving so
a stray ``print`` cannot corrupt the stream. Returns when stdin closes or on
SIGTERM/SIGINT, after running turns are cancelled and the stores closed.

Two gaps of the ``agent-client-protocol`` package (0.12) are filled here:
``session/delete`` has no route (added to its router, a pinned internal), and its
stdio transport drops a line that is not JSON silently (or ends the receive loop on
one that is not an object) where JSON-RPC wants an error answer
(:class:`StdioTransport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import stat
import sys
import threading
from collections.abc import Sequence
from typing import Any, BinaryIO, cast

from acp import AGENT_METHODS, Agent
from acp.agent.connection import AgentSideConnection
from acp.router import MessageRouter, Route
from acp.schema import DeleteSessionRequest

from nexus_lsp.acp.agent import NexusAgent
from nexus_lsp.host.settings_files import SettingsLayer
from nexus_lsp.keys import RedactingLogFilter
from nexus_lsp.session.manager import ProviderFactory

__all__ = ["serve_acp"]

log = logging.getLogger(__name__)

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A prompt with embedded files can be large; the package's default is 64 KiB.
LINE_LIMIT = 64 * 1024 * 1024


class StdioTransport:
    """The ACP package's ``Transport``: one JSON object per line on stdin/stdout.

    Unlike the package's own, it answers a line that is not a JSON-RPC object
    (-32700 parse error, -32600 invalid request) instead of dropping it or ending
    the receive loop, and it also serves a stdin that asyncio cannot watch (a file,
    a terminal: read by a daemon thread). Writes are synchronous and flushed, like
    the LSP door's; once the client is gone they are dropped.
    """

    def __init__(self, reader: asyncio.StreamReader, stdout: BinaryIO) -> None:
        self._reader = reader
        self._stdout = stdout
        self._broken = False

    async def send(self, message: dict[str, Any]) -> None:
        if self._broken:
            return
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        try:
            self._stdout.write(data)
            self._stdout.flush()
        except (BrokenPipeError, ConnectionError, ValueError, OSError):
            self._broken = True
            log.info("ACP: the client closed stdout; output dropped from now on")

    async def receive(self) -> dict[str, Any] | None:
        while True:
            try:
                line = await self._reader.readline()
            except ValueError:  # longer than LINE_LIMIT: skip to the next line
                await self._refuse(-32600, f"Invalid request: longer than {LINE_LIMIT} bytes")
                continue
            except ConnectionError:
                return None
            if not line:
                return None
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError as exc:
                log.warning("ACP: a line that is not JSON: %s", exc)
                await self._refuse(-32700, f"Parse error: the line is not JSON ({exc})")
                continue
            if not isinstance(message, dict):
                kind = type(message).__name__
                await self._refuse(-32600, f"Invalid request: expected a JSON object, got {kind}")
                continue
            return message

    async def close(self) -> None:
        self._broken = True

    async def _refuse(self, code: int, message: str) -> None:
        await self.send({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})


async def stdin_reader(stdin: BinaryIO) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    mode = os.fstat(stdin.fileno()).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        return reader

    def pump() -> None:  # a terminal or a file: asyncio cannot watch it
        while chunk := stdin.readline():
            loop.call_soon_threadsafe(reader.feed_data, chunk)
        loop.call_soon_threadsafe(reader.feed_eof)

    threading.Thread(target=pump, name="acp-stdin", daemon=True).start()
    return reader


def _configure_logging(log_file: str | None) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if log_file else logging.INFO)
    redact = RedactingLogFilter()
    stderr = logging.StreamHandler(sys.__stderr__)
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter(_FORMAT))
    stderr.addFilter(redact)
    root.addHandler(stderr)
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(redact)
        root.addHandler(handler)
    for name in ("aiosqlite", "httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(logging.INFO if log_file else logging.WARNING)


def connect(agent: NexusAgent, transport: StdioTransport) -> AgentSideConnection:
    """The agent's connection over ``transport``, with ``session/delete`` routed."""
    # NexusAgent implements part of the Agent protocol: the router answers the
    # other methods (fork, set_mode until permissions land, ...) with -32601.
    conn = AgentSideConnection(
        cast(Agent, agent), transport, listening=False, use_unstable_protocol=True
    )
    router = cast(MessageRouter, conn._conn._handler)  # the pinned package's router

    async def delete(params: Any) -> Any:
        request = DeleteSessionRequest.model_validate(params)
        return await agent.delete_session(request.session_id)

    router.add_route(
        Route(method=AGENT_METHODS["session_delete"], func=delete, kind="request")
    )
    return conn


async def _serve(agent: NexusAgent) -> None:
    transport = StdioTransport(await stdin_reader(sys.stdin.buffer), sys.stdout.buffer)
    sys.stdout = sys.stderr  # a stray print goes to stderr, never into the wire
    conn = connect(agent, transport)
    loop = asyncio.get_running_loop()
    listening = asyncio.ensure_future(conn.listen())
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, listening.cancel)
    try:
        await listening
    except asyncio.CancelledError:
        log.info("ACP: stopped by a signal")
    finally:
        await agent.aclose()
        with contextlib.suppress(Exception):
            await conn.close()


def serve_acp(
    layers: Sequence[SettingsLayer],
    log_file: str | None,
    provider_factory: ProviderFactory | None = None,
) -> int:
    _configure_logging(log_file)
    saved = sys.stdout
    try:
        asyncio.run(_serve(NexusAgent(layers, provider_factory)))
    finally:
        sys.stdout = saved
    return 0
