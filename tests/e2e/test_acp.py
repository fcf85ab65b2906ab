"""The ACP door end to end: the ACP package's client drives ``nexus-lsp acp``
(a real subprocess) against the scripted model server (protocol-v2 §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from acp import RequestError, helpers

from nexus_lsp.testing import ScriptedModelServer

from .acp_support import acp_connected, kind_of
from .lsp_support import settings


def texts(updates: list[Any]) -> str:
    return "".join(u.content.text for u in updates)


async def test_initialize_new_prompt_and_updates(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"text": "Hello from the model.", "reasoning": "Let me think.",
                "usage": {"inputTokens": 120, "outputTokens": 8}})
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = new.session_id
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("hi")])
        assert answer.stop_reason == "end_turn"
        assert texts(editor.of(sid, "agent_message_chunk")) == "Hello from the model."
        assert texts(editor.of(sid, "agent_thought_chunk")) == "Let me think."
        usage = editor.of(sid, "usage_update")
        assert [(u.used, u.size) for u in usage] == [(120, 128_000)]  # the prompt reported
        commands = await editor.wait_for(
            lambda s, u: s == sid and kind_of(u) == "available_commands_update")
        assert [c.name for c in commands.available_commands] == ["compact", "fork", "revert"]
        # titled from the first prompt, as over LSP
        assert [u.title for u in editor.of(sid, "session_info_update")] == ["hi"]


async def test_tool_calls_read_and_edit_through_fs(
    model: ScriptedModelServer, workspace: Path
) -> None:
    app = workspace / "src" / "app.py"
    model.extend([
        {"toolCalls": [{"id": "r1", "name": "read_file", "arguments": {"path": "src/app.py"}}]},
        {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
            "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}}]},
        {"text": "Done."},
    ])
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        # an unsaved buffer in the editor: the tools must see it, not the disk
        editor.buffers[str(app)] = "def greet(name):\n    return 'hi ' + name  # unsaved\n"
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("fix it")])
        assert answer.stop_reason == "end_turn"
        starts = editor.of(sid, "tool_call")
        assert [(s.tool_call_id, s.kind, s.status) for s in starts] == [
            ("r1", "read", "pending"), ("e1", "edit", "pending")]
        assert starts[1].raw_input["newText"] == "'hello '"
        assert [loc.path for loc in starts[1].locations] == [str(app)]
        updates = editor.of(sid, "tool_call_update")
        assert [(u.tool_call_id, u.status) for u in updates] == [
            ("r1", "in_progress"), ("r1", "completed"), ("e1", "in_progress"), ("e1", "completed")]
        read_out = updates[1].content[0].content.text
        assert "# unsaved" in read_out
        diff = updates[3].content[0]
        assert diff.type == "diff" and diff.path == str(app)
        assert (diff.old_text, diff.new_text) == ("'hi '", "'hello '")
        # the edit went through fs/write_text_file, on the buffer's text
        assert editor.writes == [
            (str(app), "def greet(name):\n    return 'hello ' + name  # unsaved\n")]
        assert str(app) in editor.reads
    assert model.validation_errors == []


async def test_without_fs_the_edit_goes_to_disk(
    model: ScriptedModelServer, workspace: Path
) -> None:
    app = workspace / "src" / "app.py"
    model.extend([
        {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
            "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}}]},
        {"text": "Done."},
    ])
    async with acp_connected(settings(model.openai_base_url), fs=False) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("fix it")])
        assert answer.stop_reason == "end_turn"
        assert editor.writes == [] and editor.reads == []
    assert "'hello '" in app.read_text()


async def test_attachments_reach_the_model_before_the_prompt(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"text": "Seen."})
    readme = workspace / "README.md"
    async with acp_connected(settings(model.openai_base_url)) as (_editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        blocks = [
            helpers.resource_link_block("README.md", readme.as_uri()),
            helpers.resource_block(helpers.embedded_text_resource(
                "file:///elsewhere/notes.txt", "remember the milk")),
            helpers.text_block("what do these say?"),
        ]
        answer = await conn.prompt(session_id=sid, prompt=blocks)
        assert answer.stop_reason == "end_turn"
    user = model.requests[-1].json["messages"][-1]["content"]
    assert user.index("# Demo") < user.index("remember the milk") < user.index("what do these")
    assert readme.as_uri() in user


async def test_images_are_refused_with_a_clear_error(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with acp_connected(settings(model.openai_base_url)) as (_editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        with pytest.raises(RequestError) as caught:
            await conn.prompt(session_id=sid, prompt=[helpers.image_block("AAAA", "image/png")])
        assert caught.value.code == -32602
        assert "image blocks are not supported" in str(caught.value)
        model.push({"text": "still here"})
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("hi")])
        assert answer.stop_reason == "end_turn"
