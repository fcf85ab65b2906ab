-- The nexus-lsp session store (.nexus/nexus.db), current schema.
-- Its version is SCHEMA_VERSION in storage/schema.py (kept in PRAGMA user_version,
-- next to PRAGMA application_id, which marks the file as ours). Older files are
-- brought here by the ordered migrations in that module; change both together.
-- Plain tables (no STRICT, no RETURNING): the store must run on older SQLite too.

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    created_at    TEXT NOT NULL,             -- UTC ISO 8601, microseconds
    updated_at    TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running')),
    model         TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    settings      TEXT NOT NULL DEFAULT '{}', -- JSON object
    turn_count    INTEGER NOT NULL DEFAULT 0,
    -- The process running a turn ("host:pid:nonce") and until when its lease holds
    -- (renewed while it runs; storage/lease.py). NULL: nobody.
    owner         TEXT,
    lease_expires TEXT,
    parent_id     TEXT                       -- the session this one was forked from
);

-- list_sessions: newest first.
CREATE INDEX sessions_by_update ON sessions (updated_at DESC);

CREATE TABLE messages (
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ord            INTEGER NOT NULL,          -- position in the history, 0 = system prompt
    turn           INTEGER NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content        TEXT NOT NULL,
    tool_calls     TEXT,                      -- JSON array, assistant messages only
    tool_call_id   TEXT,
    name           TEXT,
    cancelled      INTEGER NOT NULL DEFAULT 0,
    is_error       INTEGER NOT NULL DEFAULT 0,
    token_estimate INTEGER NOT NULL DEFAULT 0,
    in_context     INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    -- Also the index for load_session and for the cascade from sessions.
    UNIQUE (session_id, ord)
);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    turn       INTEGER NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,                 -- JSON object
    time       TEXT NOT NULL
);

-- Retention (newest N per session), the cascade, and reading a session's events.
CREATE INDEX events_by_session ON events (session_id, id);

-- Permission grants (protocol v2 §1): allow/reject always, for the whole workspace.
CREATE TABLE permission_grants (
    id         INTEGER PRIMARY KEY,
    tool       TEXT NOT NULL,
    match      TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('allow', 'deny')),
    created_at TEXT NOT NULL,
    UNIQUE (tool, match)
);

-- Messages of reverted turns (protocol v2 §3): moved here, so the history in
-- `messages` stays contiguous for the turns that follow; listed by load.
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
CREATE INDEX reverted_messages_by_session ON reverted_messages (session_id, reverted_at, ord);

-- The checkpoint journal (protocol v2 §3): one row per change a tool made, written
-- BEFORE the change is applied. Texts are zlib-compressed UTF-8.
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    turn       INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('write', 'delete', 'rename', 'command')),
    path       TEXT NOT NULL,                 -- workspace-relative, forward slashes
    new_path   TEXT,                          -- rename: where it went
    existed    INTEGER NOT NULL,
    before     BLOB,                          -- the text before (null: did not exist)
    after_hash TEXT,                          -- sha256 of the text after (null: gone)
    after      BLOB,                          -- the text after: the three-way merge's base
    git_object TEXT,                          -- command: the pre-image's blob in git
    reverted   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX checkpoints_by_turn ON checkpoints (session_id, turn, id);
