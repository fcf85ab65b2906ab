"""Generic LSP editors: code actions running nexus.ask, the transcript shown after."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import WAIT, TestEditor


def code_action_params(
    doc: str,
    start: types.Position,
    end: types.Position,
    only: list[str] | None = None,
    trigger: types.CodeActionTriggerKind | None = None,
) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=doc),
        range=types.Range(start=start, end=end),
        context=types.CodeActionContext(diagnostics=[], only=only, trigger_kind=trigger),
    )


async def test_code_action_runs_a_prompt_on_the_selection(
    editor: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    app = workspace / "src" / "app.py"
    app.write_text("import os\n\ndef greet(name):\n    return 'hi 😀 ' + name\n")
    doc = editor.open(app)
    params = code_action_params(
        doc, types.Position(line=2, character=0), types.Position(line=4, character=0)
    )
    actions = await editor.request(types.TEXT_DOCUMENT_CODE_ACTION, params)
    assert [a.title for a in actions] == ["Nexus: Explain this code", "Nexus: Fix this code"]
    explain = actions[0]
    assert explain.kind == "refactor.nexus"
    assert explain.command.command == wire.COMMAND_ASK

    model.push({"text": "It greets someone."})
    started = await editor.request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            command=explain.command.command, arguments=explain.command.arguments
        ),
    )
    # v2: the command answers at once; the turn runs on and its end is shown
    assert started == {"sessionId": started["sessionId"], "turnId": 1, "started": True}
    shown = await editor.wait_for_message("It greets someone.")
    assert shown.type == types.MessageType.Info
    transcript = f".nexus/sessions/{started['sessionId']}/context.md"
    assert transcript in shown.message
    end = await editor.wait_for_update(lambda u: u["kind"] == wire.UPDATE_TURN_END)
    assert end["stopReason"] == "endTurn"
    prompt = model.requests[-1].json["messages"][-1]["content"]
    assert prompt.startswith("Explain what this code does.")
    assert "Selection from `src/app.py`, lines 3-4:" in prompt
    assert "```python\ndef greet(name):\n    return 'hi 😀 ' + name\n```" in prompt
    assert "import os" not in prompt

    document = editor.shown_documents[-1]
    assert document.uri.endswith(f"/{transcript}")

    model.push({"text": "Still the same session."})
    again = await editor.request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            command=wire.COMMAND_ASK, arguments=[{"prompt": "And?", "wait": True}]
        ),
    )
    assert again["sessionId"] == started["sessionId"] and again["turnId"] == 2
    assert again["content"] == "Still the same session."


async def test_code_actions_respect_the_requested_kinds(
    vscode: TestEditor, workspace: Path
) -> None:
    doc = vscode.open(workspace / "src" / "app.py")
    zero = types.Position(line=0, character=0)
    quickfix = await vscode.request(
        types.TEXT_DOCUMENT_CODE_ACTION, code_action_params(doc, zero, zero, ["quickfix"])
    )
    assert list(quickfix) == []
    invoked = types.CodeActionTriggerKind.Invoked
    refactor = await vscode.request(
        types.TEXT_DOCUMENT_CODE_ACTION,
        code_action_params(doc, zero, zero, ["refactor"], invoked),
    )
    assert len(refactor) == 2


async def test_code_actions_need_a_selection_unless_the_user_asked(
    vscode: TestEditor, workspace: Path
) -> None:
    doc = vscode.open(workspace / "src" / "app.py")
    zero, one = types.Position(line=0, character=0), types.Position(line=0, character=3)
    automatic = types.CodeActionTriggerKind.Automatic

    async def titles(params: types.CodeActionParams) -> list[str]:
        return [a.title for a in await vscode.request(types.TEXT_DOCUMENT_CODE_ACTION, params)]

    # The light bulb's automatic request at a bare cursor: nothing to offer.
    assert await titles(code_action_params(doc, zero, zero, trigger=automatic)) == []
    selected = await titles(code_action_params(doc, zero, one, trigger=automatic))
    assert selected == ["Nexus: Explain this code", "Nexus: Fix this code"]
    invoked = types.CodeActionTriggerKind.Invoked
    assert await titles(code_action_params(doc, zero, zero, trigger=invoked)) == selected
    # Clients older than LSP 3.17 send no trigger kind, and ask only when the user
    # does (Vim's ALE, :ALECodeAction): treated as invoked.
    assert await titles(code_action_params(doc, zero, zero)) == selected


async def test_ask_cancelled_by_cancel_request(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push({"text": "a long story", "chunkSize": 2, "fault": {"stallAfterChunks": 2}})
    pending = vscode.start_request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            command=wire.COMMAND_ASK, arguments=[{"prompt": "tell", "wait": True}]
        ),
        msg_id=801,
    )
    first = await vscode.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    vscode.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=801))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(pending, WAIT)
    end = await vscode.wait_for_update(lambda u: u["kind"] == wire.UPDATE_TURN_END)
    assert end["stopReason"] == "cancelled" and end["sessionId"] == first["sessionId"]
    await model.wait_for_disconnect(WAIT)
