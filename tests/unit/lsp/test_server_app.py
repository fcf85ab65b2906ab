"""The pygls app: capabilities it adds, and pygls' future table kept bounded."""

from __future__ import annotations

from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.lsp.app import PRUNE_EVERY, create_server, experimental_capabilities


def test_notification_futures_do_not_pile_up() -> None:
    server = create_server()
    params = types.SetTraceParams(value=types.TraceValue.Off)
    for _ in range(PRUNE_EVERY * 4):
        server.protocol._handle_notification(types.SET_TRACE, params)
    assert len(server.protocol._request_futures) < PRUNE_EVERY


def test_experimental_capabilities_name_every_wire_method_and_tool() -> None:
    nexus = experimental_capabilities()["nexus"]
    assert nexus["protocolVersion"] == wire.PROTOCOL_VERSION
    assert set(wire.REQUEST_METHODS) < set(nexus["methods"])
    assert nexus["tools"] == list(wire.BUILTIN_TOOLS)


def test_experimental_capabilities_list_the_declared_client_features_the_server_uses() -> None:
    nexus = experimental_capabilities({"diagnostics": True, "usage": True, "telepathy": True,
                                       "permissionRequests": False})["nexus"]
    assert nexus["clientFeatures"] == [wire.FEATURE_USAGE, wire.FEATURE_DIAGNOSTICS]
    assert nexus["tools"] == [*wire.BUILTIN_TOOLS, wire.TOOL_GET_DIAGNOSTICS]
    assert experimental_capabilities()["nexus"]["clientFeatures"] == []


def test_commands_and_code_actions_are_registered() -> None:
    server = create_server()
    assert set(server.protocol.fm.commands) == {
        wire.COMMAND_ASK, wire.COMMAND_CANCEL, wire.COMMAND_REVERT, wire.COMMAND_FORK}
    assert types.TEXT_DOCUMENT_CODE_ACTION in server.protocol.fm.features
    for method in (*wire.REQUEST_METHODS, *wire.CHECKPOINT_METHODS, wire.SESSION_CANCEL):
        assert method in server.protocol.fm.features
