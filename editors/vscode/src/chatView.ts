/**
 * The chat view in the sidebar (VS Code layer): a webview over {@link ChatState}.
 *
 * Runs the turns the user asks for (`nexus/session/send` with a cancellation
 * token, so Stop sends `$/cancelRequest`), feeds the update stream and the
 * results into the state, and posts the re-rendered entries to the webview,
 * coalesced so a fast stream does not flood it. The webview itself (media/)
 * only swaps HTML in and reports clicks.
 */

import { isAbsolute } from 'node:path';
import * as vscode from 'vscode';
import { type AssistantEntry, ChatState } from './chatState';
import { CONTEXT_MD, NEXUS_DIR, REASON_SESSION_BUSY, REASON_UNKNOWN_SESSION, SESSIONS_DIR } from './protocol';
import { titleFromPrompt } from './prompts';
import { renderEntry } from './render';
import { errorMessage, type NexusServer } from './server';
import { errorReason, isCancelledError } from './session';
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
  | { type: 'send'; prompt: string }
  | { type: 'stop' }
  | { type: 'open'; target: string }
  | { type: 'copy'; text: string }
  | { type: 'insert'; text: string };

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  readonly state = new ChatState();
  private view: vscode.WebviewView | undefined;
  private turn: RunningTurn | undefined;
  private renderTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly running = new vscode.EventEmitter<boolean>();
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Fires when this view's turn starts (true) or ends (false). */
  readonly onRunning = this.running.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly server: NexusServer,
    private readonly output: vscode.LogOutputChannel,
    private readonly memento: vscode.Memento,
  ) {
    this.subscriptions.push(
      server.onUpdate((event) => {
        if (this.state.applyUpdate(event)) this.scheduleRender();
      }),
    );
  }

  dispose(): void {
    this.turn?.tokens.cancel();
    if (this.renderTimer) clearTimeout(this.renderTimer);
    for (const s of this.subscriptions) s.dispose();
    this.running.dispose();
  }

  get isRunning(): boolean {
    return this.turn !== undefined;
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

  /** Run one turn in the current session (a new one on the first prompt). */
  async ask(prompt: string): Promise<void> {
    if (!prompt.trim()) return;
    if (!vscode.workspace.workspaceFolders?.length) {
      // The server keeps sessions in the first folder's .nexus/ and confines tools to it.
      void vscode.window.showInformationMessage('Nexus: open a folder first; sessions are kept in its .nexus folder.');
      return;
    }
    await this.reveal();
    if (this.turn) {
      void vscode.window.showInformationMessage('Nexus is still answering; press Stop first.');
      return;
    }
    const entry = this.state.beginTurn(prompt);
    const turn: RunningTurn = { entry, tokens: new vscode.CancellationTokenSource() };
    this.turn = turn;
    this.running.fire(true);
    this.scheduleRender();
    try {
      const nexus = await this.server.ready();
      if (!this.state.sessionId) {
        const created = await nexus.newSession({ title: titleFromPrompt(prompt) });
        this.state.adoptSession(created.sessionId, created.title);
        this.remember(created.sessionId);
      }
      if (turn.tokens.token.isCancellationRequested) {
        this.state.failTurn(entry, 'cancelled');
        return;
      }
      const sessionId = this.state.sessionId;
      const result = await nexus.sendResuming({ sessionId, prompt }, turn.tokens.token);
      this.state.finishTurn(entry, result);
      if (result.stopReason === 'error' && result.error) this.offerFix(result.error.code);
    } catch (err) {
      if (isCancelledError(err) || turn.tokens.token.isCancellationRequested) {
        this.state.failTurn(entry, 'cancelled');
      } else {
        const busy = errorReason(err) === REASON_SESSION_BUSY;
        const message = busy
          ? 'This session is already running a turn (in another window or a code action).'
          : errorMessage(err);
        this.output.error(`turn failed: ${errorMessage(err)}`);
        this.state.failTurn(entry, 'error', message);
      }
    } finally {
      turn.tokens.dispose();
      this.turn = undefined;
      this.running.fire(false);
      this.scheduleRender();
    }
  }

  /** Stop the running turn: `$/cancelRequest` for our request. */
  stop(): boolean {
    if (!this.turn) return false;
    this.turn.tokens.cancel();
    return true;
  }

  newSession(): void {
    if (this.turn) this.stop();
    this.state.reset();
    this.remember(undefined);
    this.scheduleRender();
  }

  async openSession(sessionId: string): Promise<void> {
    if (this.turn) this.stop();
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
    const untouched = () => !this.turn && !this.state.sessionId && this.state.entries.length === 0;
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

  private offerFix(code: string): void {
    if (code === 'providerAuth') {
      void vscode.window
        .showErrorMessage('Nexus: the model provider rejected the API key.', 'Set API Key')
        .then((choice) => choice && vscode.commands.executeCommand('nexus.setApiKey'));
    } else if (code === 'providerUnavailable') {
      void vscode.window
        .showErrorMessage('Nexus: the model provider is unreachable.', 'Open Settings')
        .then(
          (choice) =>
            choice && vscode.commands.executeCommand('workbench.action.openSettings', 'nexus.provider'),
        );
    }
  }

  private receive(message: FromWebview): void {
    switch (message.type) {
      case 'ready':
        this.state.invalidate();
        this.render();
        break;
      case 'send':
        void this.ask(message.prompt);
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

  private scheduleRender(): void {
    this.renderTimer ??= setTimeout(() => {
      this.renderTimer = undefined;
      this.render();
    }, RENDER_DELAY_MS);
  }

  private render(): void {
    if (!this.view) return;
    const changes = this.state.takeChanges();
    this.view.description = changes.header.sessionId ? changes.header.title : undefined;
    void this.view.webview.postMessage({
      type: 'render',
      reset: changes.reset,
      entries: changes.entries.map((e) => ({ id: e.id, html: renderEntry(e) })),
      running: this.turn !== undefined,
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

/** The link of a workspace-relative path a loaded tool call touched, as the live update gives it. */
function locationUri(path: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder || isAbsolute(path)) return vscode.Uri.file(path).toString();
  return vscode.Uri.joinPath(folder.uri, path).toString();
}

/** Open a link from the chat: a file (URI or workspace-relative path) in the editor, http(s) outside. */
async function openTarget(target: string): Promise<void> {
  if (/^https?:\/\//i.test(target)) {
    await vscode.env.openExternal(vscode.Uri.parse(target));
    return;
  }
  let uri: vscode.Uri | undefined;
  if (target.startsWith('file:')) {
    uri = vscode.Uri.parse(target);
  } else if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (folder) uri = vscode.Uri.joinPath(folder.uri, target.split('#')[0] ?? target);
  }
  if (!uri) return;
  try {
    await vscode.window.showTextDocument(uri, { preview: true });
  } catch (err) {
    void vscode.window.showWarningMessage(`Nexus: cannot open ${target}: ${errorMessage(err)}`);
  }
}

async function insertAtCursor(text: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) {
    void vscode.window.showInformationMessage('Nexus: open an editor to insert the code into.');
    return;
  }
  await editor.edit((edit) => {
    for (const selection of editor.selections) edit.replace(selection, text);
  });
}
