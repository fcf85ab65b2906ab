"""Skills from other packages (entry points ``nexus_lsp.skills``) in the real server.

A real distribution (``.dist-info`` with ``entry_points.txt``) on the server's
``PYTHONPATH``: two good plugins, and three broken ones (an import error, not a
skill, a name taken by a built-in) that are reported once and skipped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import connected, server_env, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for plugin_support
from plugin_support import install_plugins


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


async def test_plugin_skills_run_and_broken_ones_are_reported_once(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    site = install_plugins(tmp_path / "site")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = server_env(PYTHONPATH=path)
    async with connected("visual-studio-code", workspace, settings(model.openai_base_url),
                         env=env) as editor:
        model.extend([
            {"toolCalls": [call("w", "word_count", text="one two three")]},
            {"toolCalls": [call("r", "workspace_root_name")]},
            {"toolCalls": [call("e", "word_count", text="  ")]},
            {"toolCalls": [call("x", "word_count", text=3)]},
            {"text": "done"},
        ])
        result = await editor.send("count")
        assert result["stopReason"] == "endTurn", result
        tools = [t["function"]["name"] for t in model.requests[0].json["tools"]]
        assert "word_count" in tools and "workspace_root_name" in tools
        assert tools.count("read_file") == 1  # the clashing plugin did not replace it
        results = {m["tool_call_id"]: m["content"]
                   for r in model.requests for m in r.json["messages"] if m["role"] == "tool"}
        assert results["w"] == "3 words"
        assert results["r"] == workspace.name
        assert results["e"] == "word_count: failed: the text is empty"
        assert results["x"] == "word_count: invalidArguments: text: Input should be a valid string"

        warnings = [m.message for m in editor.messages if m.type == types.MessageType.Warning
                    and "skill plugin" in m.message]
        assert len(warnings) == 1, warnings
        [warning] = warnings
        assert "broken (nexus_test_broken_plugin:Thing): cannot be imported" in warning
        assert "the plugin needs libfoo" in warning
        assert "not_a_skill (nexus_test_good_plugin:NOT_A_SKILL): 42 is not a Skill" in warning
        assert "clash (nexus_test_good_plugin:FakeRead): the tool name 'read_file' is taken" \
            in warning

        # another session: the plugins again, the problems not told twice
        model.extend([{"toolCalls": [call("w2", "word_count", text="a b")]}, {"text": "ok"}])
        await editor.request(wire.SESSION_SEND, {"prompt": "again"})
        again = [m.message for m in editor.messages if "skill plugin" in m.message]
        assert len(again) == 1
