"""kill -9 right after ``send``: the prompt is in nexus.db after a restart (issue 11 #7)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from nexus_lsp.config import LoggingSettings
from nexus_lsp.storage import SessionStore

REPO = Path(__file__).resolve().parents[3]
CHILD = "tests.unit.session.prompt_child"


async def test_a_prompt_survives_a_kill_during_the_first_model_request(tmp_path: Path) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CHILD, str(tmp_path), "please keep me", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = (await child.stdout.readline()).decode()
    child.kill()
    _, err = await child.communicate()
    assert line.startswith("requested "), f"the child failed:\n{err.decode()}"
    assert child.returncode == -signal.SIGKILL
    session_id = line.split()[1]

    async with await SessionStore.open(tmp_path, LoggingSettings()) as store:
        loaded = await store.load_session(session_id)
    assert [(m.role, m.content) for m in loaded.messages[1:]] == [("user", "please keep me")]
    assert loaded.record.turn_count == 1
    # Killed mid-turn: closed on load like any interrupted turn.
    assert loaded.repaired and loaded.record.status == "idle"
