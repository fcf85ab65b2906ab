"""Smoke: initialize capabilities, one turn."""

from __future__ import annotations

from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import TestEditor


async def test_one_turn(editor: TestEditor, model: ScriptedModelServer) -> None:
    model.push({"text": "Hello there, friend.", "chunkSize": 3})
    result = await editor.send("hi")
    assert result["stopReason"] == "endTurn", result
    assert result["content"] == "Hello there, friend."
    kinds = [u["kind"] for u in editor.updates]
    assert kinds[0] == "turnStart" and kinds[-1] == "turnEnd"
