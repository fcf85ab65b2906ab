"""Turns end to end: updates and their order, tool batches as progress, provider errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import API_KEY_ENV, TestEditor


def batch_progress(editor: TestEditor) -> list[list[Any]]:
    """The values (begin, report..., end) of each batch's progress, in order."""
    reports: dict[Any, list[Any]] = dict(editor.progress_reports)
    return [v for t, v in reports.items() if str(t).startswith("nexus/batch/")]


def check_turn_updates(updates: list[dict[str, Any]]) -> None:
    """One turnStart first, one turnEnd last, seq +1 each, every call pending then final."""
    kinds = [u["kind"] for u in updates]
    assert kinds[0] == wire.UPDATE_TURN_START
    assert kinds[-1] == wire.UPDATE_TURN_END
    assert kinds.count(wire.UPDATE_TURN_START) == kinds.count(wire.UPDATE_TURN_END) == 1
    seqs = [u["seq"] for u in updates]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    pending = {u["toolCallId"] for u in updates if u["kind"] == wire.UPDATE_TOOL_CALL}
    final = {
        u["toolCallId"]
        for u in updates
        if u["kind"] == wire.UPDATE_TOOL_CALL_UPDATE and u["status"] != "running"
    }
    assert pending == final


async def test_a_turn_with_tools_streams_updates_progress_and_edits(
    editor: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([
        {
            "text": "Let me read the file.",
            "chunkSize": 4,
            "toolCalls": [{"id": "c1", "name": "read_file", "arguments": {"path": "src/app.py"}}],
        },
        {
            "reasoning": "The greeting should say hello.",
            "toolCalls": [
                {"id": "c2", "name": "edit_file",
                 "arguments": {"path": "src/app.py", "oldText": "'hi '", "newText": "'hello 😀 '"}},
                {"id": "c3", "name": "write_file",
                 "arguments": {"path": "src/new.py", "content": "x = '😀'\n"}},
            ],
        },
        {"text": "Done: the greeting says hello.", "chunkSize": 5,
         "usage": {"inputTokens": 120, "outputTokens": 30}},
    ])
    result = await editor.send("fix the greeting")

    assert result["stopReason"] == "endTurn", result
    assert result["content"] == "Done: the greeting says hello."
    assert [(c["toolCallId"], c["status"]) for c in result["toolCalls"]] == [
        ("c1", "completed"), ("c2", "completed"), ("c3", "completed"),
    ]
    assert result["usage"]["outputTokens"] >= 30
    app = (workspace / "src" / "app.py").read_text()
    assert app == "def greet(name):\n    return 'hello 😀 ' + name\n"
    assert (workspace / "src" / "new.py").read_text() == "x = '😀'\n"
    assert [r.label for r in editor.edit_requests] == [
        "Nexus: edit_file src/app.py", "Nexus: write_file src/new.py",
    ]

    updates = editor.turn_updates(result["sessionId"], result["turnId"])
    check_turn_updates(updates)
    content = "".join(u["text"] for u in updates if u["kind"] == wire.UPDATE_CONTENT)
    assert content == "Let me read the file.Done: the greeting says hello."
    assert any(u["kind"] == wire.UPDATE_REASONING and u.get("text") for u in updates)
    assert updates[-1]["stopReason"] == "endTurn"
    read = next(u for u in updates if u["kind"] == "toolCallUpdate" and u["status"] == "completed")
    assert "return 'hi ' + name" in read["output"]
    edited = [u for u in updates if u.get("toolCallId") == "c2" and u["status"] == "completed"]
    assert edited[0]["locations"][0]["uri"].endswith("/src/app.py")

    first, second = batch_progress(editor)
    assert [type(v).__name__ for v in first] == [
        "WorkDoneProgressBegin", "WorkDoneProgressReport", "WorkDoneProgressEnd",
    ]
    assert first[0].cancellable is True and first[0].percentage == 0
    assert "read_file" in first[1].message and first[1].percentage == 100
    assert first[2].message == "completed"
    assert [type(v).__name__ for v in second] == [
        "WorkDoneProgressBegin", "WorkDoneProgressReport", "WorkDoneProgressReport",
        "WorkDoneProgressEnd",
    ]
    assert [v.percentage for v in second[1:3]] == [50, 100]
    assert "edit_file: completed" in second[1].message
    assert model.validation_errors == []


async def test_seq_continues_across_turns_and_the_history_goes_to_the_model(
    editor: TestEditor, model: ScriptedModelServer
) -> None:
    model.extend([{"text": "First."}, {"text": "Second."}])
    one = await editor.send("one")
    two = await editor.send("two", one["sessionId"])
    assert (one["turnId"], two["turnId"]) == (1, 2)
    updates = [u for u in editor.updates if u["sessionId"] == one["sessionId"]]
    assert [u["seq"] for u in updates] == list(range(1, len(updates) + 1))
    assert [u["turnId"] for u in updates if u["kind"] == "turnEnd"] == [1, 2]
    messages = model.requests[-1].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "First."


async def test_work_done_token_reports_the_whole_turn(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push({"text": "ok"})
    vscode.progress_reports["turn-token"] = []  # a token the client made itself
    result = await vscode.send("hello", workDoneToken="turn-token")
    assert result["stopReason"] == "endTurn"
    values: list[Any] = list(vscode.progress_reports["turn-token"])
    assert [type(v).__name__ for v in values] == ["WorkDoneProgressBegin", "WorkDoneProgressEnd"]
    assert values[0].cancellable is True


async def configure(editor: TestEditor, **provider: Any) -> None:
    """Change provider settings the way an editor does: new configuration, then notify."""
    current = editor.get_configuration(section=wire.SETTINGS_SECTION) or {}
    editor.set_configuration(
        {**current, "provider": {**current.get("provider", {}), **provider}},
        section=wire.SETTINGS_SECTION,
    )
    editor.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )


async def test_provider_errors_end_the_turn_with_their_code(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    model.push({"fault": {"status": 401, "message": "invalid key"}})
    auth = await vscode.send("hello")
    assert auth["stopReason"] == "error"
    assert auth["error"]["code"] == "providerAuth"
    assert "e2e-secret-key" not in str(auth) and API_KEY_ENV in auth["error"]["message"]
    session = auth["sessionId"]

    model.push({"text": "partial answer that breaks", "chunkSize": 3,
                "fault": {"cutAfterChunks": 2}})
    cut = await vscode.send("again", session)
    assert cut["stopReason"] == "error"
    assert cut["error"]["code"] == "providerProtocol"

    await configure(vscode, maxRetries=1)
    model.extend([{"fault": {"status": 429, "retryAfter": 0}}, {"text": "after the limit"}])
    limited = await vscode.send("rate limited once", session)
    assert limited["stopReason"] == "endTurn", limited
    assert limited["content"] == "after the limit"

    model.extend([{"fault": {"status": 503}}, {"fault": {"status": 503}}])
    unavailable = await vscode.send("down", session)
    assert unavailable["stopReason"] == "error"
    assert unavailable["error"]["code"] == "providerUnavailable"

    model.push({"text": "fine again"})
    fine = await vscode.send("and now?", session)
    assert fine["stopReason"] == "endTurn"
    ends = [u["stopReason"] for u in vscode.updates if u["kind"] == "turnEnd"]
    assert ends == ["error", "error", "endTurn", "error", "endTurn"]
    assert model.validation_errors == []


async def test_max_iterations_stops_a_tool_loop(
    vscode: TestEditor, model: ScriptedModelServer
) -> None:
    await configure(vscode)  # unchanged provider; session settings below
    vscode.set_configuration(
        {**(vscode.get_configuration(section="nexus") or {}), "session": {"maxIterations": 2}},
        section="nexus",
    )
    vscode.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    call = {"name": "list_directory", "arguments": {}}
    model.extend([{"toolCalls": [{**call, "id": f"l{i}"}]} for i in range(2)])
    result = await vscode.send("loop")
    assert result["stopReason"] == "maxIterations"
    assert len(result["toolCalls"]) == 2
