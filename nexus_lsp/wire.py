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
SESSION_SET_MODE: Final = "nexus/session/setMode"  # protocol v2 §1
SESSION_COMPACT: Final = "nexus/session/compact"  # protocol v2 §4
PERMISSIONS_LIST: Final = "nexus/permissions/list"
PERMISSIONS_REVOKE: Final = "nexus/permissions/revoke"
MCP_LIST: Final = "nexus/mcp/list"  # protocol v2 §5
REQUEST_METHODS: Final = (
    SESSION_NEW, SESSION_SEND, SESSION_LIST, SESSION_LOAD, SESSION_DELETE,
    SESSION_SET_MODE, PERMISSIONS_LIST, PERMISSIONS_REVOKE, SESSION_COMPACT, MCP_LIST,
)

# Requests (server → client): protocol v2 §1; §4, to a client that declared `diagnostics`
PERMISSION_REQUEST: Final = "nexus/permission/request"
EDITOR_DIAGNOSTICS: Final = "nexus/editor/diagnostics"

# initializationOptions.clientFeatures (protocol v2): booleans a client declares
CLIENT_FEATURES: Final = "clientFeatures"
FEATURE_PERMISSION_REQUESTS: Final = "permissionRequests"
FEATURE_DIAGNOSTICS: Final = "diagnostics"
FEATURE_USAGE: Final = "usage"
# The client has its own revert/fork UI: the "revert the last turn" code action is
# not offered to it (protocol v2 §3).
FEATURE_REVERT: Final = "revert"
# The optional client features this server uses (listed in experimental.nexus)
USED_CLIENT_FEATURES: Final = (
    FEATURE_PERMISSION_REQUESTS, FEATURE_USAGE, FEATURE_DIAGNOSTICS, FEATURE_REVERT,
)

# nexus/session/send (protocol v2 §4): whenBusy values and context item types
WHEN_BUSY_REJECT: Final = "reject"
WHEN_BUSY_QUEUE: Final = "queue"
WHEN_BUSY_STEER: Final = "steer"
CONTEXT_FILE: Final = "file"
CONTEXT_TEXT: Final = "text"
CONTEXT_DIAGNOSTICS: Final = "diagnostics"

# Tool kinds (protocol v2 §1, the Agent Client Protocol's words)
KIND_READ: Final = "read"
KIND_SEARCH: Final = "search"
KIND_EDIT: Final = "edit"
KIND_DELETE: Final = "delete"
KIND_MOVE: Final = "move"
KIND_EXECUTE: Final = "execute"
KIND_MCP: Final = "mcp"
TOOL_KINDS: Final = (KIND_READ, KIND_SEARCH, KIND_EDIT, KIND_DELETE, KIND_MOVE, KIND_EXECUTE,
                     KIND_MCP)

# MCP (protocol v2 §5): the project file, the tool-name prefix, the permission question
# that allows a project server (toolCall.name), the statuses of nexus/mcp/list
MCP_PROJECT_FILE: Final = ".mcp.json"
MCP_TOOL_PREFIX: Final = "mcp__"
MCP_SERVER_PERMISSION_PREFIX: Final = "mcp_server:"
MCP_STATUSES: Final = ("running", "stopped", "failed", "notAllowed")

# Permission modes and the options of a permission question
MODE_DEFAULT: Final = "default"
MODE_PLAN: Final = "plan"
MODE_ACCEPT_EDITS: Final = "acceptEdits"
MODE_STRICT: Final = "strict"
MODE_AUTO: Final = "auto"
OPTION_ALLOW_ONCE: Final = "allow_once"
OPTION_ALLOW_ALWAYS: Final = "allow_always"
OPTION_REJECT_ONCE: Final = "reject_once"
OPTION_REJECT_ALWAYS: Final = "reject_always"
OUTCOME_SELECTED: Final = "selected"
OUTCOME_CANCELLED: Final = "cancelled"

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
UPDATE_USAGE: Final = "usage"  # protocol v2 §4, to clients that declared `usage`
UPDATE_COMPACTION: Final = "compaction"  # protocol v2 §4
COMPACTION_START: Final = "start"
COMPACTION_END: Final = "end"
# toolCall / toolCallUpdate fields added by protocol v2 §1–§2
FIELD_TOOL_KIND: Final = "toolKind"

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
TOOL_RUN_COMMAND: Final = "run_command"
BUILTIN_TOOLS: Final = (
    TOOL_READ_FILE,
    TOOL_LIST_DIRECTORY,
    TOOL_SEARCH_TEXT,
    TOOL_WRITE_FILE,
    TOOL_EDIT_FILE,
    TOOL_DELETE_FILE,
    TOOL_RENAME_FILE,
    TOOL_RUN_COMMAND,
)
# Offered when the client declared clientFeatures.diagnostics (protocol v2 §4)
TOOL_GET_DIAGNOSTICS: Final = "get_diagnostics"

# JSON-RPC error codes and data.reason values
REQUEST_CANCELLED: Final = -32800
INVALID_PARAMS: Final = -32602
REQUEST_FAILED: Final = -32803
REASON_UNKNOWN_SESSION: Final = "unknownSession"
REASON_SESSION_BUSY: Final = "sessionBusy"
REASON_PERMISSION_DENIED: Final = "permissionDenied"

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
