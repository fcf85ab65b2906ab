"""Server configs in the Agent Client Protocol's shape (``session/new``'s ``mcpServers``).

ACP sends a list: ``{name, command, args, env: [{name, value}]}`` for stdio and
``{type: "http", name, url, headers: [{name, value}]}`` for HTTP. :func:`from_acp`
turns it into the ``{name: McpServerSettings}`` that :meth:`McpServers.start` takes;
an invalid entry is named in the problems and left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nexus_lsp.config import McpServerSettings, parse_mcp_servers

__all__ = ["from_acp"]


def _pairs(items: object) -> dict[str, str]:
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and "name" in item:
            out[str(item["name"])] = str(item.get("value", ""))
    return out


def from_acp(entries: Iterable[Mapping[str, Any]]) -> tuple[dict[str, McpServerSettings],
                                                            list[str]]:
    raw: dict[str, Any] = {}
    for entry in entries:
        name = str(entry.get("name", ""))
        if entry.get("type") in ("http", "streamable-http") or "url" in entry:
            raw[name] = {"url": entry.get("url"), "headers": _pairs(entry.get("headers"))}
        else:
            raw[name] = {"command": entry.get("command"), "args": list(entry.get("args") or ()),
                         "env": _pairs(entry.get("env"))}
    return parse_mcp_servers(raw, "mcpServers")
