"""``nexus-lsp revert`` end to end: a turn made by ``nexus-lsp ask`` (real server, the
scripted model), reverted by a second process on the store and the files."""

from __future__ import annotations

import json
from pathlib import Path

from nexus_lsp.cli import EXIT_OK, EXIT_USAGE
from nexus_lsp.testing import ScriptedModelServer

from .test_cli import cli, model, settings, workspace

__all__ = ["model", "workspace"]  # the fixtures, shared with test_cli


async def test_revert_a_turn_made_by_ask(model: ScriptedModelServer, workspace: Path) -> None:
    before = (workspace / "src" / "app.py").read_text("utf-8")
    model.extend([
        {"toolCalls": [
            {"name": "edit_file",
             "arguments": {"path": "src/app.py", "oldText": "wrold", "newText": "world"}},
            {"name": "write_file", "arguments": {"path": "NOTES.md", "content": "notes\n"}},
        ]},
        {"text": "Fixed."},
    ])
    run = await cli("ask", "--settings", settings(model), "Fix the typo", cwd=workspace)
    assert run.code == EXIT_OK, run.stderr
    session_id = run.session_id()

    reverted = await cli("revert", "--session", session_id, "--turn", "1", "--json",
                         cwd=workspace)

    assert reverted.code == 0, reverted.stderr
    assert json.loads(reverted.stdout) == {
        "files": [{"path": "NOTES.md", "action": "deleted"},
                  {"path": "src/app.py", "action": "restored"}],
        "conflicts": [], "notRestored": [], "messagesReverted": 5,
    }
    assert (workspace / "src" / "app.py").read_text("utf-8") == before
    assert not (workspace / "NOTES.md").exists()

    again = await cli("revert", "--session", session_id, "--turn", "1", cwd=workspace)
    assert again.code == 1 and "was reverted" in again.stderr
    unknown = await cli("revert", "--session", "nope", "--turn", "1", cwd=workspace)
    assert unknown.code == 1 and "no session with id 'nope'" in unknown.stderr
    bad = await cli("revert", "--session", session_id, "--turn", "0", cwd=workspace)
    assert bad.code == EXIT_USAGE and "--turn 0" in bad.stderr
