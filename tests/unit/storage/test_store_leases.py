"""Session leases (lease.py): a live holder elsewhere is respected, an expired one is not."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import MessageAppended, TurnStarted
from nexus_lsp.core.messages import Message
from nexus_lsp.errors import SessionBusy
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.records import now, to_db_time

from .storage_helpers import query

ELSEWHERE = "another-host:4242:0badcafe"


def hold(path: Path, session_id: str, *, seconds: float) -> None:
    """What a process on another host running a turn leaves in the row."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessions SET status = 'running', owner = ?, lease_expires = ?"
                   " WHERE id = ?", (ELSEWHERE, to_db_time(now() + timedelta(seconds=seconds)),
                                     session_id))


async def test_a_session_held_by_a_live_lease_is_not_touched(store: SessionStore) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    hold(store.db_path, "s", seconds=600)
    (listed,) = await store.list_sessions()
    assert listed.status == "running"
    with pytest.raises(SessionBusy, match="pid 4242 on another-host"):
        await store.load_session("s")
    with pytest.raises(SessionBusy):
        await store.claim("s", 1)
    with pytest.raises(SessionBusy):
        await store.delete_session("s")
    # Rows this process would write for it are refused, never merged into its history.
    sink = store.sink("s")
    sink(TurnStarted(1, "mine"))
    sink(MessageAppended(1, 1, Message.user("mine")))
    await store.flush()
    assert query(store.db_path, "SELECT count(*) FROM messages") == [(1,)]
    assert query(store.db_path, "SELECT owner FROM sessions") == [(ELSEWHERE,)]


async def test_an_expired_lease_is_taken_over(store: SessionStore, root: Path) -> None:
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    hold(store.db_path, "s", seconds=-1)
    (listed,) = await store.list_sessions()
    assert listed.status == "interrupted"
    loaded = await store.load_session("s")
    assert loaded.repaired and loaded.record.status == "idle"
    assert query(store.db_path, "SELECT owner, lease_expires FROM sessions") == [(None, None)]
    assert await store.claim("s", 1) is False  # nothing changed since that load
    await store.release("s")
    assert query(store.db_path, "SELECT owner FROM sessions") == [(None,)]


async def test_a_claim_is_renewed_while_the_turn_runs(root: Path) -> None:
    store = await SessionStore.open(root, LoggingSettings(), flush_interval=0.01,
                                    lease_seconds=0.3)
    await store.create_session("s", title="t", model="m", system_prompt="sys")
    await store.claim("s", 1)
    (first,) = query(store.db_path, "SELECT lease_expires FROM sessions")
    renewed = first
    for _ in range(500):  # the flusher renews every lease_seconds / 3
        (renewed,) = query(store.db_path, "SELECT lease_expires FROM sessions")
        if renewed != first:
            break
        await store.flush()
        await asyncio.sleep(0.01)
    assert renewed > first
    await store.aclose()
