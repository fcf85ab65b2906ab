"""Cancellation end to end: $/cancelRequest, progress cancel, nexus/session/cancel,
nexus.cancel, and a cancel while the editor has not answered workspace/applyEdit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import WAIT, TestEditor, rpc_error

STALLING = {"text": "I am thinking about", "chunkSize": 4, "fault": {"stallAfterChunks": 2}}
EDIT_CALL = {
    "id": "e1",
    "name": "edit_file",
    "arguments": {"path": "src/app.py", "oldText": "'hi '", "newText": "'bye '"},
}


def start_send(editor: TestEditor, msg_id: int, **params: Any) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = editor.start_request(wire.SESSION_SEND, params, msg_id)
    return future


def cancel_request(editor: TestEditor, msg_id: int) -> None:
    editor.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))


async def check_history_is_valid(editor: TestEditor, model: ScriptedModelServer, sid: str) -> None:
    """The next turn of the session succeeds and the model accepts its history."""
    model.push({"text": "Back again."})
    after = await editor.send("continue", sid)
    assert after["stopReason"] == "endTurn", after
    assert model.validation_errors == []


async def test_cancel_request_mid_stream(editor: TestEditor, model: ScriptedModelServer) -> None:
    model.push(STALLING)
    pending = start_send(editor, 501, prompt="think")
    first = await editor.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    cancel_request(editor, 501)
    with pytest.raises(JsonRpcRequestCancelled) as caught:
        await asyncio.wait_for(pending, WAIT)
    assert rpc_error(caught.value)[0] == wire.REQUEST_CANCELLED
    sid = first["sessionId"]
    # turnEnd went out before the -32800 answer
    ends = [u for u in editor.turn_updates(sid, 1) if u["kind"] == wire.UPDATE_TURN_END]
    assert [e["stopReason"] for e in ends] == ["cancelled"]
    await model.wait_for_disconnect(WAIT)

    loaded = await editor.request(wire.SESSION_LOAD, {"sessionId": sid})
    last = loaded["messages"][-1]
    assert last["role"] == "assistant" and last.get("cancelled") is True
    assert last["content"].startswith("I am")
    await check_history_is_valid(editor, model, sid)


async def test_session_cancel_notification_resolves_the_send_as_cancelled(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push(STALLING)
    pending = start_send(vscode, 502, prompt="think")
    first = await vscode.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    vscode.protocol.notify(wire.SESSION_CANCEL, {"sessionId": first["sessionId"]})
    result = await asyncio.wait_for(pending, WAIT)
    assert result["stopReason"] == "cancelled"
    assert result["content"].startswith("I am")
    await check_history_is_valid(vscode, model, first["sessionId"])


async def test_nexus_cancel_command_cancels_running_turns(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push(STALLING)
    pending = start_send(vscode, 503, prompt="think")
    await vscode.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    answer = await vscode.request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(command=wire.COMMAND_CANCEL, arguments=[]),
    )
    assert answer == {"cancelled": 1}
    result = await asyncio.wait_for(pending, WAIT)
    assert result["stopReason"] == "cancelled"


async def test_busy_session_is_refused_while_a_turn_runs(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push(STALLING)
    pending = start_send(vscode, 504, prompt="think")
    first = await vscode.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    listed = (await vscode.request(wire.SESSION_LIST, {}))["sessions"]
    assert [(s["sessionId"], s["status"]) for s in listed] == [(first["sessionId"], "running")]
    with pytest.raises(Exception) as caught:
        await vscode.send("me too", first["sessionId"])
    code, data = rpc_error(caught.value)
    assert code == wire.REQUEST_FAILED
    assert data["reason"] == wire.REASON_SESSION_BUSY
    vscode.protocol.notify(wire.SESSION_CANCEL, {"sessionId": first["sessionId"]})
    assert (await asyncio.wait_for(pending, WAIT))["stopReason"] == "cancelled"


async def test_cancel_while_the_editor_has_not_answered_apply_edit(
    editor: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"toolCalls": [EDIT_CALL]})
    editor.hold_edits = asyncio.Event()
    pending = start_send(editor, 505, prompt="edit")
    await asyncio.wait_for(editor.edit_arrived.wait(), WAIT)
    cancel_request(editor, 505)
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(pending, WAIT)
    sid = editor.updates[0]["sessionId"]
    updates = editor.turn_updates(sid, 1)
    final = [u for u in updates if u["kind"] == "toolCallUpdate" and u["status"] != "running"]
    assert [(u["toolCallId"], u["status"]) for u in final] == [("e1", "cancelled")]
    assert updates[-1]["kind"] == "turnEnd" and updates[-1]["stopReason"] == "cancelled"

    editor.hold_edits.set()  # the editor answers now: applied, but too late to count
    await editor.wait_for_log("after the turn was cancelled")
    loaded = await editor.request(wire.SESSION_LOAD, {"sessionId": sid})
    tool = [m for m in loaded["messages"] if m["role"] == "tool"]
    assert len(tool) == 1 and "cancelled" in tool[0]["content"]
    await check_history_is_valid(editor, model, sid)


async def test_progress_cancel_of_a_batch_resolves_the_send_as_cancelled(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push({"toolCalls": [EDIT_CALL]})
    vscode.hold_edits = asyncio.Event()
    pending = start_send(vscode, 506, prompt="edit")
    await asyncio.wait_for(vscode.edit_arrived.wait(), WAIT)
    (token,) = [t for t in vscode.progress_reports if str(t).startswith("nexus/batch/")]
    vscode.protocol.notify(
        types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token)
    )
    result = await asyncio.wait_for(pending, WAIT)
    assert result["stopReason"] == "cancelled"
    assert [c["status"] for c in result["toolCalls"]] == ["cancelled"]
    end = vscode.progress_reports[token][-1]
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message == "cancelled"
    vscode.hold_edits.set()
    await check_history_is_valid(vscode, model, result["sessionId"])
