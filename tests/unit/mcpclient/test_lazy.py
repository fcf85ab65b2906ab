"""Without MCP servers configured, a turn never loads the MCP package or the SDK (so
start-up and idle memory are what they were); with one configured, the SDK loads.

A child process each (sys.modules of this one is shared by every test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = '''
import asyncio, json, sys
from pathlib import Path
from nexus_lsp.config import parse_settings
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider

async def main(root, raw):
    settings, problems = parse_settings(json.loads(raw))
    assert not problems, problems
    provider = FakeProvider([FakeAnswer(tool_calls=(ToolCall("r", "read_file", {"path": "a"}),)),
                             FakeAnswer(text=["done"])])
    store = await SessionStore.open(root, settings.logging)
    manager = SessionManager(root, settings, DiskWorkspace(root), store, lambda s, r: provider)
    result = await manager.send(None, "hi")
    loaded = sorted(m for m in sys.modules if m == "mcp" or m.startswith(("mcp.", "nexus_lsp.mcp")))
    await manager.aclose()
    print(json.dumps({"stop": result.stop_reason, "loaded": loaded}))

asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
'''


def turn_in_child(root: Path, settings: dict[str, object]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), json.dumps(settings)],
                         capture_output=True, text=True, timeout=120, check=True)
    answer: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


def test_no_servers_no_mcp_modules(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    answer = turn_in_child(tmp_path, {})
    assert answer == {"stop": "endTurn", "loaded": []}


def test_a_configured_server_loads_the_sdk(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    fault = Path(__file__).resolve().parents[2] / "mcp_support" / "fault_server.py"
    answer = turn_in_child(tmp_path, {"mcpServers": {
        "f": {"command": sys.executable, "args": [str(fault)]}}})
    assert answer["stop"] == "endTurn"
    loaded = answer["loaded"]
    assert isinstance(loaded, list)
    assert "mcp" in loaded and "nexus_lsp.mcp.connection" in loaded
