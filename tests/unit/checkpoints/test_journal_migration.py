"""The checkpoints migration: a store of the previous version (v2) gains the journal,
the reverted messages and sessions.parent_id, keeps its data, and can revert and
fork afterwards; its schema then equals a fresh store's."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from nexus_lsp.config import LoggingSettings, parse_settings
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

# The v1 tables as nexus-lsp wrote them (frozen history), then migration 2 as it is.
V1 = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running')),
    model TEXT NOT NULL, system_prompt TEXT NOT NULL, settings TEXT NOT NULL DEFAULT '{}',
    turn_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ord INTEGER NOT NULL, turn INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content TEXT NOT NULL, tool_calls TEXT, tool_call_id TEXT, name TEXT,
    cancelled INTEGER NOT NULL DEFAULT 0, is_error INTEGER NOT NULL DEFAULT 0,
    in_context INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL,
    UNIQUE (session_id, ord)
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    turn INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, time TEXT NOT NULL
);
CREATE INDEX events_by_session ON events (session_id, id);
"""
T0 = "2025-01-02T03:04:05.000000+00:00"
CHECKPOINTS = next(m for m in MIGRATIONS if "checkpoints" in m.description)


def write_previous_store(root: Path) -> Path:
    """A store at the version before the checkpoints migration, with one session."""
    path = root / ".nexus" / "nexus.db"
    path.parent.mkdir()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(V1)
        for migration in MIGRATIONS:
            if migration.version < CHECKPOINTS.version:
                db.executescript(migration.sql)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {CHECKPOINTS.version - 1}")
        db.execute("INSERT INTO sessions (id, title, created_at, updated_at, status, model,"
                   " system_prompt, settings, turn_count)"
                   " VALUES ('old', 'Old one', ?, ?, 'idle', 'm', 'sys', '{}', 1)", (T0, T0))
        rows = [(0, 0, "system", "sys"), (1, 1, "user", "hello"), (2, 1, "assistant", "hi")]
        db.executemany(
            "INSERT INTO messages (session_id, ord, turn, role, content, created_at)"
            " VALUES ('old', ?, ?, ?, ?, ?)", [(*row, T0) for row in rows])
    return path


def schema_of(path: Path) -> dict[str, set[tuple[object, ...]]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {t: {tuple(r[1:]) for r in db.execute(f"PRAGMA table_info({t})")} for t in tables}
        out["indexes"] = {(r[0],) for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            " AND name NOT LIKE 'sqlite_autoindex%'")}
    return out


async def test_the_previous_version_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    old_root, fresh_root = tmp_path / "old", tmp_path / "fresh"
    old_root.mkdir()
    fresh_root.mkdir()
    path = write_previous_store(old_root)

    store = await SessionStore.open(old_root, LoggingSettings())
    (record,) = await store.list_sessions()
    assert record.session_id == "old" and record.parent_id is None and record.turn_count == 1
    loaded = await store.load_session("old")
    assert [m.content for m in loaded.messages] == ["sys", "hello", "hi"]
    await store.aclose()
    fresh = await SessionStore.open(fresh_root, LoggingSettings())
    await fresh.aclose()

    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert schema_of(path) == schema_of(fresh_root / ".nexus" / "nexus.db")


async def test_a_migrated_session_reverts_its_conversation_and_forks(tmp_path: Path) -> None:
    write_previous_store(tmp_path)
    settings, _ = parse_settings(None)
    store = await SessionStore.open(tmp_path, settings.logging)
    manager = SessionManager(tmp_path, settings, DiskWorkspace(tmp_path), store)
    fork = await manager.fork("old")
    assert fork.parent_id == "old"
    reverted = await manager.revert("old", 1)
    assert reverted.messages_reverted == 2 and reverted.files == []
    assert [m.content for m in (await manager.load("old")).messages] == ["sys"]
    assert [m.content for m in (await manager.load(fork.session_id)).messages] == [
        "sys", "hello", "hi"]
    await manager.aclose()
