"""Permissions over the wire (protocol v2 §1): modes × kinds, asking, grants, fallbacks.

Real server over stdio, the scripted model server, a real nexus.db. The test editor
answers ``nexus/permission/request`` from a list (``permission_answers``) and
``window/showMessageRequest`` from another.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import WAIT, TestEditor, connected, settings

FEATURES = {wire.CLIENT_FEATURES: {wire.FEATURE_PERMISSION_REQUESTS: True}}


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


def options(model: ScriptedModelServer, *, features: bool = True, **sections: Any) -> Any:
    sections.setdefault("session", {"maxIterations": 10})
    base = settings(model.openai_base_url, **sections)
    return {**base, **FEATURES} if features else base


def tool_results(model: ScriptedModelServer) -> dict[str, str]:
    """Every tool result the model was sent, by call id."""
    out: dict[str, str] = {}
    for request in model.requests:
        for m in request.json["messages"]:
            if m["role"] == "tool":
                out[m["tool_call_id"]] = m["content"]
    return out


def asked(editor: TestEditor) -> list[str]:
    return [r["toolCall"]["id"] for r in editor.permission_requests]


# One call of each kind; each in its own model response, so a denial (which halts a
# sequential batch) never hides the next call.
KIND_CALLS = [
    ("read", call("r", "read_file", path="README.md")),
    ("search", call("s", "search_text", pattern="greet")),
    ("edit", call("e", "write_file", path="new.txt", content="new\n")),
    ("move", call("m", "rename_file", path="new.txt", newPath="moved.txt")),
    ("delete", call("d", "delete_file", path="moved.txt")),
    ("execute", call("x", "run_command", command="echo ran > ran.txt")),
]
# protocol v2 §1's table: which kinds run without a question, which are asked, which
# are refused (rows: modes)
EXPECTED = {
    "plan": {"allow": "rs", "ask": "", "deny": "emdx"},
    "default": {"allow": "rsemd", "ask": "x", "deny": ""},
    "acceptEdits": {"allow": "rsemd", "ask": "x", "deny": ""},
    "strict": {"allow": "rs", "ask": "emdx", "deny": ""},
    "auto": {"allow": "rsemdx", "ask": "", "deny": ""},
}


@pytest.mark.parametrize("mode", list(EXPECTED))
async def test_every_mode_and_kind(
    mode: str, model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected(
        "visual-studio-code", workspace, options(model, permissions={"mode": mode})
    ) as editor:
        editor.permission_answers = [wire.OPTION_ALLOW_ONCE] * 10
        model.extend([{"toolCalls": [c]} for _, c in KIND_CALLS] + [{"text": "done"}])
        result = await editor.send("every kind")
        assert result["stopReason"] == "endTurn", result
        expected = EXPECTED[mode]
        assert "".join(asked(editor)) == expected["ask"]
        results = tool_results(model)
        for call_id in expected["deny"]:
            assert results[call_id].endswith("denied: plan mode: only reading and searching "
                                             "are allowed"), results[call_id]
        for call_id in expected["allow"] + expected["ask"]:
            assert "denied" not in results[call_id], results[call_id]
        assert (workspace / "ran.txt").exists() == ("x" not in expected["deny"])
        kinds = {u["toolCallId"]: u.get("toolKind") for u in editor.updates
                 if u["kind"] == "toolCall"}
        assert kinds == {c["id"]: kind for kind, c in KIND_CALLS}


async def test_allow_once_then_always_survives_a_restart_until_revoked(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.permission_answers = [wire.OPTION_ALLOW_ONCE, wire.OPTION_ALLOW_ALWAYS]
        model.extend([
            {"toolCalls": [call("a1", "run_command", command="echo one")]},
            {"toolCalls": [call("a2", "run_command", command="echo two")]},
            {"toolCalls": [call("a3", "run_command", command="echo three")]},
            {"text": "done"},
        ])
        await editor.send("echo")
        assert asked(editor) == ["a1", "a2"]  # a3 ran on the grant a2 stored
        question = editor.permission_requests[0]
        assert question["toolCall"] == {
            "id": "a1", "name": "run_command", "kind": "execute",
            "title": "Run `echo one`", "arguments": {"command": "echo one"},
        }
        assert [o["optionId"] for o in question["options"]] == [
            "allow_once", "allow_always", "reject_once", "reject_always"]
        assert question["options"][1]["name"] == "Always allow `echo *`"
        results = tool_results(model)
        assert "one" in results["a1"] and "three" in results["a3"]
        listed = await editor.request(wire.PERMISSIONS_LIST, {})
        (grant,) = listed["grants"]
        assert {k: grant[k] for k in ("tool", "match", "action")} == {
            "tool": "run_command", "match": "echo *", "action": "allow"}

    async with connected("visual-studio-code", workspace, options(model)) as editor:
        model.extend([{"toolCalls": [call("b1", "run_command", command="echo again")]},
                      {"text": "done"}])
        await editor.send("echo after a restart")
        assert asked(editor) == []
        assert "again" in tool_results(model)["b1"]
        revoked = await editor.request(wire.PERMISSIONS_REVOKE, {"id": grant["id"]})
        assert revoked == {"revoked": True}
        assert await editor.request(wire.PERMISSIONS_REVOKE, {"id": grant["id"]}) == {
            "revoked": False}
        editor.permission_answers = [wire.OPTION_REJECT_ONCE]
        model.extend([{"toolCalls": [call("b2", "run_command", command="echo revoked")]},
                      {"text": "done"}])
        await editor.send("echo once more")
        assert asked(editor) == ["b2"]


async def test_reject_once_and_always(model: ScriptedModelServer, workspace: Path) -> None:
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.permission_answers = [wire.OPTION_REJECT_ONCE, wire.OPTION_REJECT_ALWAYS]
        model.extend([
            {"toolCalls": [call("c1", "run_command", command="touch one.txt")]},
            {"toolCalls": [call("c2", "run_command", command="touch two.txt")]},
            {"toolCalls": [call("c3", "run_command", command="touch three.txt")]},
            {"text": "understood"},
        ])
        result = await editor.send("touch")
        assert result["stopReason"] == "endTurn" and result["content"] == "understood"
        assert asked(editor) == ["c1", "c2"]
        results = tool_results(model)
        assert results["c1"] == "run_command: denied: the user rejected it"
        assert results["c2"] == "run_command: denied: the user always rejects `touch *`"
        assert results["c3"] == (
            "run_command: denied: the stored grant deny run_command `touch *` forbids it")
        assert not any((workspace / f"{n}.txt").exists() for n in ("one", "two", "three"))
        statuses = [c["status"] for c in result["toolCalls"]]
        assert statuses == ["failed", "failed", "failed"]


async def test_a_deny_rule_beats_a_grant(model: ScriptedModelServer, workspace: Path) -> None:
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.permission_answers = [wire.OPTION_ALLOW_ALWAYS]
        model.extend([{"toolCalls": [call("g1", "run_command", command="rm -f none.txt")]},
                      {"text": "ok"}])
        await editor.send("rm")
        assert asked(editor) == ["g1"]
    deny = {"rules": [{"tool": "run_command", "match": "rm *", "action": "deny"}]}
    async with connected("visual-studio-code", workspace,
                         options(model, permissions=deny)) as editor:
        (workspace / "keep.txt").write_text("keep\n")
        model.extend([{"toolCalls": [call("g2", "run_command", command="rm keep.txt")]},
                      {"text": "ok"}])
        await editor.send("rm again")
        assert asked(editor) == []
        assert tool_results(model)["g2"] == (
            "run_command: denied: the rule deny run_command `rm *` forbids it")
        assert (workspace / "keep.txt").exists()


async def test_rules_allow_and_deny_in_auto_and_default(
    model: ScriptedModelServer, workspace: Path
) -> None:
    rules = {"rules": [{"tool": "run_command", "match": "echo *", "action": "allow"}]}
    async with connected("visual-studio-code", workspace,
                         options(model, permissions=rules)) as editor:
        editor.permission_answers = [wire.OPTION_REJECT_ONCE]
        model.extend([
            {"toolCalls": [call("p1", "run_command", command="echo fine")]},
            # a compound line is not covered by `echo *`
            {"toolCalls": [call("p2", "run_command", command="echo x; touch evil.txt")]},
            {"text": "ok"},
        ])
        await editor.send("rules")
        assert asked(editor) == ["p2"]
        assert not (workspace / "evil.txt").exists()


async def test_a_question_pending_when_the_turn_is_cancelled(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        editor.hold_permission = asyncio.Event()
        session = await editor.request(wire.SESSION_NEW, {})
        model.extend([{"toolCalls": [call("q1", "run_command", command="touch q.txt")]},
                      {"text": "never"}])
        sending = editor.start_request(
            wire.SESSION_SEND, {"sessionId": session["sessionId"], "prompt": "go"})
        await asyncio.wait_for(editor.permission_arrived.wait(), WAIT)
        editor.protocol.notify(wire.SESSION_CANCEL, {"sessionId": session["sessionId"]})
        result = await asyncio.wait_for(sending, WAIT)
        assert result["stopReason"] == "cancelled"
        assert [c["status"] for c in result["toolCalls"]] == ["cancelled"]
        # the $/cancelRequest reaches the editor
        await asyncio.wait_for(editor.permission_withdrawn_event.wait(), WAIT)
        assert editor.permission_withdrawn == ["q1"]
        assert not (workspace / "q.txt").exists()
        # the session goes on: the cancelled call has its answer in the history
        model.extend([{"text": "fine"}])
        again = await editor.send("next", session["sessionId"])
        assert again["stopReason"] == "endTurn"
        assert not model.validation_errors


async def test_parallel_calls_are_asked_one_at_a_time(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("visual-studio-code", workspace,
                         options(model, permissions={"mode": "strict"})) as editor:
        editor.permission_answers = [wire.OPTION_ALLOW_ONCE, wire.OPTION_ALLOW_ONCE]
        model.extend([
            {"toolCalls": [call("w1", "write_file", path="a.txt", content="a", _parallel=True),
                           call("w2", "write_file", path="b.txt", content="b")]},
            {"text": "ok"},
        ])
        await editor.send("two files")
        assert sorted(asked(editor)) == ["w1", "w2"]
        assert editor.most_permissions_pending == 1
        assert (workspace / "a.txt").exists() and (workspace / "b.txt").exists()


async def test_without_permission_requests_the_editor_gets_show_message_request(
    model: ScriptedModelServer, workspace: Path
) -> None:
    async with connected("neovim", workspace, options(model, features=False)) as editor:
        editor.message_request_answers = ["Allow once", None]
        model.extend([
            {"toolCalls": [call("m1", "run_command", command="echo shown")]},
            {"toolCalls": [call("m2", "run_command", command="echo dismissed")]},
            {"text": "ok"},
        ])
        await editor.send("ask the old way")
        assert editor.permission_requests == []
        first = editor.message_requests[0]
        assert first.message == "Nexus: Run `echo shown`?"
        assert [a.title for a in first.actions or ()] == [
            "Allow once", "Always allow `echo *`", "Reject", "Always reject `echo *`"]
        results = tool_results(model)
        assert "shown" in results["m1"]
        assert results["m2"] == "run_command: denied: the user dismissed the question"


async def test_an_editor_that_cannot_ask_gets_a_denial_the_model_reads(
    model: ScriptedModelServer, workspace: Path
) -> None:
    bare = types.ClientCapabilities()
    async with connected(bare, workspace, options(model, features=False)) as editor:
        model.extend([{"toolCalls": [call("n1", "run_command", command="touch n.txt")]},
                      {"text": "ok"}])
        result = await editor.send("try")
        assert result["stopReason"] == "endTurn"
        tool_messages = [m for m in model.requests[-1].json["messages"] if m["role"] == "tool"]
        assert tool_messages[-1]["content"] == (
            "run_command: denied: no way to ask (set permissions.mode or a rule)")
        assert not (workspace / "n.txt").exists()


async def test_set_mode_changes_one_session(model: ScriptedModelServer, workspace: Path) -> None:
    async with connected("visual-studio-code", workspace, options(model)) as editor:
        first = await editor.request(wire.SESSION_NEW, {})
        other = await editor.request(wire.SESSION_NEW, {})
        answer = await editor.request(
            wire.SESSION_SET_MODE, {"sessionId": first["sessionId"], "mode": "auto"})
        assert answer == {"mode": "auto"}
        model.extend([{"toolCalls": [call("s1", "run_command", command="echo auto")]},
                      {"text": "ok"}])
        await editor.send("run", first["sessionId"])
        assert asked(editor) == []
        editor.permission_answers = [wire.OPTION_REJECT_ONCE]
        model.extend([{"toolCalls": [call("s2", "run_command", command="echo asked")]},
                      {"text": "ok"}])
        await editor.send("run", other["sessionId"])
        assert asked(editor) == ["s2"]
        with pytest.raises(Exception) as bad:
            await editor.request(wire.SESSION_SET_MODE,
                                 {"sessionId": first["sessionId"], "mode": "yolo"})
        assert "mode" in str(bad.value)


async def test_accept_edits_never_asks_the_editor_to_confirm(
    model: ScriptedModelServer, workspace: Path
) -> None:
    for mode, confirmed in (("default", True), ("acceptEdits", False)):
        async with connected("visual-studio-code", workspace, options(
                model, permissions={"mode": mode}, edits={"confirm": True})) as editor:
            model.extend([{"toolCalls": [call("e1", "write_file", path=f"{mode}.txt",
                                              content="x\n")]}, {"text": "ok"}])
            await editor.send("write")
            (request,) = editor.edit_requests
            assert bool(request.edit.change_annotations) == confirmed, mode
