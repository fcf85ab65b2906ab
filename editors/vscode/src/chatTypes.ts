/**
 * The shapes of the chat view model ({@link ./chatState}): entries, their parts,
 * the header. No `vscode` import.
 */

import type { PermissionOption, StopReason, ToolKind, ToolStatus, Usage } from './protocol';

/** A permission question (protocol v2 §1) shown as a card under its tool call. */
export interface Approval {
  /** The chat view's handle of the pending request. */
  key: string;
  title: string;
  command?: string;
  cwd?: string;
  options: PermissionOption[];
  state: 'pending' | 'answered' | 'withdrawn';
  /** The name of the option chosen. */
  chosen?: string;
}

/** How a command ended (run_command's final update). */
export interface CommandExit {
  exitCode: number | null;
  signal: string | null;
  durationMs?: number;
  truncated?: boolean;
  timedOut?: boolean;
}

export interface ToolView {
  toolCallId: string;
  name: string;
  arguments: Record<string, unknown>;
  status: ToolStatus;
  output?: string;
  error?: string;
  locations: string[];
  kind?: ToolKind;
  /** Output streamed while it ran (run_command), as the user watches it. */
  stream?: string;
  exit?: CommandExit;
  approval?: Approval;
}

export interface CompactionPart {
  kind: 'compaction';
  phase: 'start' | 'end';
  tokensBefore?: number;
  tokensAfter?: number;
  summary?: string | null;
  fallback?: string;
}

export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'reasoning'; text: string; active: boolean }
  | { kind: 'tool'; tool: ToolView }
  | CompactionPart
  /** A prompt the user steered into this running turn. */
  | { kind: 'steer'; text: string };

export type TurnState = 'streaming' | 'done' | 'cancelled' | 'error';

export interface UserEntry {
  id: string;
  role: 'user';
  text: string;
  /** Names of what was attached to the prompt. */
  attachments?: string[];
}

export interface AssistantEntry {
  id: string;
  role: 'assistant';
  turnId?: number;
  parts: Part[];
  state: TurnState;
  stopReason?: StopReason;
  error?: string;
  usage?: Usage;
  /** Updates of this turn were lost: the text is taken from the result instead. */
  gap: boolean;
  /** Waiting for the running turn to end (sent with `whenBusy: "queue"`). */
  queued?: boolean;
  /** Its messages were reverted (protocol v2 §3): kept on screen, dimmed. */
  reverted?: boolean;
}

export interface NoticeEntry {
  id: string;
  role: 'notice';
  level: 'info' | 'warning' | 'error';
  text: string;
  /** Lines listed under the text (a revert's files, conflicts). */
  details?: string[];
}

export type Entry = UserEntry | AssistantEntry | NoticeEntry;

/** How full the context is, from the last `usage` update. */
export interface ContextMeter {
  usedTokens: number;
  contextTokens: number;
  estimated: boolean;
}

export interface Header {
  sessionId?: string;
  title: string;
  running: boolean;
  context?: ContextMeter;
  mode?: string;
}

/** What to re-render: everything (`reset`) or the listed entries (new ones are appended). */
export interface Changes {
  reset: boolean;
  entries: Entry[];
  header: Header;
}
