"""The Neovim plugin against the real server, in a real headless Neovim.

Each test starts the scripted model server (nexus_lsp.testing) in the pytest event
loop and runs one Lua scenario from tests/editors/nvim/ in ``nvim --headless -l``;
the plugin starts ``nexus-lsp`` from PATH (the venv) with the scripted server as its
OpenAI-compatible provider. The scenario reports what it saw as JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nexus_lsp.testing import ScriptedModelServer

# `nvim` is the fixture of tests/editors/conftest.py (its `Nvim` class).
Nvim = Any


def settings_for(srv: ScriptedModelServer) -> dict[str, Any]:
    return {
        "provider": {
            "kind": "openai",
            "baseUrl": srv.openai_base_url,
            "model": "scripted",
            "apiKeyEnv": "NEXUS_TEST_KEY",
            "maxRetries": 0,
        },
        "logging": {"streams": ["context"]},
    }


@asynccontextmanager
async def scripted(responses: list[dict[str, Any]]) -> AsyncIterator[ScriptedModelServer]:
    async with ScriptedModelServer({"responses": responses}) as srv:
        yield srv
        assert not srv.validation_errors, [str(e) for e in srv.validation_errors]


ENV = {"NEXUS_TEST_KEY": "test-key-not-a-secret"}


def user_texts(srv: ScriptedModelServer, request_index: int) -> list[str]:
    body = srv.requests[request_index].json
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


async def test_ask_streams_text_into_the_chat(nvim: Nvim, workspace: Path) -> None:
    answer = "Hello from the scripted model, streamed in small pieces."
    responses = [
        {"reasoning": "The user wants a greeting.", "text": answer, "chunkSize": 4,
         "delayMs": 20, "usage": {"inputTokens": 7, "outputTokens": 11}},
        {"text": "Second answer."},
        {"text": "Third answer."},
    ]
    async with scripted(responses) as srv:
        report = (await nvim.run("ask.lua", cwd=workspace, settings=settings_for(srv),
                                 env=ENV)).report

    assert report["commands"] is True
    assert report["lazy"] is True, "the server started before a command needed it"

    first = report["first"]
    assert first["stopReason"] == "endTurn"
    assert first["content"] == answer
    # Streamed: the text arrived as many content updates, not one.
    assert report["content_updates"] >= 2
    chat = report["chat_after_first"]
    assert chat[:11] == ["# Nexus", "", "## You", "", "Say hello", "", "## Nexus", "",
                         "> The user wants a greeting.", "", answer]
    # Reasoning is dimmed (0-based row 8), the answer is not.
    assert report["dimmed_rows"] == [8]
    assert chat[-1] == "_done · 7 in / 11 out tokens_"
    assert report["chat_filetype"] == "markdown"
    assert report["chat_visible"] is True
    assert report["focus_kept"] is True

    # Same session for the three turns, one chat buffer.
    session_id = first["sessionId"]
    assert report["second"]["sessionId"] == session_id
    assert report["third"]["sessionId"] == session_id
    assert report["chat_buffers"] == 1

    # The range went along as an attachment (protocol v2 §4): the file's lines 2-3.
    second_prompt = user_texts(srv, 1)[-1]
    assert second_prompt == (
        '<attachments>\n<attachment type="file" name="hello.py:2-3">\n    return "hi"\n'
        "</attachment>\n</attachments>\n\nExplain this"
    )

    assert report["events"] == ["NexusTurnStart", "NexusTurnEnd"] * 3

    assert report["input_prompt"] == "Ask Nexus: "
    assert user_texts(srv, 2)[-1] == "Typed question"
    chat = report["chat"]
    assert chat.count("## You") == 3
    assert "Typed question" in chat
    assert "Third answer." in chat


async def test_edit_lands_in_the_open_buffer_and_write_on_edit_saves(
    nvim: Nvim, workspace: Path
) -> None:
    responses = [
        {"toolCalls": [
            {"id": "e1", "name": "edit_file", "arguments": {
                "path": "a.py", "oldText": "return 1", "newText": "return 42"}},
            {"id": "e1b", "name": "edit_file", "arguments": {
                "path": "b.py", "oldText": "no such text", "newText": "x"}},
        ]},
        {"text": "Edited a.py."},
        {"toolCalls": [{"id": "e2", "name": "edit_file", "arguments": {
            "path": "b.py", "oldText": "'old'", "newText": "'new'"}},
            {"id": "w2", "name": "write_file", "arguments": {
                "path": "created.txt", "content": "one\ntwo\n"}}]},
        {"text": "Edited b.py."},
    ]
    async with scripted(responses) as srv:
        report = (await nvim.run("edit.lua", cwd=workspace, settings=settings_for(srv),
                                 env=ENV)).report

    assert report["first"]["stopReason"] == "endTurn"
    assert [c["status"] for c in report["first"]["toolCalls"]] == ["completed", "failed"]
    assert report["a_attached"] is True
    # Applied to the buffer, not saved (write_on_edit = false).
    assert report["a_buffer"] == "def foo():\n    return 42"
    assert report["a_modified"] is True
    assert report["a_disk"] == "def foo():\n    return 1\n"
    assert (workspace / "a.py").read_text() == "def foo():\n    return 1\n"

    # write_on_edit = true: applied and written.
    assert [c["status"] for c in report["second"]["toolCalls"]] == ["completed", "completed"]
    assert report["b_buffer"] == "VALUE = 'new'"
    assert report["b_modified"] is False
    assert (workspace / "b.py").read_text() == "VALUE = 'new'\n"
    # A file the edit created is written with the text the agent wrote, not
    # with a second final newline.
    assert (workspace / "created.txt").read_text() == "one\ntwo\n"

    # Each tool batch went out as work-done progress, seen through LspProgress.
    batches: dict[str, list[dict[str, Any]]] = {}
    for event in report["progress"]:
        if not event["token"].startswith("nexus-turn-"):
            batches.setdefault(event["token"], []).append(event)
    assert len(batches) == 2, report["progress"]
    first_batch, second_batch = batches.values()
    assert [e["kind"] for e in first_batch] == ["begin", "report", "report", "end"]
    assert [e["kind"] for e in second_batch] == ["begin", "report", "report", "end"]
    for events in (first_batch, second_batch):
        assert events[0]["cancellable"] is True
        assert events[-2]["percentage"] == 100
        assert "_file" in events[-2]["message"]
    # The whole turn on the send's workDoneToken: begin ... end.
    turn_kinds = [e["kind"] for e in report["progress"] if e["token"] == "nexus-turn-1"]
    assert turn_kinds[0] == "begin" and turn_kinds[-1] == "end"
    # progress.notify = true: the same progress as vim.notify messages.
    notified = [m["msg"] for m in report["messages"]]
    assert any("edit_file" in m and "(100%)" in m for m in notified), notified

    chat = report["chat"]
    assert "- [completed] edit_file a.py" in chat
    failed = [line for line in chat if line.startswith("- [failed] edit_file b.py: ")]
    assert len(failed) == 1, chat
    assert "no such text" in failed[0] or "not found" in failed[0]
    assert "- [completed] edit_file b.py" in chat
    assert "Edited a.py." in chat and "Edited b.py." in chat


async def test_cancel_settles_the_chat_and_the_next_ask_works(
    nvim: Nvim, workspace: Path
) -> None:
    responses = [
        {"text": "Working on it, slowly...", "chunkSize": 4, "fault": {"stallAfterChunks": 3}},
        {"text": "Second answer after the cancel."},
    ]
    async with scripted(responses) as srv:
        report = (await nvim.run("cancel.lua", cwd=workspace, settings=settings_for(srv),
                                 env=ENV)).report
        assert srv.disconnects == 1  # the stalled stream was closed by the cancel

    assert report["running_before_cancel"] is True
    assert report["idle_cancel_message"] == "nexus: no turn is running"
    chat = report["chat_after_cancel"]
    # Settled by the server's turnEnd (cancelled), not by the plugin's timeout.
    assert chat[-1] == "_cancelled_", chat
    assert "Working on" in "\n".join(chat)

    second = report["second"]
    assert second["stopReason"] == "endTurn"
    assert second["content"] == "Second answer after the cancel."
    assert report["session_after"] == report["session_before"] == second["sessionId"]
    assert report["chat"][-3:-1] == ["Second answer after the cancel.", ""]
    assert report["chat"][-1].startswith("_done")
    # The cancelled text stayed in the session's history sent to the model.
    history = srv.requests[1].json["messages"]
    assert any(m["role"] == "assistant" and "Working on" in (m.get("content") or "")
               for m in history)


async def test_sessions_new_list_load_continue_and_log(nvim: Nvim, workspace: Path) -> None:
    responses = [{"text": "First answer."}, {"text": "Second answer."},
                 {"text": "Third answer, in the first session."}]
    async with scripted(responses) as srv:
        report = (await nvim.run("sessions.lua", cwd=workspace, settings=settings_for(srv),
                                 env=ENV)).report

    first_id = report["first"]["sessionId"]
    second_id = report["second"]["sessionId"]
    assert first_id != second_id
    assert report["session_after_new"] is None
    assert "First answer." not in report["chat_after_new"]

    # Newest first, labelled with the title taken from the first prompt.
    offered = report["offered"]
    assert [o["id"] for o in offered] == [second_id, first_id]
    assert offered[1]["label"].startswith("first question  [")
    assert "1 turns]" in offered[1]["label"]

    loaded = report["chat_after_load"]
    assert "first question" in loaded and "First answer." in loaded
    assert "Second answer." not in loaded

    # The next ask continued the loaded session, with its history.
    assert report["third"]["sessionId"] == first_id
    assert user_texts(srv, 2) == ["first question", "third question"]
    assert report["chat"][-3:-1] == ["Third answer, in the first session.", ""]
    assert report["chat"][-1].startswith("_done")

    log_name = report["log_name"]
    assert log_name == str(workspace / ".nexus" / "sessions" / first_id / "context.md")
    assert "first question" in report["log_text"]
    assert "third question" in report["log_text"]


async def test_checkhealth_runs_clean(nvim: Nvim, workspace: Path) -> None:
    async with scripted([]) as srv:
        report = (await nvim.run("health.lua", cwd=workspace, settings=settings_for(srv),
                                 env=ENV)).report

    with_key = report["with_key"]
    text = "\n".join(with_key)
    assert not [line for line in with_key if "ERROR" in line], text
    assert "server command found" in text
    assert "server version: " in text
    assert "API key variable NEXUS_TEST_KEY is set" in text
    assert "test-key-not-a-secret" not in text
    assert f"server running for {workspace} (protocol 1)" in text

    without_key = report["without_key"]
    assert not [line for line in without_key if "ERROR" in line]
    assert any("WARNING" in line and "NEXUS_TEST_KEY is not set" in line for line in without_key)

    bad = "\n".join(report["bad_settings"])
    assert 'settings.provider.kind: expected one of openai, anthropic, got "claude"' in bad
    assert "settings.provider.baseUrl: expected an http(s) URL, got 3" in bad
    assert "settings.session.maxIterations: expected a positive integer, got 0" in bad
    assert "ERROR" in bad
