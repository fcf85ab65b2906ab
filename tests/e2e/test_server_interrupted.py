"""An answer cut by a provider error is marked ``interrupted`` (not ``cancelled``):
in ``nexus.db`` (seen by ``load`` in a later server), and in ``context.md``."""

from __future__ import annotations

from pathlib import Path

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import connected, settings


async def test_an_answer_cut_by_an_error_is_stored_and_loaded_as_interrupted(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url)
    async with connected("visual-studio-code", workspace, options) as editor:
        model.push({"text": "partial answer that breaks", "chunkSize": 3,
                    "fault": {"cutAfterChunks": 2}})
        cut = await editor.send("hello")
        assert cut["stopReason"] == "error"
        session_id = cut["sessionId"]
    async with connected("neovim", workspace, options) as editor:
        loaded = await editor.request(wire.SESSION_LOAD, {"sessionId": session_id})
    last = loaded["messages"][-1]
    assert last == {"role": "assistant", "content": "partia", "interrupted": True}
    context = workspace / ".nexus" / "sessions" / session_id / "context.md"
    text = context.read_text(encoding="utf-8")
    assert "_(interrupted: an error cut the answer here)_" in text
    assert "_(cancelled" not in text
