"""Protocol v2 §3 in the Neovim plugin: ``:NexusFork`` and ``:NexusRevert`` through the
real server, in a real headless Neovim (the revert's workspace edit applied by
Neovim, written with ``write_on_edit``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .test_nvim import ENV, scripted, settings_for

# `nvim` is the fixture of tests/editors/conftest.py (its `Nvim` class).
Nvim = Any


async def test_fork_then_revert_the_last_turn_and_the_first(
    nvim: Nvim, workspace: Path
) -> None:
    responses = [
        {"toolCalls": [
            {"id": "e1", "name": "edit_file", "arguments": {
                "path": "a.py", "oldText": "return 1", "newText": "return 42"}},
            {"id": "w1", "name": "write_file", "arguments": {
                "path": "new.txt", "content": "created\n"}},
        ]},
        {"text": "Edited a.py and wrote new.txt."},
        {"toolCalls": [{"id": "e2", "name": "edit_file", "arguments": {
            "path": "b.py", "oldText": "'old'", "newText": "'new'"}}]},
        {"text": "Edited b.py."},
    ]
    async with scripted(responses) as srv:
        report = (await nvim.run("revert.lua", cwd=workspace, settings=settings_for(srv),
                                 env=ENV)).report
        assert len(srv.requests) == 4

    assert report["first"]["stopReason"] == "endTurn"
    assert report["second"]["stopReason"] == "endTurn"
    assert report["new_after_first"] == "created\n"

    # The fork holds turn 1 only; the chat switched to it.
    fork = report["fork"]
    assert fork["sessionId"] == report["fork_session"] != fork["parentId"]
    after_fork = report["chat_after_fork"]
    assert "first question" in after_fork and "second question" not in after_fork
    assert after_fork[-1].startswith("_forked from ")

    # :NexusRevert with no turn in a loaded session: the server's last turn (2).
    assert [f["path"] for f in report["revert_last"]["files"]] == ["b.py"]
    assert report["b_after_first_revert"] == "VALUE = 'old'\n"
    chat = report["chat_after_first_revert"]
    assert "second question" not in chat and "first question" in chat
    assert chat[-1] == "_reverted turn 2: b.py restored; 4 message(s) reverted_"

    # :NexusRevert 1: the edit undone, the created file deleted.
    assert report["a_after"] == "def foo():\n    return 1\n"
    assert report["new_exists"] is False
    assert not (workspace / "new.txt").exists()
    final = report["chat"]
    assert "first question" not in final
    assert final[-1].startswith("_reverted turn 1: ")
    assert "a.py restored" in final[-1] and "new.txt deleted" in final[-1]
