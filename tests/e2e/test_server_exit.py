"""`exit` ends the process, whatever the client does with its end of stdin.

Neovim hands the server a socket and closes it only once the process has ended,
so the server may not rely on end-of-file: `exit` itself must end it, also when
it arrives before `shutdown` has finished closing the store.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXIT_TIMEOUT = 15.0


def message(obj: dict[str, object]) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def run_server(workspace: Path, before_shutdown: float, *, shutdown: bool) -> int | None:
    """Start the server on a socket, end the session, return its exit code (None: still up)."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_lsp"], stdin=theirs, stdout=theirs,
        stderr=subprocess.DEVNULL, cwd=workspace,
    )
    theirs.close()
    try:
        ours.sendall(message({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": workspace.as_uri(), "capabilities": {}}}))
        ours.sendall(message({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        # The first nexus request builds the runtime (opens the store).
        ours.sendall(
            message({"jsonrpc": "2.0", "id": 3, "method": "nexus/session/list", "params": {}})
        )
        time.sleep(before_shutdown)
        if shutdown:
            ours.sendall(message({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        ours.sendall(message({"jsonrpc": "2.0", "method": "exit"}))
        # Keep our end open, as Neovim does, while waiting.
        try:
            return proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ours.close()


@pytest.mark.parametrize("before_shutdown", [0.0, 0.05, 0.5])
def test_exit_after_shutdown_ends_the_process_with_0(
    tmp_path: Path, before_shutdown: float
) -> None:
    # 0.0: shutdown and exit arrive while the store is still opening (the list
    # request started it).
    assert run_server(tmp_path, before_shutdown, shutdown=True) == 0
    database = tmp_path / ".nexus" / "nexus.db"
    if before_shutdown == 0.0 and not database.exists():
        return  # shutdown came before the request's handler began: nothing was opened
    # The store that was opening is complete and closed, not left half-written.
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    assert not Path(f"{database}-wal").exists() or Path(f"{database}-wal").stat().st_size == 0


def test_exit_without_shutdown_ends_the_process_with_1(tmp_path: Path) -> None:
    assert run_server(tmp_path, 0.2, shutdown=False) == 1
