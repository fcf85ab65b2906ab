"""ACP sessions: load (full replay), resume, list, close, delete; stop reasons,
provider errors, slash commands and a malformed line, against ``nexus-lsp acp``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from acp import RequestError, helpers

from nexus_lsp.acp.hello import initialize_result
from nexus_lsp.testing import ScriptedModelServer

from .acp_support import acp_command, acp_connected, kind_of
from .lsp_support import WAIT, server_env, settings

EDIT = {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
    "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}}]}


def resolved(path: Path) -> str:
    return str(path.resolve())


async def test_load_replays_the_history_then_answers_null(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([EDIT, {"text": "Edited."}])
    root = resolved(workspace)
    async with acp_connected(settings(model.openai_base_url)) as (_editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("please edit")])
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        listed = await conn.list_sessions(cwd=str(workspace))
        assert [s.session_id for s in listed.sessions] == [sid]
        assert listed.sessions[0].cwd == root
        answer = await conn.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
        assert answer is None or answer.model_dump(exclude_none=True) == {}
        replayed = [(kind_of(u), getattr(u, "status", None)) for u in editor.of(sid)]
        assert replayed[:4] == [
            ("user_message_chunk", None), ("tool_call", "pending"),
            ("tool_call_update", "completed"), ("agent_message_chunk", None)]
        assert editor.of(sid, "user_message_chunk")[0].content.text == "please edit"
        assert editor.of(sid, "tool_call_update")[0].content[0].type == "diff"
        # the loaded session goes on, with a history the model accepts
        model.push({"text": "Again."})
        again = await conn.prompt(session_id=sid, prompt=[helpers.text_block("more")])
        assert again.stop_reason == "end_turn"
    assert model.validation_errors == []


async def test_resume_close_and_delete(model: ScriptedModelServer, workspace: Path) -> None:
    model.push({"text": "One."})
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("first")])
        await conn.close_session(session_id=sid)
        with pytest.raises(RequestError) as caught:
            await conn.prompt(session_id=sid, prompt=[helpers.text_block("closed?")])
        assert caught.value.data["reason"] == "unknownSession"
        await conn.resume_session(session_id=sid, cwd=str(workspace), mcp_servers=[])
        assert not editor.of(sid, "user_message_chunk")  # resume does not replay
        model.push({"text": "Two."})
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("second")])
        assert answer.stop_reason == "end_turn"
        await conn._conn.send_request("session/delete", {"sessionId": sid})
        assert (await conn.list_sessions(cwd=str(workspace))).sessions == []
        with pytest.raises(RequestError) as caught:
            await conn.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
        assert caught.value.data["reason"] == "unknownSession"


async def test_a_session_is_stored_at_its_first_prompt(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with acp_connected(settings(model.openai_base_url)) as (_editor, conn):
        empty = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        used = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        assert (await conn.list_sessions(cwd=str(workspace))).sessions == []
        model.push({"text": "ok"})
        await conn.prompt(session_id=used, prompt=[helpers.text_block("Fix the bug\nplease")])
        listed = (await conn.list_sessions(cwd=str(workspace))).sessions
        assert [(s.session_id, s.title) for s in listed] == [(used, "Fix the bug")]
        await conn._conn.send_request("session/delete", {"sessionId": empty})
        with pytest.raises(RequestError):
            await conn.prompt(session_id=empty, prompt=[helpers.text_block("gone")])


async def test_stop_reasons_and_provider_errors(
    model: ScriptedModelServer, workspace: Path
) -> None:
    looping = {"toolCalls": [{"name": "read_file", "arguments": {"path": "README.md"}}]}
    options = settings(model.openai_base_url, session={"maxIterations": 1})
    async with acp_connected(options) as (_editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        model.push(looping)
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("loop")])
        assert answer.stop_reason == "max_turn_requests"
        # the script is exhausted: the model API answers 500
        with pytest.raises(RequestError) as caught:
            await conn.prompt(session_id=sid, prompt=[helpers.text_block("again")])
        assert caught.value.code == -32603
        assert caught.value.data["reason"] == "providerUnavailable"


async def test_revert_and_fork_slash_commands(
    model: ScriptedModelServer, workspace: Path
) -> None:
    app = workspace / "src" / "app.py"
    before = app.read_text()
    model.extend([
        {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
            "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}}]},
        {"text": "Done."},
    ])
    async with acp_connected(settings(model.openai_base_url), fs=False) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        with pytest.raises(RequestError) as caught:  # nothing to revert yet
            await conn.prompt(session_id=sid, prompt=[helpers.text_block("/revert")])
        assert caught.value.data["reason"] == "unknownTurn"
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("fix it")])
        assert "'hello '" in app.read_text()
        forked = await conn.prompt(session_id=sid, prompt=[helpers.text_block("/fork")])
        assert forked.stop_reason == "end_turn"
        with pytest.raises(RequestError) as caught:
            await conn.prompt(session_id=sid, prompt=[helpers.text_block("/revert soon")])
        assert caught.value.code == -32602
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("/revert")])
        assert answer.stop_reason == "end_turn"
        assert app.read_text() == before  # the agent's edit is undone on disk
        said = [u.content.text for u in editor.of(sid, "agent_message_chunk")]
        assert any(t.startswith("Forked into session ") for t in said)
        assert any("Reverted turn 1" in t and "src/app.py: restored" in t for t in said)
        listed = await conn.list_sessions(cwd=str(workspace))
        assert len(listed.sessions) == 2  # the fork is listed beside its parent



async def test_invalid_cwd_is_named(model: ScriptedModelServer, tmp_path: Path) -> None:
    async with acp_connected(settings(model.openai_base_url)) as (_editor, conn):
        with pytest.raises(RequestError) as caught:
            await conn.new_session(cwd="relative/dir", mcp_servers=[])
        assert "expected an absolute path" in str(caught.value)
        with pytest.raises(RequestError) as caught:
            await conn.new_session(cwd=str(tmp_path / "missing"), mcp_servers=[])
        assert "not a directory" in str(caught.value)


async def test_a_malformed_line_gets_a_json_rpc_error_and_the_server_goes_on(
    workspace: Path,
) -> None:
    command = acp_command()
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env=server_env(),
    )
    assert process.stdin is not None and process.stdout is not None

    async def answer(line: bytes) -> dict[str, object]:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(line + b"\n")
        await process.stdin.drain()
        reply = json.loads(await asyncio.wait_for(process.stdout.readline(), WAIT))
        assert isinstance(reply, dict)
        return reply

    try:
        parse = await answer(b'{"jsonrpc": "2.0", "id": 1, "method": "initialize"')
        assert parse["id"] is None and parse["error"]["code"] == -32700  # type: ignore[index]
        invalid = await answer(b"[1, 2]")
        assert invalid["error"]["code"] == -32600  # type: ignore[index]
        bad_params = await answer(json.dumps(
            {"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": 3}}).encode())
        assert bad_params["id"] == 2 and bad_params["error"]["code"] == -32602  # type: ignore[index]
        unknown = await answer(json.dumps(
            {"jsonrpc": "2.0", "id": 3, "method": "nexus/nothing", "params": {}}).encode())
        assert unknown["error"]["code"] == -32601  # type: ignore[index]
        ok = await answer(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "initialize",
                                      "params": {"protocolVersion": 1}}).encode())
        # answered by the ACP package here (not the first line): the same answer as early
        assert ok["result"] == initialize_result(1)
    finally:
        process.stdin.close()
        assert await asyncio.wait_for(process.wait(), WAIT) == 0


async def test_settings_from_the_command_line_user_and_workspace_files(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    """--settings-file, --settings, the user file, .nexus/settings.json: later wins."""
    config = tmp_path / "config"
    (config / "nexus-lsp").mkdir(parents=True)
    (config / "nexus-lsp" / "settings.json").write_text(
        json.dumps({"provider": {"model": "from-user"}}))
    other = tmp_path / "other"
    (other / ".nexus").mkdir(parents=True)
    (other / ".nexus" / "settings.json").write_text(
        json.dumps({"nexus": {"provider": {"model": "from-workspace"}}}))
    file_layer = tmp_path / "acp-settings.json"
    file_layer.write_text(json.dumps(settings(model.openai_base_url)))
    model.extend([{"text": "one"}, {"text": "two"}])
    async with acp_connected(
        {"session": {"maxIterations": 3}}, extra_args=("--settings-file", str(file_layer)),
        env={"XDG_CONFIG_HOME": str(config)},
    ) as (_editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("hi")])
        assert model.requests[-1].json["model"] == "from-user"
        sid = (await conn.new_session(cwd=str(other), mcp_servers=[])).session_id
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("hi")])
        assert model.requests[-1].json["model"] == "from-workspace"
        listed = await conn.list_sessions()
        assert len(listed.sessions) == 2  # every folder this connection opened


async def test_bad_settings_options_are_named(tmp_path: Path) -> None:
    command = acp_command()
    for args, message in [
        (["--settings", "{nope"], "--settings: invalid JSON at line 1"),
        (["--settings", "[]"], "--settings: expected a JSON object"),
        (["--settings-file", str(tmp_path / "missing.json")], "missing.json: no such file"),
    ]:
        process = await asyncio.create_subprocess_exec(
            *command, *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=server_env(),
        )
        out, err = await asyncio.wait_for(process.communicate(), WAIT)
        assert process.returncode == 2 and out == b""
        assert message in err.decode(), err
