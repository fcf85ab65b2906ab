"""Protocol v2 §4 over the wire: usage, compaction, attachments, queue and steer.

The real server over stdio, the scripted model server, assertions on what the model
was sent (``model.requests``) and on what the editor received.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import WAIT, connected, rpc_error, settings, uri
from .ruff_editor import RuffServer

FEATURES = {"usage": True}


def options(model: ScriptedModelServer, features: dict[str, bool] | None = None,
            **sections: dict[str, Any]) -> dict[str, Any]:
    out = settings(model.openai_base_url, **sections)
    if features is not None:
        out[wire.CLIENT_FEATURES] = features
    return out


def sent_messages(model: ScriptedModelServer, index: int = -1) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = model.requests[index].json["messages"]
    return messages


def model_requests(model: ScriptedModelServer) -> list[int]:
    """Indexes of the requests that took a scripted response (not compaction)."""
    return [i for i, r in enumerate(model.requests)
            if r.json and i not in model.summary_requests]


# usage ----------------------------------------------------------------------------


async def test_usage_updates_carry_what_the_model_server_reported(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"toolCalls": [{"id": "c1", "name": "read_file",
                               "arguments": {"path": "README.md"}}],
                "usage": {"inputTokens": 1234, "outputTokens": 56}})
    model.push({"text": "done", "usage": {"inputTokens": 1400, "outputTokens": 7}})
    async with connected("visual-studio-code", workspace, options(model, FEATURES)) as editor:
        result = await editor.send("read it")
        usage = [u for u in editor.updates if u["kind"] == wire.UPDATE_USAGE]
    assert result["stopReason"] == "endTurn"
    assert [{k: u[k] for k in ("usedTokens", "inputTokens", "outputTokens", "contextTokens",
                               "costUsd")} for u in usage] == [
        {"usedTokens": 1234, "inputTokens": 1234, "outputTokens": 56,
         "contextTokens": 128_000, "costUsd": None},
        {"usedTokens": 1400, "inputTokens": 1400, "outputTokens": 7,
         "contextTokens": 128_000, "costUsd": None},
    ]
    assert not any("estimated" in u for u in usage)
    kinds = [u["kind"] for u in editor.updates]
    assert kinds.index(wire.UPDATE_USAGE) < kinds.index(wire.UPDATE_TOOL_CALL)


async def test_no_usage_updates_for_a_client_that_did_not_declare_them(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"text": "hi"})
    async with connected("neovim", workspace, options(model)) as editor:
        await editor.send("hello")
        assert not [u for u in editor.updates if u["kind"] == wire.UPDATE_USAGE]


# compaction -----------------------------------------------------------------------

RULE = "Always answer in French and never touch the vendor folder."


async def test_a_long_session_compacts_keeps_the_rules_and_stays_under_budget(
    model: ScriptedModelServer, workspace: Path
) -> None:
    (workspace / "AGENTS.md").write_text(f"# Rules\n\n{RULE}\n")
    turns = 60
    model.extend({"text": f"Answer {n}: " + "détails " * 40} for n in range(turns))
    budget = 6_000
    opts = options(model, FEATURES,
                   session={"contextTokens": budget, "compactAt": 0.6, "keepRecentExchanges": 2})
    async with connected("visual-studio-code", workspace, opts) as editor:
        session_id = None
        for n in range(turns):
            result = await editor.send(f"Step {n}: please look at file_{n}.py " + "x" * 300,
                                       session_id)
            assert result["stopReason"] == "endTurn", result
            session_id = result["sessionId"]
        loaded = await editor.request(wire.SESSION_LOAD, {"sessionId": session_id})
        compactions = [u for u in editor.updates if u["kind"] == wire.UPDATE_COMPACTION]
        usage = [u for u in editor.updates if u["kind"] == wire.UPDATE_USAGE]
    assert model.validation_errors == []
    ends = [u for u in compactions if u["phase"] == wire.COMPACTION_END]
    assert len(ends) >= 2 and all(u["summary"] for u in ends)
    assert all(u["tokensAfter"] < u["tokensBefore"] for u in ends)
    # every request to the model had the rules, unsummarised, in its system prompt
    for index in model_requests(model):
        system = sent_messages(model, index)[0]
        assert system["role"] == "system" and RULE in system["content"]
    # the prompt the provider measured never passed the budget
    assert usage and max(u["usedTokens"] for u in usage) <= budget
    # the originals are all still there, and the summaries with them
    roles = [(m["role"], m.get("name")) for m in loaded["messages"]]
    assert roles.count(("user", None)) == turns
    assert roles.count(("system", "compaction")) == len(ends)
    # a later summary folds in the earlier one
    last_summary_request = model.requests[model.summary_requests[-1]].json["messages"]
    assert "[Earlier summary]" in last_summary_request[1]["content"]


async def fill(editor: Any, model: ScriptedModelServer, turns: int) -> str:
    model.extend({"text": "ok " * 60} for _ in range(turns))
    session_id = None
    for n in range(turns):
        result = await editor.send(f"task {n} " + "y" * 600, session_id)
        session_id = result["sessionId"]
    assert session_id is not None
    return session_id


async def test_compaction_cancelled_mid_summary_falls_back_to_truncation(
    model: ScriptedModelServer, workspace: Path
) -> None:
    opts = options(model, FEATURES,
                   session={"contextTokens": 3_000, "compactAt": 0.95, "keepRecentExchanges": 1})
    async with connected("visual-studio-code", workspace, opts) as editor:
        session_id = await fill(editor, model, 3)
        assert not [u for u in editor.updates if u["kind"] == wire.UPDATE_COMPACTION]
        model.set_summary({"fault": {"stall": True}})
        turn = editor.start_request(wire.SESSION_SEND, {
            "sessionId": session_id, "prompt": "big " + "z" * 8_000})
        await editor.wait_for_update(
            lambda u: u["kind"] == wire.UPDATE_COMPACTION and u["phase"] == wire.COMPACTION_START)
        editor.protocol.notify(wire.SESSION_CANCEL, {"sessionId": session_id})
        result = await asyncio.wait_for(turn, WAIT)
        end = await editor.wait_for_update(
            lambda u: u["kind"] == wire.UPDATE_COMPACTION and u["phase"] == wire.COMPACTION_END)
        assert result["stopReason"] == "cancelled"
        assert end["summary"] is None and "cancelled" in end["fallback"]
        assert "truncated" in end["fallback"]
        # the session goes on: the next turn's history is valid
        model.set_summary(None)
        model.extend([{"text": "still here"}])
        again = await editor.send("small one", session_id)
        assert again["content"] == "still here"
    assert model.validation_errors == []
    assert model.remaining == 0  # the stalled summary took no scripted answer
    context_md = (workspace / ".nexus" / "sessions" / session_id / "context.md").read_text()
    assert "compaction fell back to truncation" in context_md


async def test_forced_compaction_persists_across_a_restart(
    model: ScriptedModelServer, workspace: Path
) -> None:
    opts = options(model, FEATURES, session={"keepRecentExchanges": 1})
    async with connected("visual-studio-code", workspace, opts) as editor:
        session_id = await fill(editor, model, 3)
        answer = await editor.request(wire.SESSION_COMPACT, {"sessionId": session_id})
        updates = [u for u in editor.updates if u["kind"] == wire.UPDATE_COMPACTION]
    assert answer["compacted"] is True and answer["tokensAfter"] < answer["tokensBefore"]
    assert answer["summary"].startswith("Summary (scripted)") and "task 0" in answer["summary"]
    assert [u["phase"] for u in updates] == ["start", "end"]
    assert all(u["turnId"] == 3 for u in updates)
    context_md = (workspace / ".nexus" / "sessions" / session_id / "context.md").read_text()
    assert "Summary of the earlier conversation (compaction)" in context_md
    assert answer["summary"] in context_md

    model.push({"text": "resumed"})
    async with connected("neovim", workspace, options(model)) as editor:
        loaded = await editor.request(wire.SESSION_LOAD, {"sessionId": session_id})
        result = await editor.send("continue", session_id)
    assert result["content"] == "resumed"
    assert {"role": "system", "content": answer["summary"], "name": "compaction"} in loaded[
        "messages"]
    sent = sent_messages(model)
    assert answer["summary"] in sent[1]["content"]
    assert not any("task 0" in m["content"] for m in sent[2:])
    assert "task 2" in sent[1]["content"] or any("task 2" in m["content"] for m in sent)
    assert model.validation_errors == []


async def test_compact_while_a_turn_runs_is_refused(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"toolCalls": [{"name": "write_file",
                               "arguments": {"path": "n.txt", "content": "x"}}]})
    model.push({"text": "done"})
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.hold_edits = asyncio.Event()
        turn = editor.start_request(wire.SESSION_SEND, {"prompt": "write"})
        await asyncio.wait_for(editor.edit_arrived.wait(), WAIT)
        session_id = editor.updates[0]["sessionId"]
        with pytest.raises(Exception) as caught:
            await editor.request(wire.SESSION_COMPACT, {"sessionId": session_id})
        editor.hold_edits.set()
        await asyncio.wait_for(turn, WAIT)
    code, data = rpc_error(caught.value)
    assert code == wire.REQUEST_FAILED and data["reason"] == wire.REASON_SESSION_BUSY


# queue and steer ------------------------------------------------------------------


def write_call(name: str) -> dict[str, Any]:
    return {"toolCalls": [{"name": "write_file", "arguments": {"path": name, "content": "x"}}]}


async def test_steer_joins_the_running_turn_before_its_next_model_call(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([write_call("a.txt"), {"text": "done with both"}])
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.hold_edits = asyncio.Event()
        turn = editor.start_request(wire.SESSION_SEND, {"prompt": "write a"})
        await asyncio.wait_for(editor.edit_arrived.wait(), WAIT)
        session_id = editor.updates[0]["sessionId"]
        steered = await editor.send("also mention b", session_id, whenBusy="steer")
        assert steered == {"sessionId": session_id, "steered": True, "turnId": 1}
        editor.hold_edits.set()
        result = await asyncio.wait_for(turn, WAIT)
    assert result["turnId"] == 1 and result["content"] == "done with both"
    second = sent_messages(model, 1)
    assert second[-1] == {"role": "user", "content": "also mention b"}
    assert second[-2]["role"] == "tool"
    assert len(model.requests) == 2


async def test_queue_runs_after_the_running_turn_and_reject_stays_the_default(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([write_call("a.txt"), {"text": "first done"}, {"text": "second done"}])
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.hold_edits = asyncio.Event()
        first = editor.start_request(wire.SESSION_SEND, {"prompt": "one"})
        await asyncio.wait_for(editor.edit_arrived.wait(), WAIT)
        session_id = editor.updates[0]["sessionId"]
        second = editor.start_request(wire.SESSION_SEND, {
            "sessionId": session_id, "prompt": "two", "whenBusy": "queue"})
        with pytest.raises(Exception) as caught:
            await editor.send("three", session_id)
        assert not second.done()
        editor.hold_edits.set()
        one = await asyncio.wait_for(first, WAIT)
        two = await asyncio.wait_for(second, WAIT)
    assert rpc_error(caught.value)[1]["reason"] == wire.REASON_SESSION_BUSY
    assert (one["turnId"], one["content"]) == (1, "first done")
    assert (two["turnId"], two["content"]) == (2, "second done")
    assert sent_messages(model, 2)[-1] == {"role": "user", "content": "two"}
    assert sent_messages(model, 2)[-2] == {"role": "assistant", "content": "first done"}


async def test_a_steer_whose_turn_is_cancelled_runs_as_the_next_turn(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([write_call("a.txt"), {"text": "picked up the steer"}])
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.hold_edits = asyncio.Event()
        turn = editor.start_request(wire.SESSION_SEND, {"prompt": "write a"})
        await asyncio.wait_for(editor.edit_arrived.wait(), WAIT)
        session_id = editor.updates[0]["sessionId"]
        steered = await editor.send("and then b", session_id, whenBusy="steer")
        assert steered["steered"] is True
        editor.protocol.notify(wire.SESSION_CANCEL, {"sessionId": session_id})
        editor.hold_edits.set()
        first = await asyncio.wait_for(turn, WAIT)
        end = await editor.wait_for_update(
            lambda u: u["turnId"] == 2 and u["kind"] == wire.UPDATE_TURN_END)
        second = editor.turn_updates(session_id, 2)
    assert first["stopReason"] == "cancelled"
    assert end["stopReason"] == "endTurn"
    assert second[0]["kind"] == wire.UPDATE_TURN_START and second[0]["prompt"] == "and then b"
    assert "".join(u["text"] for u in second if u["kind"] == wire.UPDATE_CONTENT) == (
        "picked up the steer")
    assert sent_messages(model)[-1] == {"role": "user", "content": "and then b"}
    assert model.validation_errors == []


async def test_steer_to_an_idle_session_runs_a_turn(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([{"text": "a"}, {"text": "b"}])
    async with connected("neovim", workspace, options(model)) as editor:
        first = await editor.send("one")
        second = await editor.send("two", first["sessionId"], whenBusy="steer")
    assert (second["turnId"], second["content"]) == (2, "b")


# attachments ----------------------------------------------------------------------


async def test_attachments_reach_the_model_before_the_prompt(
    model: ScriptedModelServer, workspace: Path
) -> None:
    app = workspace / "src" / "app.py"
    model.push({"text": "seen"})
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.open(workspace / "README.md", "# Unsaved heading\n", language="markdown")
        line_two = {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}
        result = await editor.send("what is this?", context=[
            {"type": "file", "uri": uri(app), "range": line_two},
            {"type": "file", "uri": "README.md"},
            {"type": "text", "title": "note", "text": "remember the tests"},
        ])
        start = editor.turn_updates(result["sessionId"], 1)[0]
    user = sent_messages(model)[-1]["content"]
    assert user.startswith("<attachments>") and user.endswith("\n\nwhat is this?")
    assert "return 'hi ' + name" in user and "def greet" not in user  # the range only
    assert "# Unsaved heading" in user and "# Demo" not in user  # the open buffer
    assert "remember the tests" in user
    assert start["attachments"] == ["src/app.py:2", "README.md", "note"]
    context_md = next((workspace / ".nexus" / "sessions").iterdir()) / "context.md"
    assert "`src/app.py:2`" in context_md.read_text()


async def test_attachments_outside_the_workspace_are_refused_and_huge_ones_capped(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    (workspace / "big.txt").write_text("b" * 300_000)
    model.push({"text": "capped"})
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        with pytest.raises(Exception) as caught:
            await editor.send("read", context=[{"type": "file", "uri": uri(outside)}])
        result = await editor.send("read", context=[{"type": "file", "uri": "big.txt"}])
    code, data = rpc_error(caught.value)
    assert code == wire.INVALID_PARAMS and data["field"] == "context[0].uri"
    assert "outside" in str(caught.value) or "workspace" in str(caught.value)
    assert result["content"] == "capped" and len(model.requests) == 1
    user = sent_messages(model)[-1]["content"]
    assert "[attachment cut: 100,000 of 300,000 characters shown" in user
    assert len(user) < 101_000


async def test_a_diagnostics_attachment_needs_the_client_feature(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("neovim", workspace, options(model)) as editor:
        with pytest.raises(Exception) as caught:
            await editor.send("fix", context=[{"type": "diagnostics"}])
    code, data = rpc_error(caught.value)
    assert code == wire.INVALID_PARAMS and "clientFeatures.diagnostics" in str(caught.value)


# compiler in the loop ---------------------------------------------------------------

OLD_WARNING = "line 1 is longer than it should be"


def python_diagnostics(text: str) -> list[dict[str, Any]]:
    """What a Python language server would say: one standing warning, plus the
    syntax error of the text, if any."""
    found: list[dict[str, Any]] = [{
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}},
        "severity": 2, "message": OLD_WARNING, "source": "style"}]
    try:
        compile(text, "app.py", "exec")
    except SyntaxError as exc:
        line = (exc.lineno or 1) - 1
        found.append({
            "range": {"start": {"line": line, "character": 0},
                      "end": {"line": line, "character": 1}},
            "severity": 1, "message": f"SyntaxError: {exc.msg}", "source": "compile"})
    return found


def answer_diagnostics(editor: Any, workspace: Path) -> list[list[str]]:
    """Make ``editor`` answer nexus/editor/diagnostics; returns the uris it was asked."""
    asked: list[list[str]] = []

    @editor.feature(wire.EDITOR_DIAGNOSTICS)  # type: ignore[untyped-decorator]
    def on_diagnostics(params: dict[str, Any]) -> dict[str, Any]:
        client = editor
        uris = list(params["uris"]) or [uri(workspace / "src" / "app.py")]
        asked.append(list(params["uris"]))
        items = []
        for doc_uri in uris:
            if doc_uri in client.buffers:
                text = client.buffers[doc_uri][1]
            else:
                text = Path(doc_uri.removeprefix("file://")).read_text()
            items.append({"uri": doc_uri, "diagnostics": python_diagnostics(text)})
        return {"items": items}

    return asked


DIAGNOSTICS = {"diagnostics": True}


def disk_text(doc_uri: str) -> str:
    return Path(doc_uri.removeprefix("file://")).read_text()


async def test_an_edit_that_breaks_the_syntax_comes_back_with_the_new_error_only(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"toolCalls": [{"name": "edit_file", "arguments": {
        "path": "src/app.py", "oldText": "return 'hi ' + name",
        "newText": "return ('hi ' + name"}}]})
    model.push({"text": "oops"})
    opts = options(model, DIAGNOSTICS, edits={"diagnosticsDelayMs": 400})
    async with connected("visual-studio-code", workspace, opts) as editor:
        asked = answer_diagnostics(editor, workspace)
        result = await editor.send("wrap it in parentheses")
    assert result["content"] == "oops"
    tool = sent_messages(model, 1)[-1]
    assert tool["role"] == "tool"
    assert "Diagnostics after this change:" in tool["content"]
    assert "src/app.py:2:1: error: SyntaxError: '(' was never closed [compile]" in tool["content"]
    assert OLD_WARNING not in tool["content"]
    assert asked[0] == [uri(workspace / "src" / "app.py")]  # before the batch
    assert len(asked) >= 3  # then until two answers agreed


async def test_the_get_diagnostics_tool_is_offered_to_clients_that_give_them(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"toolCalls": [{"name": "get_diagnostics", "arguments": {"path": "src/app.py"}}]})
    model.push({"text": "one warning"})
    async with connected("visual-studio-code", workspace, options(model, DIAGNOSTICS)) as editor:
        answer_diagnostics(editor, workspace)
        await editor.send("any problems?")
    tools = [t["function"]["name"] for t in model.requests[0].json["tools"]]
    assert wire.TOOL_GET_DIAGNOSTICS in tools
    tool = sent_messages(model, 1)[-1]
    assert tool["content"] == f"- src/app.py:1:1: warning: {OLD_WARNING} [style]"

    model.push({"text": "plain"})
    async with connected("neovim", workspace, options(model)) as editor:
        await editor.send("hello")
    assert wire.TOOL_GET_DIAGNOSTICS not in [
        t["function"]["name"] for t in model.requests[-1].json["tools"]]


async def test_a_diagnostics_attachment_lists_what_the_editor_reports(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"text": "noted"})
    async with connected("visual-studio-code", workspace, options(model, DIAGNOSTICS)) as editor:
        answer_diagnostics(editor, workspace)
        await editor.send("fix these", context=[{"type": "diagnostics", "uri": "src/app.py"}])
    user = sent_messages(model)[-1]["content"]
    assert f"src/app.py:1:1: warning: {OLD_WARNING}" in user
    assert 'name="diagnostics of src/app.py"' in user


async def test_ruff_server_as_the_editors_diagnostics_source(
    model: ScriptedModelServer, workspace: Path
) -> None:
    """A real language server beside nexus-lsp: the syntax error the agent's edit makes
    comes back to the model as ruff reports it; ruff's earlier warning does not."""
    app = workspace / "src" / "app.py"
    app.write_text("import os\n\n\ndef greet(name):\n    return 'hi ' + name\n")
    model.push({"toolCalls": [{"name": "edit_file", "arguments": {
        "path": "src/app.py", "oldText": "return 'hi ' + name",
        "newText": "return ('hi ' + name"}}]})
    model.push({"text": "broken"})
    opts = options(model, DIAGNOSTICS, edits={"diagnosticsDelayMs": 3000})
    async with RuffServer(workspace) as ruff, connected(
            "visual-studio-code", workspace, opts) as editor:
        before = await ruff.diagnostics(uri(app), app.read_text())
        assert [d["code"] for d in before] == ["F401"]

        @editor.feature(wire.EDITOR_DIAGNOSTICS)  # type: ignore[untyped-decorator]
        async def on_diagnostics(params: dict[str, Any]) -> dict[str, Any]:
            items = []
            for doc_uri in params["uris"]:
                items.append({"uri": doc_uri, "diagnostics": await ruff.diagnostics(
                    doc_uri, disk_text(doc_uri))})
            return {"items": items}

        await editor.send("wrap it")
    tool = sent_messages(model, 1)[-1]["content"]
    assert "Diagnostics after this change:" in tool
    assert "src/app.py:" in tool and ": error: " in tool and "[Ruff invalid-syntax]" in tool
    assert "F401" not in tool and "imported but unused" not in tool
