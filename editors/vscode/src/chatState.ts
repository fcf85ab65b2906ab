/**
 * The chat view's state: a pure view model that session updates are applied to.
 *
 * The VS Code layer (`chatView.ts`) feeds it the user's actions, the
 * `nexus/session/update` stream and the `send` results, then asks for what
 * changed and re-renders only those entries. Updates of other sessions are
 * ignored; a lost update (seq gap) is repaired from the turn's result. No
 * `vscode` import: unit-tested in plain Node.
 */

import type {
  LoadResult,
  SendResult,
  SessionUpdate,
  StopReason,
  ToolStatus,
  Usage,
} from './protocol';
import {
  TOOL_DELETE_FILE,
  TOOL_EDIT_FILE,
  TOOL_LIST_DIRECTORY,
  TOOL_READ_FILE,
  TOOL_RENAME_FILE,
  TOOL_WRITE_FILE,
  UPDATE_CONTENT,
  UPDATE_REASONING,
  UPDATE_TOOL_CALL,
  UPDATE_TOOL_CALL_UPDATE,
  UPDATE_TURN_END,
  UPDATE_TURN_START,
} from './protocol';
import type { UpdateEvent } from './session';

export interface ToolView {
  toolCallId: string;
  name: string;
  arguments: Record<string, unknown>;
  status: ToolStatus;
  output?: string;
  error?: string;
  locations: string[];
}

export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'reasoning'; text: string; active: boolean }
  | { kind: 'tool'; tool: ToolView };

export type TurnState = 'streaming' | 'done' | 'cancelled' | 'error';

export interface UserEntry {
  id: string;
  role: 'user';
  text: string;
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
}

export interface NoticeEntry {
  id: string;
  role: 'notice';
  level: 'info' | 'warning' | 'error';
  text: string;
}

export type Entry = UserEntry | AssistantEntry | NoticeEntry;

export interface Header {
  sessionId?: string;
  title: string;
  running: boolean;
}

/** What to re-render: everything (`reset`) or the listed entries (new ones are appended). */
export interface Changes {
  reset: boolean;
  entries: Entry[];
  header: Header;
}

const UNTITLED = 'New chat';
const FINISHED: ReadonlySet<ToolStatus> = new Set(['completed', 'failed', 'cancelled', 'skipped']);

export class ChatState {
  sessionId: string | undefined;
  title = UNTITLED;
  readonly entries: Entry[] = [];
  private nextId = 1;
  private readonly byTurn = new Map<number, AssistantEntry>();
  /** The entry of the turn this window sent, before its turnStart named the turn id. */
  private pending: AssistantEntry | undefined;
  private readonly dirty = new Set<string>();
  private resetPending = true;

  get running(): boolean {
    return this.entries.some((e) => e.role === 'assistant' && e.state === 'streaming');
  }

  header(): Header {
    return { sessionId: this.sessionId, title: this.title, running: this.running };
  }

  /** Start over (New Session), optionally already bound to a session. */
  reset(sessionId?: string, title?: string): void {
    this.sessionId = sessionId;
    this.title = title || UNTITLED;
    this.entries.length = 0;
    this.byTurn.clear();
    this.pending = undefined;
    this.dirty.clear();
    this.resetPending = true;
  }

  /** Bind the chat to the session created for its first prompt. */
  adoptSession(sessionId: string, title: string): void {
    this.sessionId = sessionId;
    this.title = title || this.title;
  }

  /** The user asked: show the prompt and an empty answer that updates will fill. */
  beginTurn(prompt: string): AssistantEntry {
    this.push<UserEntry>({ id: '', role: 'user', text: prompt });
    const entry = this.push<AssistantEntry>({
      id: '',
      role: 'assistant',
      parts: [],
      state: 'streaming',
      gap: false,
    });
    this.pending = entry;
    return entry;
  }

  /** Apply one update; false when it belongs to another session. */
  applyUpdate(event: UpdateEvent): boolean {
    const { update, missed } = event;
    if (update.sessionId !== this.sessionId) {
      return false;
    }
    const entry = this.entryFor(update);
    if (missed > 0) {
      entry.gap = true;
    }
    switch (update.kind) {
      case UPDATE_TURN_START:
        break;
      case UPDATE_CONTENT:
        endReasoning(entry);
        appendText(entry, update.text);
        break;
      case UPDATE_REASONING:
        applyReasoning(entry, update.active, update.text);
        break;
      case UPDATE_TOOL_CALL:
        endReasoning(entry);
        upsertTool(entry, update.toolCallId, update.name).arguments = update.arguments ?? {};
        break;
      case UPDATE_TOOL_CALL_UPDATE: {
        const tool = upsertTool(entry, update.toolCallId, update.name);
        tool.status = update.status;
        if (update.output !== undefined) tool.output = update.output;
        if (update.error !== undefined) tool.error = update.error;
        if (update.locations) tool.locations = update.locations.map((l) => l.uri);
        break;
      }
      case UPDATE_TURN_END:
        endReasoning(entry);
        settle(entry, update.stopReason, update.usage);
        break;
    }
    this.dirty.add(entry.id);
    return true;
  }

  /** The `send` result arrived: reconcile the streamed view with it. */
  finishTurn(entry: AssistantEntry, result: SendResult): void {
    entry.turnId ??= result.turnId;
    this.byTurn.set(result.turnId, entry);
    if (this.pending === entry) this.pending = undefined;
    const streamed = entry.parts.some((p) => p.kind === 'text' && p.text.length > 0);
    if ((entry.gap || !streamed) && result.content) {
      // The stream is incomplete: the result's text is authoritative.
      entry.parts = entry.parts.filter((p) => p.kind !== 'text');
      entry.parts.push({ kind: 'text', text: result.content });
    }
    for (const call of result.toolCalls) {
      const tool = upsertTool(entry, call.toolCallId, call.name);
      tool.arguments = call.arguments ?? tool.arguments;
      tool.status = call.status;
      if (call.error !== undefined) tool.error = call.error;
    }
    endReasoning(entry);
    settle(entry, result.stopReason, result.usage);
    if (result.stopReason === 'error' && result.error) {
      entry.error = `${result.error.message} (${result.error.code})`;
    }
    this.dirty.add(entry.id);
  }

  /** The `send` request failed or was cancelled before a result. */
  failTurn(entry: AssistantEntry, state: 'cancelled' | 'error', message?: string): void {
    if (this.pending === entry) this.pending = undefined;
    endReasoning(entry);
    if (entry.state === 'streaming') {
      entry.state = state;
      entry.stopReason = state === 'cancelled' ? 'cancelled' : 'error';
      if (state === 'error' && message) entry.error = message;
    }
    for (const part of entry.parts) {
      if (part.kind === 'tool' && !FINISHED.has(part.tool.status)) {
        part.tool.status = 'cancelled';
      }
    }
    this.dirty.add(entry.id);
  }

  /**
   * Show a loaded session's history (`nexus/session/load`) as the live turns showed it.
   *
   * The history holds messages only, so a loaded turn shows what they carry: the
   * text, each tool call with the status its result reports (`isError` and the
   * `<tool>: <kind>: <detail>` failure format), the files the built-in tools
   * touched (from their arguments; `locationOf` turns a workspace-relative path
   * into the link the live update would have had) and "Stopped." for a turn cut
   * by a cancel. Reasoning, usage and the stop reason are not part of the history.
   */
  loadHistory(loaded: LoadResult, locationOf: (path: string) => string = (path) => path): void {
    this.reset(loaded.sessionId, loaded.title);
    let current: AssistantEntry | undefined;
    for (const message of loaded.messages) {
      if (message.role === 'user') {
        this.push<UserEntry>({ id: '', role: 'user', text: message.content });
        current = undefined;
      } else if (message.role === 'assistant') {
        // One turn is several assistant messages when tools ran: keep them in one entry.
        current ??= this.push<AssistantEntry>({
          id: '',
          role: 'assistant',
          parts: [],
          state: 'done',
          gap: false,
        });
        if (message.content) appendText(current, message.content);
        for (const call of message.toolCalls ?? []) {
          upsertTool(current, call.toolCallId, call.name).arguments = call.arguments ?? {};
        }
        if (message.cancelled) stopped(current);
      } else if (message.role === 'tool' && current && message.toolCallId) {
        const tool = upsertTool(current, message.toolCallId, message.name ?? 'tool');
        const kind = message.isError ? failureKind(message.content) : undefined;
        if (!message.isError) {
          tool.status = 'completed';
          tool.output = message.content;
          tool.locations = touchedPaths(tool).map(locationOf);
        } else {
          tool.status = kind === 'skipped' ? 'skipped' : CANCELLED_KINDS.has(kind ?? '') ? 'cancelled' : 'failed';
          tool.error = message.content;
        }
        if (kind === 'cancelled') stopped(current);
      }
    }
    if (loaded.repaired) {
      this.addNotice('warning', 'The last turn was interrupted; its unfinished tool calls were closed.');
    }
  }

  addNotice(level: NoticeEntry['level'], text: string): void {
    this.push<NoticeEntry>({ id: '', role: 'notice', level, text });
  }

  /** Render everything on the next {@link takeChanges} (a fresh webview). */
  invalidate(): void {
    this.resetPending = true;
  }

  /** What changed since the last call; the caller re-renders exactly that. */
  takeChanges(): Changes {
    const reset = this.resetPending;
    const entries = reset ? [...this.entries] : this.entries.filter((e) => this.dirty.has(e.id));
    this.resetPending = false;
    this.dirty.clear();
    return { reset, entries, header: this.header() };
  }

  private push<T extends Entry>(entry: T): T {
    entry.id = `e${this.nextId++}`;
    this.entries.push(entry);
    this.dirty.add(entry.id);
    return entry;
  }

  private entryFor(update: SessionUpdate): AssistantEntry {
    const known = this.byTurn.get(update.turnId);
    if (known) return known;
    if (this.pending) {
      const entry = this.pending;
      this.pending = undefined;
      entry.turnId = update.turnId;
      this.byTurn.set(update.turnId, entry);
      return entry;
    }
    // A turn this window did not start (a code action, another client): show it too.
    if (update.kind === UPDATE_TURN_START) {
      this.push<UserEntry>({ id: '', role: 'user', text: update.prompt });
    }
    const entry = this.push<AssistantEntry>({
      id: '',
      role: 'assistant',
      turnId: update.turnId,
      parts: [],
      state: 'streaming',
      gap: update.kind !== UPDATE_TURN_START,
    });
    this.byTurn.set(update.turnId, entry);
    return entry;
  }
}

/** The assistant text of an entry, as the protocol concatenates it. */
export function entryText(entry: AssistantEntry): string {
  return entry.parts.map((p) => (p.kind === 'text' ? p.text : '')).join('');
}

function appendText(entry: AssistantEntry, text: string): void {
  const last = entry.parts.at(-1);
  if (last?.kind === 'text') {
    last.text += text;
  } else {
    entry.parts.push({ kind: 'text', text });
  }
}

function applyReasoning(entry: AssistantEntry, active: boolean, text: string | undefined): void {
  const last = entry.parts.at(-1);
  if (last?.kind === 'reasoning' && last.active) {
    last.text += text ?? '';
    last.active = active;
  } else if (active || text) {
    entry.parts.push({ kind: 'reasoning', text: text ?? '', active });
  }
}

function endReasoning(entry: AssistantEntry): void {
  for (const part of entry.parts) {
    if (part.kind === 'reasoning') part.active = false;
  }
}

function upsertTool(entry: AssistantEntry, toolCallId: string, name: string): ToolView {
  for (const part of entry.parts) {
    if (part.kind === 'tool' && part.tool.toolCallId === toolCallId) return part.tool;
  }
  const tool: ToolView = { toolCallId, name, arguments: {}, status: 'pending', locations: [] };
  entry.parts.push({ kind: 'tool', tool });
  return tool;
}

/** A loaded turn that a cancel cut short: shown as the live one ended ("Stopped."). */
function stopped(entry: AssistantEntry): void {
  entry.state = 'cancelled';
  entry.stopReason = 'cancelled';
}

/** Failure kinds (docs/protocol.md §4) that mean the call never finished. */
const CANCELLED_KINDS: ReadonlySet<string> = new Set(['cancelled', 'interrupted']);

/** The `<kind>` of a tool failure in the documented `<tool>: <kind>: <detail>` format. */
export function failureKind(text: string): string | undefined {
  return /^[^:\n]+: ([A-Za-z]+):/.exec(text)?.[1];
}

/** The workspace-relative paths a completed built-in tool touched, as the server reports them live. */
function touchedPaths(tool: ToolView): string[] {
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

function settle(entry: AssistantEntry, stopReason: StopReason, usage: Usage | undefined): void {
  entry.stopReason = stopReason;
  entry.state =
    stopReason === 'cancelled' ? 'cancelled' : stopReason === 'error' ? 'error' : 'done';
  if (usage) entry.usage = usage;
  if (stopReason === 'cancelled') {
    for (const part of entry.parts) {
      if (part.kind === 'tool' && !FINISHED.has(part.tool.status)) part.tool.status = 'cancelled';
    }
  }
}
