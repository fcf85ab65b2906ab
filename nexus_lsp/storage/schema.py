"""Which file sits at ``.nexus/nexus.db``, and bringing it to the current schema.

A nexus database carries :data:`APPLICATION_ID` in ``PRAGMA application_id`` and
its schema version in ``PRAGMA user_version``. :func:`prepare_database` reads both
*before* anything is written, then:

* an empty file (or none) gets ``schema.sql`` and the current version;
* an older nexus database is migrated, one :class:`Migration` at a time, all in
  one transaction (a crash or an error leaves the file as it was);
* a newer nexus database raises :class:`~nexus_lsp.errors.StoreVersionError`;
* anything else (another application's tables, garbage, a damaged file) raises
  :class:`~nexus_lsp.errors.NotANexusDatabase`.

Refused files are never written to: not even the journal mode is changed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from nexus_lsp.errors import NotANexusDatabase, StoreError, StoreVersionError
from nexus_lsp.storage.checkpoints_schema import (
    CHECKPOINTS_MIGRATION_DESCRIPTION,
    CHECKPOINTS_MIGRATION_SQL,
)
from nexus_lsp.storage.grants_schema import (
    GRANTS_MIGRATION_DESCRIPTION,
    GRANTS_MIGRATION_SQL,
)

# How long opening retries the switch to WAL while another connection is in the way.
WAL_SWITCH_SECONDS = 10.0

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "prepare_database",
    "schema_sql",
    "split_statements",
]

log = logging.getLogger(__name__)

APPLICATION_ID = 0x4E584C53  # "NXLS"
SCHEMA_VERSION = 5


@dataclass(frozen=True)
class Migration:
    """Brings a database from ``version - 1`` to ``version``."""

    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "messages.token_estimate (filled in for existing rows); sessions_by_update index",
        """
        ALTER TABLE messages ADD COLUMN token_estimate INTEGER NOT NULL DEFAULT 0;
        UPDATE messages
           SET token_estimate = (length(content) + length(coalesce(tool_calls, ''))) / 4 + 4;
        CREATE INDEX IF NOT EXISTS sessions_by_update ON sessions (updated_at DESC);
        """,
    ),
    Migration(
        3,
        "sessions.owner and sessions.lease_expires: the process running a turn (lease.py)",
        """
        ALTER TABLE sessions ADD COLUMN owner TEXT;
        ALTER TABLE sessions ADD COLUMN lease_expires TEXT;
        """,
    ),
    # Its own module (storage/grants.py): parallel branches renumber at merge.
    Migration(4, GRANTS_MIGRATION_DESCRIPTION, GRANTS_MIGRATION_SQL),
    # Its own module (storage/checkpoints_schema.py): parallel branches renumber.
    Migration(5, CHECKPOINTS_MIGRATION_DESCRIPTION, CHECKPOINTS_MIGRATION_SQL),
)


def schema_sql() -> str:
    return resources.files("nexus_lsp.storage").joinpath("schema.sql").read_text("utf-8")


def split_statements(script: str) -> list[str]:
    """The statements of ``script``, so they can run inside our own transaction.

    (``executescript`` would commit first.) Splits where SQLite itself says a
    statement is complete, so a ``;`` inside a string or comment is safe.
    """
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not _only_comments(current):
        raise ValueError(f"incomplete SQL statement at the end of the script: {current!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


@dataclass(frozen=True)
class _Probe:
    application_id: int
    version: int
    objects: int

    @property
    def empty(self) -> bool:
        return self.application_id == 0 and self.version == 0 and self.objects == 0


async def _scalar(db: aiosqlite.Connection, sql: str) -> int:
    async with db.execute(sql) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def _probe(db: aiosqlite.Connection, path: Path) -> _Probe:
    """Read the markers; raise when the file is not a nexus database we can use."""
    try:
        probe = _Probe(
            await _scalar(db, "PRAGMA application_id"),
            await _scalar(db, "PRAGMA user_version"),
            await _scalar(db, "SELECT count(*) FROM sqlite_master"),
        )
    except sqlite3.DatabaseError as exc:
        raise NotANexusDatabase(
            f"{path} is not a nexus-lsp session store (SQLite says: {exc}). It was left "
            "untouched; move it away or delete it, and a fresh store is created."
        ) from exc
    if probe.empty:
        return probe
    if probe.application_id != APPLICATION_ID or probe.version < 1:
        raise NotANexusDatabase(
            f"{path} is an SQLite database of another application (application_id "
            f"{probe.application_id}, {probe.objects} schema objects), not a nexus-lsp "
            "session store. It was left untouched; move it away, and a fresh store is created."
        )
    if probe.version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"{path} was written by a newer nexus-lsp (store schema v{probe.version}; this "
            f"version reads up to v{SCHEMA_VERSION}). It was left untouched: upgrade "
            "nexus-lsp, or move the file away to start a fresh store."
        )
    return probe


async def prepare_database(db: aiosqlite.Connection, path: Path) -> None:
    """Create, migrate or refuse the database ``db`` (opened in autocommit mode)."""
    probe = await _probe(db, path)
    if probe.version != SCHEMA_VERSION:
        # Another process may be doing the same: decide again under the write lock.
        await db.execute("BEGIN IMMEDIATE")
        try:
            probe = await _probe(db, path)
            if probe.empty:
                await _create(db)
            elif probe.version < SCHEMA_VERSION:
                await _migrate(db, path, probe.version)
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
    row = await _switch_to_wal(db)
    if row is None or str(row[0]).lower() != "wal":
        log.warning("%s: WAL journal not available (journal_mode=%s)", path, row and row[0])


async def _switch_to_wal(db: aiosqlite.Connection) -> Any:
    """``PRAGMA journal_mode=WAL``, retried while another connection is in the way.

    SQLite answers a lock upgrade that could deadlock (this connection reading,
    another about to write, as when two processes open one new workspace) with
    "database is locked" at once, without the busy handler; the statement then
    succeeds once the other connection's write is done.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAL_SWITCH_SECONDS
    delay = 0.01
    while True:
        try:
            async with db.execute("PRAGMA journal_mode=WAL") as cursor:
                return await cursor.fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or loop.time() >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


async def _create(db: aiosqlite.Connection) -> None:
    for statement in split_statements(schema_sql()):
        await db.execute(statement)
    await db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


async def _migrate(db: aiosqlite.Connection, path: Path, version: int) -> None:
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        log.info("%s: migrating the store to v%d: %s", path, migration.version,
                 migration.description)
        try:
            for statement in split_statements(migration.sql):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {migration.version}")
        except sqlite3.Error as exc:
            raise StoreError(
                f"could not migrate {path} from store schema v{migration.version - 1} to "
                f"v{migration.version}: {exc}. The file was left as it was."
            ) from exc
