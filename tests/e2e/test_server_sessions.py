"""Session methods end to end: new, list, load, delete; invalid params; unknown sessions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import TestEditor, rpc_error

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_new_list_load_delete(
    editor: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    created = await editor.request(
        wire.SESSION_NEW,
        {"title": "Refactor", "systemPrompt": "Answer in haiku.", "model": "other-model"},
    )
    sid = created["sessionId"]
    assert created["title"] == "Refactor"
    assert ISO_UTC.match(created["createdAt"]), created
    assert created["logDir"] == f".nexus/sessions/{sid}"
    assert (workspace / created["logDir"]).is_dir()

    model.push({"text": "Lines of code / ..."})
    result = await editor.send("hello", sid)
    assert result["sessionId"] == sid and result["stopReason"] == "endTurn"
    assert model.requests[-1].json["model"] == "other-model"
    assert "Answer in haiku." in model.requests[-1].json["messages"][0]["content"]
    other = await editor.request(wire.SESSION_NEW, {})

    listed = (await editor.request(wire.SESSION_LIST, {}))["sessions"]
    assert [s["sessionId"] for s in listed] == [other["sessionId"], sid]  # newest first
    first = listed[1]
    assert first["title"] == "Refactor" and first["turnCount"] == 1
    assert first["status"] == "idle"
    assert ISO_UTC.match(first["createdAt"]) and ISO_UTC.match(first["updatedAt"])

    loaded = await editor.request(wire.SESSION_LOAD, {"sessionId": sid})
    assert loaded["sessionId"] == sid and loaded["title"] == "Refactor"
    assert loaded["repaired"] is False
    assert [m["role"] for m in loaded["messages"]] == ["system", "user", "assistant"]
    assert loaded["messages"][2]["content"] == "Lines of code / ..."

    assert await editor.request(wire.SESSION_DELETE, {"sessionId": sid}) == {"deleted": True}
    assert await editor.request(wire.SESSION_DELETE, {"sessionId": sid}) == {"deleted": False}
    assert not (workspace / created["logDir"]).exists()
    listed = (await editor.request(wire.SESSION_LIST, None))["sessions"]
    assert [s["sessionId"] for s in listed] == [other["sessionId"]]


async def test_send_without_session_creates_one_titled_from_the_prompt(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push({"text": "ok"})
    result = await vscode.send("Explain the build\nin detail please")
    listed = (await vscode.request(wire.SESSION_LIST, {}))["sessions"]
    assert listed[0]["sessionId"] == result["sessionId"]
    assert listed[0]["title"] == "Explain the build"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        (wire.SESSION_SEND, {"sessionId": "20990101-000000-abcdef", "prompt": "hi"}),
        (wire.SESSION_LOAD, {"sessionId": "20990101-000000-abcdef"}),
        (wire.SESSION_SEND, {"sessionId": "../../etc", "prompt": "hi"}),
    ],
)
async def test_unknown_session(vscode: TestEditor, method: str, params: dict[str, Any]) -> None:
    with pytest.raises(Exception) as caught:
        await vscode.request(method, params)
    code, data = rpc_error(caught.value)
    assert code == wire.REQUEST_FAILED
    assert data["reason"] == wire.REASON_UNKNOWN_SESSION
    assert data["sessionId"] == params["sessionId"]


async def test_ask_with_an_unknown_session_is_refused_not_started_anew(
    vscode: TestEditor,
) -> None:
    unknown = "20990101-000000-abcdef"
    with pytest.raises(Exception) as caught:
        await vscode.request(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(
                command=wire.COMMAND_ASK, arguments=[{"prompt": "hi", "sessionId": unknown}]
            ),
        )
    code, data = rpc_error(caught.value)
    assert (code, data["reason"], data["sessionId"]) == (
        wire.REQUEST_FAILED, wire.REASON_UNKNOWN_SESSION, unknown
    )
    listed = await vscode.request(wire.SESSION_LIST, {})
    assert listed["sessions"] == []


INVALID = [
    (wire.SESSION_NEW, {"title": 5}, "title"),
    (wire.SESSION_NEW, {"titel": "x"}, "titel"),
    (wire.SESSION_NEW, [1, 2], "params"),
    (wire.SESSION_SEND, {}, "prompt"),
    (wire.SESSION_SEND, {"prompt": ""}, "prompt"),
    (wire.SESSION_SEND, {"prompt": "hi", "sessionId": 3}, "sessionId"),
    (wire.SESSION_SEND, {"prompt": "hi", "workDoneToken": [1]}, "workDoneToken"),
    (wire.SESSION_LIST, {"all": True}, "all"),
    (wire.SESSION_LOAD, {}, "sessionId"),
    (wire.SESSION_LOAD, {"sessionId": None}, "sessionId"),
    (wire.SESSION_DELETE, {"sessionId": ""}, "sessionId"),
    (wire.SESSION_DELETE, "abc", "params"),
]


async def test_invalid_params_name_the_field(vscode: TestEditor) -> None:
    for method, params, field in INVALID:
        with pytest.raises(Exception) as caught:
            await vscode.request(method, params)
        code, data = rpc_error(caught.value)
        assert code == wire.INVALID_PARAMS, (method, params)
        assert data["field"] == field, (method, params, data)
        assert field in str(caught.value), (method, params, str(caught.value))


async def test_invalid_command_arguments_name_the_field(vscode: TestEditor) -> None:
    cases: list[tuple[list[Any] | None, str]] = [
        (None, "arguments"),
        ([], "arguments"),
        (["just a string"], "arguments[0]"),
        ([{"prompt": "x", "range": {"start": {"line": -1, "character": 0}}}], "range"),
    ]
    for arguments, field in cases:
        with pytest.raises(Exception) as caught:
            await vscode.request(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(command=wire.COMMAND_ASK, arguments=arguments),
            )
        code, _ = rpc_error(caught.value)
        assert code == wire.INVALID_PARAMS, arguments
        assert field in str(caught.value), (arguments, str(caught.value))


async def test_bad_cancel_notifications_are_logged_and_the_server_goes_on(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    vscode.protocol.notify(wire.SESSION_CANCEL, {"session": "x"})
    vscode.protocol.notify(wire.SESSION_CANCEL, {"sessionId": "20990101-000000-abcdef"})
    await vscode.wait_for_log("sessionId")
    model.push({"text": "still here"})
    assert (await vscode.send("ping"))["content"] == "still here"
    assert not [m for m in vscode.messages if m.type == types.MessageType.Error]
