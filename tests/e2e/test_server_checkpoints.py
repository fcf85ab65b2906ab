"""Checkpoints through the real server (protocol v2 §3): revert as one applyEdit, on
disk for clients without applyEdit, after kill -9, the generic editors' command and
code action, fork with valid histories, and the errors."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import (
    CONFIG,
    WAIT,
    TestEditor,
    connected,
    rpc_error,
    settings,
    start,
    stop,
    uri,
)


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text("utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".nexus" not in p.parts
    }


FOUR_KINDS = [
    {"toolCalls": [
        call("e1", "edit_file", path="src/app.py", oldText="'hi '", newText="'hello '"),
        call("w1", "write_file", path="docs/new.md", content="# New\n"),
        call("d1", "delete_file", path="README.md"),
    ]},
    {"toolCalls": [call("m1", "rename_file", path="docs/new.md", newPath="docs/moved.md")]},
    {"toolCalls": [call("m2", "rename_file", path="src/util.py", newPath="src/tools.py")]},
    {"text": "done"},
]


@pytest.fixture
def files(workspace: Path) -> Path:
    (workspace / "src" / "util.py").write_text("def util():\n    pass\n", encoding="utf-8")
    return workspace


async def test_revert_through_the_editor_is_one_labelled_apply_edit(
    editor: TestEditor, model: ScriptedModelServer, files: Path
) -> None:
    before = tree(files)
    model.extend(FOUR_KINDS)
    turn = await editor.send("shuffle")
    assert [c["status"] for c in turn["toolCalls"]] == ["completed"] * 5, turn
    edits_of_turn = len(editor.edit_requests)

    result = await editor.request(
        wire.SESSION_REVERT, {"sessionId": turn["sessionId"], "turnId": 1})

    assert tree(files) == before
    (revert,) = editor.edit_requests[edits_of_turn:]
    assert revert.label == "Nexus: revert turn 1"
    actions = {f["path"]: f["action"] for f in result["files"]}
    assert actions == {
        "src/app.py": wire.REVERT_RESTORED, "README.md": wire.REVERT_RECREATED,
        "docs/new.md": wire.REVERT_UNCHANGED, "docs/moved.md": wire.REVERT_DELETED,
        "src/util.py": wire.REVERT_RESTORED, "src/tools.py": wire.REVERT_DELETED,
    }
    assert result["conflicts"] == [] and result["notRestored"] == []
    assert result["messagesReverted"] == 10

    loaded = await editor.request(wire.SESSION_LOAD, {"sessionId": turn["sessionId"]})
    assert [m["role"] for m in loaded["messages"]] == ["system"]
    assert loaded["reverted"][0] == {
        "role": "user", "content": "shuffle", "turnId": 1, "reverted": True}
    # The next turn's history, as the model gets it, starts afresh and is valid.
    model.push({"text": "fresh"})
    again = await editor.send("again", turn["sessionId"])
    assert again["turnId"] == 2
    assert [m["role"] for m in model.requests[-1].json["messages"]] == ["system", "user"]
    assert model.validation_errors == []


async def test_user_edits_in_an_open_buffer_are_kept_and_conflicts_listed(
    vscode: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    app = workspace / "src" / "app.py"
    app.write_text("one\ntwo\nthree\nfour\nfive\n", encoding="utf-8")
    (workspace / "b.txt").write_text("x\n", encoding="utf-8")
    model.extend([
        {"toolCalls": [call("e1", "edit_file", path="src/app.py", oldText="two", newText="2"),
                       call("e2", "write_file", path="b.txt", content="agent\n")]},
        {"text": "ok"},
    ])
    turn = await vscode.send("edit")
    doc = vscode.open(app)
    vscode.type_text(doc, types.Position(line=4, character=0), "# mine\n")  # elsewhere
    other = vscode.open(workspace / "b.txt")
    vscode.type_text(other, types.Position(line=0, character=5), ", then me")  # same line

    result = await vscode.request(
        wire.SESSION_REVERT, {"sessionId": turn["sessionId"], "turnId": 1, "conversation": False})

    assert vscode.buffers[doc][1] == "one\ntwo\nthree\nfour\n# mine\nfive\n"
    assert vscode.buffers[other][1] == "agent, then me\n"
    assert [c["path"] for c in result["conflicts"]] == ["b.txt"]
    assert result["messagesReverted"] == 0


def without_apply_edit() -> types.ClientCapabilities:
    capabilities = copy.deepcopy(pytest_lsp.client_capabilities("visual-studio-code"))
    assert capabilities.workspace is not None
    capabilities.workspace.apply_edit = False
    return capabilities


async def test_without_apply_edit_revert_writes_the_disk_but_never_over_unsaved_text(
    model: ScriptedModelServer, files: Path
) -> None:
    before = tree(files)
    options = settings(model.openai_base_url, edits={"fallbackToDisk": True})
    async with connected(without_apply_edit(), files, options) as client:
        model.extend(FOUR_KINDS)
        turn = await client.send("shuffle")
        assert tree(files) != before
        readme = files / "src" / "tools.py"
        doc = client.open(readme)
        client.type_text(doc, types.Position(line=0, character=0), "# unsaved\n")
        with pytest.raises(JsonRpcException) as refused:
            await client.request(
                wire.SESSION_REVERT, {"sessionId": turn["sessionId"], "turnId": 1})
        code, data = rpc_error(refused.value)
        assert code == wire.REQUEST_FAILED and data["reason"] == "failed"
        assert "src/tools.py has unsaved changes" in str(refused.value)
        assert (files / "src" / "tools.py").exists()  # nothing written
        # Saved (closed without the change): the revert goes to the disk.
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=doc)))
        del client.buffers[doc]
        result = await client.request(
            wire.SESSION_REVERT, {"sessionId": turn["sessionId"], "turnId": 1})
        assert client.edit_requests == []
        assert tree(files) == before
        assert result["messagesReverted"] == 10


async def test_revert_after_kill_9_mid_turn(model: ScriptedModelServer, workspace: Path) -> None:
    before = tree(workspace)
    options = settings(model.openai_base_url)
    editor = await CONFIG.start()
    assert isinstance(editor, TestEditor)
    await start(editor, pytest_lsp.client_capabilities("neovim"), workspace, options)
    model.extend([
        {"toolCalls": [call("w1", "write_file", path="a.txt", content="a\n")]},
        {"toolCalls": [call("e1", "edit_file", path="src/app.py",
                            oldText="'hi '", newText="'yo '")]},
        {"text": "never"},
    ])
    editor.hold_edits = asyncio.Event()
    sending = editor.start_request(wire.SESSION_SEND, {"prompt": "go"})
    await asyncio.wait_for(editor.edit_arrived.wait(), WAIT)
    editor.hold_edits.set()  # the first edit is applied
    editor.edit_arrived.clear()
    editor.hold_edits = asyncio.Event()
    await asyncio.wait_for(editor.edit_arrived.wait(), WAIT)  # the second is held
    assert (workspace / "a.txt").exists()
    process = editor.server_process
    assert process is not None
    process.kill()  # SIGKILL: no flush, no clean-up
    await process.wait()
    await asyncio.gather(sending, return_exceptions=True)
    await stop(editor)
    async with connected("visual-studio-code", workspace, options) as editor:
        (listed,) = (await editor.request(wire.SESSION_LIST, {}))["sessions"]
        result = await editor.request(
            wire.SESSION_REVERT, {"sessionId": listed["sessionId"], "turnId": 1})
    assert tree(workspace) == before
    assert {f["path"]: f["action"] for f in result["files"]} == {
        "a.txt": "deleted", "src/app.py": "unchanged"}


async def test_unknown_turn_and_session(vscode: TestEditor, model: ScriptedModelServer) -> None:
    model.push({"text": "hi"})
    turn = await vscode.send("hello")
    for params, reason in [
        ({"sessionId": turn["sessionId"], "turnId": 2}, wire.REASON_UNKNOWN_TURN),
        ({"sessionId": "20240101-000000-aaaaaa", "turnId": 1}, wire.REASON_UNKNOWN_SESSION),
    ]:
        with pytest.raises(JsonRpcException) as failed:
            await vscode.request(wire.SESSION_REVERT, params)
        code, data = rpc_error(failed.value)
        assert (code, data["reason"]) == (wire.REQUEST_FAILED, reason)
    with pytest.raises(JsonRpcException) as failed:
        await vscode.request(wire.SESSION_FORK, {"sessionId": turn["sessionId"], "turnId": 3})
    assert rpc_error(failed.value)[1]["reason"] == wire.REASON_UNKNOWN_TURN
    with pytest.raises(JsonRpcException) as failed:
        await vscode.request(wire.SESSION_REVERT, {"sessionId": turn["sessionId"]})
    assert rpc_error(failed.value) == (wire.INVALID_PARAMS, {"field": "turnId"})


async def test_fork_then_continue_both(vscode: TestEditor, model: ScriptedModelServer) -> None:
    model.extend([
        {"toolCalls": [call("r1", "read_file", path="src/app.py")]}, {"text": "one"},
        {"text": "two"}, {"text": "parent"}, {"text": "fork"},
    ])
    first = await vscode.send("one")
    session_id = first["sessionId"]
    await vscode.send("two", session_id)
    fork = await vscode.request(wire.SESSION_FORK, {"sessionId": session_id, "turnId": 1})
    assert fork["parentId"] == session_id and fork["title"].endswith("(fork)")
    listed = {s["sessionId"]: s for s in (await vscode.request(wire.SESSION_LIST, {}))["sessions"]}
    assert listed[fork["sessionId"]]["parentId"] == session_id
    assert "parentId" not in listed[session_id]

    await vscode.send("three", session_id)
    users = [m["content"] for m in model.requests[-1].json["messages"] if m["role"] == "user"]
    assert users == ["one", "two", "three"]
    continued = await vscode.send("three", fork["sessionId"])
    assert continued["turnId"] == 2
    messages = model.requests[-1].json["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["one", "three"]
    assert model.validation_errors == []


async def test_generic_editor_command_and_code_action(
    editor: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([
        {"toolCalls": [call("w1", "write_file", path="made.txt", content="made\n")]},
        {"text": "made it"},
    ])
    ask = await editor.request(types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
        command=wire.COMMAND_ASK,
        arguments=[{"prompt": "make a file", "showTranscript": False, "wait": True}]))
    assert (workspace / "made.txt").exists()
    doc = editor.open(workspace / "src" / "app.py")
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=doc),
        range=types.Range(start=types.Position(line=0, character=0),
                          end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[],
                                        trigger_kind=types.CodeActionTriggerKind.Invoked))
    actions = await editor.request(types.TEXT_DOCUMENT_CODE_ACTION, params)
    revert = next(a for a in actions if a.title == "Nexus: revert the last turn")
    assert revert.command.command == wire.COMMAND_REVERT
    assert list(revert.command.arguments) == [{"sessionId": ask["sessionId"], "turnId": 1}]

    result = await editor.request(types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
        command=revert.command.command, arguments=revert.command.arguments))
    assert result["files"] == [{"path": "made.txt", "action": "deleted"}]
    assert not (workspace / "made.txt").exists()
    shown = await editor.wait_for_message("Nexus: reverted turn 1")
    assert "made.txt (deleted)" in shown.message
    # Nothing left to revert: no action offered.
    actions = await editor.request(types.TEXT_DOCUMENT_CODE_ACTION, params)
    assert all(a.title != "Nexus: revert the last turn" for a in actions)

    fork = await editor.request(types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
        command=wire.COMMAND_FORK, arguments=[]))
    assert fork["parentId"] == ask["sessionId"]
    assert uri(workspace)  # the workspace is still served


async def test_a_client_with_its_own_revert_ui_gets_no_revert_code_action(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options: dict[str, Any] = {**settings(model.openai_base_url),
                               "clientFeatures": {wire.FEATURE_REVERT: True}}
    async with connected("visual-studio-code", workspace, options) as editor:
        model.extend([
            {"toolCalls": [call("w1", "write_file", path="made.txt", content="made\n")]},
            {"text": "made it"},
        ])
        await editor.request(types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
            command=wire.COMMAND_ASK,
            arguments=[{"prompt": "make a file", "showTranscript": False, "wait": True}]))
        doc = editor.open(workspace / "src" / "app.py")
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=doc),
            range=types.Range(start=types.Position(line=0, character=0),
                              end=types.Position(line=0, character=1)),
            context=types.CodeActionContext(diagnostics=[]))
        actions = await editor.request(types.TEXT_DOCUMENT_CODE_ACTION, params)
        titles = [a.title for a in actions]
        assert titles and "Nexus: revert the last turn" not in titles
