"""The store migration of the checkpoints (protocol v2 §3, ``nexus_lsp.checkpoints``).

Self-contained so that parallel branches only renumber it in ``schema.py``; the
same tables are in ``schema.sql`` for fresh stores.
"""

from __future__ import annotations

__all__ = ["CHECKPOINTS_MIGRATION_DESCRIPTION", "CHECKPOINTS_MIGRATION_SQL"]

CHECKPOINTS_MIGRATION_DESCRIPTION = "checkpoints journal, reverted_messages, sessions.parent_id"
CHECKPOINTS_MIGRATION_SQL = """
ALTER TABLE sessions ADD COLUMN parent_id TEXT;
CREATE TABLE reverted_messages (
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ord          INTEGER NOT NULL,
    turn         INTEGER NOT NULL,
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    tool_calls   TEXT,
    tool_call_id TEXT,
    name         TEXT,
    cancelled    INTEGER NOT NULL DEFAULT 0,
    is_error     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    reverted_at  TEXT NOT NULL
);
CREATE INDEX reverted_messages_by_session
    ON reverted_messages (session_id, reverted_at, ord);
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    turn       INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('write', 'delete', 'rename', 'command')),
    path       TEXT NOT NULL,
    new_path   TEXT,
    existed    INTEGER NOT NULL,
    before     BLOB,
    after_hash TEXT,
    after      BLOB,
    git_object TEXT,
    reverted   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX checkpoints_by_turn ON checkpoints (session_id, turn, id);
"""
