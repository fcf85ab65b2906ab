"""Generic editors (protocol v2 §7, §8): nexus.ask in the background, its end shown.

The clients reproduce what real editors declare and do:

- ``EGLOT_1_9``: Debian 12's eglot (Emacs 28): no ``window/showDocument``, no
  progress, a 10 s request timeout (so the ask must answer at once);
- ``EGLOT_1_17``: Emacs 30's eglot: ``showDocument`` and progress;
- ``HELIX``: released Helix (≤ 25.07): progress, no ``showDocument``, 20 s timeout;
- ``ALE``: Vim + ALE: no ``workspace/applyEdit`` at all.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.uris import to_fs_path

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import (
    API_KEY_ENV,
    CONFIG,
    WAIT,
    TestEditor,
    connected,
    rpc_error,
    settings,
    start,
    stop,
)

EDIT_CAPS = types.WorkspaceEditClientCapabilities(document_changes=True)
EGLOT_1_9 = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True, workspace_edit=EDIT_CAPS, configuration=True
    ),
)
EGLOT_1_17 = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True, workspace_edit=EDIT_CAPS, configuration=True
    ),
    window=types.WindowClientCapabilities(
        work_done_progress=True,
        show_document=types.ShowDocumentClientCapabilities(support=True),
    ),
)
# helix-lsp/src/client.rs of the releases: progress, no showDocument, UTF-8 first
HELIX = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True,
        configuration=True,
        execute_command=types.ExecuteCommandClientCapabilities(dynamic_registration=False),
        workspace_edit=types.WorkspaceEditClientCapabilities(
            document_changes=True,
            resource_operations=[types.ResourceOperationKind.Create,
                                 types.ResourceOperationKind.Rename,
                                 types.ResourceOperationKind.Delete],
        ),
    ),
    window=types.WindowClientCapabilities(work_done_progress=True),
    general=types.GeneralClientCapabilities(
        position_encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf32,
                            types.PositionEncodingKind.Utf16],
    ),
)
ALE = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(apply_edit=False, configuration=False),
)
WITHOUT_SHOW_DOCUMENT = {"eglot-1.9": EGLOT_1_9, "helix": HELIX}
STALLING = {"text": "a partial answer that goes on", "chunkSize": 3,
            "fault": {"stallAfterChunks": 2}}


def ask(arguments: list[Any] | None) -> types.ExecuteCommandParams:
    return types.ExecuteCommandParams(command=wire.COMMAND_ASK, arguments=arguments)


async def ask_selection(client: TestEditor, workspace: Path, **extra: Any) -> Any:
    """Run the first code action on ``src/app.py``'s first line, as an editor does."""
    doc = client.open(workspace / "src" / "app.py")
    zero = types.Position(line=0, character=0)
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=doc),
        range=types.Range(start=zero, end=types.Position(line=1, character=0)),
        context=types.CodeActionContext(diagnostics=[]),
    )
    actions = await client.request(types.TEXT_DOCUMENT_CODE_ACTION, params)
    command = actions[0].command
    arguments = [{**command.arguments[0], **extra}]
    return await client.request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(command=command.command, arguments=arguments),
    )


@pytest.mark.parametrize("caps", WITHOUT_SHOW_DOCUMENT.values(), ids=WITHOUT_SHOW_DOCUMENT)
async def test_the_answer_reaches_show_message(
    caps: types.ClientCapabilities, model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(caps, workspace, settings(model.openai_base_url)) as client:
        model.push({"text": "It greets whoever you name.\n\nMore details here."})
        started = await ask_selection(client, workspace)
        assert started == {"sessionId": started["sessionId"], "turnId": 1, "started": True}
        shown = await client.wait_for_message("It greets whoever you name.")
        assert shown.type == types.MessageType.Info
        assert f".nexus/sessions/{started['sessionId']}/context.md" in shown.message
        assert "More details" not in shown.message
        assert client.shown_documents == []


@pytest.mark.parametrize("caps", WITHOUT_SHOW_DOCUMENT.values(), ids=WITHOUT_SHOW_DOCUMENT)
async def test_a_failed_turn_reaches_show_message_as_an_error(
    caps: types.ClientCapabilities, model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(caps, workspace, settings(model.openai_base_url)) as client:
        model.push({"fault": {"status": 401, "message": "invalid x-api-key"}})
        started = await ask_selection(client, workspace)
        assert started["started"] is True
        end = await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_TURN_END)
        assert end["stopReason"] == "error"
        shown = await client.wait_for_message("Nexus:")
        everything = [(m.type, m.message) for m in client.messages]
        assert shown.type == types.MessageType.Error, everything
        # the provider's own words: the key variable to check, never the key
        assert API_KEY_ENV in shown.message and "e2e-secret-key" not in shown.message, everything


async def test_helix_25_01_without_arguments_gets_an_error_message(
    model: ScriptedModelServer, workspace: Path
) -> None:
    """Helix 25.01's ``:lsp-workspace-command`` sends no arguments."""
    async with connected(HELIX, workspace, settings(model.openai_base_url)) as client:
        with pytest.raises(Exception) as caught:
            await client.request(types.WORKSPACE_EXECUTE_COMMAND, ask(None))
        assert rpc_error(caught.value)[0] == wire.INVALID_PARAMS
        shown = await client.wait_for_message("arguments")
        assert shown.type == types.MessageType.Error


async def test_ask_answers_while_the_turn_runs_and_nexus_cancel_stops_it(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(EGLOT_1_9, workspace, settings(model.openai_base_url)) as client:
        model.push(STALLING)
        started = await client.request(
            types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "tell a long story"}])
        )
        assert started["started"] is True
        # the model stalls for good: the answer above came while the turn runs
        await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
        cancelled = await client.request(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command=wire.COMMAND_CANCEL, arguments=[]),
        )
        assert cancelled == {"cancelled": 1}
        end = await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_TURN_END)
        assert (end["turnId"], end["stopReason"]) == (started["turnId"], "cancelled")
        shown = await client.wait_for_message("cancelled")
        assert shown.type == types.MessageType.Info and "a part" in shown.message


async def test_the_turns_progress_shows_steps_and_cancelling_it_cancels_the_turn(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(HELIX, workspace, settings(model.openai_base_url)) as client:
        model.push(STALLING)
        started = await client.request(
            types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "tell a long story"}])
        )
        await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
        token = await _turn_progress(client, "writing the answer")
        begin = client.progress_reports[token][0]
        assert isinstance(begin, types.WorkDoneProgressBegin)
        assert begin.title == "Nexus" and begin.cancellable
        client.protocol.notify(
            types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token)
        )
        end = await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_TURN_END)
        assert (end["turnId"], end["stopReason"]) == (started["turnId"], "cancelled")
        await client.wait_for_message("cancelled")
        assert isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd)


async def _turn_progress(client: TestEditor, step: str) -> str:
    """The token of the turn's progress, once a report says ``step``."""
    async with asyncio.timeout(WAIT):
        while True:
            for token, reports in client.progress_reports.items():
                if str(token).startswith("nexus/turn/") and any(
                    getattr(r, "message", None) == step for r in reports
                ):
                    return str(token)
            await asyncio.sleep(0.01)


async def test_show_document_selects_the_answer_after_the_commands_answer(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(EGLOT_1_17, workspace, settings(model.openai_base_url)) as client:
        model.extend([
            {"text": "Let me look.", "toolCalls": [
                {"id": "r1", "name": "read_file", "arguments": {"path": "README.md"}}]},
            {"text": "The README is a title.\nNothing more."},
        ])
        pending = client.start_request(
            types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "what is in README.md?"}]),
            msg_id=901,
        )
        started = await asyncio.wait_for(pending, WAIT)
        await client.wait_for_message("The README is a title.")
        assert _answer_line(client) == "The README is a title."
        assert 901 not in client.unanswered_at_show[-1]  # shown after the answer

        # the next turn of the session: the line is counted on
        model.push({"text": "Second answer, line one.\nline two"})
        await client.request(types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "and?"}]))
        await client.wait_for_message("Second answer, line one.")
        assert _answer_line(client) == "Second answer, line one."
        assert client.shown_documents[-1].uri.endswith(
            f"/.nexus/sessions/{started['sessionId']}/context.md"
        )


def _answer_line(client: TestEditor) -> str:
    shown = client.shown_documents[-1]
    assert shown.selection is not None
    path = to_fs_path(shown.uri)
    assert path is not None
    return Path(path).read_text(encoding="utf-8").splitlines()[shown.selection.start.line]


async def test_wait_true_answers_the_send_result_then_shows(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(EGLOT_1_17, workspace, settings(model.openai_base_url)) as client:
        model.push({"text": "Waited for."})
        result = await asyncio.wait_for(
            client.start_request(
                types.WORKSPACE_EXECUTE_COMMAND,
                ask([{"prompt": "hi", "wait": True}]),
                msg_id=902,
            ),
            WAIT,
        )
        assert (result["stopReason"], result["content"]) == ("endTurn", "Waited for.")
        await client.wait_for_message("Waited for.")
        assert _answer_line(client) == "Waited for."
        assert 902 not in client.unanswered_at_show[-1]


async def test_sighup_mid_turn_stores_the_partial_answer_and_exits_0(
    model: ScriptedModelServer, workspace: Path
) -> None:
    """Emacs sends SIGHUP to its servers when it quits."""
    client = await CONFIG.start()
    assert isinstance(client, TestEditor)
    await start(client, EGLOT_1_17, workspace, settings(model.openai_base_url))
    model.push(STALLING)
    started = await client.request(
        types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "tell a long story"}])
    )
    await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
    process = client.server_process
    assert process is not None
    process.send_signal(signal.SIGHUP)
    assert await asyncio.wait_for(process.wait(), WAIT) == 0
    await stop(client)

    async with connected(EGLOT_1_17, workspace, settings(model.openai_base_url)) as again:
        listed = (await again.request(wire.SESSION_LIST, {}))["sessions"]
        assert [(s["sessionId"], s["status"]) for s in listed] == [
            (started["sessionId"], "idle")
        ]
        loaded = await again.request(wire.SESSION_LOAD, {"sessionId": started["sessionId"]})
        answer = loaded["messages"][-1]
        assert answer["role"] == "assistant" and answer.get("cancelled") is True
        assert answer["content"] == "a part"  # the two chunks sent before the stall


async def test_unsaved_changes_refuse_the_disk_fallback(
    model: ScriptedModelServer, workspace: Path
) -> None:
    """Vim + ALE: no applyEdit; the agent's edit would save the user's unsaved text."""
    app = workspace / "src" / "app.py"
    on_disk = app.read_text()
    readme = workspace / "README.md"
    async with connected(ALE, workspace, settings(model.openai_base_url)) as client:
        doc = client.open(app)
        client.type_text(doc, types.Position(line=0, character=0), "# unsaved\n")
        client.open(readme)  # open, saved: the edit may go to disk
        model.extend([
            {"toolCalls": [
                {"id": "e1", "name": "edit_file", "arguments": {
                    "path": "src/app.py", "oldText": "'hi '", "newText": "'hello '"}},
            ]},
            {"toolCalls": [
                {"id": "e2", "name": "edit_file", "arguments": {
                    "path": "README.md", "oldText": "Demo", "newText": "Demo app"}},
            ]},
            {"text": "Saved file edited; the other one needs saving."},
        ])
        result = await client.request(
            types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "edit", "wait": True}])
        )
        errors = {c["toolCallId"]: c.get("error") for c in result["toolCalls"]}
        assert errors["e1"] == (
            "edit_file: failed: src/app.py has unsaved changes in the editor and the "
            "editor can't apply edits; save it first"
        )
        assert errors["e2"] is None
        assert app.read_text() == on_disk  # neither the edit nor the unsaved text
        assert readme.read_text() == "# Demo app\n"


async def test_a_second_ask_while_the_first_runs_is_refused_with_a_message(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(HELIX, workspace, settings(model.openai_base_url)) as client:
        model.push(STALLING)
        started = await client.request(
            types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "one"}])
        )
        await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
        with pytest.raises(Exception) as caught:
            await client.request(types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "two"}]))
        code, data = rpc_error(caught.value)
        assert (code, data["reason"]) == (wire.REQUEST_FAILED, wire.REASON_SESSION_BUSY)
        refused = await client.wait_for_message("is already running a turn")
        assert refused.type == types.MessageType.Error
        assert started["sessionId"] in refused.message
        await client.request(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command=wire.COMMAND_CANCEL, arguments=[]),
        )
        await client.wait_for_message("cancelled")


async def test_without_a_transcript_nothing_is_opened(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url, logging={"streams": ["verbose"]})
    async with connected(EGLOT_1_17, workspace, options) as client:
        model.push({"text": "Short answer."})
        await client.request(types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "hi"}]))
        shown = await client.wait_for_message("Short answer.")
        assert shown.message == "Nexus: Short answer."
        assert client.shown_documents == []


async def test_two_asks_at_once_share_the_command_session_and_one_is_refused(
    model: ScriptedModelServer, workspace: Path
) -> None:
    """A code action picked twice: one session, one turn, the other ask refused."""
    async with connected(HELIX, workspace, settings(model.openai_base_url)) as client:
        model.push(STALLING)
        first = client.start_request(types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "one"}]))
        second = client.start_request(types.WORKSPACE_EXECUTE_COMMAND, ask([{"prompt": "two"}]))
        outcomes = await asyncio.wait_for(
            asyncio.gather(first, second, return_exceptions=True), WAIT
        )
        started = [o for o in outcomes if isinstance(o, dict)]
        refused = [o for o in outcomes if not isinstance(o, dict)]
        assert len(started) == 1 and len(refused) == 1, outcomes
        assert rpc_error(refused[0])[1]["reason"] == wire.REASON_SESSION_BUSY
        await client.wait_for_message("is already running a turn")
        await client.wait_for_update(lambda u: u["kind"] == wire.UPDATE_CONTENT)
        turns = [u for u in client.updates if u["kind"] == wire.UPDATE_TURN_START]
        assert [(u["sessionId"], u["turnId"]) for u in turns] == [(started[0]["sessionId"], 1)]
        listed = (await client.request(wire.SESSION_LIST, {}))["sessions"]
        assert len(listed) == 1
        await client.request(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command=wire.COMMAND_CANCEL, arguments=[]),
        )
        await client.wait_for_message("cancelled")
