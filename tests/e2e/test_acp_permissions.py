"""Permissions over ACP: the §1 question as session/request_permission (answered each
way, and withdrawn by a cancel), modes as session modes and a config option."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from acp import RequestError, helpers

from nexus_lsp.testing import ScriptedModelServer

from .acp_support import AcpEditor, acp_connected, kind_of
from .lsp_support import WAIT, settings


def command_call(call_id: str, command: str) -> dict[str, object]:
    return {"toolCalls": [{"id": call_id, "name": "run_command",
                           "arguments": {"command": command}}]}


def final(editor: AcpEditor, sid: str, call_id: str) -> object:
    return [u for u in editor.of(sid, "tool_call_update")
            if u.tool_call_id == call_id and u.status in ("completed", "failed")][-1]


async def test_a_command_is_asked_and_answered_each_way(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([command_call("c1", "echo allowed"), {"text": "ran"},
                  command_call("c2", "echo refused"), {"text": "did not run"}])
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = new.session_id
        assert new.modes is not None and new.modes.current_mode_id == "default"
        assert [m.id for m in new.modes.available_modes] == [
            "default", "plan", "acceptEdits", "auto", "strict"]
        editor.permission_answer = "allow_once"
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("run it")])
        assert answer.stop_reason == "end_turn"
        options, tool_call = editor.permission_requests[0]
        assert [(o.option_id, o.kind) for o in options] == [
            ("allow_once", "allow_once"), ("allow_always", "allow_always"),
            ("reject_once", "reject_once"), ("reject_always", "reject_always")]
        assert tool_call.tool_call_id == "c1" and tool_call.kind == "execute"
        assert tool_call.raw_input == {"command": "echo allowed"}
        start = [u for u in editor.of(sid, "tool_call") if u.tool_call_id == "c1"][0]
        assert start.kind == "execute"
        done = final(editor, sid, "c1")
        assert done.status == "completed"  # type: ignore[attr-defined]
        assert "allowed" in done.content[-1].content.text  # type: ignore[attr-defined]
        assert done.raw_output["exitCode"] == 0  # type: ignore[attr-defined]

        editor.permission_answer = "reject_once"
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("again")])
        assert answer.stop_reason == "end_turn"
        refused = final(editor, sid, "c2")
        assert refused.status == "failed"  # type: ignore[attr-defined]
        assert "denied" in refused.raw_output["error"]  # type: ignore[attr-defined]
        assert len(editor.permission_requests) == 2
    assert model.validation_errors == []


async def test_a_dismissed_question_refuses_and_a_cancel_withdraws_it(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([command_call("c1", "echo one"), {"text": "ok"},
                  command_call("c2", "echo two")])
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        editor.permission_answer = None  # the client answers "cancelled"
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("one")])
        assert answer.stop_reason == "end_turn"
        assert final(editor, sid, "c1").status == "failed"  # type: ignore[attr-defined]

        editor.hold_permissions = True
        pending = asyncio.ensure_future(
            conn.prompt(session_id=sid, prompt=[helpers.text_block("two")]))
        await asyncio.wait_for(editor.permission_waiting.wait(), WAIT)
        await conn.cancel(session_id=sid)
        assert (await asyncio.wait_for(pending, WAIT)).stop_reason == "cancelled"
        assert final(editor, sid, "c2").status == "failed"  # type: ignore[attr-defined]


async def test_modes_map_to_the_permission_mode(
    model: ScriptedModelServer, workspace: Path
) -> None:
    edit = {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
        "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}}]}
    model.extend([edit, {"text": "planned"}, command_call("c1", "echo auto"), {"text": "ok"}])
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        await conn.set_session_mode(session_id=sid, mode_id="plan")  # before the first prompt
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("edit it")])
        refused = final(editor, sid, "e1")
        assert refused.status == "failed"  # type: ignore[attr-defined]
        assert "denied" in refused.raw_output["error"]  # type: ignore[attr-defined]
        assert editor.writes == []
        updated = await conn.set_config_option(config_id="mode", session_id=sid, value="auto")
        assert updated.config_options[0].current_value == "auto"
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("run it")])
        assert final(editor, sid, "c1").status == "completed"  # type: ignore[attr-defined]
        assert editor.permission_requests == []  # auto: nothing asked
        modes = [u.current_mode_id for u in editor.of(sid, "current_mode_update")]
        assert modes == ["plan", "auto"]
        with pytest.raises(RequestError) as caught:
            await conn.set_session_mode(session_id=sid, mode_id="yolo")
        assert "unknown mode 'yolo'" in str(caught.value)
        resumed = await conn.resume_session(session_id=sid, cwd=str(workspace), mcp_servers=[])
        assert resumed.modes is not None and resumed.modes.current_mode_id == "auto"
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        await conn.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
        assert [kind_of(u) for u in editor.of(sid)].count("current_mode_update") == 1
