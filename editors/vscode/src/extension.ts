/**
 * Extension entry point (VS Code layer): commands, the status bar item, the
 * API key, and the wiring of {@link NexusServer} to the chat view.
 *
 * Everything protocol-shaped lives in `session.ts`/`chatState.ts`/`render.ts`;
 * this module only translates VS Code gestures into calls on them.
 */

import * as vscode from 'vscode';
import { registerAgentCommands } from './agentCommands';
import { CHAT_VIEW_ID, ChatViewProvider } from './chatView';
import { DEFAULT_SELECTION_QUESTION, type SelectionContext, selectionPrompt } from './prompts';
import { UPDATE_TURN_END, UPDATE_TURN_START } from './protocol';
import { managedLauncher } from './pythonEnv';
import { API_KEY_SECRET, errorMessage, NexusServer } from './server';
import { RESTART_KEYS } from './settings';

/** The running server, stopped (and awaited by VS Code) in {@link deactivate}. */
let activeServer: NexusServer | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Nexus', { log: true });
  const server = new NexusServer(context.secrets, output, managedLauncher(context, output));
  activeServer = server;
  const chat = new ChatViewProvider(context.extensionUri, server, output, context.workspaceState);
  const status = new TurnStatus(chat, server);
  context.subscriptions.push(output, server, chat, status);
  context.subscriptions.push(vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, chat));

  const command = (id: string, run: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          await run(...args);
        } catch (err) {
          output.error(`${id}: ${errorMessage(err)}`);
          void vscode.window.showErrorMessage(`Nexus: ${errorMessage(err)}`);
        }
      }),
    );

  registerAgentCommands(context, server, chat, command);
  command('nexus.chat.ask', async (prompt?: unknown) => {
    const text =
      typeof prompt === 'string'
        ? prompt
        : await vscode.window.showInputBox({ prompt: 'Ask Nexus', placeHolder: 'What should Nexus do?' });
    if (text) await chat.ask(text);
  });
  command('nexus.chat.askSelection', async () => {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
      void vscode.window.showInformationMessage('Nexus: select some code first.');
      return;
    }
    const question = await vscode.window.showInputBox({
      prompt: 'Ask Nexus about the selection',
      placeHolder: DEFAULT_SELECTION_QUESTION,
    });
    if (question === undefined) return;
    await chat.ask(selectionPrompt(question, selectionContext(editor.document, editor.selection)));
  });
  // The server's code actions run `nexus.ask { prompt, uri, range }`: answer in the chat.
  server.askHandler = async (argument) => {
    const { prompt, uri, range } = parseAskArgument(argument);
    if (!uri) return chat.ask(prompt);
    const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
    if (!range || (range.start.line === range.end.line && range.start.character === range.end.character)) {
      return chat.ask(`${prompt}\n\nThe user is looking at \`${vscode.workspace.asRelativePath(document.uri, false)}\`.`);
    }
    const selection = new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
    return chat.ask(selectionPrompt(prompt, selectionContext(document, selection)));
  };
  command('nexus.chat.cancel', () => status.stop());
  command('nexus.chat.newSession', async () => {
    chat.newSession();
    await chat.reveal();
  });
  command('nexus.chat.openSessions', () => pickSession(server, chat));
  command('nexus.chat.openTranscript', async () => {
    const uri = chat.transcriptUri();
    if (!uri) {
      void vscode.window.showInformationMessage('Nexus: no session yet. Ask something first.');
      return;
    }
    await vscode.window.showTextDocument(uri, { preview: true });
  });
  command('nexus.setApiKey', async () => {
    const key = await vscode.window.showInputBox({
      prompt: 'API key for the Nexus model provider (stored in VS Code secret storage)',
      password: true,
      ignoreFocusOut: true,
    });
    if (!key) return;
    await context.secrets.store(API_KEY_SECRET, key.trim());
  });
  command('nexus.clearApiKey', () => context.secrets.delete(API_KEY_SECRET));
  command('nexus.restartServer', () =>
    server.restart('requested by the user').catch((err: unknown) => reportStartFailure(err, output)),
  );
  command('nexus.showLog', () => output.show());

  context.subscriptions.push(
    // The key reaches the server only through its environment: a new key, a new process.
    context.secrets.onDidChange(async (event) => {
      if (event.key !== API_KEY_SECRET) return;
      await restartQuietly(server, output, 'API key changed');
      void vscode.window.showInformationMessage('Nexus: API key changed; the server was restarted to use it.');
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (RESTART_KEYS.some((key) => event.affectsConfiguration(key))) {
        await restartQuietly(server, output, 'server settings changed');
      }
    }),
  );

  if (vscode.workspace.workspaceFolders?.length) {
    // Start early so the server's code actions and commands are there when needed.
    server.ready().then(
      () => chat.restoreLastSession(),
      (err: unknown) => reportStartFailure(err, output),
    );
  }
}

/** The server did not start: one toast, with the way to the settings that fix it. */
function reportStartFailure(err: unknown, output: vscode.LogOutputChannel): void {
  output.error(errorMessage(err));
  void vscode.window
    .showErrorMessage(`Nexus: ${errorMessage(err)}`, 'Open Settings', 'Show Log')
    .then((choice) => {
      if (choice === 'Open Settings') {
        void openServerSettings();
      } else if (choice === 'Show Log') {
        output.show();
      }
    });
}

/**
 * The settings editor filtered to the server settings, on the tab where they
 * apply: they are machine-overridable, so in a remote window they are read from
 * the remote machine's settings (the Remote tab), which the User tab does not show.
 */
function openServerSettings(): Thenable<unknown> {
  const query = 'nexus.server';
  return vscode.env.remoteName
    ? vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query })
    : vscode.commands.executeCommand('workbench.action.openSettings', query);
}

export async function deactivate(): Promise<void> {
  const server = activeServer;
  activeServer = undefined;
  await server?.stop();
}

function selectionContext(document: vscode.TextDocument, selection: vscode.Range): SelectionContext {
  // A selection ending at column 0 does not include that line, as editors show it.
  const endLine =
    selection.end.character === 0 && selection.end.line > selection.start.line
      ? selection.end.line
      : selection.end.line + 1;
  return {
    path: vscode.workspace.asRelativePath(document.uri, false),
    languageId: document.languageId,
    startLine: selection.start.line + 1,
    endLine,
    text: document.getText(selection),
  };
}

interface AskArgument {
  prompt: string;
  uri?: string;
  range?: { start: { line: number; character: number }; end: { line: number; character: number } };
}

/** The argument of `nexus.ask` (docs/protocol.md §7); a bad one is an error naming the field. */
function parseAskArgument(argument: unknown): AskArgument {
  const arg = (typeof argument === 'object' && argument !== null ? argument : {}) as Record<string, unknown>;
  if (typeof arg.prompt !== 'string' || !arg.prompt.trim()) {
    throw new Error('nexus.ask: prompt must be a non-empty string');
  }
  if (arg.uri !== undefined && typeof arg.uri !== 'string') {
    throw new Error('nexus.ask: uri must be a string');
  }
  return arg as unknown as AskArgument;
}

async function restartQuietly(server: NexusServer, output: vscode.LogOutputChannel, why: string): Promise<void> {
  // Without a folder the server is started on the first ask, with the settings of then.
  if (!vscode.workspace.workspaceFolders?.length) return;
  try {
    await server.restart(why);
  } catch (err) {
    reportStartFailure(err, output);
  }
}

interface SessionItem extends vscode.QuickPickItem {
  sessionId?: string;
}

const NEW_SESSION_ITEM: SessionItem = { label: '$(add) New Session', alwaysShow: true };
const DELETE_BUTTON: vscode.QuickInputButton = {
  iconPath: new vscode.ThemeIcon('trash'),
  tooltip: 'Delete session',
};

/** Sessions picker: newest first, load on accept, delete with the trash button. */
async function pickSession(server: NexusServer, chat: ChatViewProvider): Promise<void> {
  const nexus = await server.ready();
  const pick = vscode.window.createQuickPick<SessionItem>();
  pick.placeholder = 'Open a Nexus session';
  pick.matchOnDescription = true;
  const refresh = async (): Promise<void> => {
    pick.busy = true;
    const { sessions } = await nexus.list();
    const titles = new Map(sessions.map((s) => [s.sessionId, s.title || s.sessionId]));
    const detail = (s: (typeof sessions)[number]): string | undefined => {
      // A fork names the session it came from (protocol v2 §3).
      const parent = s.parentId ? `forked from ${titles.get(s.parentId) ?? s.parentId}` : undefined;
      return [s.status === 'idle' ? undefined : s.status, parent].filter(Boolean).join(' · ') || undefined;
    };
    pick.items = [
      NEW_SESSION_ITEM,
      ...sessions.map((s) => ({
        label: s.title || s.sessionId,
        description: `${s.turnCount} turn${s.turnCount === 1 ? '' : 's'} · ${new Date(s.updatedAt).toLocaleString()}`,
        detail: detail(s),
        sessionId: s.sessionId,
        buttons: [DELETE_BUTTON],
      })),
    ];
    pick.busy = false;
  };
  const done = new Promise<SessionItem | undefined>((resolve) => {
    pick.onDidAccept(() => {
      resolve(pick.selectedItems[0]);
      pick.hide();
    });
    pick.onDidHide(() => resolve(undefined));
    pick.onDidTriggerItemButton(async ({ item }) => {
      if (!item.sessionId) return;
      try {
        await nexus.delete(item.sessionId);
        if (chat.state.sessionId === item.sessionId) chat.newSession();
        await refresh();
      } catch (err) {
        void vscode.window.showErrorMessage(`Nexus: could not delete the session: ${errorMessage(err)}`);
      }
    });
  });
  pick.show();
  try {
    await refresh();
    const chosen = await done;
    if (chosen === NEW_SESSION_ITEM) {
      chat.newSession();
      await chat.reveal();
    } else if (chosen?.sessionId) {
      await chat.openSession(chosen.sessionId);
    }
  } finally {
    pick.dispose();
  }
}

/**
 * The status bar item: a spinner while any turn runs (the chat's, or one the
 * server runs for a code action), Stop on click; the chat otherwise.
 */
class TurnStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 100);
  /** Sessions with a turn running, as the update stream says. */
  private readonly runningSessions = new Set<string>();
  private failed = false;
  private shown: 'running' | 'failed' | 'idle' | undefined;
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly chat: ChatViewProvider,
    private readonly server: NexusServer,
  ) {
    this.subscriptions = [
      chat.onRunning((running) => {
        // The chat's own turn is over whatever the stream said (its turnEnd may be lost).
        if (!running && chat.state.sessionId) this.runningSessions.delete(chat.state.sessionId);
        this.update();
      }),
      server.onUpdate(({ update }) => {
        if (update.kind === UPDATE_TURN_START) this.runningSessions.add(update.sessionId);
        if (update.kind === UPDATE_TURN_END) this.runningSessions.delete(update.sessionId);
        this.update();
      }),
      server.onState((state) => {
        this.failed = state === 'failed';
        if (state !== 'running') this.runningSessions.clear();
        this.update();
      }),
    ];
    this.update();
    this.item.show();
  }

  /** Cancel the chat's turn, or the turns the server runs for other requests. */
  async stop(): Promise<void> {
    if (this.chat.stop()) return;
    if (this.runningSessions.size === 0) return;
    const nexus = await this.server.ready();
    await Promise.all([...this.runningSessions].map((id) => nexus.cancelSession(id)));
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }

  private update(): void {
    const running = this.chat.isRunning || this.runningSessions.size > 0;
    // Called for every streamed update: touch VS Code only when the item changes.
    const shown = running ? 'running' : this.failed ? 'failed' : 'idle';
    if (shown === this.shown) return;
    this.shown = shown;
    void vscode.commands.executeCommand('setContext', 'nexus.running', running);
    if (running) {
      this.item.text = '$(loading~spin) Nexus';
      this.item.tooltip = 'Nexus is running a turn. Click to stop.';
      this.item.command = 'nexus.chat.cancel';
    } else if (this.failed) {
      this.item.text = '$(error) Nexus';
      this.item.tooltip = 'The Nexus server did not start. Click to see the log.';
      this.item.command = 'nexus.showLog';
    } else {
      this.item.text = '$(comment-discussion) Nexus';
      this.item.tooltip = 'Open the Nexus chat';
      this.item.command = `${CHAT_VIEW_ID}.focus`;
    }
  }
}
