"""MCP servers for the tests: the in-repo fault server and the npm servers' paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nexus_lsp.config import McpServerSettings

HERE = Path(__file__).parent
FAULT_SERVER = HERE / "fault_server.py"
NPM_DIR = HERE.parent / "mcp-servers"
NODE_BIN = NPM_DIR / "node_modules" / ".bin"
SCOPE = NPM_DIR / "node_modules" / "@modelcontextprotocol"
EVERYTHING = SCOPE / "server-everything" / "dist" / "index.js"
FILESYSTEM = SCOPE / "server-filesystem" / "dist" / "index.js"


def fault_server(**env: str) -> McpServerSettings:
    """The in-repo fault server (see fault_server.py for the variables)."""
    return McpServerSettings(command=sys.executable, args=(str(FAULT_SERVER),), env=env)


def fault_server_json(**env: str) -> dict[str, object]:
    return {"command": sys.executable, "args": [str(FAULT_SERVER)], "env": env}


def npm_servers_installed() -> None:
    """The npm servers must be there (`make test` runs `npm ci` in tests/mcp-servers)."""
    missing = [p for p in (EVERYTHING, FILESYSTEM) if not p.is_file()]
    assert not missing, f"run `npm ci` in {NPM_DIR} first (make test does): missing {missing}"


def alive(pid: int) -> bool:
    """A live process (a zombie counts as gone: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (by /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if alive(p)}
