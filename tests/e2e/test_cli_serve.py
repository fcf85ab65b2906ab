"""``nexus-lsp`` as a server: stdio with no arguments, TCP on loopback, a light serve path."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pygls.uris import from_fs_path

TIMEOUT = 30.0

F_GETPIPE_SZ = 1032  # Linux fcntl

HEAVY = ("httpx", "pydantic", "aiosqlite", "pygls", "lsprotocol")


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any]:
    length = 0
    while True:
        line = await reader.readline()
        assert line, "the server closed the stream"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    message: dict[str, Any] = json.loads(await reader.readexactly(length))
    return message


async def request(
    reader: asyncio.StreamReader, writer: Any, msg_id: int, method: str, params: Any
) -> dict[str, Any]:
    writer.write(frame({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))
    while True:  # skip the server's notifications and requests
        message = await asyncio.wait_for(read_message(reader), TIMEOUT)
        if message.get("id") == msg_id and "method" not in message:
            return message


def initialize_params(root: Path) -> dict[str, Any]:
    uri = from_fs_path(str(root))
    return {
        "processId": os.getpid(),
        "rootUri": uri,
        "workspaceFolders": [{"uri": uri, "name": root.name}],
        "capabilities": {},
    }


async def handshake(reader: asyncio.StreamReader, writer: Any, root: Path) -> dict[str, Any]:
    answer = await request(reader, writer, 1, "initialize", initialize_params(root))
    nexus: dict[str, Any] = answer["result"]["capabilities"]["experimental"]["nexus"]
    assert nexus["protocolVersion"] == 1
    assert (await request(reader, writer, 2, "shutdown", None)).get("error") is None
    writer.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    return nexus


async def test_no_arguments_serves_lsp_on_stdio(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nexus_lsp",
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        nexus = await handshake(proc.stdout, proc.stdin, tmp_path)
        assert "nexus/session/send" in nexus["methods"]
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        proc.stdin.close()


def pipe_max_size() -> int:
    return int(Path("/proc/sys/fs/pipe-max-size").read_text())


async def test_a_stdout_pipe_gets_room_for_a_streamed_command_output(tmp_path: Path) -> None:
    """Writes to stdout are synchronous: with a 64 KiB pipe, a command's streamed output
    would stop the event loop every 64 KiB until the editor has read it."""
    read_end, write_end = os.pipe()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_lsp", cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE, stdout=write_end, stderr=asyncio.subprocess.DEVNULL,
    )
    os.close(write_end)
    reader = asyncio.StreamReader()
    pipe = os.fdopen(read_end, "rb", buffering=0)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), pipe)
    assert proc.stdin is not None
    try:
        answer = await request(reader, proc.stdin, 1, "initialize", initialize_params(tmp_path))
        assert "result" in answer  # serving: the pipe was set up before any answer
        expected = 1024 * 1024 if pipe_max_size() >= 1024 * 1024 else 64 * 1024
        assert fcntl.fcntl(pipe.fileno(), F_GETPIPE_SZ) == expected
    finally:
        proc.kill()
        await proc.wait()
        proc.stdin.close()
        transport.close()  # closes the pipe


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_tcp_serves_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    log_file = tmp_path / "server.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nexus_lsp",
        "--tcp",
        "--port",
        str(port),
        "--log-file",
        str(log_file),
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(int(TIMEOUT / 0.05)):  # wait until it listens
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"nothing listens on 127.0.0.1:{port}")
        try:
            await handshake(reader, writer, tmp_path)
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
        finally:
            writer.close()
            await writer.wait_closed()
        assert log_file.exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_importing_the_cli_stays_light() -> None:
    # Editors start `nexus-lsp` often: the entry point must not pull in the heavy
    # libraries before the server needs them.
    code = (
        "import sys, nexus_lsp.cli\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=TIMEOUT
    )
    assert out.stdout.strip() == "[]"
