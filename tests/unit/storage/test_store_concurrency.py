"""Many sessions at once, readers beside the writer, two stores on one workspace."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.storage import SessionStore

from .storage_helpers import assert_valid_history, full_turn, query

SESSIONS = 20
TURNS = 4


async def run_session(store: SessionStore, session_id: str, seed: int) -> int:
    """Write TURNS turns with tool calls, yielding between events; return the message count."""
    rng = random.Random(seed)
    await store.create_session(session_id, title=session_id, model="m", system_prompt="sys")
    sink = store.sink(session_id)
    index = 1
    for turn in range(1, TURNS + 1):
        calls = [ToolCall(f"{session_id}-{turn}-{k}", "read_file", {"path": f"f{k}"})
                 for k in range(rng.randint(0, 3))]
        events, index = full_turn(turn, index, f"prompt {turn}", answer="x" * rng.randint(1, 3000),
                                  calls=calls)
        for event in events:
            sink(event)
            if rng.random() < 0.3:
                await asyncio.sleep(0)
        await store.flush()  # as the LSP layer does before each response
    return index


async def read_while_writing(path: Path, done: asyncio.Event) -> int:
    """A second connection reading in a loop while the store writes; returns the reads done."""
    reads = 0
    while not done.is_set() or reads == 0:
        await asyncio.to_thread(query, path, "SELECT count(*), max(ord) FROM messages")
        await asyncio.to_thread(query, path, "SELECT id, status FROM sessions")
        reads += 1
        await asyncio.sleep(0.001)
    return reads


async def test_twenty_sessions_write_at_once_and_lose_nothing(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings(), flush_interval=0.01) as store:
        done = asyncio.Event()
        reader = asyncio.create_task(read_while_writing(store.db_path, done))
        try:
            counts = await asyncio.gather(
                *(run_session(store, f"s{n:02d}", n) for n in range(SESSIONS)))
        finally:
            done.set()
            reads = await reader
        assert reads > 0
        records = await store.list_sessions()
        assert len(records) == SESSIONS
        assert {(r.status, r.turn_count) for r in records} == {("idle", TURNS)}
        for n, count in enumerate(counts):
            loaded = await store.load_session(f"s{n:02d}")
            assert len(loaded.messages) == count and loaded.repaired is False
            assert_valid_history(loaded.messages)
    db = root / ".nexus" / "nexus.db"
    assert query(db, "SELECT count(*) FROM messages") == [(sum(counts),)]
    assert query(db, "SELECT count(DISTINCT session_id) FROM events"
                     " WHERE type = 'turnEnded'") == [(SESSIONS,)]
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


async def test_two_stores_on_one_workspace_write_at_once(root: Path) -> None:
    # Two connections, as with two editor windows on one folder: writers wait, never fail.
    first = await SessionStore.open(root, LoggingSettings())
    second = await SessionStore.open(root, LoggingSettings())
    try:
        counts = await asyncio.gather(
            *(run_session(first if n % 2 else second, f"w{n}", n) for n in range(10)))
        records = await first.list_sessions()
        assert len(records) == 10
    finally:
        await first.aclose()
        await second.aclose()
    assert query(root / ".nexus" / "nexus.db", "SELECT count(*) FROM messages") == [
        (sum(counts),)]
