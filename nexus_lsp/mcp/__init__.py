"""MCP servers (protocol v2 §5): their tools as skills, on the official ``mcp`` SDK.

Only this package imports the SDK, and only ``connection.py`` at its top: nothing
here loads it until a server starts (``McpServers.ensure`` / ``McpServers.start``).

A door with its own servers (ACP's ``session/new``)::

    configs, problems = from_acp(params["mcpServers"])    # ACP's list → {name: settings}
    servers = await McpServers.start(configs, root)       # trusted: no question
    registry.replace_group("mcp", servers.skills())
    servers.list_json()      # the nexus/mcp/list entries
    await servers.aclose()
"""

from nexus_lsp.mcp.configs import from_acp
from nexus_lsp.mcp.project import PROJECT_FILE, read_project_servers
from nexus_lsp.mcp.servers import INSTALL_HINT, McpServers, ServerState, tool_name

__all__ = [
    "INSTALL_HINT",
    "PROJECT_FILE",
    "McpServers",
    "ServerState",
    "from_acp",
    "read_project_servers",
    "tool_name",
]
