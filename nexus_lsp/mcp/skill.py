"""An MCP server's tool as a skill: ``mcp__<server>__<tool>``, kind ``mcp``.

Its arguments are the tool's JSON schema (``SchemaSkill`` validates them before the
call); its result is mapped by ``results.py``; an ``isError`` result is a tool
failure the model reads (``<tool>: failed: <text>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.errors import ToolError
from nexus_lsp.mcp.results import result_text
from nexus_lsp.skills.base import OutputReport, SkillOutput
from nexus_lsp.skills.schema import RawArguments, SchemaSkill

if TYPE_CHECKING:
    from nexus_lsp.mcp.connection import ToolInfo

__all__ = ["MAX_TOOL_NAME", "McpToolSkill", "ToolCaller", "make_tool_skill", "tool_name"]

MAX_TOOL_NAME = 64


class ToolCaller(Protocol):
    """What a tool skill calls through (``McpServers``)."""

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> Any: ...


def tool_name(server: str, tool: str) -> str:
    """The name the model sees: ``mcp__<server>__<tool>``, safe characters, ≤ 64."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", tool)
    return f"mcp__{server}__{safe}"[:MAX_TOOL_NAME]


class McpToolSkill(SchemaSkill):
    kind = "mcp"
    server: str
    tool: str

    def __init__(self, servers: ToolCaller) -> None:
        self._servers = servers

    def subject(self, arguments: Mapping[str, Any]) -> str:
        return ""  # an "always" grant covers the tool, whatever its arguments

    def title(self, arguments: Mapping[str, Any]) -> str:
        return f"{self.tool} (MCP server `{self.server}`)"

    async def invoke(self, args: RawArguments, token: CancellationToken,
                     report: OutputReport) -> SkillOutput:
        return await self.run(args, token)

    async def run(self, args: RawArguments, token: CancellationToken) -> SkillOutput:
        result = await self._servers.call(self.server, self.tool, args.values)
        text, is_error = result_text(result)
        if is_error:
            raise ToolError("failed", text or "the tool reported an error")
        return SkillOutput(text)


def make_tool_skill(servers: ToolCaller, server: str, tool: ToolInfo) -> McpToolSkill:
    """A skill class per tool (a skill's name and schema are class attributes)."""
    schema = dict(tool.input_schema)
    schema.pop("title", None)
    schema.setdefault("type", "object")
    attributes = {
        "name": tool_name(server, tool.name), "server": server, "tool": tool.name,
        "description": tool.description or f"{tool.name} (from the MCP server {server})",
        "input_schema": schema,
        # a read-only hint lets a batch of them run in parallel (still kind mcp: asked)
        "read_only": tool.read_only,
    }
    cls = type(f"McpTool_{server}_{tool.name}", (McpToolSkill,), attributes)
    return cast(McpToolSkill, cls(servers))
