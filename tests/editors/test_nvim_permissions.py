"""Protocol v2 §1–§2 in the Neovim plugin, real headless Neovim against the real server.

Permission questions reach ``vim.ui.select`` (stubbed in the scenario, as a picker
plugin would answer), a real ``run_command`` runs or is refused, its output streams
under its tool line, grants are listed and revoked, ``:NexusMode`` switches the
session's mode, and a question pending when the turn is cancelled is withdrawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus_lsp import wire

from .test_nvim import ENV, scripted, settings_for

# `nvim` is the fixture of tests/editors/conftest.py (its `Nvim` class).
Nvim = Any


def run(call_id: str, command: str) -> dict[str, Any]:
    return {"toolCalls": [{"id": call_id, "name": wire.TOOL_RUN_COMMAND,
                           "arguments": {"command": command}}]}


def tool_result(srv: Any, call_id: str) -> str:
    for request in srv.requests:
        for message in request.json["messages"]:
            if message["role"] == "tool" and message["tool_call_id"] == call_id:
                return str(message["content"])
    raise AssertionError(f"no tool result for {call_id}")


async def test_questions_output_grants_modes_and_withdrawal(
    nvim: Nvim, workspace: Path
) -> None:
    responses = [
        run("c1", "echo one; echo two >&2; exit 3"), {"text": "It failed."},
        run("c2", "touch rejected.txt"), {"text": "Not allowed."},
        run("c3", "ls hello.py"), {"text": "Listed."},
        run("c4", "ls hello.py"), {"text": "Listed again."},
        run("c5", "touch auto.txt"), {"text": "Auto."},
        run("c6", "touch pending.txt"), {"text": "never sent"},
    ]
    async with scripted(responses) as srv:
        report = (await nvim.run("permissions.lua", cwd=workspace, settings=settings_for(srv),
                                 env=ENV)).report

    assert report["mode_completion"] == ["acceptEdits", "auto"]

    # The question: the command as the prompt, the four options by name.
    first_q = report["questions"][0]
    assert first_q["kind"] == "nexus_permission"
    assert first_q["prompt"] == "Nexus: Run `echo one; echo two >&2; exit 3`?"
    assert len(first_q["items"]) == 4
    assert first_q["items"][0] == "Allow once"
    assert first_q["items"][2] == "Reject"

    # Allowed once: it ran; its output streamed under its line, then the exit status.
    assert [c["status"] for c in report["first"]["toolCalls"]] == ["completed"]
    chat = report["chat_first"]
    line = chat.index("- [completed] run_command `echo one; echo two >&2; exit 3`")
    assert chat[line + 1] == "  ```"
    assert sorted(chat[line + 2:line + 4]) == ["  one", "  two"]
    assert chat[line + 4] == "  ```"
    assert chat[line + 5].startswith("  _exit 3 · ") and chat[line + 5].endswith(" ms_")
    assert "exit code 3" in tool_result(srv, "c1")

    # Rejected: nothing ran, the model read the denial.
    assert not (workspace / "rejected.txt").exists()
    assert "denied" in tool_result(srv, "c2")

    # Always allowed: the next identical command did not ask.
    assert report["questions"][2]["items"][1] == "Always allow `ls *`"
    assert report["asked_for_fourth"] == 0
    assert "hello.py" in tool_result(srv, "c4")

    # :NexusPermissions listed the grant and revoking it worked.
    grants_q = report["questions"][3]
    assert grants_q["kind"] == "nexus_grant"
    assert len(grants_q["items"]) == 1
    assert grants_q["items"][0].startswith("allow run_command `ls *`")
    assert report["revoked"]["match"] == "ls *"
    assert any(m["msg"].startswith("nexus: revoked: allow run_command `ls *`")
               for m in report["messages"])

    # :NexusMode auto: the command ran without a question.
    assert report["asked_in_auto"] == 0
    assert (workspace / "auto.txt").exists()

    # The pending question: marked on the tool line, withdrawn by the cancel.
    assert any(line.startswith("- [pending] run_command `touch pending.txt`")
               for line in report["chat_asking"])
    # The question knows its request id, so the server's $/cancelRequest names it.
    [pending_id] = report["pending_ids"]
    assert isinstance(pending_id, str) and pending_id.startswith("nexus-permission-")
    assert report["picker_closed"] is True
    assert not (workspace / "pending.txt").exists()
    assert report["chat"][-1].startswith("_cancelled")
    assert any(m["msg"].startswith("nexus: question withdrawn: Nexus: Run `touch pending.txt`")
               for m in report["messages"])
