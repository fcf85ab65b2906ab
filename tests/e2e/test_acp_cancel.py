"""session/cancel over ACP: the prompt answers ``cancelled``, every tool call the
client saw gets a final status, and the session's history stays valid."""

from __future__ import annotations

import asyncio
from pathlib import Path

from acp import helpers

from nexus_lsp.testing import ScriptedModelServer

from .acp_support import AcpEditor, acp_connected, kind_of
from .lsp_support import WAIT, settings

STALLING = {"text": "I am thinking about", "chunkSize": 4, "fault": {"stallAfterChunks": 2}}


def final_statuses(editor: AcpEditor, sid: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for update in editor.of(sid, "tool_call_update"):
        if update.status in ("completed", "failed"):
            out[update.tool_call_id] = update.status
    return out


async def test_cancel_mid_stream(model: ScriptedModelServer, workspace: Path) -> None:
    model.push(STALLING)
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        pending = asyncio.ensure_future(
            conn.prompt(session_id=sid, prompt=[helpers.text_block("think")]))
        await editor.wait_for(lambda s, u: s == sid and kind_of(u) == "agent_message_chunk")
        await conn.cancel(session_id=sid)
        answer = await asyncio.wait_for(pending, WAIT)
        assert answer.stop_reason == "cancelled"
        model.push({"text": "Back again."})
        after = await conn.prompt(session_id=sid, prompt=[helpers.text_block("go on")])
        assert after.stop_reason == "end_turn"
    assert model.validation_errors == []


async def test_cancel_mid_batch_answers_every_tool_call(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"toolCalls": [
        {"id": "r1", "name": "read_file", "arguments": {"path": "README.md"}},
        {"id": "e1", "name": "edit_file", "arguments": {
            "path": "src/app.py", "oldText": "'hi '", "newText": "'bye '"}},
        {"id": "r2", "name": "read_file", "arguments": {"path": "src/app.py"}},
    ]})
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        editor.hold_writes = True  # the editor never answers fs/write_text_file
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        pending = asyncio.ensure_future(
            conn.prompt(session_id=sid, prompt=[helpers.text_block("edit")]))
        await asyncio.wait_for(editor.write_waiting.wait(), WAIT)
        await conn.cancel(session_id=sid)
        answer = await asyncio.wait_for(pending, WAIT)
        assert answer.stop_reason == "cancelled"
        started = [u.tool_call_id for u in editor.of(sid, "tool_call")]
        assert started == ["r1", "e1", "r2"]
        statuses = final_statuses(editor, sid)
        assert set(statuses) == {"r1", "e1", "r2"}
        assert statuses["e1"] == "failed" and statuses["r2"] == "failed"
        editor.hold_writes = False
        model.push({"text": "Fine."})
        after = await conn.prompt(session_id=sid, prompt=[helpers.text_block("go on")])
        assert after.stop_reason == "end_turn"
    assert model.validation_errors == []


async def test_cancel_request_of_a_prompt_answers_it_cancelled(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push(STALLING)
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        request_id = conn._conn._next_request_id  # the id the prompt below is sent with
        pending = asyncio.ensure_future(
            conn.prompt(session_id=sid, prompt=[helpers.text_block("think")]))
        await editor.wait_for(lambda s, u: s == sid and kind_of(u) == "agent_message_chunk")
        await conn._conn.send_notification("$/cancel_request", {"requestId": request_id})
        answer = await asyncio.wait_for(pending, WAIT)
        assert answer.stop_reason == "cancelled"
        # a cancel for a request that is over changes nothing
        await conn._conn.send_notification("$/cancel_request", {"requestId": request_id})
        model.push({"text": "Back again."})
        after = await conn.prompt(session_id=sid, prompt=[helpers.text_block("go on")])
        assert after.stop_reason == "end_turn"
