"""MCP servers through the real server (protocol v2 §5): the scripted model calls
``mcp__…`` tools of the in-repo fault server and npm's server-everything.

Real nexus-lsp over stdio, real MCP server processes, a real nexus.db (grants).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import WAIT, TestEditor, connected, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for mcp_support
from mcp_support import (
    EVERYTHING,
    alive,
    descendants,
    fault_server_json,
    npm_servers_installed,
)

FEATURES = {wire.CLIENT_FEATURES: {wire.FEATURE_PERMISSION_REQUESTS: True}}


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


def options(model: ScriptedModelServer, **sections: Any) -> Any:
    return {**settings(model.openai_base_url, **sections), **FEATURES}


def tool_results(model: ScriptedModelServer) -> dict[str, str]:
    out: dict[str, str] = {}
    for request in model.requests:
        for m in request.json["messages"]:
            if m["role"] == "tool":
                out[m["tool_call_id"]] = m["content"]
    return out


def offered(model: ScriptedModelServer, index: int) -> list[str]:
    return [t["function"]["name"] for t in model.requests[index].json.get("tools", [])]


def pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def mcp_list(editor: TestEditor) -> list[dict[str, Any]]:
    result = await editor.request(wire.MCP_LIST, {})
    servers: list[dict[str, Any]] = result["servers"]
    return servers


async def test_mcp_tools_in_a_turn_asked_in_default_mode(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    npm_servers_installed()
    pid_file = tmp_path / "pids"
    servers = {
        "fault": fault_server_json(FAULT_PID_FILE=str(pid_file)),
        "everything": {"command": "node", "args": [str(EVERYTHING), "stdio"]},
    }
    async with connected("visual-studio-code", workspace,
                         options(model, mcpServers=servers)) as editor:
        assert [(s["name"], s["status"]) for s in await mcp_list(editor)] == [
            ("fault", "stopped"), ("everything", "stopped")]  # nothing started before a turn
        assert not pid_file.exists()
        editor.permission_answers = [wire.OPTION_ALLOW_ONCE, wire.OPTION_ALLOW_ALWAYS,
                                     wire.OPTION_ALLOW_ONCE]
        model.extend([
            {"toolCalls": [call("a", "mcp__fault__echo", text="over the wire")]},
            {"toolCalls": [call("b", "mcp__everything__echo", message="hello npm")]},
            {"toolCalls": [call("c", "mcp__fault__fail", why="no reason")]},
            {"text": "done"},
        ])
        result = await editor.send("use the MCP tools")
        assert result["stopReason"] == "endTurn", result
        names = offered(model, 0)
        assert {"read_file", "mcp__fault__echo", "mcp__everything__echo"} <= set(names)
        echo = next(t for t in model.requests[0].json["tools"]
                    if t["function"]["name"] == "mcp__fault__echo")
        assert echo["function"]["parameters"]["required"] == ["text"]
        results = tool_results(model)
        assert results["a"] == "echo: over the wire"
        assert "hello npm" in results["b"]
        assert results["c"] == ("mcp__fault__fail: failed: Error executing tool fail: "
                                "it failed because no reason")
        # default mode asks for mcp tools (allow_always stored for everything.echo)
        questions = editor.permission_requests
        assert [q["toolCall"]["name"] for q in questions] == [
            "mcp__fault__echo", "mcp__everything__echo", "mcp__fault__fail"]
        assert {q["toolCall"]["kind"] for q in questions} == {"mcp"}
        grants = (await editor.request(wire.PERMISSIONS_LIST, {}))["grants"]
        assert [(g["tool"], g["match"]) for g in grants] == [("mcp__everything__echo", "*")]
        kinds = {u["toolCallId"]: u.get(wire.FIELD_TOOL_KIND)
                 for u in editor.updates if u["kind"] == wire.UPDATE_TOOL_CALL}
        assert kinds == {"a": "mcp", "b": "mcp", "c": "mcp"}

        # each server's stderr is in the server log, on a logger of its own
        logged = await editor.wait_for_log(f"fault server {pids(pid_file)[0]} starting")
        assert "nexus_lsp.mcp.server.fault" in logged.message
        listed = await mcp_list(editor)
        assert [(s["name"], s["status"], s["source"]) for s in listed] == [
            ("fault", "running", "settings"), ("everything", "running", "settings")]
        assert "mcp__fault__slow" in listed[0]["tools"]
        process = editor.server_process
        assert process is not None
        children = descendants(process.pid)
        assert set(pids(pid_file)) <= children and len(children) >= 2
    # shutdown stopped every MCP server: no orphan
    assert not [p for p in children if alive(p)]


async def test_project_servers_wait_for_the_user(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    (workspace / ".mcp.json").write_text(json.dumps(
        {"mcpServers": {"proj": fault_server_json(FAULT_PID_FILE=str(pid_file))}}))
    opts = options(model, permissions={"mode": "auto"})  # asked even in auto mode
    async with connected("visual-studio-code", workspace, opts) as editor:
        [entry] = await mcp_list(editor)
        assert (entry["name"], entry["status"], entry["source"]) == (
            "proj", "notAllowed", "project")
        editor.permission_answers = [wire.OPTION_REJECT_ONCE]
        model.extend([{"text": "no tools from it"}])
        assert (await editor.send("hello"))["stopReason"] == "endTurn"
        [question] = editor.permission_requests
        assert question["toolCall"]["name"] == "mcp_server:proj"
        assert question["toolCall"]["kind"] == "mcp"
        assert question["toolCall"]["arguments"]["command"] == sys.executable
        assert "Start MCP server `proj` from .mcp.json" in question["toolCall"]["title"]
        assert not pid_file.exists()  # never started
        assert not any(n.startswith("mcp__proj__") for n in offered(model, 0))
        [entry] = await mcp_list(editor)
        assert entry["status"] == "notAllowed" and "rejected" in entry["error"]

    async with connected("visual-studio-code", workspace, opts) as editor:
        editor.permission_answers = [wire.OPTION_ALLOW_ALWAYS]
        model.extend([{"toolCalls": [call("p", "mcp__proj__echo", text="allowed")]},
                      {"text": "done"}])
        assert (await editor.send("now"))["stopReason"] == "endTurn"
        assert tool_results(model)["p"] == "echo: allowed"
        assert len(pids(pid_file)) == 1

    async with connected("visual-studio-code", workspace, opts) as editor:
        model.extend([{"toolCalls": [call("q", "mcp__proj__echo", text="granted")]},
                      {"text": "done"}])
        assert (await editor.send("again"))["stopReason"] == "endTurn"
        assert editor.permission_requests == []  # the grant was stored
        assert tool_results(model)["q"] == "echo: granted"
    assert not any(alive(p) for p in pids(pid_file))


async def test_cancel_reaches_the_mcp_call(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    mark = tmp_path / "slow"
    servers = {"fault": fault_server_json(FAULT_SLOW_MARK=str(mark))}
    opts = options(model, mcpServers=servers, permissions={"mode": "auto"},
                   session={"toolTimeoutSeconds": 60})
    async with connected("visual-studio-code", workspace, opts) as editor:
        model.extend([{"toolCalls": [call("s", "mcp__fault__slow", seconds=60)]},
                      {"text": "never"}])
        session = (await editor.request(wire.SESSION_NEW, {}))["sessionId"]
        turn = editor.start_request(wire.SESSION_SEND, {"sessionId": session, "prompt": "wait"})
        for _ in range(int(WAIT / 0.05)):
            if mark.exists():
                break
            await asyncio.sleep(0.05)
        assert mark.read_text() == "started"
        editor.protocol.notify(wire.SESSION_CANCEL, {"sessionId": session})
        result = await asyncio.wait_for(turn, WAIT)
        assert result["stopReason"] == "cancelled"
        for _ in range(int(WAIT / 0.05)):
            if mark.read_text() == "cancelled":
                break
            await asyncio.sleep(0.05)
        assert mark.read_text() == "cancelled"
