"""The schema migration that added permission grants (``storage/grants.py``).

In a module of its own, imported by ``schema.py``: the migration list is renumbered
when parallel changes to the store are merged, and this keeps each self-contained.
"""

from __future__ import annotations

__all__ = ["GRANTS_MIGRATION_DESCRIPTION", "GRANTS_MIGRATION_SQL"]

GRANTS_MIGRATION_DESCRIPTION = "permission_grants table (allow/reject always, per workspace)"
# Kept equal to the table in schema.sql (a test compares a migrated file with a fresh one).
GRANTS_MIGRATION_SQL = """
CREATE TABLE permission_grants (
    id         INTEGER PRIMARY KEY,
    tool       TEXT NOT NULL,
    match      TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('allow', 'deny')),
    created_at TEXT NOT NULL,
    UNIQUE (tool, match)
);
"""
