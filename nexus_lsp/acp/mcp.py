"""The MCP servers of ACP sessions (``mcpServers`` of ``session/new``/``load``/``resume``).

The client chose them, so they start without a trust question
(:meth:`~nexus_lsp.mcp.McpServers.start`), one set per session, stopped when the
session closes or is deleted and at shutdown. Their tools join the workspace's (its
settings' and ``.mcp.json``'s) through the session manager's tool source: the
:class:`SessionServers` wrapper is installed once per workspace runtime, before any
session of it is live, and adds the servers of the session it is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexus_lsp.acp.rpc_errors import rpc_error
from nexus_lsp.session.extensions import WorkspaceTools
from nexus_lsp.skills import Skill

if TYPE_CHECKING:
    from nexus_lsp.mcp import McpServers

__all__ = ["SessionServers", "acp_entries"]

log = logging.getLogger(__name__)


def acp_entries(mcp_servers: Any) -> list[dict[str, Any]]:
    """ACP's ``mcpServers`` (schema objects or dicts) as plain JSON entries."""
    out: list[dict[str, Any]] = []
    for server in mcp_servers or ():
        entry = (server.model_dump(by_alias=True, exclude_none=True)
                 if hasattr(server, "model_dump") else dict(server))
        if entry.get("type") == "sse":
            raise rpc_error("invalidMcpServers", f"MCP server {entry.get('name')!r}: the "
                            "sse transport is not supported (mcpCapabilities.sse is false); "
                            "use http or stdio")
        out.append(entry)
    return out


class SessionServers:
    """Every ACP session's MCP servers, and the tool source that offers them."""

    def __init__(self) -> None:
        self._servers: dict[str, McpServers] = {}

    def install(self, tools: WorkspaceTools) -> None:
        """Offer each session's servers to it (sessions made from now on)."""
        tools.session_tools.append(self._session_skills)

    async def _session_skills(self, session_id: str) -> Sequence[Skill[Any]]:
        servers = self._servers.get(session_id)
        return [] if servers is None else list(await servers.ensure(None))

    async def start(self, session_id: str, entries: list[dict[str, Any]], root: Path,
                    start_timeout: float) -> list[str]:
        """Start (or replace) a session's servers; returns the problems to show."""
        await self.stop(session_id)
        if not entries:
            return []
        from nexus_lsp.mcp import McpServers, from_acp

        configs, problems = from_acp(entries)
        if problems:
            raise rpc_error("invalidMcpServers", "mcpServers: " + "; ".join(problems))
        told: list[str] = []
        # McpServers.start in two steps: kept before they start, so that a session/new
        # cancelled mid-start still has its servers stopped (at shutdown at the latest)
        servers = McpServers(root, notify=told.append, start_timeout=start_timeout)
        self._servers[session_id] = servers
        await servers.configure(configs)
        await servers.ensure(None)
        log.info("session %s: MCP servers %s", session_id, servers)
        return told

    async def stop(self, session_id: str) -> None:
        servers = self._servers.pop(session_id, None)
        if servers is not None:
            await servers.aclose()

    async def aclose(self) -> None:
        for session_id in list(self._servers):
            try:
                await self.stop(session_id)
            except Exception:
                log.exception("stopping the MCP servers of session %s failed", session_id)
