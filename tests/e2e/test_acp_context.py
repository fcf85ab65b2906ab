"""The ACP door with the MCP client and the context features (protocol-v2 §6, §4, §5):
the session's own ``mcpServers`` (real MCP server processes), ``/compact`` and
``usage_update`` per model call, against a real ``nexus-lsp acp`` and the scripted model.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from acp import RequestError, helpers
from acp.schema import EnvVariable, HttpHeader, HttpMcpServer, McpServerStdio

from nexus_lsp.testing import ScriptedModelServer

from .acp_support import acp_connected, kind_of
from .lsp_support import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for mcp_support
from mcp_support import EVERYTHING, FAULT_SERVER, alive, npm_servers_installed


def texts(updates: list[Any]) -> str:
    return "".join(u.content.text for u in updates)


def fault(pid_file: Path, name: str = "fault") -> McpServerStdio:
    return McpServerStdio(name=name, command=sys.executable, args=[str(FAULT_SERVER)],
                          env=[EnvVariable(name="FAULT_PID_FILE", value=str(pid_file))])


def pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def tool_results(model: ScriptedModelServer) -> dict[str, str]:
    out: dict[str, str] = {}
    for request in model.requests:
        for m in request.json["messages"]:
            if m["role"] == "tool":
                out[m["tool_call_id"]] = m["content"]
    return out


async def gone(pid: int) -> bool:
    for _ in range(500):  # the close is awaited by the server; the kernel reaps at once
        if not alive(pid):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_the_sessions_mcp_server_serves_the_model_and_stops_at_close(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    model.extend([
        {"toolCalls": [{"id": "m1", "name": "mcp__fault__echo",
                        "arguments": {"text": "over acp"}}]},
        {"text": "It echoed."},
    ])
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace),
                                      mcp_servers=[fault(pid_file)])).session_id
        [pid] = pids(pid_file)  # started by session/new, no trust question
        assert alive(pid)
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("echo it")])
        assert answer.stop_reason == "end_turn"
        offered = [t["function"]["name"] for t in model.requests[0].json["tools"]]
        assert "mcp__fault__echo" in offered and "read_file" in offered
        assert tool_results(model) == {"m1": "echo: over acp"}
        [start] = editor.of(sid, "tool_call")
        assert (start.tool_call_id, start.kind) == ("m1", "other")
        # default mode asks before an MCP tool runs (as over LSP)
        assert [call.tool_call_id for _, call in editor.permission_requests] == ["m1"]
        # another session of the same workspace does not get this session's tools
        other = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        model.push({"text": "no tools of yours"})
        await conn.prompt(session_id=other, prompt=[helpers.text_block("tools?")])
        assert "mcp__fault__echo" not in [
            t["function"]["name"] for t in model.requests[-1].json["tools"]]
        await conn.close_session(session_id=sid)
        assert await gone(pid), f"MCP server {pid} outlived session/close"
        assert pids(pid_file) == [pid]  # not started again


async def test_load_starts_the_servers_and_shutdown_stops_them(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    model.extend([{"text": "one"}, {"toolCalls": [
        {"id": "m2", "name": "mcp__later__echo", "arguments": {"text": "after load"}}]},
        {"text": "two"}])
    async with acp_connected(settings(model.openai_base_url,
                                      permissions={"mode": "auto"})) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace),
                                      mcp_servers=[fault(first)])).session_id
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("hi")])
        [pid_first] = pids(first)
        # load names other servers: the old ones stop, the new ones serve
        await conn.load_session(cwd=str(workspace), session_id=sid,
                                mcp_servers=[fault(second, "later")])
        assert await gone(pid_first)
        [pid_second] = pids(second)
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("echo")])
        assert tool_results(model)["m2"] == "echo: after load"
    assert await gone(pid_second), f"MCP server {pid_second} outlived nexus-lsp acp"


async def test_a_server_that_fails_to_start_is_told_in_the_session(
    model: ScriptedModelServer, workspace: Path
) -> None:
    broken = McpServerStdio(name="broken", command=sys.executable, args=["-c", "import sys; "
                            "print('no database', file=sys.stderr); sys.exit(3)"], env=[])
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[broken])).session_id
        note = await editor.wait_for(lambda s, u: s == sid and kind_of(u) ==
                                     "agent_message_chunk")
        assert "MCP server broken did not start" in note.content.text
        assert "no database" in note.content.text
        with pytest.raises(RequestError) as bad:  # a malformed entry is refused, named
            await conn.new_session(cwd=str(workspace), mcp_servers=[
                McpServerStdio(name="", command="", args=[], env=[])])
        assert bad.value.data["reason"] == "invalidMcpServers"


async def test_a_streamable_http_server(model: ScriptedModelServer, workspace: Path) -> None:
    npm_servers_installed()
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = await asyncio.create_subprocess_exec(
        "node", str(EVERYTHING), "streamableHttp", env={**os.environ, "PORT": str(port)},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert node.stderr is not None
        while b"listening on port" not in (line := await asyncio.wait_for(
                node.stderr.readline(), 30)):
            assert line, "server-everything exited before listening"
        web = HttpMcpServer(type="http", name="web", url=f"http://127.0.0.1:{port}/mcp",
                            headers=[HttpHeader(name="X-Nexus-Test", value="1")])
        model.extend([{"toolCalls": [{"id": "h1", "name": "mcp__web__echo",
                                      "arguments": {"message": "over http"}}]},
                      {"text": "done"}])
        async with acp_connected(settings(model.openai_base_url,
                                          permissions={"mode": "auto"})) as (_editor, conn):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[web])).session_id
            await conn.prompt(session_id=sid, prompt=[helpers.text_block("echo")])
        assert "over http" in tool_results(model)["h1"]
    finally:
        node.terminate()
        await node.wait()


async def test_usage_updates_carry_each_model_calls_report(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"toolCalls": [{"id": "c1", "name": "read_file",
                               "arguments": {"path": "README.md"}}],
                "usage": {"inputTokens": 1234, "outputTokens": 56}})
    model.push({"text": "done", "usage": {"inputTokens": 1400, "outputTokens": 7}})
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("read it")])
        usage = editor.of(sid, "usage_update")
        assert [(u.used, u.size) for u in usage] == [(1234, 128_000), (1400, 128_000)]
        kinds = [kind_of(u) for _, u in editor.updates]
        assert kinds.index("usage_update") < kinds.index("tool_call")


async def test_compact_command_runs_the_cores_compaction(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with acp_connected(settings(model.openai_base_url,
                                      session={"keepRecentExchanges": 1})) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        for i in range(3):
            model.push({"text": f"answer {i}"})
            await conn.prompt(session_id=sid, prompt=[helpers.text_block(f"task {i}")])
        before = len(editor.of(sid, "agent_message_chunk"))
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("/compact")])
        assert answer.stop_reason == "end_turn"
        note = texts(editor.of(sid, "agent_message_chunk")[before:])
        found = re.fullmatch(r"\[Context compacted: (\d+) messages summarised in ([\d,]+) "
                             r"characters; ([\d,]+) → ([\d,]+) tokens\]\n", note)
        assert found, note
        after = int(found[4].replace(",", ""))
        assert after < int(found[3].replace(",", ""))
        assert editor.of(sid, "usage_update")[-1].used == after
        context_md = (workspace / ".nexus" / "sessions" / sid / "context.md").read_text()
        summary = context_md.split("Summary (scripted)", 1)
        assert len(summary) == 2  # the core stored the summary
        # the next turn sends the summary instead of the oldest exchanges
        model.push({"text": "resumed"})
        await conn.prompt(session_id=sid, prompt=[helpers.text_block("go on")])
        sent = model.requests[-1].json["messages"]
        assert any("Summary (scripted)" in m["content"] for m in sent)
        assert not any(m["content"] == "task 0" for m in sent)
    assert model.validation_errors == []


async def test_automatic_compaction_is_a_thought_note_in_the_turn(
    model: ScriptedModelServer, workspace: Path
) -> None:
    turns = 12
    model.extend({"text": f"Answer {n}: " + "détails " * 40} for n in range(turns))
    opts = settings(model.openai_base_url, session={
        "contextTokens": 3_000, "compactAt": 0.6, "keepRecentExchanges": 1})
    async with acp_connected(opts) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        for n in range(turns):
            answer = await conn.prompt(session_id=sid, prompt=[
                helpers.text_block(f"Step {n}: " + "x" * 300)])
            assert answer.stop_reason == "end_turn"
        thoughts = [u.content.text for u in editor.of(sid, "agent_thought_chunk")]
        messages = texts(editor.of(sid, "agent_message_chunk"))
    notes = [t for t in thoughts if t.startswith("[Context compacted: ")]
    assert len(notes) == len(model.summary_requests) >= 1
    assert "Context compacted" not in messages  # not part of the answers
    assert model.validation_errors == []


async def test_compact_is_cancelled_by_session_cancel(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with acp_connected(settings(model.openai_base_url,
                                      session={"keepRecentExchanges": 1})) as (editor, conn):
        sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
        nothing = await conn.prompt(session_id=sid, prompt=[helpers.text_block("/compact")])
        assert nothing.stop_reason == "end_turn"  # no conversation yet: said so
        assert "Nothing to compact yet" in texts(editor.of(sid, "agent_message_chunk"))
        for i in range(3):
            model.push({"text": f"answer {i}"})
            await conn.prompt(session_id=sid, prompt=[helpers.text_block(f"task {i}")])
        model.set_summary({"fault": {"stall": True}})
        compacting = asyncio.ensure_future(
            conn.prompt(session_id=sid, prompt=[helpers.text_block("/compact")]))
        await model.wait_for_requests(4, 30)  # the summary request reached the model
        assert model.summary_requests == [3]
        before = len(editor.of(sid, "agent_message_chunk"))
        await conn.cancel(session_id=sid)
        answer = await asyncio.wait_for(compacting, 30)
        assert answer.stop_reason == "cancelled"
        note = texts(editor.of(sid, "agent_message_chunk")[before:])
        assert note.startswith("[Context compacted: summary cancelled; the oldest messages "
                               "were truncated instead;"), note
        model.set_summary(None)
        model.push({"text": "still here"})
        again = await conn.prompt(session_id=sid, prompt=[helpers.text_block("go on")])
        assert again.stop_reason == "end_turn"
    assert model.validation_errors == []


async def test_delete_stops_the_sessions_servers(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    async with acp_connected(settings(model.openai_base_url)) as (_editor, conn):
        sid = (await conn.new_session(cwd=str(workspace),
                                      mcp_servers=[fault(pid_file)])).session_id
        [pid] = pids(pid_file)
        await conn._conn.send_request("session/delete", {"sessionId": sid})  # unprompted
        assert await gone(pid)
