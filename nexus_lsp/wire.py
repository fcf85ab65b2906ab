"""Wire names of protocol v1, spelled once (mirrored in editors/vscode and editors/nvim).

See docs/protocol.md. These strings are permanent: never rename one.
"""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1

# Requests (client → server)
SESSION_NEW: Final = "nexus/session/new"
SESSION_SEND: Final = "nexus/session/send"
SESSION_LIST: Final = "nexus/session/list"
SESSION_LOAD: Final = "nexus/session/load"
SESSION_DELETE: Final = "nexus/session/delete"
REQUEST_METHODS: Final = (SESSION_NEW, SESSION_SEND, SESSION_LIST, SESSION_LOAD, SESSION_DELETE)

# Notifications
SESSION_CANCEL: Final = "nexus/session/cancel"  # client → server
SESSION_UPDATE: Final = "nexus/session/update"  # server → client

# nexus/session/update kinds
UPDATE_TURN_START: Final = "turnStart"
UPDATE_CONTENT: Final = "content"
UPDATE_REASONING: Final = "reasoning"
UPDATE_TOOL_CALL: Final = "toolCall"
UPDATE_TOOL_CALL_UPDATE: Final = "toolCallUpdate"
UPDATE_TURN_END: Final = "turnEnd"

# workspace/executeCommand commands
COMMAND_ASK: Final = "nexus.ask"
COMMAND_CANCEL: Final = "nexus.cancel"

# The kind of the code actions: our own under "refactor", so clients that filter by
# kind still list them with the refactorings.
CODE_ACTION_KIND: Final = "refactor.nexus"

# Built-in tools
TOOL_READ_FILE: Final = "read_file"
TOOL_LIST_DIRECTORY: Final = "list_directory"
TOOL_SEARCH_TEXT: Final = "search_text"
TOOL_WRITE_FILE: Final = "write_file"
TOOL_EDIT_FILE: Final = "edit_file"
TOOL_DELETE_FILE: Final = "delete_file"
TOOL_RENAME_FILE: Final = "rename_file"
BUILTIN_TOOLS: Final = (
    TOOL_READ_FILE,
    TOOL_LIST_DIRECTORY,
    TOOL_SEARCH_TEXT,
    TOOL_WRITE_FILE,
    TOOL_EDIT_FILE,
    TOOL_DELETE_FILE,
    TOOL_RENAME_FILE,
)

# JSON-RPC error codes and data.reason values
REQUEST_CANCELLED: Final = -32800
INVALID_PARAMS: Final = -32602
REQUEST_FAILED: Final = -32803
REASON_UNKNOWN_SESSION: Final = "unknownSession"
REASON_SESSION_BUSY: Final = "sessionBusy"

# The settings section read with workspace/configuration
SETTINGS_SECTION: Final = "nexus"

# The .nexus folder
NEXUS_DIR: Final = ".nexus"
DB_FILE: Final = "nexus.db"
SESSIONS_DIR: Final = "sessions"
CONTEXT_MD: Final = "context.md"
VERBOSE_MD: Final = "verbose.md"
RAW_JSONL: Final = "raw.jsonl"

# Checkpoints: revert and fork (protocol v2 §3)
SESSION_REVERT: Final = "nexus/session/revert"
SESSION_FORK: Final = "nexus/session/fork"
COMMAND_REVERT: Final = "nexus.revert"
COMMAND_FORK: Final = "nexus.fork"
REASON_UNKNOWN_TURN: Final = "unknownTurn"
REVERT_RESTORED: Final = "restored"
REVERT_DELETED: Final = "deleted"
REVERT_RECREATED: Final = "recreated"
REVERT_UNCHANGED: Final = "unchanged"
CHECKPOINT_METHODS: Final = (SESSION_REVERT, SESSION_FORK)
