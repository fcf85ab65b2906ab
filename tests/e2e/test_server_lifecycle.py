"""Server lifecycle end to end: capabilities, settings, logging, shutdown, lost client,
kill -9 and resume, TCP."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import (
    CONFIG,
    WAIT,
    TestEditor,
    connected,
    server_env,
    settings,
    start,
    stop,
)

STALLING = {"text": "Working on it", "chunkSize": 3, "fault": {"stallAfterChunks": 2}}


async def test_initialize_advertises_protocol_v1(
    model: ScriptedModelServer, workspace: Path
) -> None:
    client = await CONFIG.start()
    assert isinstance(client, TestEditor)
    try:
        caps = pytest_caps("neovim")
        result = await start(client, caps, workspace, settings(model.openai_base_url))
        capabilities = result.capabilities
        assert capabilities.experimental == {
            "nexus": {
                "protocolVersion": 1,
                "methods": [*wire.REQUEST_METHODS, *wire.CHECKPOINT_METHODS,
                            wire.SESSION_CANCEL, wire.SESSION_UPDATE],
                "tools": list(wire.BUILTIN_TOOLS),
                "commands": [wire.COMMAND_ASK, wire.COMMAND_CANCEL, wire.COMMAND_REVERT,
                             wire.COMMAND_FORK],
                "clientFeatures": [],  # none declared: none used (protocol v2)
            }
        }
        assert capabilities.execute_command_provider is not None
        assert set(capabilities.execute_command_provider.commands) == {
            wire.COMMAND_ASK, wire.COMMAND_CANCEL, wire.COMMAND_REVERT, wire.COMMAND_FORK,
        }
        assert isinstance(capabilities.code_action_provider, types.CodeActionOptions)
        sync = capabilities.text_document_sync
        assert isinstance(sync, types.TextDocumentSyncOptions)
        assert sync.open_close and sync.change == types.TextDocumentSyncKind.Incremental
        assert capabilities.position_encoding == types.PositionEncodingKind.Utf8  # Neovim's first
        assert result.server_info is not None and result.server_info.name == "nexus-lsp"
        await client.request(wire.SESSION_LIST, {})  # the first use starts the runtime
        await client.wait_for_log("nexus-lsp ready")
        await asyncio.wait_for(client.shutdown_session(), WAIT)
    finally:
        assert await stop(client) == 0


def pytest_caps(name: str) -> types.ClientCapabilities:
    return pytest_lsp.client_capabilities(name)


async def test_settings_layers_and_invalid_values(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url, session={"maxIterations": 0, "systemPrompt": "INIT"})
    options["edits"] = {"fallbackToDisk": "maybe"}
    configuration = {"session": {"systemPrompt": "FROM CONFIGURATION"}}
    async with connected("visual-studio-code", workspace, options, configuration) as client:
        model.push({"text": "one"})
        await client.send("hi")  # the first use reads the settings and tells what is wrong
        warning = await client.wait_for_message("session.maxIterations")
        assert warning.type == types.MessageType.Warning
        assert "edits.fallbackToDisk" in warning.message
        system = model.requests[-1].json["messages"][0]["content"]
        assert "FROM CONFIGURATION" in system and "INIT" not in system

        client.set_configuration({"session": {"maxToolOutputChars": "lots"}}, section="nexus")
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )
        await client.wait_for_message("session.maxToolOutputChars")


async def test_shutdown_during_a_turn_ends_it_cleanly(
    model: ScriptedModelServer, workspace: Path
) -> None:
    client = await CONFIG.start()
    assert isinstance(client, TestEditor)
    try:
        await start(client, pytest_caps("visual-studio-code"), workspace,
                    settings(model.openai_base_url))
        model.push(STALLING)
        pending = asyncio.ensure_future(client.send("long task"))
        first = await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
        await asyncio.wait_for(client.shutdown_session(), WAIT)
        ends = [u for u in client.updates if u["kind"] == wire.UPDATE_TURN_END]
        assert [e["stopReason"] for e in ends] == ["cancelled"]
        outcome = await asyncio.gather(pending, return_exceptions=True)
        assert outcome[0] is not None
    finally:
        assert await stop(client) == 0
    await check_session_state(model, workspace, first["sessionId"], "idle", repaired=False)


async def test_lost_client_mid_turn_closes_the_turn(
    model: ScriptedModelServer, workspace: Path
) -> None:
    client = await CONFIG.start()
    assert isinstance(client, TestEditor)
    await start(client, pytest_caps("visual-studio-code"), workspace,
                settings(model.openai_base_url))
    model.push(STALLING)
    pending = asyncio.ensure_future(client.send("long task"))
    first = await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    assert await stop(client) == 0  # stdin closes: the server cancels, saves, exits 0
    await asyncio.gather(pending, return_exceptions=True)
    await check_session_state(model, workspace, first["sessionId"], "idle", repaired=False)


async def test_sigterm_mid_turn_ends_it_cleanly(
    model: ScriptedModelServer, workspace: Path
) -> None:
    client = await CONFIG.start()
    assert isinstance(client, TestEditor)
    await start(client, pytest_caps("neovim"), workspace, settings(model.openai_base_url))
    model.push(STALLING)
    pending = asyncio.ensure_future(client.send("long task"))
    first = await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    process = client.server_process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), WAIT) == 0
    await asyncio.gather(pending, return_exceptions=True)
    assert [u["stopReason"] for u in client.updates if u["kind"] == "turnEnd"] == ["cancelled"]
    await stop(client)
    await check_session_state(model, workspace, first["sessionId"], "idle", repaired=False)


async def test_kill_9_mid_turn_then_list_load_and_continue(
    model: ScriptedModelServer, workspace: Path
) -> None:
    client = await CONFIG.start()
    assert isinstance(client, TestEditor)
    await start(client, pytest_caps("visual-studio-code"), workspace,
                settings(model.openai_base_url))
    model.extend([
        {"text": "Reading first.",
         "toolCalls": [{"id": "r1", "name": "read_file", "arguments": {"path": "README.md"}}]},
        {"text": "Now editing", "toolCalls": [{"id": "w1", "name": "write_file",
                                               "arguments": {"path": "b.txt", "content": "b"}}]},
    ])
    client.hold_edits = asyncio.Event()  # the turn waits in its second batch
    pending = asyncio.ensure_future(client.send("do things"))
    await asyncio.wait_for(client.edit_arrived.wait(), WAIT)
    sid = client.updates[0]["sessionId"]
    process = client.server_process
    assert process is not None
    process.send_signal(signal.SIGKILL)
    await process.wait()
    await asyncio.gather(pending, return_exceptions=True)
    await stop(client)
    await check_session_state(model, workspace, sid, "interrupted", repaired=True)


async def check_session_state(
    model: ScriptedModelServer, workspace: Path, sid: str, status: str, *, repaired: bool
) -> None:
    """A new server lists the session with ``status``, loads it and continues it."""
    options = settings(model.openai_base_url)
    async with connected("neovim", workspace, options) as client:
        listed = (await client.request(wire.SESSION_LIST, {}))["sessions"]
        assert [(s["sessionId"], s["status"]) for s in listed] == [(sid, status)]
        loaded = await client.request(wire.SESSION_LOAD, {"sessionId": sid})
        assert loaded["repaired"] is repaired
        calls = {c["toolCallId"] for m in loaded["messages"] for c in m.get("toolCalls", [])}
        answered = {m["toolCallId"] for m in loaded["messages"] if m["role"] == "tool"}
        assert calls == answered
        model.push({"text": "Continuing."})
        result = await client.send("go on", sid)
        assert result["stopReason"] == "endTurn", result
        assert result["turnId"] == 2
        assert model.validation_errors == []


async def test_tcp_on_loopback(model: ScriptedModelServer, workspace: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_lsp.lsp", "--tcp", "--port", "0",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env=server_env(),
    )
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), WAIT)
        match = re.search(rb"listening on \('127\.0\.0\.1', (\d+)\)", line)
        assert match, line
        client = TestEditor()
        await client.start_tcp("127.0.0.1", int(match.group(1)))
        # pygls' client never closes its TCP writer: closed here, or the socket is
        # left to the garbage collector (a ResourceWarning in some later test)
        writer = client.protocol.writer
        try:
            await start(client, pytest_caps("visual-studio-code"), workspace,
                        settings(model.openai_base_url))
            model.push({"text": "over tcp"})
            assert (await client.send("hi"))["content"] == "over tcp"
            await asyncio.wait_for(client.shutdown_session(), WAIT)
            assert await asyncio.wait_for(process.wait(), WAIT) == 0
            await client.stop()  # type: ignore[no-untyped-call]
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_tcp_refuses_other_hosts() -> None:
    from nexus_lsp.lsp import serve_tcp

    with pytest.raises(ValueError, match="loopback only"):
        serve_tcp("0.0.0.0", 0, None)


async def test_log_file(model: ScriptedModelServer, workspace: Path, tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "nexus_lsp.lsp", "--log-file", str(log_file)],
        client_factory=TestEditor,
        server_env=server_env(),
    )
    client = await config.start()
    assert isinstance(client, TestEditor)
    try:
        await start(client, pytest_caps("neovim"), workspace, settings(model.openai_base_url))
        model.push({"text": "logged"})
        await client.send("hi")
        await asyncio.wait_for(client.shutdown_session(), WAIT)
    finally:
        assert await stop(client) == 0
    text = log_file.read_text()
    assert "nexus-lsp ready" in text and "nexus/session/send" in text
    assert "e2e-secret-key" not in text
