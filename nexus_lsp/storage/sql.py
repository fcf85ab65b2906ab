"""The SQL the store runs: transaction bodies and the reads of ``load_session``.

Write functions run inside a transaction the store opened (``BEGIN IMMEDIATE``) on
its one connection; none commits. Batches use ``executemany``: a flush is one
transaction however many rows it carries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import aiosqlite

from nexus_lsp.errors import StoreError, UnknownSession
from nexus_lsp.storage.db import Database
from nexus_lsp.storage.recorder import EventRow, WriteBuffer
from nexus_lsp.storage.records import (
    MESSAGE_COLUMNS,
    MessageRow,
    SessionRecord,
    StoredMessage,
    from_db_time,
    message_from_row,
    message_row,
)
from nexus_lsp.storage.redact import Redactor
from nexus_lsp.storage.repair import Repair

__all__ = [
    "SESSION_COLUMNS",
    "insert_event",
    "insert_messages",
    "insert_session",
    "json_object",
    "prune_events",
    "prune_over_retention",
    "read_session",
    "replace_messages",
    "session_record",
    "store_repair",
    "write_batch",
]

log = logging.getLogger(__name__)

SESSION_COLUMNS = "id, title, created_at, updated_at, turn_count, status, model, parent_id"

# A message re-sent at the same position replaces the row (but keeps its in_context).
UPSERT_MESSAGE = f"""
INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (session_id, ord) DO UPDATE SET
    turn = excluded.turn, role = excluded.role, content = excluded.content,
    tool_calls = excluded.tool_calls, tool_call_id = excluded.tool_call_id,
    name = excluded.name, cancelled = excluded.cancelled, is_error = excluded.is_error,
    token_estimate = excluded.token_estimate
"""
MESSAGE_SELECT = (
    "SELECT ord, turn, role, content, tool_calls, tool_call_id, name, cancelled, is_error,"
    " in_context, created_at FROM messages WHERE session_id = ? ORDER BY ord"
)
OUT_OF_CONTEXT = "UPDATE messages SET in_context = 0 WHERE session_id = ? AND ord = ?"
INSERT_EVENT = "INSERT INTO events (session_id, turn, type, data, time) VALUES (?, ?, ?, ?, ?)"
UPDATE_SESSION = """
UPDATE sessions SET
    updated_at = max(updated_at, ?),
    status = coalesce(?, status),
    turn_count = max(turn_count, ?)
WHERE id = ?
"""
# Keeps the newest ``retention`` events of a session.
PRUNE_EVENTS = """
DELETE FROM events WHERE session_id = ? AND id < (
    SELECT id FROM events WHERE session_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?
)
"""


async def insert_session(db: aiosqlite.Connection, row: tuple[str | None, ...],
                         system: MessageRow) -> None:
    """A new session: (id, title, created, updated, model, system_prompt, settings,
    parent_id)."""
    await db.execute(
        "INSERT INTO sessions (id, title, created_at, updated_at, status, model,"
        " system_prompt, settings, parent_id, turn_count)"
        " VALUES (?, ?, ?, ?, 'idle', ?, ?, ?, ?, 0)", row)
    await insert_messages(db, [system])


def session_record(row: Any, *, running_here: bool, elsewhere: bool = False) -> SessionRecord:
    """A SessionRecord from SESSION_COLUMNS. A session another live process holds
    (``elsewhere``, see lease.py) is ``running``; a ``running`` row no live process
    runs is ``interrupted`` (its process ended mid-turn)."""
    session_id, title, created, updated, turns, status, model, parent_id = row
    if elsewhere:
        status = "running"
    elif status == "running" and not running_here:
        status = "interrupted"
    return SessionRecord(str(session_id), str(title), from_db_time(created),
                         from_db_time(updated), int(turns), status, str(model),
                         str(parent_id) if parent_id is not None else None)


async def insert_messages(db: aiosqlite.Connection, rows: Iterable[MessageRow]) -> None:
    await db.executemany(UPSERT_MESSAGE, rows)


async def insert_event(db: aiosqlite.Connection, row: EventRow) -> None:
    await db.execute(INSERT_EVENT, row)


async def prune_events(db: aiosqlite.Connection, session_ids: Iterable[str],
                       retention: int) -> None:
    for session_id in session_ids:
        if retention <= 0:
            await db.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
        else:
            await db.execute(PRUNE_EVENTS, (session_id, session_id, retention - 1))


async def prune_over_retention(db: aiosqlite.Connection, events: Iterable[EventRow],
                               retention: int, counts: dict[str, int]) -> None:
    """Prune only the sessions of ``events`` (rows just inserted) that may now hold more
    than ``retention`` events.

    ``counts`` is the caller's per-session estimate, counted once per session and
    then kept up to date here: the pruning query walks ``retention`` index entries,
    so running it on every flush cost more than the flush itself once a session had
    tens of thousands of events. An estimate that may be too high (rows removed
    elsewhere) only costs one exact prune, after which the count is exact again or
    dropped to be recounted.
    """
    added: dict[str, int] = {}
    for row in events:
        added[row[0]] = added.get(row[0], 0) + 1
    for session_id, n in added.items():
        if session_id in counts:
            count = counts[session_id] + n
        else:
            async with db.execute("SELECT count(*) FROM events WHERE session_id = ?",
                                  (session_id,)) as cursor:
                found = await cursor.fetchone()
            count = int(found[0]) if found else n
        if retention > 0 and count <= retention:
            counts[session_id] = count
            continue
        deleted = await _prune_one(db, session_id, retention)
        if retention <= 0 or deleted > 0:
            counts[session_id] = max(retention, 0)
        else:  # nothing was over after all: recount when it matters
            counts.pop(session_id, None)


async def _prune_one(db: aiosqlite.Connection, session_id: str, retention: int) -> int:
    params: tuple[str | int, ...]
    if retention <= 0:
        query, params = "DELETE FROM events WHERE session_id = ?", (session_id,)
    else:
        query, params = PRUNE_EVENTS, (session_id, session_id, retention - 1)
    async with db.execute(query, params) as cursor:
        return max(cursor.rowcount, 0)


async def write_batch(db: aiosqlite.Connection, batch: WriteBuffer, retention: int,
                      event_counts: dict[str, int] | None = None) -> None:
    """One flush's rows; ``event_counts`` (see :func:`prune_over_retention`) spares the
    pruning query for sessions well within ``retention``."""
    if batch.messages:
        await insert_messages(db, batch.messages)
    if batch.out_of_context:
        await db.executemany(OUT_OF_CONTEXT, batch.out_of_context)
    if batch.events:
        await db.executemany(INSERT_EVENT, batch.events)
    if batch.sessions:
        await db.executemany(
            UPDATE_SESSION,
            [(u.updated_at, u.status, u.turn_count, sid) for sid, u in batch.sessions.items()],
        )
    if batch.events:
        if event_counts is None:
            await prune_events(db, {row[0] for row in batch.events}, retention)
        else:
            await prune_over_retention(db, batch.events, retention, event_counts)


async def replace_messages(db: aiosqlite.Connection, session_id: str,
                           rows: list[MessageRow]) -> None:
    """Store a renumbered history in place of the session's rows."""
    await db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
    await insert_messages(db, rows)


async def store_repair(db: aiosqlite.Connection, session_id: str, repair: Repair,
                       interrupted_turn: int | None, stamp: str, redactor: Redactor,
                       retention: int, me: str) -> None:
    """Store what ``load_session`` repaired, and mark the session idle (the caller
    checked, in this transaction, that no live process holds it; a dead holder's
    lease is cleared, ``me``'s is kept)."""
    if repair.rewrite:
        rows = [message_row(session_id, s, redactor.text) for s in repair.messages]
        await replace_messages(db, session_id, rows)
    else:
        await insert_messages(db, [message_row(session_id, s, redactor.text)
                                   for s in repair.added])
    await db.execute(
        "UPDATE sessions SET status = 'idle', updated_at = max(updated_at, ?),"
        " lease_expires = CASE WHEN owner = ? THEN lease_expires END,"
        " owner = CASE WHEN owner = ? THEN owner END WHERE id = ?",
        (stamp, me, me, session_id))
    if retention > 0:
        data = {"interruptedTurn": interrupted_turn, "added": [s.ord for s in repair.added],
                "renumbered": repair.rewrite, "problems": repair.problems}
        turn = max((s.turn for s in repair.messages), default=0)
        await insert_event(db, (session_id, turn, "sessionRepaired", redactor.json_line(data),
                                stamp))


async def read_session(db: Database, session_id: str) -> tuple[Any, list[StoredMessage]]:
    """The ``sessions`` row (SESSION_COLUMNS, system_prompt, settings, owner,
    lease_expires) and the messages."""
    rows = await db.fetchall(
        f"SELECT {SESSION_COLUMNS}, system_prompt, settings, owner, lease_expires"
        " FROM sessions WHERE id = ?",
        (session_id,))
    if not rows:
        raise UnknownSession(session_id)
    try:
        stored = [message_from_row(r) for r in await db.fetchall(MESSAGE_SELECT, (session_id,))]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"session {session_id}: a stored message is unreadable: {exc}") from exc
    return rows[0], stored


def json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        log.warning("unreadable session settings ignored: %.80r", text)
        return {}
    return value if isinstance(value, dict) else {}
