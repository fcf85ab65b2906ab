"""Protocol v2 §5 in the Neovim plugin: a real MCP server's tool through a turn (asked
like a command, shown like a built-in), ``:NexusMcp`` and ``:checkhealth nexus``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .test_nvim import ENV, scripted, settings_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for mcp_support
from mcp_support import fault_server_json

# `nvim` is the fixture of tests/editors/conftest.py (its `Nvim` class).
Nvim = Any


async def test_mcp_tool_call_list_and_health(nvim: Nvim, workspace: Path) -> None:
    responses = [
        {"toolCalls": [{"id": "m1", "name": "mcp__fault__echo", "arguments": {"text": "hi"}}]},
        {"text": "Echoed."},
    ]
    async with scripted(responses) as srv:
        settings = {**settings_for(srv), "mcpServers": {"fault": fault_server_json()}}
        report = (await nvim.run("mcp.lua", cwd=workspace, settings=settings,
                                 env=ENV)).report

    # Asked like a command (default mode), then shown like the built-in tools.
    assert report["questions"] == ["Nexus: echo (MCP server `fault`)?"]
    assert [c["status"] for c in report["first"]["toolCalls"]] == ["completed"]
    assert '- [completed] mcp__fault__echo {"text":"hi"}' in report["chat"]

    listing = report["list"]
    assert listing == report["list_buffer"]
    assert listing[0] == "# MCP servers"
    server = next(line for line in listing if line.startswith("- fault: "))
    assert server.startswith("- fault: running (settings, stdio), ")
    assert "  - mcp__fault__echo" in listing

    health = "\n".join(report["health"])
    assert "MCP fault: running (settings, stdio)" in health
