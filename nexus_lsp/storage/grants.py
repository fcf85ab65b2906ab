"""Permission grants of the workspace (protocol v2 §1), kept in ``nexus.db``.

``allow_always`` / ``reject_always`` answers are stored here and hold for every
session of the workspace, across restarts, until revoked (``nexus/permissions/revoke``).
The table came with its own schema migration (``grants_schema.py``); a fresh
store gets it from ``schema.sql``. One row per (tool, match): answering again
replaces the action.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import aiosqlite

from nexus_lsp.permissions.gate import Grant
from nexus_lsp.storage.db import Database

__all__ = ["GrantStore"]


class GrantStore:
    """The :class:`~nexus_lsp.permissions.gate.GrantBook` of a workspace's store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_grants(self) -> list[Grant]:
        rows = await self._db.locked(lambda: self._db.fetchall(
            "SELECT id, tool, match, action, created_at FROM permission_grants ORDER BY id"))
        return [Grant(int(r[0]), str(r[1]), str(r[2]), "deny" if r[3] == "deny" else "allow",
                      str(r[4])) for r in rows]

    async def add_grant(self, tool: str, match: str, action: Literal["allow", "deny"]) -> Grant:
        created = datetime.now(UTC).isoformat(timespec="microseconds")

        async def insert(db: aiosqlite.Connection) -> None:
            await db.execute(
                "INSERT INTO permission_grants (tool, match, action, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (tool, match) DO UPDATE SET "
                "action = excluded.action, created_at = excluded.created_at",
                (tool, match, action, created))

        async def add() -> Grant:
            await self._db.transaction(insert)
            (row,) = await self._db.fetchall(
                "SELECT id, created_at FROM permission_grants WHERE tool = ? AND match = ?",
                (tool, match))
            return Grant(int(row[0]), tool, match, action, str(row[1]))

        return await self._db.locked(add)

    async def revoke(self, grant_id: int) -> bool:
        removed = False

        async def delete(db: aiosqlite.Connection) -> None:
            nonlocal removed
            cursor = await db.execute("DELETE FROM permission_grants WHERE id = ?", (grant_id,))
            removed = cursor.rowcount > 0
            await cursor.close()

        async def run() -> bool:
            await self._db.transaction(delete)
            return removed

        return await self._db.locked(run)
