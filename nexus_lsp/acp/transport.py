"""ACP's stdio transport: one JSON object per line on stdin/stdout (standard library only).

It stands in for the ACP package's own (it satisfies the package's ``Transport``
protocol: ``send``, ``receive``, ``close``) so that a line that is not a JSON-RPC
object gets an error answer instead of being dropped or ending the receive loop,
and so that ``initialize`` can be answered before the package is imported.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

__all__ = ["LINE_LIMIT", "StdioTransport", "stdin_reader"]

log = logging.getLogger(__name__)

# A prompt with embedded files can be large; the package's default is 64 KiB.
LINE_LIMIT = 64 * 1024 * 1024
CANCEL_REQUEST = "$/cancel_request"


class StdioTransport:
    """The ACP package's ``Transport``: one JSON object per line on stdin/stdout.

    Unlike the package's own, it answers a line that is not a JSON-RPC object
    (-32700 parse error, -32600 invalid request) instead of dropping it or ending
    the receive loop, and it also serves a stdin that asyncio cannot watch (a file,
    a terminal: read by a daemon thread). Writes are synchronous and flushed, like
    the LSP door's; once the client is gone they are dropped.

    ``$/cancel_request`` (which the package does not route) is handled here: for a
    ``session/prompt`` still unanswered, :attr:`on_cancel_prompt` gets its session id
    (the agent cancels the turn; the prompt then answers ``cancelled``). Other
    requests finish quickly and are left to finish.
    """

    def __init__(self, reader: asyncio.StreamReader, stdout: BinaryIO) -> None:
        self._reader = reader
        self._stdout = stdout
        self._broken = False
        self._back: list[dict[str, Any]] = []
        self._prompts: dict[Any, str] = {}  # unanswered session/prompt: request id → session
        self.on_cancel_prompt: Callable[[str], None] | None = None

    def push_back(self, message: dict[str, Any]) -> None:
        """``message`` is received again (the first one, when not answered early)."""
        self._back.append(message)

    async def send(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            self._prompts.pop(message.get("id"), None)
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
        if self._back:
            return self._back.pop(0)
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
            if message.get("method") == CANCEL_REQUEST:
                self._cancel_request(message.get("params"))
                continue
            self._note_prompt(message)
            return message

    def _note_prompt(self, message: dict[str, Any]) -> None:
        params = message.get("params")
        if message.get("method") == "session/prompt" and "id" in message and isinstance(
            params, dict
        ) and isinstance(params.get("sessionId"), str):
            self._prompts[message["id"]] = params["sessionId"]

    def _cancel_request(self, params: Any) -> None:
        request_id = params.get("requestId") if isinstance(params, dict) else None
        session_id = self._prompts.get(request_id)
        if session_id is None:
            log.info("ACP: %s for %r: not a running prompt; ignored", CANCEL_REQUEST, request_id)
        elif self.on_cancel_prompt is not None:
            self.on_cancel_prompt(session_id)

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
