"""Params validation, the JSON-RPC error map, results, settings payloads, loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel
from pygls.exceptions import JsonRpcException

from nexus_lsp import wire
from nexus_lsp.core.events import ToolCallRecord, TurnError, TurnResult
from nexus_lsp.core.messages import Message, ToolCall, Usage
from nexus_lsp.errors import (
    ConfigError,
    NotANexusDatabase,
    SessionBusy,
    ToolsUnavailable,
    UnknownSession,
)
from nexus_lsp.host.settings import unwrap_section
from nexus_lsp.lsp import params as P
from nexus_lsp.lsp.results import iso, message_json, send_result
from nexus_lsp.lsp.rpc_errors import ParamsError, rpc_error, rpc_errors
from nexus_lsp.lsp.serve import is_loopback


def test_valid_params() -> None:
    send = P.parse(P.SendParams, {"prompt": "hi", "sessionId": "s1", "workDoneToken": 7})
    assert (send.prompt, send.session_id, send.work_done_token) == ("hi", "s1", 7)
    assert P.parse(P.ListParams, None) == P.ListParams()
    ask = P.parse(
        P.AskArgs,
        {"prompt": "p", "uri": "file:///a", "range": {
            "start": {"line": 0, "character": 1}, "end": {"line": 2, "character": 0}}},
    )
    assert ask.range is not None and ask.range.end.line == 2 and ask.show_transcript


@pytest.mark.parametrize(
    ("model", "raw", "field", "text"),
    [
        (P.SendParams, {"prompt": 1}, "prompt", "valid string"),
        (P.SendParams, {"prompt": "x", "sessionId": ""}, "sessionId", "at least 1"),
        (P.SendParams, {"prompt": "x", "workDoneToken": True}, "workDoneToken", "progress token"),
        (P.SendParams, {"prompt": "x", "extra": 1}, "extra", "Extra inputs"),
        (P.NewParams, ["a"], "params", "got an array"),
        (P.LoadParams, {}, "sessionId", "Field required"),
        (P.AskArgs, {"prompt": "p", "range": {"start": {"line": 0}}}, "range.start.character",
         "Field required"),
    ],
)
def test_invalid_params_name_the_field(
    model: type[BaseModel], raw: object, field: str, text: str
) -> None:
    with pytest.raises(ParamsError) as caught:
        P.parse(model, raw)
    assert caught.value.field == field
    assert str(caught.value).startswith(field) and text in str(caught.value)


def test_every_problem_is_reported() -> None:
    with pytest.raises(ParamsError) as caught:
        P.parse(P.SendParams, {"prompt": 3, "sessionId": 4})
    assert "prompt:" in str(caught.value) and "sessionId:" in str(caught.value)


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (UnknownSession("s1"), wire.REQUEST_FAILED, wire.REASON_UNKNOWN_SESSION),
        (SessionBusy("s1"), wire.REQUEST_FAILED, wire.REASON_SESSION_BUSY),
        (NotANexusDatabase("not ours"), wire.REQUEST_FAILED, "storeUnavailable"),
        (ToolsUnavailable("no tools"), wire.REQUEST_FAILED, "failed"),
    ],
)
def test_core_errors_map_to_request_failed(exc: Exception, code: int, reason: str) -> None:
    error = rpc_error(exc)
    assert error is not None and isinstance(error.data, dict)
    assert error.code == code and error.data["reason"] == reason
    assert error.message == str(exc)


def test_params_and_config_errors_map_to_invalid_params() -> None:
    for exc in (ParamsError("prompt: Field required", "prompt"), ConfigError("a.b", "bad")):
        error = rpc_error(exc)
        assert error is not None and error.code == wire.INVALID_PARAMS


def test_rpc_errors_maps_ours_and_leaves_bugs_alone() -> None:
    with pytest.raises(JsonRpcException) as caught, rpc_errors("nexus/session/load"):
        raise UnknownSession("gone")
    assert caught.value.data == {"reason": "unknownSession", "sessionId": "gone"}
    with pytest.raises(KeyError), rpc_errors("x"):
        raise KeyError("a bug stays a bug (pygls answers -32603)")


def test_send_result_shape() -> None:
    call = ToolCall("c1", "read_file", {"path": "a"})
    result = TurnResult(
        "s1", 2, "error", "partial",
        (ToolCallRecord(call, "failed", "read_file: failed: nope"),),
        Usage(3, None), TurnError("providerAuth", "denied"),
    )
    assert send_result(result) == {
        "sessionId": "s1", "turnId": 2, "stopReason": "error", "content": "partial",
        "toolCalls": [{"toolCallId": "c1", "name": "read_file", "arguments": {"path": "a"},
                       "status": "failed", "error": "read_file: failed: nope"}],
        "usage": {"inputTokens": 3},
        "error": {"code": "providerAuth", "message": "denied"},
    }
    ok = send_result(TurnResult("s1", 1, "endTurn", "hi"))
    assert "usage" not in ok and "error" not in ok and ok["toolCalls"] == []


def test_message_json_leaves_out_what_is_not_there() -> None:
    assert message_json(Message.user("hi")) == {"role": "user", "content": "hi"}
    call = ToolCall("c1", "list_directory", {})
    assert message_json(Message.assistant("", (call,))) == {
        "role": "assistant", "content": "",
        "toolCalls": [{"toolCallId": "c1", "name": "list_directory", "arguments": {}}],
    }
    tool = Message(role="tool", content="x", tool_call_id="c1", name="list_directory",
                   is_error=True)
    assert message_json(tool)["isError"] is True


def test_iso_is_utc_with_z() -> None:
    moment = datetime(2025, 1, 31, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2025-01-31T12:00:00.123Z"
    assert iso(datetime(2025, 1, 31, 12, 0)) == "2025-01-31T12:00:00.000Z"
    assert iso(datetime(2025, 1, 31, 12, 0, tzinfo=UTC)).endswith("Z")


def test_settings_payload_may_be_wrapped_in_its_section() -> None:
    assert unwrap_section({"nexus": {"session": {}}}) == {"session": {}}
    assert unwrap_section({"session": {}}) == {"session": {}}
    assert unwrap_section(None) is None


@pytest.mark.parametrize(
    ("host", "ok"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("192.168.1.2", False), ("example.com", False)],
)
def test_loopback_hosts(host: str, ok: bool) -> None:
    assert is_loopback(host) is ok
