"""What a workspace adds to the built-in tools: skill plugins and MCP servers.

:class:`WorkspaceTools` is the session manager's part for them. It builds each
session's registry (built-ins, then the plugins of ``skills/plugins.py``), and is the
sessions' *tool source* (``Session.tool_source``): at the start of a turn with tools
it configures the workspace's :class:`~nexus_lsp.mcp.McpServers` from the settings and
``.mcp.json``, asks about each project server not yet allowed (a permission question
``mcp_server:<name>``, asked in every mode: a cloned repository must not run commands
by itself), starts what should run and returns the running servers' tools. The MCP
package is imported only once a server is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexus_lsp import wire
from nexus_lsp.config import McpServerSettings, Settings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.permissions.gate import PermissionGate, ToolFacts
from nexus_lsp.skills import Skill, SkillRegistry, Workspace, builtin_registry
from nexus_lsp.skills.command import CommandLimits
from nexus_lsp.skills.plugins import discover

if TYPE_CHECKING:
    from nexus_lsp.mcp import McpServers
    from nexus_lsp.mcp.project import ProjectServers

__all__ = ["WorkspaceTools"]

log = logging.getLogger(__name__)


SessionTools = Callable[[str], Awaitable[Sequence[Skill[Any]]]]


class WorkspaceTools:
    def __init__(self, root: Path, workspace: Workspace, settings: Callable[[], Settings],
                 permissions: PermissionGate, tell: Callable[[str], None]) -> None:
        self.root = root
        self.workspace = workspace
        self._settings = settings
        self._permissions = permissions
        self._tell = tell
        self.mcp: McpServers | None = None
        # per-session tools a front door adds (ACP's session/new mcpServers)
        self.session_tools: list[SessionTools] = []
        self._project: ProjectServers | None = None

    def registry(self, command_limits: Callable[[], CommandLimits],
                 workspace: Workspace | None = None) -> SkillRegistry:
        """A session's skills: the built-ins, then the plugins' (problems told once).

        ``workspace``: the session's view of the workspace (the checkpoint journal's)."""
        workspace = workspace or self.workspace
        registry = builtin_registry(workspace, self._settings().session, command_limits)
        plugins = discover()
        for skill in plugins.make(workspace, registry.names):
            registry.register(skill)
        fresh = plugins.new_problems()
        if fresh:
            self._tell("Nexus: " + "; ".join(fresh))
        return registry

    async def mcp_servers(self) -> McpServers | None:
        """The MCP servers configured now (settings and ``.mcp.json``); none is started
        here. None while none was ever configured (the MCP package is not loaded)."""
        settings = self._settings()
        configured = settings.mcp_servers
        if not configured and self.mcp is None and not (
                self.root / wire.MCP_PROJECT_FILE).exists():
            return None
        from nexus_lsp.mcp import McpServers
        from nexus_lsp.mcp.project import ProjectServers

        if self.mcp is None or self._project is None:
            self.mcp = McpServers(self.root, notify=self._tell,
                                  start_timeout=settings.session.tool_timeout_seconds)
            self._project = ProjectServers(self.root)
        project, problems = self._project.read()
        if problems:
            self._tell("Nexus: " + "; ".join(problems))
        await self.mcp.configure(configured, project)
        return self.mcp

    async def tool_source(self, session_id: str, turn_id: int,
                          token: CancellationToken) -> Sequence[Skill[Any]]:
        """A session's tool source: the running servers' tools, started when needed,
        then those a front door gives the session (``session_tools``; they win over a
        same-named workspace tool: the client chose them for this session)."""
        skills = {s.name: s for s in await self._workspace_tools(session_id, turn_id, token)}
        for extra in self.session_tools:
            skills.update((s.name, s) for s in await extra(session_id))
        return list(skills.values())

    async def _workspace_tools(self, session_id: str, turn_id: int,
                               token: CancellationToken) -> Sequence[Skill[Any]]:
        servers = await self.mcp_servers()
        if servers is None:
            return []

        async def allow(name: str, config: McpServerSettings) -> str | None:
            return await self._allow_project_server(session_id, turn_id, name, config, token)

        return await servers.ensure(allow)

    async def _allow_project_server(self, session_id: str, turn_id: int, name: str,
                                    config: McpServerSettings,
                                    token: CancellationToken) -> str | None:
        """Ask whether a ``.mcp.json`` server may start: None, or why not. The mode is
        forced to ``strict`` so that it asks (rules and stored grants still decide)."""
        what = config.command if config.command is not None else config.url or ""
        subject = " ".join([what, *config.args])
        arguments: dict[str, Any] = (
            {"command": config.command, "args": list(config.args), "cwd": config.cwd or "."}
            if config.command is not None else {"url": config.url})
        call_name = f"{wire.MCP_SERVER_PERMISSION_PREFIX}{name}"
        facts = ToolFacts(wire.KIND_MCP, subject,
                          f"Start MCP server `{name}` from {wire.MCP_PROJECT_FILE}: {subject}",
                          arguments)
        denial = await self._permissions.check(
            session_id=session_id, turn_id=turn_id, mode="strict",
            call=ToolCall(call_name, call_name, arguments), facts=facts, token=token)
        if denial is not None:
            log.info("MCP server %s not started: %s", name, denial)
        return denial

    async def aclose(self) -> None:
        if self.mcp is not None:
            await self.mcp.aclose()
