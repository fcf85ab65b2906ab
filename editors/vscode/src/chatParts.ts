/**
 * Helpers of the chat view model ({@link ./chatState}): the parts of an
 * assistant entry (text, reasoning, tools with their permission cards and
 * command output) and how loaded history maps onto them. No `vscode` import.
 */

import type { AssistantEntry, NoticeEntry, ToolView } from './chatTypes';
import type { CompactionUpdate, LoadedMessage, RevertResult, StopReason, ToolKind, ToolStatus, Usage } from './protocol';
import {
  MCP_TOOL_PREFIX,
  TOOL_DELETE_FILE,
  TOOL_RUN_COMMAND,
  TOOL_SEARCH_TEXT,
  TOOL_EDIT_FILE,
  TOOL_LIST_DIRECTORY,
  TOOL_READ_FILE,
  TOOL_RENAME_FILE,
  TOOL_WRITE_FILE,
} from './protocol';

export const FINISHED: ReadonlySet<ToolStatus> = new Set(['completed', 'failed', 'cancelled', 'skipped']);

/** The assistant text of an entry, as the protocol concatenates it. */
export function entryText(entry: AssistantEntry): string {
  return entry.parts.map((p) => (p.kind === 'text' ? p.text : '')).join('');
}

export function appendText(entry: AssistantEntry, text: string): void {
  const last = entry.parts.at(-1);
  if (last?.kind === 'text') {
    last.text += text;
  } else {
    entry.parts.push({ kind: 'text', text });
  }
}

export function applyReasoning(entry: AssistantEntry, active: boolean, text: string | undefined): void {
  const last = entry.parts.at(-1);
  if (last?.kind === 'reasoning' && last.active) {
    last.text += text ?? '';
    last.active = active;
  } else if (active || text) {
    entry.parts.push({ kind: 'reasoning', text: text ?? '', active });
  }
}

export function endReasoning(entry: AssistantEntry): void {
  for (const part of entry.parts) {
    if (part.kind === 'reasoning') part.active = false;
  }
}

export function upsertTool(entry: AssistantEntry, toolCallId: string, name: string): ToolView {
  for (const part of entry.parts) {
    if (part.kind === 'tool' && part.tool.toolCallId === toolCallId) return part.tool;
  }
  const tool: ToolView = { toolCallId, name, arguments: {}, status: 'pending', locations: [] };
  entry.parts.push({ kind: 'tool', tool });
  return tool;
}

/** A loaded turn that a cancel cut short: shown as the live one ended ("Stopped."). */
export function stopped(entry: AssistantEntry): void {
  entry.state = 'cancelled';
  entry.stopReason = 'cancelled';
}

/** Failure kinds (docs/protocol.md §4) that mean the call never finished. */
export const CANCELLED_KINDS: ReadonlySet<string> = new Set(['cancelled', 'interrupted']);

/** The `<kind>` of a tool failure in the documented `<tool>: <kind>: <detail>` format. */
export function failureKind(text: string): string | undefined {
  return /^[^:\n]+: ([A-Za-z]+):/.exec(text)?.[1];
}

/** The workspace-relative paths a completed built-in tool touched, as the server reports them live. */
export function touchedPaths(tool: ToolView): string[] {
  const path = (key: string): string | undefined =>
    typeof tool.arguments[key] === 'string' ? (tool.arguments[key] as string) : undefined;
  switch (tool.name) {
    case TOOL_READ_FILE:
    case TOOL_WRITE_FILE:
    case TOOL_EDIT_FILE:
    case TOOL_DELETE_FILE:
      return path('path') ? [path('path') as string] : [];
    case TOOL_LIST_DIRECTORY:
      return [path('path') ?? '.'];
    case TOOL_RENAME_FILE:
      return [path('path'), path('newPath')].filter((p): p is string => p !== undefined);
    default:
      return [];
  }
}

export function settle(entry: AssistantEntry, stopReason: StopReason, usage: Usage | undefined): void {
  entry.stopReason = stopReason;
  entry.state =
    stopReason === 'cancelled' ? 'cancelled' : stopReason === 'error' ? 'error' : 'done';
  if (usage) entry.usage = usage;
  withdrawApprovals(entry);
  if (stopReason === 'cancelled') {
    for (const part of entry.parts) {
      if (part.kind === 'tool' && !FINISHED.has(part.tool.status)) part.tool.status = 'cancelled';
    }
  }
}

/** Every tool of an entry. */
export function toolsOf(entry: AssistantEntry): ToolView[] {
  return entry.parts.flatMap((p) => (p.kind === 'tool' ? [p.tool] : []));
}

/** The turn is over: a question still open can no longer be answered (the server withdrew it). */
export function withdrawApprovals(entry: AssistantEntry): string[] {
  const keys: string[] = [];
  for (const tool of toolsOf(entry)) {
    if (tool.approval?.state === 'pending') {
      tool.approval.state = 'withdrawn';
      keys.push(tool.approval.key);
    }
  }
  return keys;
}

/** The command line and working folder a permission question is about, when it names them. */
export function commandOf(args: Record<string, unknown>): { command?: string; cwd?: string } {
  return {
    command: typeof args.command === 'string' ? args.command : undefined,
    cwd: typeof args.cwd === 'string' ? args.cwd : undefined,
  };
}

export function applyCompaction(entry: AssistantEntry, update: CompactionUpdate): void {
  const fields = {
    phase: update.phase,
    tokensBefore: update.tokensBefore,
    tokensAfter: update.tokensAfter,
    summary: update.summary,
    fallback: update.fallback,
  };
  const last = [...entry.parts].reverse().find((p) => p.kind === 'compaction');
  if (last?.kind === 'compaction' && last.phase === 'start') {
    Object.assign(last, fields);
  } else {
    entry.parts.push({ kind: 'compaction', ...fields });
  }
}

/** A loaded tool result: the status it reports (`isError`, the failure format) and the files it touched. */
export function applyLoadedResult(
  entry: AssistantEntry,
  message: LoadedMessage,
  locationOf: (path: string) => string,
): void {
  const tool = upsertTool(entry, message.toolCallId ?? '', message.name ?? 'tool');
  const kind = message.isError ? failureKind(message.content) : undefined;
  if (!message.isError) {
    tool.status = 'completed';
    tool.output = message.content;
    tool.locations = touchedPaths(tool).map(locationOf);
  } else {
    tool.status = kind === 'skipped' ? 'skipped' : CANCELLED_KINDS.has(kind ?? '') ? 'cancelled' : 'failed';
    tool.error = message.content;
  }
  if (kind === 'cancelled') stopped(entry);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a revert did, as a notice: a summary line and one line per file. */
export function revertNotice(
  turnId: number,
  result: RevertResult,
  conversation: boolean,
): Pick<NoticeEntry, 'level' | 'text' | 'details'> {
  const details = [
    ...result.files.map((f) => `${f.action}: ${f.path}`),
    ...result.conflicts.map((c) => `conflict (left as you changed it): ${c.path} — ${c.reason}`),
    ...result.notRestored.map((n) => `not restored: ${n.path} — ${n.reason}`),
  ];
  const files = result.files.filter((f) => f.action !== 'unchanged').length;
  const parts = [`Reverted to before turn ${turnId}: ${plural(files, 'file')} restored`];
  if (result.conflicts.length) parts.push(plural(result.conflicts.length, 'conflict'));
  if (result.notRestored.length) parts.push(`${result.notRestored.length} not restored`);
  if (conversation) parts.push(`${plural(result.messagesReverted, 'message')} reverted`);
  const level = result.conflicts.length || result.notRestored.length ? 'warning' : 'info';
  return { level, text: `${parts.join(', ')}.`, details };
}

/** The kinds of the built-in tools (docs/protocol.md §12), for history that does not carry them. */
const BUILT_IN_KINDS: Record<string, ToolKind> = {
  [TOOL_READ_FILE]: 'read',
  [TOOL_LIST_DIRECTORY]: 'read',
  [TOOL_SEARCH_TEXT]: 'search',
  [TOOL_WRITE_FILE]: 'edit',
  [TOOL_EDIT_FILE]: 'edit',
  [TOOL_DELETE_FILE]: 'delete',
  [TOOL_RENAME_FILE]: 'move',
  [TOOL_RUN_COMMAND]: 'execute',
};

export function kindOfTool(name: string): ToolKind | undefined {
  return name.startsWith(MCP_TOOL_PREFIX) ? 'mcp' : BUILT_IN_KINDS[name];
}
