--- Wire names of Nexus protocol v1, mirrored from nexus_lsp/wire.py.
---
--- These strings are permanent. tests/editors/test_nvim_plugin.py compares this
--- table with wire.py, so a rename on either side fails the suite.
local M = {}

M.PROTOCOL_VERSION = 1

-- Requests (client -> server)
M.SESSION_NEW = "nexus/session/new"
M.SESSION_SEND = "nexus/session/send"
M.SESSION_LIST = "nexus/session/list"
M.SESSION_LOAD = "nexus/session/load"
M.SESSION_DELETE = "nexus/session/delete"

-- Notifications
M.SESSION_CANCEL = "nexus/session/cancel" -- client -> server
M.SESSION_UPDATE = "nexus/session/update" -- server -> client

-- nexus/session/update kinds
M.UPDATE_TURN_START = "turnStart"
M.UPDATE_CONTENT = "content"
M.UPDATE_REASONING = "reasoning"
M.UPDATE_TOOL_CALL = "toolCall"
M.UPDATE_TOOL_CALL_UPDATE = "toolCallUpdate"
M.UPDATE_TURN_END = "turnEnd"

-- workspace/executeCommand commands
M.COMMAND_ASK = "nexus.ask"
M.COMMAND_CANCEL = "nexus.cancel"
M.CODE_ACTION_KIND = "refactor.nexus"

-- Built-in tools
M.TOOL_READ_FILE = "read_file"
M.TOOL_LIST_DIRECTORY = "list_directory"
M.TOOL_SEARCH_TEXT = "search_text"
M.TOOL_WRITE_FILE = "write_file"
M.TOOL_EDIT_FILE = "edit_file"
M.TOOL_DELETE_FILE = "delete_file"
M.TOOL_RENAME_FILE = "rename_file"

-- JSON-RPC error codes and data.reason values
M.REQUEST_CANCELLED = -32800
M.INVALID_PARAMS = -32602
M.REQUEST_FAILED = -32803
M.REASON_UNKNOWN_SESSION = "unknownSession"
M.REASON_SESSION_BUSY = "sessionBusy"

-- The settings section read with workspace/configuration
M.SETTINGS_SECTION = "nexus"

-- The .nexus folder
M.NEXUS_DIR = ".nexus"
M.DB_FILE = "nexus.db"
M.SESSIONS_DIR = "sessions"
M.CONTEXT_MD = "context.md"
M.VERBOSE_MD = "verbose.md"
M.RAW_JSONL = "raw.jsonl"

-- Protocol v2 §1–§2: permissions, tool kinds, run_command (names final)
M.SESSION_SET_MODE = "nexus/session/setMode"
M.PERMISSIONS_LIST = "nexus/permissions/list"
M.PERMISSIONS_REVOKE = "nexus/permissions/revoke"
M.PERMISSION_REQUEST = "nexus/permission/request"
M.CLIENT_FEATURES = "clientFeatures"
M.FEATURE_PERMISSION_REQUESTS = "permissionRequests"
M.KIND_READ = "read"
M.KIND_SEARCH = "search"
M.KIND_EDIT = "edit"
M.KIND_DELETE = "delete"
M.KIND_MOVE = "move"
M.KIND_EXECUTE = "execute"
M.KIND_MCP = "mcp"
M.MODE_DEFAULT = "default"
M.MODE_PLAN = "plan"
M.MODE_ACCEPT_EDITS = "acceptEdits"
M.MODE_STRICT = "strict"
M.MODE_AUTO = "auto"
M.OPTION_ALLOW_ONCE = "allow_once"
M.OPTION_ALLOW_ALWAYS = "allow_always"
M.OPTION_REJECT_ONCE = "reject_once"
M.OPTION_REJECT_ALWAYS = "reject_always"
M.OUTCOME_SELECTED = "selected"
M.OUTCOME_CANCELLED = "cancelled"
M.FIELD_TOOL_KIND = "toolKind"
M.TOOL_RUN_COMMAND = "run_command"
M.REASON_PERMISSION_DENIED = "permissionDenied"

-- Protocol v2 §4: usage, compaction, attachments, queue and steer, diagnostics
M.SESSION_COMPACT = "nexus/session/compact"
M.EDITOR_DIAGNOSTICS = "nexus/editor/diagnostics" -- server -> client
M.FEATURE_DIAGNOSTICS = "diagnostics"
M.FEATURE_USAGE = "usage"
M.FEATURE_REVERT = "revert"
M.WHEN_BUSY_REJECT = "reject"
M.WHEN_BUSY_QUEUE = "queue"
M.WHEN_BUSY_STEER = "steer"
M.CONTEXT_FILE = "file"
M.CONTEXT_TEXT = "text"
M.CONTEXT_DIAGNOSTICS = "diagnostics"
M.UPDATE_USAGE = "usage"
M.UPDATE_COMPACTION = "compaction"
M.COMPACTION_START = "start"
M.COMPACTION_END = "end"
M.TOOL_GET_DIAGNOSTICS = "get_diagnostics"

-- Protocol v2 §3: checkpoints, revert and fork
M.SESSION_REVERT = "nexus/session/revert"
M.SESSION_FORK = "nexus/session/fork"
M.COMMAND_REVERT = "nexus.revert"
M.COMMAND_FORK = "nexus.fork"
M.REASON_UNKNOWN_TURN = "unknownTurn"
M.REVERT_RESTORED = "restored"
M.REVERT_DELETED = "deleted"
M.REVERT_RECREATED = "recreated"
M.REVERT_UNCHANGED = "unchanged"

-- Protocol v2 §5: MCP servers
M.MCP_LIST = "nexus/mcp/list"
M.MCP_PROJECT_FILE = ".mcp.json"
M.MCP_TOOL_PREFIX = "mcp__"
M.MCP_SERVER_PERMISSION_PREFIX = "mcp_server:"

-- Stop reasons of a turn (protocol section 2)
M.STOP_END_TURN = "endTurn"
M.STOP_MAX_ITERATIONS = "maxIterations"
M.STOP_CANCELLED = "cancelled"
M.STOP_ERROR = "error"

-- Checkpoints: revert and fork (protocol v2 §3)
M.SESSION_REVERT = "nexus/session/revert"
M.SESSION_FORK = "nexus/session/fork"
M.COMMAND_REVERT = "nexus.revert"
M.COMMAND_FORK = "nexus.fork"
M.REASON_UNKNOWN_TURN = "unknownTurn"
M.REVERT_RESTORED = "restored"
M.REVERT_DELETED = "deleted"
M.REVERT_RECREATED = "recreated"
M.REVERT_UNCHANGED = "unchanged"

return M
