"""``nexus-lsp revert --session ID --turn N``: revert turns from the command line.

Directly on the workspace's store and files, without a server: the same
:meth:`SessionManager.revert` every door uses (journal, three-way merge, the
session's lease, so a turn running in an editor's server refuses it with
``sessionBusy``), on a :class:`~nexus_lsp.skills.DiskWorkspace`. There is no editor
here, so no unsaved buffer can be seen: like ``nexus-lsp ask``, it writes the disk
(an editor holding one of the files reloads it or reports the conflict).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from nexus_lsp.checkpoints import RevertResult
from nexus_lsp.config import parse_settings
from nexus_lsp.errors import NexusError
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore

__all__ = ["EXIT_INCOMPLETE", "run_revert"]

EXIT_INCOMPLETE = 3  # reverted, with conflicts or files not restored


async def _revert(root: Path, session_id: str, turn_id: int, code: bool,
                  conversation: bool) -> RevertResult:
    settings, _ = parse_settings(None)
    store = await SessionStore.open(root, settings.logging)
    manager = SessionManager(root, settings, DiskWorkspace(root), store)
    try:
        return await manager.revert(session_id, turn_id, code=code, conversation=conversation)
    finally:
        await manager.aclose()


def run_revert(root: Path, session_id: str, turn_id: int, *, code: bool = True,
               conversation: bool = True, as_json: bool = False,
               out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Revert and report; the exit status (0, 1 failed, 3 incomplete)."""
    try:
        result = asyncio.run(_revert(root, session_id, turn_id, code, conversation))
    except NexusError as exc:
        print(f"nexus-lsp revert: {exc}", file=err)
        return 1
    if as_json:
        print(json.dumps(result_json(result), ensure_ascii=False), file=out)
    else:
        for f in result.files:
            print(f"{f.action:10} {f.path}", file=out)
        for c in result.conflicts:
            print(f"conflict   {c.path}: {c.reason}", file=out)
        for c in result.not_restored:
            print(f"not restored {c.path}: {c.reason}", file=out)
        print(f"{result.messages_reverted} message(s) reverted", file=out)
    return EXIT_INCOMPLETE if result.conflicts or result.not_restored else 0


def result_json(result: RevertResult) -> dict[str, Any]:
    """The same shape as the ``nexus/session/revert`` result."""
    return {
        "files": [{"path": f.path, "action": f.action} for f in result.files],
        "conflicts": [{"path": c.path, "reason": c.reason} for c in result.conflicts],
        "notRestored": [{"path": c.path, "reason": c.reason} for c in result.not_restored],
        "messagesReverted": result.messages_reverted,
    }
