"""Protocol v2 §4 in the Neovim plugin, real headless Neovim against the real server.

The usage meter (chat winbar, ``require("nexus").status()``), a ``:NexusAsk`` range
sent as a file attachment, ``:NexusAdd`` and ``:NexusAddDiagnostics`` (the server asks
the editor for them: ``nexus/editor/diagnostics`` answered from ``vim.diagnostic.get``),
a plain ``:NexusAsk`` queued and a ``:NexusAsk!`` steering a running turn (asserted on
the requests the scripted model received), and ``:NexusCompact`` shown in the chat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .test_nvim import ENV, scripted, settings_for, user_texts

# `nvim` is the fixture of tests/editors/conftest.py (its `Nvim` class).
Nvim = Any


async def test_usage_attachments_queue_steer_and_compaction(
    nvim: Nvim, workspace: Path
) -> None:
    responses = [
        {"text": "First answer.", "usage": {"inputTokens": 5210, "outputTokens": 12}},
        {"text": "Second answer."},
        {"text": "Third answer."},
        {"text": "Slowly answering the first part of it.", "chunkSize": 4, "delayMs": 40},
        {"text": "Steered answer."},
        {"text": "Answer to the queue."},
    ]
    async with scripted(responses) as srv:
        settings = settings_for(srv)
        settings["session"] = {"contextTokens": 10000, "keepRecentExchanges": 1}
        report = (await nvim.run("context.lua", cwd=workspace, settings=settings,
                                 env=ENV)).report

    # The meter: the numbers of the usage update the server sent after the call.
    assert report["status_before"] == ""
    assert report["winbar"] == "first question · context 5.2k/10k (52%)"
    assert report["status"] == "ctx 5.2k/10k (52%)"

    # The range went as an attachment, not pasted into the prompt.
    second = user_texts(srv, 1)[-1]
    assert '<attachment type="file" name="hello.py:2-3">' in second
    assert '    return "hi"' in second
    assert "print(greet())" not in second
    assert second.rstrip().endswith("Explain this")
    chat = report["chat"]
    assert "_attached: hello.py:2-3_" in chat

    # :NexusAdd and :NexusAddDiagnostics: listed while pending, sent with the next ask.
    assert report["chat_pending"][-1] == "_for the next ask: a.py, diagnostics of hello.py_"
    third = user_texts(srv, 2)[-1]
    assert '<attachment type="file" name="a.py">' in third
    assert "def foo():" in third
    assert "undefined name 'hi'" in third
    assert "_attached: a.py, diagnostics of hello.py_" in chat

    # Steer: the prompt joined the running turn before its next model call;
    # queue: the other prompt ran as the next turn, after it.
    assert user_texts(srv, 4)[-1] == "steer now"
    assert user_texts(srv, 5)[-1] == "queued question"
    notes = [m["msg"] for m in report["messages"]]
    assert "nexus: queued: queued question" in notes and "nexus: steering: steer now" in notes
    # In the chat: the steer where it joined (after the answer it interrupted),
    # the queued prompt as the next turn.
    steer_at = chat.index("## You (steering)")
    assert chat[steer_at - 2] == "Slowly answering the first part of it."
    assert chat[steer_at + 2] == "steer now"
    assert chat.index("Steered answer.") > steer_at
    queued_at = chat.index("queued question")
    assert chat[queued_at - 2] == "## You"
    assert chat.index("Steered answer.") < queued_at < chat.index("Answer to the queue.")
    assert report["after_queue"]["content"] == "Answer to the queue."

    # :NexusCompact: the compaction updates shown as notes.
    assert report["compacted"]["compacted"] is True
    assert any(line.startswith("_compacting the context (") for line in chat)
    assert any(line.startswith("_context compacted: ") for line in chat)


async def test_ruff_diagnostics_of_an_agent_edit_reach_the_model(
    nvim: Nvim, workspace: Path
) -> None:
    # ruff's own language server (a test dependency) attached in the same Neovim:
    # the diagnostics come from a real language server, not a double.
    responses = [
        {"toolCalls": [{"id": "e1", "name": "edit_file", "arguments": {
            "path": "hello.py", "oldText": 'return "hi"', "newText": 'return ("hi"'}}]},
        {"text": "Oops."},
    ]
    async with scripted(responses) as srv:
        settings = settings_for(srv)
        settings["edits"] = {"diagnosticsDelayMs": 5000}
        report = (await nvim.run("ruff.lua", cwd=workspace, settings=settings,
                                 env=ENV)).report

    assert report["ruff_started"] is True
    assert 'return ("hi"' in report["buffer"]
    assert any(d["source"] == "Ruff" for d in report["diagnostics"]), report["diagnostics"]
    tool_message = next(m for m in srv.requests[1].json["messages"] if m["role"] == "tool")
    content = tool_message["content"]
    assert "Diagnostics after this change:" in content, content
    new = content.split("Diagnostics after this change:", 1)[1].strip().splitlines()
    assert new, content
    # ruff's syntax errors of the edited file, and nothing else.
    assert all(line.startswith("- hello.py:") and ": error: " in line
               and line.endswith("[Ruff invalid-syntax]") for line in new), new
