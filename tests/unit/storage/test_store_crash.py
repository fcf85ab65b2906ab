"""kill -9 in the middle of writing turns, many times: nothing flushed is ever lost.

Each run starts ``crash_child.py`` on the same workspace (it resumes the session
the previous run left), waits for a randomly chosen number of its ``flushed N``
lines, sometimes lets it write on a little longer, and kills it with SIGKILL.
Then the database must pass ``integrity_check``, hold every message below the
last reported N, and load as a valid, idle history.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from pathlib import Path

from nexus_lsp.config import LoggingSettings
from nexus_lsp.storage import SessionStore

from .storage_helpers import assert_valid_history, query

REPO = Path(__file__).resolve().parents[3]
CHILD = "tests.unit.storage.crash_child"
RUNS = 12


async def run_and_kill(root: Path, seed: int, lines_wanted: int, extra_wait: float) -> int:
    """Run the child until ``lines_wanted`` flush reports (+ ``extra_wait``), kill it,
    and return the highest position it reported as flushed."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CHILD, str(root), "s", str(seed), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    lines: list[str] = []
    while len(lines) < lines_wanted:
        line = await child.stdout.readline()
        if not line:
            break
        lines.append(line.decode())
    if extra_wait:
        await asyncio.sleep(extra_wait)
    child.kill()
    out, err = await child.communicate()
    assert child.returncode == -signal.SIGKILL, f"the child ended on its own:\n{err.decode()}"
    lines += out.decode().splitlines()
    flushed = [int(line.split()[1]) for line in lines if line.startswith("flushed ")]
    assert flushed, f"the child reported nothing:\n{err.decode()}"
    return max(flushed)


async def test_kill_9_while_writing_never_corrupts_or_loses_flushed_messages(
    root: Path,
) -> None:
    rng = random.Random(20240611)  # the kill points vary by run, reproducibly
    db = root / ".nexus" / "nexus.db"
    repaired_runs = 0
    for run in range(RUNS):
        extra = rng.uniform(0.0, 0.03) if rng.random() < 0.5 else 0.0
        flushed = await run_and_kill(root, run, rng.randint(1, 7), extra)

        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        ords = [r[0] for r in query(db, "SELECT ord FROM messages WHERE session_id = 's'"
                                        " ORDER BY ord")]
        assert ords[:flushed] == list(range(flushed)), f"run {run}: flushed rows missing"

        async with await SessionStore.open(root, LoggingSettings()) as store:
            loaded = await store.load_session("s")
            (record,) = await store.list_sessions()
        assert len(loaded.messages) >= flushed
        assert_valid_history(loaded.messages)
        assert loaded.record.status == "idle" and record.status == "idle"
        repaired_runs += loaded.repaired
    # Kills right after a "flushed N open" report leave tool calls without results.
    assert repaired_runs > 0
    assert query(db, "SELECT count(*) FROM messages WHERE content LIKE"
                     " '%interrupted: the session ended before this tool call finished'"
                 )[0][0] > 0
