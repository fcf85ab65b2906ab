"""Running the server: stdio (editors) and TCP on loopback (debugging).

Both return when the client is gone: after ``exit``, when stdin/the socket closes,
or on SIGTERM/SIGINT/SIGHUP. Before returning, running turns are cancelled (so their
``turnEnd`` and history are written) and the store is closed.

stdin is read with asyncio when it is a pipe or a socket (what editors give:
Neovim hands over a socket), with a thread otherwise (a terminal or a file). All
three (and TCP) go through our own frame reader (``lsp/framing.py``: resynchronises
after a malformed frame, caps header and body sizes) into the protocol's
``handle_json`` (``lsp/jsonrpc.py``: every request gets exactly one answer).
stdout is the wire, so ``sys.stdout`` is pointed at stderr for the life of the
server: a stray ``print`` cannot corrupt the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import ipaddress
import logging
import os
import signal
import stat
import sys
from concurrent.futures import Executor
from typing import BinaryIO, cast

from nexus_lsp.lsp.app import NexusLanguageServer, create_server
from nexus_lsp.lsp.framing import FrameReader, ReadSome, Unreadable
from nexus_lsp.lsp.jsonrpc import JsonRpcDoor
from nexus_lsp.lsp.logs import LspLogHandler, configure_logging

__all__ = ["serve_stdio", "serve_tcp"]

log = logging.getLogger(__name__)

PIPE_BYTES = 1024 * 1024  # stdout's kernel buffer when it is a pipe (see grow_pipe)
F_SETPIPE_SZ = 1031  # Linux fcntl


def thread_source(stdin: BinaryIO, executor: Executor) -> ReadSome:
    """Reads of a stream asyncio cannot watch (a terminal, a file), in a thread.

    ``read1`` returns what has arrived: ``read(n)`` would wait for all n bytes.
    """
    read = getattr(stdin, "read1", stdin.read)

    async def read_some(n: int) -> bytes:
        data: bytes = await asyncio.get_running_loop().run_in_executor(executor, read, n)
        return data

    return read_some


class WireWriter:
    """Writes to stdout; once the client has gone, later writes are dropped quietly."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            self._stream.write(data)
            self._stream.flush()
        except (BrokenPipeError, ConnectionError, ValueError, OSError):
            self.broken = True
            log.info("the client closed the connection; output dropped from now on")

    def close(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError):
            self._stream.close()


def grow_pipe(stream: BinaryIO) -> None:
    """A 1 MiB kernel buffer when ``stream`` is a pipe (Linux; elsewhere a no-op).

    Writes to stdout are synchronous: with the default 64 KiB pipe, a command's
    streamed output (up to ``commands.maxStoredOutputBytes``, 1 MiB) blocks the event
    loop at every 64 KiB until the editor has read it, and meanwhile nothing drains
    the command's own pipe. With room for a whole stream the two proceed side by side.
    """
    if not sys.platform.startswith("linux"):  # F_SETPIPE_SZ is Linux's
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = stream.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)


def serve_stdio(log_file: str | None) -> int:
    """Serve one client over stdin/stdout; return the exit code when it is gone."""
    server = _new_server(log_file)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        with contextlib.suppress(SystemExit, KeyboardInterrupt):
            asyncio.run(_serve_stdio(server, stdin, stdout))
    finally:
        sys.stdout = real_stdout
    log.info("nexus-lsp stopped")
    return server.exit_code


def serve_tcp(host: str, port: int, log_file: str | None) -> int:
    """Serve one client on ``host:port`` (loopback only); return the exit code when it leaves."""
    if not is_loopback(host):
        raise ValueError(f"refusing to listen on {host!r}: nexus-lsp serves on loopback only")
    server = _new_server(log_file)
    with contextlib.suppress(SystemExit, KeyboardInterrupt):
        asyncio.run(_serve_tcp(server, host, port))
    log.info("nexus-lsp stopped")
    return server.exit_code


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _new_server(log_file: str | None) -> NexusLanguageServer:
    editor_log = LspLogHandler()
    configure_logging(log_file, editor_log)
    server = create_server(editor_log)
    # Everything imported so far lives as long as the process: move it out of the
    # collector's reach. Otherwise the first full collection (15-30 ms, walking every
    # module's objects) falls just before the initialize answer, and later ones in
    # the middle of streamed turns.
    gc.freeze()
    return server


async def _serve_stdio(server: NexusLanguageServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    mode = os.fstat(stdin.fileno()).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        stream = asyncio.StreamReader(limit=2**20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
        source: ReadSome = stream.read
    else:  # a terminal or file: asyncio cannot watch it, a thread reads instead
        source = thread_source(stdin, server.thread_pool)
    grow_pipe(stdout)
    server.protocol.set_writer(WireWriter(stdout))
    await _run(server, FrameReader(source))


async def _serve_tcp(server: NexusLanguageServer, host: str, port: int) -> None:
    connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    connected = asyncio.get_running_loop().create_future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connected.done():  # one client per server process
            writer.close()
        else:
            connected.set_result((reader, writer))

    listener = await asyncio.start_server(on_connect, host, port)
    addresses = ", ".join(str(s.getsockname()[:2]) for s in listener.sockets)
    log.warning("nexus-lsp listening on %s", addresses)
    try:
        reader, writer = await connected
    finally:
        listener.close()
    server.protocol.set_writer(writer)
    try:
        await _run(server, FrameReader(reader.read))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _run(server: NexusLanguageServer, reader: FrameReader) -> None:
    """Read and dispatch messages until the client leaves, then close everything."""
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main is not None:

        def stop_serving() -> None:
            main.cancel()

        server.stop_serving = stop_serving
    # SIGHUP: editors send it when they quit (Emacs); like SIGTERM, the running turn
    # ends cancelled with its partial answer stored, the store is flushed, exit 0.
    hangup = getattr(signal, "SIGHUP", None)  # POSIX only
    for signum in (signal.SIGTERM, signal.SIGINT, *([hangup] if hangup else [])):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, _interrupt, main, signum)
    try:
        await read_messages(reader, cast(JsonRpcDoor, server.protocol))  # NexusProtocol
        log.info("the client closed the input stream")
    except asyncio.CancelledError:
        log.info("stopping")
    finally:
        await server.aclose()


async def read_messages(reader: FrameReader, door: JsonRpcDoor) -> None:
    """Hand each message to the protocol until the input ends; answer what is no message."""
    while (item := await reader.next()) is not None:
        try:
            if not isinstance(item, Unreadable):
                door.handle_json(item.data)
            elif item.answer:  # the reader logs the problem with the bytes it dropped
                door.refuse(item.msg_id, item.code, item.problem, level=logging.DEBUG)
        except Exception:  # a bug in handling one message: report it, keep serving
            log.exception("handling a message failed")


def _interrupt(task: asyncio.Task[None] | None, signum: int) -> None:
    log.info("received %s", signal.Signals(signum).name)
    if task is not None:
        task.cancel()
