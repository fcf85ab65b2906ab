"""The workspace's ``.mcp.json`` (``{"mcpServers": {...}}``): project servers.

Read again when the file changes (its mtime and size); a file that cannot be read or
parsed yields no servers and one problem message per change.
"""

from __future__ import annotations

import json
from pathlib import Path

from nexus_lsp import wire
from nexus_lsp.config import McpServerSettings, parse_mcp_servers

__all__ = ["PROJECT_FILE", "ProjectServers", "read_project_servers"]

PROJECT_FILE = wire.MCP_PROJECT_FILE


def read_project_servers(root: Path) -> tuple[dict[str, McpServerSettings], list[str]]:
    path = root / PROJECT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{PROJECT_FILE}: cannot read it ({exc})"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, [f"{PROJECT_FILE}: not valid JSON ({exc})"]
    if not isinstance(data, dict) or "mcpServers" not in data:
        return {}, [f'{PROJECT_FILE}: expected {{"mcpServers": {{...}}}}']
    return parse_mcp_servers(data["mcpServers"], f"{PROJECT_FILE} mcpServers")


class ProjectServers:
    """``.mcp.json``, read again only when it changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stamp: tuple[int, int] | None = None
        self._servers: dict[str, McpServerSettings] = {}

    def read(self) -> tuple[dict[str, McpServerSettings], list[str]]:
        """The servers, and the problems when the file changed since the last read."""
        try:
            stat = (self.root / PROJECT_FILE).stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return self._servers, []
        self._stamp = stamp
        self._servers, problems = read_project_servers(self.root)
        return self._servers, problems
