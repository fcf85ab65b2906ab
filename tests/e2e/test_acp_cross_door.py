"""One session core, two doors: a session made over ACP is listed and loaded over
LSP and the reverse, in one workspace, and each goes on with a valid history."""

from __future__ import annotations

from pathlib import Path

from acp import helpers

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .acp_support import acp_connected
from .lsp_support import connected, settings

EDIT = {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
    "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}}]}


async def test_acp_session_listed_and_loaded_over_lsp(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url)
    model.extend([EDIT, {"text": "Edited over ACP."}])
    async with acp_connected(options) as (_editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("edit over acp")])
    async with connected("visual-studio-code", workspace, options) as lsp:
        listed = await lsp.request(wire.SESSION_LIST, {})
        assert [(s["sessionId"], s["title"]) for s in listed["sessions"]] == [
            (sid, "edit over acp")]
        loaded = await lsp.request(wire.SESSION_LOAD, {"sessionId": sid})
        roles = [m["role"] for m in loaded["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant"]
        assert loaded["messages"][1]["content"] == "edit over acp"
        assert loaded["repaired"] is False
        model.push({"text": "Continued over LSP."})
        result = await lsp.send("go on", sid)
        assert result["stopReason"] == "endTurn"
    assert model.validation_errors == []


async def test_lsp_session_listed_and_loaded_over_acp(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url)
    model.extend([EDIT, {"text": "Edited over LSP."}])
    async with connected("visual-studio-code", workspace, options) as lsp:
        result = await lsp.send("edit over lsp")
        sid = result["sessionId"]
    async with acp_connected(options) as (editor, conn):
        listed = await conn.list_sessions(cwd=str(workspace))
        assert [s.session_id for s in listed.sessions] == [sid]
        assert listed.sessions[0].title == "edit over lsp"
        await conn.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
        assert editor.of(sid, "user_message_chunk")[0].content.text == "edit over lsp"
        assert [u.tool_call_id for u in editor.of(sid, "tool_call")] == ["e1"]
        said = "".join(u.content.text for u in editor.of(sid, "agent_message_chunk"))
        assert said == "Edited over LSP."
        model.push({"text": "Continued over ACP."})
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("go on")])
        assert answer.stop_reason == "end_turn"
    assert model.validation_errors == []
