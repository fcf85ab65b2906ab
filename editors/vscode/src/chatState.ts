/**
 * The chat view's state: a pure view model that session updates are applied to.
 *
 * The VS Code layer (`chatView.ts`) feeds it the user's actions, the
 * `nexus/session/update` stream and the `send` results, then asks for what
 * changed and re-renders only those entries. Updates of other sessions are
 * ignored; a lost update (seq gap) is repaired from the turn's result. No
 * `vscode` import: unit-tested in plain Node.
 */

import {
  appendText,
  applyCompaction,
  applyLoadedResult,
  applyReasoning,
  commandOf,
  endReasoning,
  FINISHED,
  kindOfTool,
  revertNotice,
  settle,
  stopped,
  toolsOf,
  upsertTool,
  withdrawApprovals,
} from './chatParts';
import type { AssistantEntry, Changes, ContextMeter, Entry, Header, NoticeEntry, UserEntry } from './chatTypes';
import type { LoadResult, PermissionRequest, RevertResult, SendResult, SessionUpdate } from './protocol';
import {
  MCP_SERVER_PERMISSION_PREFIX,
  UPDATE_COMPACTION,
  UPDATE_CONTENT,
  UPDATE_REASONING,
  UPDATE_TOOL_CALL,
  UPDATE_TOOL_CALL_UPDATE,
  UPDATE_TURN_END,
  UPDATE_TURN_START,
  UPDATE_USAGE,
} from './protocol';
import type { UpdateEvent } from './session';

export { entryText, failureKind } from './chatParts';

export type * from './chatTypes';

const UNTITLED = 'New chat';

export class ChatState {
  sessionId: string | undefined;
  title = UNTITLED;
  readonly entries: Entry[] = [];
  private nextId = 1;
  private readonly byTurn = new Map<number, AssistantEntry>();
  /** Entries of turns this window sent, oldest first, before their first update named the turn id. */
  private pending: AssistantEntry[] = [];
  context: ContextMeter | undefined;
  /** The permission mode the user picked for the chat's sessions (undefined: the setting's). */
  mode: string | undefined;
  private readonly dirty = new Set<string>();
  private resetPending = true;

  get running(): boolean {
    return this.entries.some((e) => e.role === 'assistant' && e.state === 'streaming');
  }

  header(): Header {
    return {
      sessionId: this.sessionId,
      title: this.title,
      running: this.running,
      context: this.context,
      mode: this.mode,
    };
  }

  /** Start over (New Session), optionally already bound to a session. */
  reset(sessionId?: string, title?: string): void {
    this.sessionId = sessionId;
    this.title = title || UNTITLED;
    this.entries.length = 0;
    this.byTurn.clear();
    this.pending = [];
    this.context = undefined;
    this.dirty.clear();
    this.resetPending = true;
  }

  /** Bind the chat to the session created for its first prompt. */
  adoptSession(sessionId: string, title: string): void {
    this.sessionId = sessionId;
    this.title = title || this.title;
  }

  /** The user asked: show the prompt and an empty answer that updates will fill. */
  beginTurn(prompt: string, options: { queued?: boolean; attachments?: string[] } = {}): AssistantEntry {
    this.push<UserEntry>({ id: '', role: 'user', text: prompt, attachments: options.attachments });
    const entry = this.push<AssistantEntry>({
      id: '',
      role: 'assistant',
      parts: [],
      state: 'streaming',
      gap: false,
      queued: options.queued,
    });
    this.pending.push(entry);
    return entry;
  }

  /** The entry showing `turnId`, once an update or result named it. */
  entryOfTurn(turnId: number): AssistantEntry | undefined {
    return this.byTurn.get(turnId);
  }

  /** The user steered `prompt` into the running turn (`whenBusy: "steer"`). */
  steer(entry: AssistantEntry, prompt: string): void {
    entry.parts.push({ kind: 'steer', text: prompt });
    this.dirty.add(entry.id);
  }

  /**
   * A permission question: shown as a card under its tool call (added when the
   * `toolCall` update has not arrived yet). False when it is about a session
   * the chat does not show.
   */
  askPermission(request: PermissionRequest, key: string): boolean {
    if (request.sessionId !== this.sessionId) return false;
    const entry = this.byTurn.get(request.turnId) ?? this.pending[0];
    if (!entry || entry.state !== 'streaming') return false;
    if (entry.turnId === undefined) {
      entry.turnId = request.turnId;
      this.byTurn.set(request.turnId, entry);
      this.pending.splice(this.pending.indexOf(entry), 1);
    }
    const call = request.toolCall;
    const tool = upsertTool(entry, call.id, call.name);
    if (Object.keys(tool.arguments).length === 0) tool.arguments = call.arguments ?? {};
    tool.kind ??= call.kind;
    tool.approval = { key, title: call.title, ...commandOf(call.arguments ?? {}), options: request.options, state: 'pending' };
    this.dirty.add(entry.id);
    return true;
  }

  /** The user chose an option (its name is shown), or the question was withdrawn (no option). */
  settlePermission(key: string, optionId?: string): boolean {
    for (const entry of this.entries) {
      if (entry.role !== 'assistant') continue;
      const tool = toolsOf(entry).find((t) => t.approval?.key === key);
      if (!tool?.approval || tool.approval.state !== 'pending') continue;
      const option = tool.approval.options.find((o) => o.optionId === optionId);
      tool.approval.state = option ? 'answered' : 'withdrawn';
      tool.approval.chosen = option?.name;
      if (tool.name.startsWith(MCP_SERVER_PERMISSION_PREFIX)) {
        // Not a call that runs: the question is all there is to it.
        tool.status = !option ? 'cancelled' : option.kind.startsWith('allow') ? 'completed' : 'failed';
      }
      this.dirty.add(entry.id);
      return true;
    }
    return false;
  }

  /** Keys of the questions still waiting for the user. */
  pendingApprovals(): string[] {
    return this.entries.flatMap((e) =>
      e.role === 'assistant' ? toolsOf(e).flatMap((t) => (t.approval?.state === 'pending' ? [t.approval.key] : [])) : [],
    );
  }

  /** A revert's result: the reverted turns dimmed (conversation) and what happened to the files. */
  showRevert(turnId: number, result: RevertResult, conversation: boolean): void {
    if (conversation) {
      for (const entry of this.entries) {
        if (entry.role === 'assistant' && entry.turnId !== undefined && entry.turnId >= turnId) {
          entry.reverted = true;
          this.dirty.add(entry.id);
        }
      }
    }
    this.push<NoticeEntry>({ id: '', role: 'notice', ...revertNotice(turnId, result, conversation) });
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
        entry.queued = false;
        break;
      case UPDATE_USAGE:
        this.context = {
          usedTokens: update.usedTokens,
          contextTokens: update.contextTokens,
          estimated: Boolean(update.estimated),
        };
        break;
      case UPDATE_COMPACTION:
        applyCompaction(entry, update);
        break;
      case UPDATE_CONTENT:
        endReasoning(entry);
        appendText(entry, update.text);
        break;
      case UPDATE_REASONING:
        applyReasoning(entry, update.active, update.text);
        break;
      case UPDATE_TOOL_CALL: {
        endReasoning(entry);
        const tool = upsertTool(entry, update.toolCallId, update.name);
        tool.arguments = update.arguments ?? {};
        if (update.toolKind) tool.kind = update.toolKind;
        break;
      }
      case UPDATE_TOOL_CALL_UPDATE: {
        const tool = upsertTool(entry, update.toolCallId, update.name);
        tool.status = update.status;
        if (update.status === 'running' && update.output !== undefined) {
          // A running update's output is a chunk of what the command prints (v2 §2).
          tool.stream = (tool.stream ?? '') + update.output;
        } else if (update.output !== undefined) {
          tool.output = update.output;
        }
        if (update.error !== undefined) tool.error = update.error;
        if (update.locations) tool.locations = update.locations.map((l) => l.uri);
        if (update.exitCode !== undefined || update.signal !== undefined) {
          tool.exit = {
            exitCode: update.exitCode ?? null,
            signal: update.signal ?? null,
            durationMs: update.durationMs,
            truncated: update.truncated,
            timedOut: update.timedOut,
          };
        }
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
    this.unpend(entry);
    entry.queued = false;
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
    this.unpend(entry);
    entry.queued = false;
    withdrawApprovals(entry);
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
    // Turns are numbered on: a live turn takes the next number no reverted turn holds.
    const reverted = new Set((loaded.reverted ?? []).map((m) => m.turnId));
    let turnId = 0;
    const nextTurn = () => {
      do turnId++;
      while (reverted.has(turnId));
      return turnId;
    };
    let userTurn: number | undefined;
    for (const message of loaded.messages) {
      if (message.role === 'user') {
        this.push<UserEntry>({ id: '', role: 'user', text: message.content });
        current = undefined;
        userTurn = nextTurn();
      } else if (message.role === 'system' && message.name === 'compaction') {
        current = undefined;
        const holder = this.push<AssistantEntry>({ id: '', role: 'assistant', parts: [], state: 'done', gap: false });
        holder.parts.push({ kind: 'compaction', phase: 'end', summary: message.content });
      } else if (message.role === 'assistant') {
        // One turn is several assistant messages when tools ran: keep them in one entry.
        current ??= this.push<AssistantEntry>({
          id: '',
          role: 'assistant',
          turnId: userTurn,
          parts: [],
          state: 'done',
          gap: false,
        });
        if (userTurn !== undefined) this.byTurn.set(userTurn, current);
        if (message.content) appendText(current, message.content);
        for (const call of message.toolCalls ?? []) {
          const tool = upsertTool(current, call.toolCallId, call.name);
          tool.arguments = call.arguments ?? {};
          tool.kind = kindOfTool(call.name);
        }
        if (message.cancelled) stopped(current);
      } else if (message.role === 'tool' && current && message.toolCallId) {
        applyLoadedResult(current, message, locationOf);
      }
    }
    if (loaded.repaired) {
      this.addNotice('warning', 'The last turn was interrupted; its unfinished tool calls were closed.');
    }
    if (reverted.size > 0) {
      const n = reverted.size;
      this.addNotice('info', `${n} reverted turn${n === 1 ? ' is' : 's are'} kept in the history but no longer in the conversation.`);
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

  private unpend(entry: AssistantEntry): void {
    const index = this.pending.indexOf(entry);
    if (index >= 0) this.pending.splice(index, 1);
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
    const entry = this.pending.shift();
    if (entry) {
      entry.turnId = update.turnId;
      this.byTurn.set(update.turnId, entry);
      return entry;
    }
    return this.foreignTurn(update);
  }

  private foreignTurn(update: SessionUpdate): AssistantEntry {
    // A turn this window did not start (a code action, another client): show it too.
    if (update.kind === UPDATE_TURN_START) {
      this.push<UserEntry>({ id: '', role: 'user', text: update.prompt });
    }
    const foreign = this.push<AssistantEntry>({
      id: '',
      role: 'assistant',
      turnId: update.turnId,
      parts: [],
      state: 'streaming',
      gap: update.kind !== UPDATE_TURN_START,
    });
    this.byTurn.set(update.turnId, foreign);
    return foreign;
  }
}


