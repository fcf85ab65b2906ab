"""A raw JSON-RPC client of a real ``nexus-lsp`` process: writes any bytes.

pytest-lsp cannot send malformed frames, so these tests talk to the server over its
stdin/stdout pipes (or TCP) directly: ``send`` writes raw bytes, a thread reads the
server's frames into a queue, and ``answer_to`` collects what arrives up to the answer
to one id.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

WAIT = 15.0  # upper bound for one answer; never a timing assertion


def frame(message: Any, *, header: bytes = b"Content-Length: %d\r\n\r\n") -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return (header % len(body) if b"%d" in header else header) + body


def request(msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def read_frames(stream: IO[bytes], out: queue.Queue[dict[str, Any] | None]) -> None:
    """The server's frames (it writes well-formed ones), until it closes its end."""
    try:
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None
            out.put(json.loads(stream.read(length)))
    finally:
        out.put(None)


class RawServer:
    """``python -m nexus_lsp`` on pipes (``tcp=False``) or on a loopback port."""

    def __init__(self, workspace: Path, stderr_path: Path, *, tcp: bool = False) -> None:
        self.workspace = workspace
        self.stderr_path = stderr_path
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr = stderr_path.open("wb")
        command = [sys.executable, "-m", "nexus_lsp"]
        self.sock: socket.socket | None = None
        if tcp:
            port = _free_port()
            command += ["--tcp", "--port", str(port)]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL if tcp else subprocess.PIPE,
            stdout=subprocess.DEVNULL if tcp else subprocess.PIPE,
            stderr=self._stderr,
            cwd=workspace,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if tcp:
            self.sock = _connect(port, self.proc)
            stream: IO[bytes] = self.sock.makefile("rb")
        else:
            assert self.proc.stdout is not None
            stream = self.proc.stdout
        self._stream = stream
        self._reader = threading.Thread(target=read_frames, args=(stream, self.messages))
        self._reader.daemon = True
        self._reader.start()

    def send(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
        else:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def answer_to(self, msg_id: int | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answer to ``msg_id`` and the other answers (no requests or notifications)
        that came before it."""
        others = []
        while True:
            try:
                message = self.messages.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no answer to request {msg_id!r}; before: {others}") from None
            assert message is not None, f"the server closed its output; before: {others}"
            if "method" in message:
                continue  # the server's logMessage/showMessage, requests
            if message.get("id") == msg_id:
                return message, others
            others.append(message)

    def initialize(self) -> None:
        self.send(frame(request(1, "initialize", {
            "processId": None, "rootUri": self.workspace.as_uri(), "capabilities": {}})))
        assert "result" in self.answer_to(1)[0]
        self.send(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self) -> int:
        return self.proc.wait(timeout=WAIT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self._stream):
            if stream is not None:
                stream.close()
        if self.sock is not None:
            self.sock.close()
        self._stderr.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _connect(port: int, proc: subprocess.Popen[bytes]) -> socket.socket:
    for _ in range(int(WAIT / 0.05)):  # until it listens
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            if proc.poll() is not None:
                break
            threading.Event().wait(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")
