"""The database file: versions, migrations, refusing what is not ours, undoing failed opens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import MessageAppended
from nexus_lsp.core.messages import Message, ToolCall
from nexus_lsp.errors import NotANexusDatabase, StoreError, StoreVersionError
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    schema_sql,
    split_statements,
)

from .storage_helpers import assert_valid_history, query

# What nexus-lsp wrote as schema v1 (frozen: this is history, never edit it).
V1_SCHEMA = """
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
CALLS = json.dumps([{"id": "c1", "name": "read_file", "arguments": {"path": "a.txt"}}])


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        yield db


def write_v1_store(root: Path, *, broken: bool = False) -> Path:
    path = root / ".nexus" / "nexus.db"
    path.parent.mkdir(exist_ok=True)
    with connect(path) as db:
        db.executescript(V1_SCHEMA)
        if broken:  # a column the v2 migration adds: the migration must fail
            db.execute("ALTER TABLE messages ADD COLUMN token_estimate INTEGER")
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO sessions VALUES ('old', 'Old one', ?, ?, 'idle', 'm', 'sys',"
                   " '{\"k\": 1}', 1)", (T0, T0))
        rows = [
            (0, 0, "system", "sys", None, None, None),
            (1, 1, "user", "read a.txt", None, None, None),
            (2, 1, "assistant", "", CALLS, None, None),
            (3, 1, "tool", "contents of a", None, "c1", "read_file"),
            (4, 1, "assistant", "It says: contents of a", None, None, None),
        ]
        db.executemany(
            "INSERT INTO messages (session_id, ord, turn, role, content, tool_calls,"
            " tool_call_id, name, created_at) VALUES ('old', ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row, T0) for row in rows])
        db.execute("INSERT INTO events (session_id, turn, type, data, time)"
                   " VALUES ('old', 1, 'turnEnded', '{}', ?)", (T0,))
    return path


def columns(path: Path) -> dict[str, set[tuple[object, ...]]]:
    tables = ("sessions", "messages", "events")
    return {t: {tuple(r[1:]) for r in query(path, f"PRAGMA table_info({t})")} for t in tables}


def indexes(path: Path) -> set[str]:
    return {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type = 'index'"
                                      " AND name NOT LIKE 'sqlite_autoindex%'")}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_migrations_are_ordered_and_end_at_the_current_version() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))
    assert "SCHEMA_VERSION" in schema_sql()


def test_statements_split_where_sqlite_says_they_end() -> None:
    script = "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');\n" \
             "INSERT INTO a VALUES ('1;2');  \n-- trailing comment\n"
    assert split_statements(script) == [
        "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "INSERT INTO a VALUES ('1;2');",
    ]
    with pytest.raises(ValueError, match="incomplete SQL"):
        split_statements("CREATE TABLE b (x")


async def test_a_v1_store_is_migrated_and_keeps_its_data(root: Path, tmp_path: Path) -> None:
    path = write_v1_store(root)
    async with await SessionStore.open(root, LoggingSettings()) as store:
        loaded = await store.load_session("old")
        assert loaded.repaired is False and loaded.settings == {"k": 1}
        assert [m.content for m in loaded.messages] == [
            "sys", "read a.txt", "", "contents of a", "It says: contents of a"]
        assert loaded.messages[2].tool_calls == (ToolCall("c1", "read_file", {"path": "a.txt"}),)
        assert_valid_history(loaded.messages)
        assert [r.session_id for r in await store.list_sessions()] == ["old"]
        store.sink("old")(MessageAppended(2, 5, Message.user("new turn")))
        await store.flush()
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    estimates = query(path, "SELECT ord, token_estimate FROM messages ORDER BY ord")
    assert estimates[1] == (1, len("read a.txt") // 4 + 4)
    assert estimates[2] == (2, len(CALLS) // 4 + 4)
    assert query(path, "SELECT count(*) FROM events WHERE type = 'turnEnded'") == [(1,)]
    # The migrated file has the schema a fresh store gets.
    fresh_root = tmp_path / "fresh"
    fresh_root.mkdir()
    async with await SessionStore.open(fresh_root, LoggingSettings()):
        pass
    fresh = fresh_root / ".nexus" / "nexus.db"
    assert columns(path) == columns(fresh)
    assert indexes(path) == indexes(fresh)


def write_v2_store(root: Path) -> Path:
    """A v1 store brought to v2 as nexus-lsp did, with a turn left ``running``."""
    path = write_v1_store(root)
    with connect(path) as db:
        for statement in split_statements(MIGRATIONS[0].sql):
            db.execute(statement)
        db.execute("PRAGMA user_version = 2")
        db.execute("UPDATE sessions SET status = 'running', turn_count = 2 WHERE id = 'old'")
        db.execute("INSERT INTO messages (session_id, ord, turn, role, content, tool_calls,"
                   " created_at) VALUES ('old', 5, 2, 'user', 'again', NULL, ?),"
                   " ('old', 6, 2, 'assistant', '', ?, ?)",
                   (T0, CALLS.replace("c1", "c2"), T0))
    return path


async def test_a_v2_store_gets_session_leases_and_keeps_its_data(root: Path,
                                                                tmp_path: Path) -> None:
    path = write_v2_store(root)
    async with await SessionStore.open(root, LoggingSettings()) as store:
        (listed,) = await store.list_sessions()
        assert listed.status == "interrupted"  # nobody holds it: its process ended
        loaded = await store.load_session("old")
        assert loaded.repaired and loaded.messages[5].content == "again"
        assert "interrupted" in loaded.messages[7].content
        assert_valid_history(loaded.messages)
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(path, "SELECT owner, lease_expires, status FROM sessions") == [
        (None, None, "idle")]
    fresh_root = tmp_path / "fresh"
    fresh_root.mkdir()
    async with await SessionStore.open(fresh_root, LoggingSettings()):
        pass
    assert columns(path) == columns(fresh_root / ".nexus" / "nexus.db")


async def test_a_failed_migration_leaves_the_file_as_it_was(root: Path) -> None:
    path = write_v1_store(root, broken=True)
    before = snapshot(path.parent)
    with pytest.raises(StoreError, match="could not migrate .* from store schema v1 to v2"):
        await SessionStore.open(root, LoggingSettings())
    assert snapshot(path.parent) == before
    assert query(path, "PRAGMA user_version") == [(1,)]


async def test_a_store_from_a_newer_version_is_refused_untouched(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
    path = root / ".nexus" / "nexus.db"
    with connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = snapshot(path.parent)
    with pytest.raises(StoreVersionError) as caught:
        await SessionStore.open(root, LoggingSettings())
    message = str(caught.value)
    assert f"schema v{SCHEMA_VERSION + 1}" in message and "newer nexus-lsp" in message
    assert "upgrade nexus-lsp" in message and "left untouched" in message
    assert snapshot(path.parent) == before


async def test_another_applications_database_is_refused_untouched(root: Path) -> None:
    nexus = root / ".nexus"
    nexus.mkdir()
    (nexus / ".gitignore").write_text("*\n")
    with connect(nexus / "nexus.db") as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('ada')")
    before = snapshot(nexus)
    with pytest.raises(NotANexusDatabase, match="another application.*left untouched"):
        await SessionStore.open(root, LoggingSettings())
    assert snapshot(nexus) == before


@pytest.mark.parametrize("damage", ["garbage", "damaged header page"])
async def test_a_file_that_is_not_a_database_is_refused_untouched(root: Path,
                                                                  damage: str) -> None:
    nexus = root / ".nexus"
    if damage == "garbage":
        nexus.mkdir()
        (nexus / "nexus.db").write_bytes(os.urandom(3000) + "\udcff".encode(errors="replace"))
    else:
        async with await SessionStore.open(root, LoggingSettings()) as store:
            await store.create_session("s", title="t", model="m", system_prompt="p")
        data = bytearray((nexus / "nexus.db").read_bytes())
        data[100:4000] = os.urandom(3900)  # the schema page, after SQLite's header
        (nexus / "nexus.db").write_bytes(bytes(data))
    before = snapshot(nexus)
    with pytest.raises(NotANexusDatabase, match="not a nexus-lsp session store.*untouched"):
        await SessionStore.open(root, LoggingSettings())
    assert snapshot(nexus) == before


async def test_a_failed_open_in_a_fresh_workspace_leaves_nothing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(*args: object) -> None:
        raise StoreError("disk trouble")

    monkeypatch.setattr("nexus_lsp.storage.db.prepare_database", fail)
    with pytest.raises(StoreError, match="disk trouble"):
        await SessionStore.open(root, LoggingSettings())
    assert os.listdir(root) == []
    # With a .nexus folder already there, only the database file made now goes.
    (root / ".nexus").mkdir()
    (root / ".nexus" / "notes").write_text("mine")
    with pytest.raises(StoreError, match="disk trouble"):
        await SessionStore.open(root, LoggingSettings())
    assert sorted(p.name for p in (root / ".nexus").iterdir()) == ["notes"]


async def test_a_session_that_cannot_be_stored_leaves_no_folder(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    async with await SessionStore.open(root, LoggingSettings()) as store:
        monkeypatch.setattr("nexus_lsp.storage.sql.insert_messages", fail)
        with pytest.raises(StoreError, match="database or disk is full"):
            await store.create_session("s", title="t", model="m", system_prompt="p")
        assert not store.session_dir("s").exists()
        assert await store.list_sessions() == []


async def test_opening_the_same_fresh_workspace_twice_at_once(root: Path) -> None:
    first, second = await asyncio.gather(SessionStore.open(root, LoggingSettings()),
                                         SessionStore.open(root, LoggingSettings()))
    await first.create_session("a", title="t", model="m", system_prompt="p")
    await second.create_session("b", title="t", model="m", system_prompt="p")
    assert {r.session_id for r in await first.list_sessions()} == {"a", "b"}
    await first.aclose()
    await second.aclose()


async def test_a_workspace_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="workspace folder .*missing.* does not exist"):
        await SessionStore.open(tmp_path / "missing", LoggingSettings())
    (tmp_path / "file-ws").mkdir()
    (tmp_path / "file-ws" / ".nexus").write_text("not a folder")
    with pytest.raises(StoreError, match=r"\.nexus exists but is not a folder"):
        await SessionStore.open(tmp_path / "file-ws", LoggingSettings())
