/**
 * The chat view in the sidebar (VS Code layer): a webview over {@link ChatState}.
 *
 * Runs the turns the user asks for (`nexus/session/send` with a cancellation
 * token, so Stop sends `$/cancelRequest`), feeds the update stream and the
 * results into the state, and posts the re-rendered entries to the webview,
 * coalesced so a fast stream does not flood it. The webview itself (media/)
 * only swaps HTML in and reports clicks.
 */

import * as vscode from 'vscode';
import { attachmentsFor, type PendingAttachment } from './attachments';
import {
  askInNotification,
  completeFiles,
  insertAtCursor,
  locationUri,
  modeSetting,
  offerFix,
  openTarget,
  workspaceFile,
} from './chatHelpers';
import { type AssistantEntry, ChatState } from './chatState';
import {
  CONTEXT_MD,
  NEXUS_DIR,
  OUTCOME_CANCELLED,
  OUTCOME_SELECTED,
  type PermissionOutcome,
  type PermissionRequest,
  REASON_SESSION_BUSY,
  REASON_UNKNOWN_SESSION,
  SESSION_REVERT,
  SESSIONS_DIR,
  type WhenBusy,
} from './protocol';
import { titleFromPrompt } from './prompts';
import { renderEntry } from './render';
import { fork, revert } from './sessionActions';
import { errorMessage, type NexusServer } from './server';
import { errorReason, isCancelledError, type NexusClient } from './session';
import { chatPage, makeNonce } from './webviewHtml';

export const CHAT_VIEW_ID = 'nexus.chatView';
/** workspaceState key: the session the chat showed last, reopened when the window reloads. */
export const LAST_SESSION_KEY = 'nexus.lastSessionId';
const RENDER_DELAY_MS = 30;

interface RunningTurn {
  entry: AssistantEntry;
  tokens: vscode.CancellationTokenSource;
}

type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; prompt: string; whenBusy?: WhenBusy }
  | { type: 'stop' }
  | { type: 'permission'; key: string; optionId: string }
  | { type: 'revert'; turnId: number }
  | { type: 'fork'; turnId: number }
  | { type: 'mode' }
  | { type: 'files'; query: string }
  | { type: 'detach'; index: number }
  | { type: 'open'; target: string }
  | { type: 'copy'; text: string }
  | { type: 'insert'; text: string };

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  readonly state = new ChatState();
  private view: vscode.WebviewView | undefined;
  /** The chat's sends in flight: the running turn first, then the queued ones. */
  private turns: RunningTurn[] = [];
  /** Permission questions waiting for the user, by their card's key. */
  private readonly questions = new Map<string, (outcome: PermissionOutcome) => void>();
  private nextQuestion = 1;
  /** Where the picked mode was last set: which server process, session and mode. */
  private modeApplied: { nexus: NexusClient; sessionId: string; mode: string } | undefined;
  /** Attachments waiting on the composer for the next prompt. */
  readonly attachments: PendingAttachment[] = [];
  private renderTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly running = new vscode.EventEmitter<boolean>();
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Fires when this view's turn starts (true) or ends (false). */
  readonly onRunning = this.running.event;
  private readonly changes = new vscode.EventEmitter<void>();
  /** Fires after the chat changed (coalesced): its session, mode, context meter. */
  readonly onChange = this.changes.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly server: NexusServer,
    private readonly output: vscode.LogOutputChannel,
    private readonly memento: vscode.Memento,
  ) {
    this.subscriptions.push(
      server.onUpdate((event) => {
        if (this.state.applyUpdate(event)) this.changed();
      }),
    );
    server.permissionHandler = (request, token) => this.askPermission(request, token);
  }

  dispose(): void {
    for (const turn of this.turns) turn.tokens.cancel();
    for (const key of [...this.questions.keys()]) this.answer(key, undefined);
    if (this.renderTimer) clearTimeout(this.renderTimer);
    for (const s of this.subscriptions) s.dispose();
    this.running.dispose();
    this.changes.dispose();
  }

  get isRunning(): boolean {
    return this.turns.length > 0;
  }

  /**
   * `nexus/permission/request`: an approval card under the tool call, answered by
   * its buttons; withdrawn when the server cancels the request or the turn ends.
   * A question about a session the chat does not show is asked in a notification.
   */
  askPermission(request: PermissionRequest, token: vscode.CancellationToken): Promise<PermissionOutcome> {
    const key = `q${this.nextQuestion++}`;
    if (token.isCancellationRequested) return Promise.resolve({ outcome: OUTCOME_CANCELLED });
    if (!this.state.askPermission(request, key)) return askInNotification(request, token);
    const answered = new Promise<PermissionOutcome>((resolve) => this.questions.set(key, resolve));
    const cancel = token.onCancellationRequested(() => this.answer(key, undefined));
    void answered.finally(() => cancel.dispose());
    void this.reveal();
    this.scheduleRender();
    return answered;
  }

  /** Settle a question: the option chosen, or none (withdrawn: answered `cancelled`). */
  answer(key: string, optionId: string | undefined): void {
    const resolve = this.questions.get(key);
    if (!resolve) return;
    this.questions.delete(key);
    this.state.settlePermission(key, optionId);
    resolve(optionId ? { outcome: OUTCOME_SELECTED, optionId } : { outcome: OUTCOME_CANCELLED });
    this.scheduleRender();
  }

  /** The state changed: questions of turns that ended are withdrawn, then re-render. */
  private changed(): void {
    const open = new Set(this.state.pendingApprovals());
    for (const key of [...this.questions.keys()]) {
      if (!open.has(key)) this.answer(key, undefined);
    }
    this.scheduleRender();
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = this.html(view.webview, media);
    view.webview.onDidReceiveMessage((message: FromWebview) => this.receive(message));
    view.onDidDispose(() => {
      if (this.view === view) this.view = undefined;
    });
  }

  /** Show the view (creating it if needed). */
  async reveal(): Promise<void> {
    if (this.view) {
      this.view.show(true);
    } else {
      await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
    }
  }

  /**
   * Run one turn in the current session (a new one on the first prompt). While a
   * turn runs, `whenBusy` says whether the prompt is queued after it or steers it;
   * without one the user is asked.
   */
  async ask(prompt: string, whenBusy?: WhenBusy): Promise<void> {
    if (!prompt.trim()) return;
    if (!vscode.workspace.workspaceFolders?.length) {
      // The server keeps sessions in the first folder's .nexus/ and confines tools to it.
      void vscode.window.showInformationMessage('Nexus: open a folder first; sessions are kept in its .nexus folder.');
      return;
    }
    await this.reveal();
    if (this.turns.length > 0 && !whenBusy) {
      const choice = await vscode.window.showInformationMessage(
        'Nexus is still answering. Queue this prompt after the running turn, or steer the running turn with it now?',
        'Queue',
        'Steer now',
      );
      if (!choice) return;
      whenBusy = choice === 'Queue' ? 'queue' : 'steer';
    }
    const busy = this.turns.length > 0 ? whenBusy : undefined;
    const attached = attachmentsFor(prompt, this.attachments.splice(0), workspaceFile);
    const context = attached.length ? { context: attached.map((a) => a.item) } : {};
    if (busy === 'steer') {
      await this.steer(prompt, context);
      return;
    }
    const entry = this.state.beginTurn(prompt, {
      queued: busy === 'queue',
      attachments: attached.map((a) => a.label),
    });
    const turn: RunningTurn = { entry, tokens: new vscode.CancellationTokenSource() };
    this.turns.push(turn);
    if (this.turns.length === 1) this.running.fire(true);
    this.scheduleRender();
    try {
      const nexus = await this.server.ready();
      await this.ensureSession(prompt);
      if (turn.tokens.token.isCancellationRequested) {
        this.state.failTurn(entry, 'cancelled');
        return;
      }
      const sessionId = this.state.sessionId;
      const params = { sessionId, prompt, ...context, ...(busy === 'queue' ? { whenBusy: busy } : {}) };
      const result = await nexus.sendResuming(params, turn.tokens.token);
      this.state.finishTurn(entry, result);
      if (result.stopReason === 'error' && result.error) offerFix(result.error.code);
    } catch (err) {
      if (isCancelledError(err) || turn.tokens.token.isCancellationRequested) {
        this.state.failTurn(entry, 'cancelled');
      } else {
        const busyError = errorReason(err) === REASON_SESSION_BUSY;
        const message = busyError
          ? 'This session is already running a turn (in another window or a code action).'
          : errorMessage(err);
        this.output.error(`turn failed: ${errorMessage(err)}`);
        this.state.failTurn(entry, 'error', message);
      }
    } finally {
      turn.tokens.dispose();
      this.turns.splice(this.turns.indexOf(turn), 1);
      if (this.turns.length === 0) this.running.fire(false);
      this.changed();
    }
  }

  /** `whenBusy: "steer"`: the prompt joins the running turn (or, if it ended first, runs next). */
  private async steer(prompt: string, context: { context?: PendingAttachment['item'][] }): Promise<void> {
    const running = this.turns[0]?.entry;
    const nexus = await this.server.ready();
    try {
      const result = await nexus.sendOrSteer({ sessionId: this.state.sessionId, prompt, ...context, whenBusy: 'steer' });
      if ('steered' in result) {
        const entry = this.state.entryOfTurn(result.turnId) ?? running;
        if (entry) this.state.steer(entry, prompt);
      } else {
        // The turn ended first: the prompt ran as the next turn, shown from its updates.
        const entry = this.state.entryOfTurn(result.turnId);
        if (entry) this.state.finishTurn(entry, result);
      }
    } catch (err) {
      this.state.addNotice('error', `Could not steer the turn: ${errorMessage(err)}`);
    }
    this.changed();
  }

  /** The chat's session, created (with the mode the user picked) on the first prompt. */
  private async ensureSession(prompt: string): Promise<void> {
    const nexus = await this.server.ready();
    if (!this.state.sessionId) {
      const created = await nexus.newSession({ title: titleFromPrompt(prompt) });
      this.state.adoptSession(created.sessionId, created.title);
      this.remember(created.sessionId);
    }
    await this.applyMode(nexus, this.state.sessionId as string);
  }

  /**
   * The mode the user picked applies to every session the chat runs: set on the
   * server once per session and server process (a restarted server, or a session
   * opened from the list, starts in the setting's mode again).
   */
  private async applyMode(nexus: NexusClient, sessionId: string): Promise<void> {
    const mode = this.state.mode;
    const applied = this.modeApplied;
    if (!mode || (applied?.nexus === nexus && applied.sessionId === sessionId && applied.mode === mode)) return;
    try {
      await nexus.setMode(sessionId, mode);
    } catch (err) {
      if (errorReason(err) !== REASON_UNKNOWN_SESSION) throw err;
      // Not in this server process yet (it was restarted): resume it from .nexus first.
      await nexus.load(sessionId);
      await nexus.setMode(sessionId, mode);
    }
    this.modeApplied = { nexus, sessionId, mode };
  }

  /** The permission mode of the chat's sessions (protocol v2 §1), from the current one on. */
  async setMode(mode: string): Promise<void> {
    const previous = this.state.mode;
    this.state.mode = mode;
    try {
      if (this.state.sessionId) await this.applyMode(await this.server.ready(), this.state.sessionId);
    } catch (err) {
      this.state.mode = previous;
      throw err;
    } finally {
      this.scheduleRender();
    }
  }

  /** Put an attachment on the composer for the next prompt. */
  attach(attachment: PendingAttachment): void {
    this.attachments.push(attachment);
    this.scheduleRender();
  }

  /** Stop the running turn: `$/cancelRequest` for our request. */
  stop(): boolean {
    if (this.turns.length === 0) return false;
    // Stop means stop: the running turn and the prompts queued after it.
    for (const turn of [...this.turns].reverse()) turn.tokens.cancel();
    return true;
  }

  newSession(): void {
    if (this.turns.length) this.stop();
    this.state.reset();
    this.remember(undefined);
    this.scheduleRender();
  }

  async openSession(sessionId: string): Promise<void> {
    if (this.turns.length) this.stop();
    const nexus = await this.server.ready();
    const loaded = await nexus.load(sessionId);
    this.state.loadHistory(loaded, locationUri);
    this.remember(sessionId);
    await this.reveal();
    this.scheduleRender();
  }

  /**
   * Show the session the chat showed before the window reloaded (kept in
   * workspaceState), unless the user has started something since. A session
   * that no longer exists is forgotten; nothing is shown to the user.
   */
  async restoreLastSession(): Promise<void> {
    const sessionId = this.memento.get<string>(LAST_SESSION_KEY);
    const untouched = () => this.turns.length === 0 && !this.state.sessionId && this.state.entries.length === 0;
    if (!sessionId || !untouched()) return;
    try {
      const nexus = await this.server.ready();
      const loaded = await nexus.load(sessionId);
      if (!untouched()) return;
      this.state.loadHistory(loaded, locationUri);
      this.output.info(`reopened the last session ${sessionId}`);
      this.scheduleRender();
    } catch (err) {
      if (errorReason(err) === REASON_UNKNOWN_SESSION) {
        this.output.info(`the last session ${sessionId} no longer exists`);
        this.remember(undefined);
      } else {
        this.output.warn(`could not reopen the last session ${sessionId}: ${errorMessage(err)}`);
      }
    }
  }

  /** The Markdown transcript of the current session, when there is one. */
  transcriptUri(): vscode.Uri | undefined {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const id = this.state.sessionId;
    if (!folder || !id) return undefined;
    return vscode.Uri.joinPath(folder.uri, NEXUS_DIR, SESSIONS_DIR, id, CONTEXT_MD);
  }

  private remember(sessionId: string | undefined): void {
    void this.memento.update(LAST_SESSION_KEY, sessionId);
  }

  private receive(message: FromWebview): void {
    switch (message.type) {
      case 'ready':
        this.state.invalidate();
        this.render();
        break;
      case 'send':
        void this.ask(message.prompt, message.whenBusy);
        break;
      case 'permission':
        this.answer(message.key, message.optionId);
        break;
      case 'revert':
        void revert(this, this.server, message.turnId);
        break;
      case 'fork':
        void fork(this, this.server, message.turnId);
        break;
      case 'mode':
        void vscode.commands.executeCommand('nexus.permissions.setMode');
        break;
      case 'files':
        void completeFiles(message.query).then((paths) => this.view?.webview.postMessage({ type: 'files', query: message.query, paths }));
        break;
      case 'detach':
        this.attachments.splice(message.index, 1);
        this.scheduleRender();
        break;
      case 'stop':
        this.stop();
        break;
      case 'open':
        void openTarget(message.target);
        break;
      case 'copy':
        void vscode.env.clipboard.writeText(message.text);
        break;
      case 'insert':
        void insertAtCursor(message.text);
        break;
    }
  }

  /** Re-render soon (coalesced). */
  refresh(): void {
    this.scheduleRender();
  }

  private scheduleRender(): void {
    this.renderTimer ??= setTimeout(() => {
      this.renderTimer = undefined;
      this.changes.fire();
      this.render();
    }, RENDER_DELAY_MS);
  }

  private render(): void {
    if (!this.view) return;
    const changes = this.state.takeChanges();
    this.view.description = changes.header.sessionId ? changes.header.title : undefined;
    const options = { turnActions: this.server.methods().has(SESSION_REVERT) };
    void this.view.webview.postMessage({
      type: 'render',
      reset: changes.reset,
      entries: changes.entries.map((e) => ({ id: e.id, html: renderEntry(e, options) })),
      running: this.turns.length > 0,
      header: {
        mode: changes.header.mode ?? modeSetting(),
        context: changes.header.context,
      },
      attachments: this.attachments.map((a) => a.label),
    });
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    return chatPage({
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css')).toString(),
      nonce: makeNonce(),
    });
  }
}
