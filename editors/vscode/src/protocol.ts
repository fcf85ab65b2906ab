/**
 * Wire names and shapes of Nexus protocol v1, spelled once for the extension.
 *
 * Mirrors `nexus_lsp/wire.py` and `docs/protocol.md`; these strings are
 * permanent. Every other module takes method names, update kinds and error
 * codes from here. No `vscode` import: the protocol layer and its tests run in
 * plain Node.
 */

export const PROTOCOL_VERSION = 1;

// Requests (client → server)
export const SESSION_NEW = 'nexus/session/new';
export const SESSION_SEND = 'nexus/session/send';
export const SESSION_LIST = 'nexus/session/list';
export const SESSION_LOAD = 'nexus/session/load';
export const SESSION_DELETE = 'nexus/session/delete';

// Notifications
export const SESSION_CANCEL = 'nexus/session/cancel'; // client → server
export const SESSION_UPDATE = 'nexus/session/update'; // server → client

// nexus/session/update kinds
export const UPDATE_TURN_START = 'turnStart';
export const UPDATE_CONTENT = 'content';
export const UPDATE_REASONING = 'reasoning';
export const UPDATE_TOOL_CALL = 'toolCall';
export const UPDATE_TOOL_CALL_UPDATE = 'toolCallUpdate';
export const UPDATE_TURN_END = 'turnEnd';

// workspace/executeCommand commands the server registers (the language client
// turns them into VS Code commands, so the extension's own ids must differ).
export const COMMAND_ASK = 'nexus.ask';
export const COMMAND_CANCEL = 'nexus.cancel';
export const CODE_ACTION_KIND = 'refactor.nexus';

// Built-in tools
export const TOOL_READ_FILE = 'read_file';
export const TOOL_LIST_DIRECTORY = 'list_directory';
export const TOOL_SEARCH_TEXT = 'search_text';
export const TOOL_WRITE_FILE = 'write_file';
export const TOOL_EDIT_FILE = 'edit_file';
export const TOOL_DELETE_FILE = 'delete_file';
export const TOOL_RENAME_FILE = 'rename_file';

// Protocol v2 §1–§2: permissions, tool kinds, run_command (names final)
export const SESSION_SET_MODE = 'nexus/session/setMode';
export const PERMISSIONS_LIST = 'nexus/permissions/list';
export const PERMISSIONS_REVOKE = 'nexus/permissions/revoke';
export const PERMISSION_REQUEST = 'nexus/permission/request';
export const CLIENT_FEATURES = 'clientFeatures';
export const FEATURE_PERMISSION_REQUESTS = 'permissionRequests';
export const KIND_READ = 'read';
export const KIND_SEARCH = 'search';
export const KIND_EDIT = 'edit';
export const KIND_DELETE = 'delete';
export const KIND_MOVE = 'move';
export const KIND_EXECUTE = 'execute';
export const KIND_MCP = 'mcp';
export const MODE_DEFAULT = 'default';
export const MODE_PLAN = 'plan';
export const MODE_ACCEPT_EDITS = 'acceptEdits';
export const MODE_STRICT = 'strict';
export const MODE_AUTO = 'auto';
export const OPTION_ALLOW_ONCE = 'allow_once';
export const OPTION_ALLOW_ALWAYS = 'allow_always';
export const OPTION_REJECT_ONCE = 'reject_once';
export const OPTION_REJECT_ALWAYS = 'reject_always';
export const OUTCOME_SELECTED = 'selected';
export const OUTCOME_CANCELLED = 'cancelled';
export const FIELD_TOOL_KIND = 'toolKind';
export const TOOL_RUN_COMMAND = 'run_command';
export const REASON_PERMISSION_DENIED = 'permissionDenied';

// JSON-RPC error codes and data.reason values
export const REQUEST_CANCELLED = -32800;
export const INVALID_PARAMS = -32602;
export const REQUEST_FAILED = -32803;
export const REASON_UNKNOWN_SESSION = 'unknownSession';
export const REASON_SESSION_BUSY = 'sessionBusy';

// The settings section read with workspace/configuration
export const SETTINGS_SECTION = 'nexus';

// The .nexus folder
export const NEXUS_DIR = '.nexus';
export const DB_FILE = 'nexus.db';
export const SESSIONS_DIR = 'sessions';
export const CONTEXT_MD = 'context.md';
export const VERBOSE_MD = 'verbose.md';
export const RAW_JSONL = 'raw.jsonl';

// Checkpoints: revert and fork (protocol v2 §3)
export const SESSION_REVERT = 'nexus/session/revert';
export const SESSION_FORK = 'nexus/session/fork';
export const COMMAND_REVERT = 'nexus.revert';
export const COMMAND_FORK = 'nexus.fork';
export const REASON_UNKNOWN_TURN = 'unknownTurn';
export const REVERT_RESTORED = 'restored';
export const REVERT_DELETED = 'deleted';
export const REVERT_RECREATED = 'recreated';
export const REVERT_UNCHANGED = 'unchanged';

export type StopReason = 'endTurn' | 'maxIterations' | 'cancelled' | 'error';
export type ToolStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'skipped';
export type SessionStatus = 'idle' | 'running' | 'interrupted';

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
}

export interface NewSessionParams {
  title?: string;
  systemPrompt?: string;
  model?: string;
}

export interface NewSessionResult {
  sessionId: string;
  title: string;
  createdAt: string;
  logDir: string;
}

export interface SendParams {
  sessionId?: string;
  prompt: string;
  workDoneToken?: string | number;
}

export interface ToolCallResult {
  toolCallId: string;
  name: string;
  arguments: Record<string, unknown>;
  status: 'completed' | 'failed' | 'cancelled' | 'skipped';
  error?: string;
}

export interface SendResult {
  sessionId: string;
  turnId: number;
  stopReason: StopReason;
  content: string;
  toolCalls: ToolCallResult[];
  usage?: Usage;
  error?: { code: string; message: string };
}

export interface SessionSummary {
  sessionId: string;
  title: string;
  createdAt: string;
  updatedAt: string;
  turnCount: number;
  status: SessionStatus;
  /** (v2 §3) The session this one was forked from. */
  parentId?: string;
}

export interface ListResult {
  sessions: SessionSummary[];
}

export interface LoadedMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  toolCalls?: { toolCallId: string; name: string; arguments: Record<string, unknown> }[];
  toolCallId?: string;
  name?: string;
  /** An assistant answer cut by a cancel (its text is what had arrived). */
  cancelled?: boolean;
  /** A tool result reporting a failure, in the `<tool>: <kind>: <detail>` format. */
  isError?: boolean;
}

export interface LoadResult {
  sessionId: string;
  title: string;
  repaired: boolean;
  messages: LoadedMessage[];
  /** (v2 §3) Messages of reverted turns, not in the history any more. */
  reverted?: (LoadedMessage & { turnId: number; reverted: true })[];
}

// Checkpoints (protocol v2 §3; docs/protocol.md §13)
export interface RevertParams {
  sessionId: string;
  turnId: number;
  code?: boolean;
  conversation?: boolean;
}

export type RevertAction = 'restored' | 'deleted' | 'recreated' | 'unchanged';

export interface RevertResult {
  files: { path: string; action: RevertAction }[];
  /** Hunks overlapping the user's later edits: left as the user has them. */
  conflicts: { path: string; reason: string }[];
  /** Files not touched (not text; changed by a command outside git; ...). */
  notRestored: { path: string; reason: string }[];
  messagesReverted: number;
}

export interface ForkParams {
  sessionId: string;
  turnId?: number;
}

export interface ForkResult {
  sessionId: string;
  parentId: string;
  title: string;
}

export interface DeleteResult {
  deleted: boolean;
}

interface UpdateBase {
  sessionId: string;
  turnId: number;
  seq: number;
}

export interface TurnStartUpdate extends UpdateBase {
  kind: typeof UPDATE_TURN_START;
  prompt: string;
}

export interface ContentUpdate extends UpdateBase {
  kind: typeof UPDATE_CONTENT;
  text: string;
}

export interface ReasoningUpdate extends UpdateBase {
  kind: typeof UPDATE_REASONING;
  active: boolean;
  text?: string;
}

export interface ToolCallUpdate extends UpdateBase {
  kind: typeof UPDATE_TOOL_CALL;
  toolCallId: string;
  name: string;
  arguments: Record<string, unknown>;
  status: 'pending';
}

export interface ToolCallStatusUpdate extends UpdateBase {
  kind: typeof UPDATE_TOOL_CALL_UPDATE;
  toolCallId: string;
  name: string;
  status: Exclude<ToolStatus, 'pending'>;
  output?: string;
  error?: string;
  locations?: { uri: string }[];
}

export interface TurnEndUpdate extends UpdateBase {
  kind: typeof UPDATE_TURN_END;
  stopReason: StopReason;
  usage?: Usage;
}

export type SessionUpdate =
  | TurnStartUpdate
  | ContentUpdate
  | ReasoningUpdate
  | ToolCallUpdate
  | ToolCallStatusUpdate
  | TurnEndUpdate;

const UPDATE_KINDS: ReadonlySet<string> = new Set([
  UPDATE_TURN_START,
  UPDATE_CONTENT,
  UPDATE_REASONING,
  UPDATE_TOOL_CALL,
  UPDATE_TOOL_CALL_UPDATE,
  UPDATE_TURN_END,
]);

/** Narrow an incoming notification's params; a malformed one yields a reason. */
export function parseUpdate(raw: unknown): SessionUpdate | string {
  if (typeof raw !== 'object' || raw === null) {
    return 'update params are not an object';
  }
  const u = raw as Record<string, unknown>;
  if (typeof u.sessionId !== 'string') {
    return 'update without a string sessionId';
  }
  if (typeof u.seq !== 'number' || !Number.isInteger(u.seq)) {
    return 'update without an integer seq';
  }
  if (typeof u.turnId !== 'number') {
    return 'update without a numeric turnId';
  }
  if (typeof u.kind !== 'string' || !UPDATE_KINDS.has(u.kind)) {
    return `update with unknown kind ${JSON.stringify(u.kind)}`;
  }
  return u as unknown as SessionUpdate;
}
