"""Permission grants in nexus.db: the migration that adds them, and the grant book."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.grants_schema import GRANTS_MIGRATION_SQL
from nexus_lsp.storage.schema import MIGRATIONS, SCHEMA_VERSION, split_statements

from .storage_helpers import query
from .test_store_schema import connect, write_v1_store

# The migration that adds the grants, wherever it sits in the list after a merge.
GRANTS_VERSION = next(m.version for m in MIGRATIONS if m.sql == GRANTS_MIGRATION_SQL)


def write_previous_version(root: Path) -> Path:
    """A store at the version just before the grants: v1, then every earlier migration."""
    path = write_v1_store(root)
    with connect(path) as db:
        for migration in MIGRATIONS:
            if migration.version < GRANTS_VERSION:
                for statement in split_statements(migration.sql):
                    db.execute(statement)
        db.execute(f"PRAGMA user_version = {GRANTS_VERSION - 1}")
    return path


def table_info(path: Path, table: str) -> set[tuple[object, ...]]:
    return {tuple(r[1:]) for r in query(path, f"PRAGMA table_info({table})")}


async def test_a_store_of_the_previous_version_gets_the_grants_table(
    root: Path, tmp_path: Path
) -> None:
    path = write_previous_version(root)
    assert not query(path, "SELECT name FROM sqlite_master WHERE name = 'permission_grants'")
    async with await SessionStore.open(root, LoggingSettings()) as store:
        assert [s.session_id for s in await store.list_sessions()] == ["old"]  # data kept
        assert await store.grants.list_grants() == []
        grant = await store.grants.add_grant("run_command", "pytest *", "allow")
        assert grant.id >= 1
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(path, "SELECT tool, match, action FROM permission_grants") == [
        ("run_command", "pytest *", "allow")]
    fresh_root = tmp_path / "fresh"
    fresh_root.mkdir()
    async with await SessionStore.open(fresh_root, LoggingSettings()):
        pass
    fresh = fresh_root / ".nexus" / "nexus.db"
    assert table_info(path, "permission_grants") == table_info(fresh, "permission_grants")


async def test_grants_are_listed_replaced_revoked_and_kept(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as store:
        first = await store.grants.add_grant("run_command", "pytest *", "allow")
        second = await store.grants.add_grant("run_command", "rm *", "deny")
        again = await store.grants.add_grant("run_command", "pytest *", "deny")  # answered anew
        assert again.id == first.id and again.action == "deny"
        grants = await store.grants.list_grants()
        assert [(g.id, g.match, g.action) for g in grants] == [
            (first.id, "pytest *", "deny"), (second.id, "rm *", "deny")]
        assert grants[0].to_json().keys() == {"id", "tool", "match", "action", "createdAt"}
    async with await SessionStore.open(root, LoggingSettings()) as store:
        assert len(await store.grants.list_grants()) == 2
        assert await store.grants.revoke(second.id) is True
        assert await store.grants.revoke(second.id) is False
        assert [g.match for g in await store.grants.list_grants()] == ["pytest *"]


@pytest.mark.parametrize("action", ["maybe", ""])
async def test_the_table_refuses_an_unknown_action(root: Path, action: str) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.flush()
    path = root / ".nexus" / "nexus.db"
    with connect(path) as db, pytest.raises(Exception, match="CHECK"):
        db.execute("INSERT INTO permission_grants (tool, match, action, created_at)"
                   " VALUES ('x', 'y', ?, 'now')", (action,))
