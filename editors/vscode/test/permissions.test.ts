// Permissions and run_command (protocol v2 §1–§2) in the built extension, in the
// stand-in VS Code with its real language client, the real nexus-lsp and the
// scripted model: the approval card in the chat approves and rejects a real
// command, the output streams under the tool call with its exit status, a card is
// withdrawn when the turn is stopped, the mode picker changes the session's mode
// on the server, and Manage Permissions lists and revokes a stored grant.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AssistantEntry, ChatState, ToolView } from '../src/chatState';
import type { PermissionOutcome, PermissionRequest } from '../src/protocol';
import { type Extension, extensionContext, loadExtension, until } from './extensionHost';
import { manifestProperties, NEXUS_PYTHON } from './harness';
import { type ModelServer, startModelServer } from './lsp';
import * as stub from './vscodeStub';

interface Posted {
  type: string;
  reset: boolean;
  entries: { id: string; html: string }[];
  running: boolean;
  header?: { mode?: string };
}

interface Chat {
  state: ChatState;
  resolveWebviewView(view: unknown): void;
  askPermission(request: PermissionRequest, token: unknown): Promise<PermissionOutcome>;
}

const command = (id: string, line: string) => ({ toolCalls: [{ id, name: 'run_command', arguments: { command: line } }] });

describe('permissions and commands in the extension', () => {
  let model: ModelServer;
  let workspace: string;
  let extension: Extension;
  let chat: Chat;
  const context = extensionContext();
  const posted: Posted[] = [];
  let receive: (message: unknown) => void = () => undefined;
  const view = {
    description: undefined as string | undefined,
    show: () => undefined,
    onDidDispose: () => new stub.Disposable(),
    webview: {
      options: {},
      html: '',
      cspSource: 'vscode-webview://test',
      asWebviewUri: (uri: stub.Uri) => uri,
      onDidReceiveMessage: (handler: (message: unknown) => void) => {
        receive = handler;
        return new stub.Disposable();
      },
      postMessage: async (message: Posted) => {
        posted.push(message);
        return true;
      },
    },
  };
  const run = (id: string, ...args: unknown[]) => {
    const registered = stub.recorded.commands.get(id);
    assert.ok(registered, `command ${id} is registered`);
    return registered(...args);
  };
  const lastTurn = () => chat.state.entries.at(-1) as AssistantEntry;
  const toolOf = (entry: AssistantEntry): ToolView | undefined =>
    entry.parts.flatMap((p) => (p.kind === 'tool' ? [p.tool] : [])).at(-1);
  const htmlOf = (id: string) => posted.flatMap((m) => m.entries).filter((e) => e.id === id).at(-1)?.html ?? '';
  /** Starts a turn and waits for its permission card; gives the card's key and the turn. */
  const askUntilCard = async (prompt: string) => {
    const asking = run('nexus.chat.ask', prompt) as Promise<void>;
    const key = await until('the permission card', () => chat.state.pendingApprovals()[0]);
    const entry = lastTurn();
    await until('the card rendered', () => htmlOf(entry.id).includes(`data-approval="${key}"`) && htmlOf(entry.id));
    return { asking, key, entry };
  };

  before(async () => {
    model = await startModelServer({
      responses: [
        command('c1', "printf 'one\\n'; printf 'two\\n'; exit 3"),
        { text: 'It exited 3.' },
        command('c2', 'touch rejected.txt'),
        { text: 'Not allowed, fine.' },
        command('c3', 'echo always > always.txt'),
        { text: 'Stored.' },
        command('c4', 'touch never.txt'),
        command('c5', 'echo auto > auto.txt'),
        { text: 'Ran without asking.' },
        command('c6', 'echo two > auto2.txt'),
        { text: 'Again without asking.' },
      ],
    });
    workspace = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-perm-'));
    for (const [key, property] of Object.entries(manifestProperties())) stub.defaults.set(key, property.default);
    stub.settings.set('nexus.server.python', NEXUS_PYTHON);
    stub.settings.set('nexus.provider.baseUrl', `${model.url}/v1`);
    stub.settings.set('nexus.provider.model', 'scripted');
    stub.settings.set('nexus.provider.maxRetries', 0);
    stub.workspaceFolders.push({ uri: stub.Uri.file(workspace), name: 'ws', index: 0 });
    extension = loadExtension();
    extension.activate(context);
    chat = stub.recorded.views.get('nexus.chatView') as Chat;
    chat.resolveWebviewView(view);
    receive({ type: 'ready' });
  });

  after(async () => {
    if (process.env.NEXUS_TEST_DEBUG) console.error(stub.recorded.log.join('\n'), stub.recorded.messages);
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    await model?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('shows an approval card; Allow once runs the command, its output streams with the exit status', async () => {
    const { asking, key, entry } = await askUntilCard('Run the script');
    const html = htmlOf(entry.id);
    // The command, its folder and the four options, each a labelled button.
    assert.match(html, /role="group"[^>]*aria-label="Permission needed: Run `printf/);
    assert.match(html, /<pre class="approval-command">printf &#39;one\\n&#39;; printf &#39;two\\n&#39;; exit 3<\/pre>/);
    assert.match(html, /in <code>\.<\/code>/);
    const options = [...html.matchAll(/data-option="([a-z_]+)"/g)].map((m) => m[1]);
    assert.deepEqual(options, ['allow_once', 'allow_always', 'reject_once', 'reject_always']);
    assert.equal([...html.matchAll(/<button type="button"[^>]*data-action="permission"[^>]*aria-label="[^"]+"/g)].length, 4);
    assert.equal(toolOf(entry)?.kind, 'execute', 'the tool row shows its kind');
    assert.match(html, /class="tool-kind kind-execute">execute</);

    receive({ type: 'permission', key, optionId: 'allow_once' });
    await asking;
    const tool = toolOf(entry);
    assert.equal(tool?.status, 'completed', 'a non-zero exit is a completed call');
    assert.equal(tool?.stream, 'one\ntwo\n', 'the output streamed under the call');
    assert.equal(tool?.exit?.exitCode, 3);
    assert.equal(tool?.exit?.signal, null);
    assert.equal(typeof tool?.exit?.durationMs, 'number');
    assert.equal(tool?.approval?.state, 'answered');
    const done = await until('the final render', () => !htmlOf(entry.id).includes('state-streaming') && htmlOf(entry.id));
    assert.match(done, /<pre class="tool-stream"[^>]*>one\ntwo\n<\/pre>/);
    assert.match(done, /class="tool-exit">exit 3 · \d+(\.\d)? m?s</);
    assert.match(done, /You chose: Allow once/);
    assert.match(done, /It exited 3\./);
    assert.equal(chat.state.pendingApprovals().length, 0);
  });

  it('Reject does not run the command; the model reads the denial', async () => {
    const { asking, key, entry } = await askUntilCard('Touch a file');
    receive({ type: 'permission', key, optionId: 'reject_once' });
    await asking;
    const tool = toolOf(entry);
    assert.equal(tool?.status, 'failed');
    assert.match(tool?.error ?? '', /^run_command: denied/);
    assert.equal(existsSync(path.join(workspace, 'rejected.txt')), false);
    assert.equal(entry.state, 'done');
  });

  it('Always allow stores a grant that Manage Permissions lists and revokes', async () => {
    const { asking, key } = await askUntilCard('Write always.txt');
    receive({ type: 'permission', key, optionId: 'allow_always' });
    await asking;
    assert.equal(readFileSync(path.join(workspace, 'always.txt'), 'utf8'), 'always\n');

    const before = stub.recorded.quickPicks.length;
    const managing = run('nexus.permissions.manage') as Promise<void>;
    const pick = await until('the grants picker', () => stub.recorded.quickPicks[before]);
    type Item = { label: string; grantId?: unknown };
    const grant = await until('the grant', () => (pick.items as Item[]).find((i) => i.grantId !== undefined));
    assert.match(grant.label, /allow run_command `echo \*`/);
    pick.accept(grant);
    await until('the grant revoked', () => (pick.items as Item[]).every((i) => i.grantId === undefined));
    pick.hide();
    await managing;
  });

  it('withdraws a pending card when the turn is stopped', async () => {
    const { asking, entry, key } = await askUntilCard('Touch never.txt');
    // A question the server cancels ($/cancelRequest: the client's token) is withdrawn on its own.
    const tokens = new stub.CancellationTokenSource();
    const request: PermissionRequest = {
      sessionId: chat.state.sessionId as string,
      turnId: entry.turnId as number,
      toolCall: { id: 'other', name: 'run_command', kind: 'execute', title: 'Run `true`', arguments: { command: 'true' } },
      options: [{ optionId: 'allow_once', name: 'Allow once', kind: 'allow_once' }],
    };
    const answered = chat.askPermission(request, tokens.token);
    assert.equal(chat.state.pendingApprovals().length, 2);
    tokens.cancel();
    assert.deepEqual(await answered, { outcome: 'cancelled' });
    assert.deepEqual(chat.state.pendingApprovals(), [key], 'only the cancelled question is withdrawn');
    await run('nexus.chat.cancel');
    await asking;
    assert.equal(entry.state, 'cancelled');
    assert.equal(toolOf(entry)?.approval?.state, 'withdrawn');
    assert.deepEqual(chat.state.pendingApprovals(), []);
    const html = await until('the withdrawn card', () => htmlOf(entry.id).includes('Question withdrawn.') && htmlOf(entry.id));
    assert.doesNotMatch(html, /data-action="permission"/);
    assert.equal(existsSync(path.join(workspace, 'never.txt')), false);
  });

  it("sets the session's mode on the server: in auto the command runs without a card", async () => {
    await run('nexus.permissions.setMode', 'auto');
    assert.equal(chat.state.mode, 'auto');
    assert.ok(stub.recorded.statusTexts.includes('$(shield) auto'), 'the status bar shows the mode');
    await until('the header shows the mode', () => posted.at(-1)?.header?.mode === 'auto');
    await run('nexus.chat.ask', 'Write auto.txt');
    const entry = lastTurn();
    assert.equal(toolOf(entry)?.status, 'completed');
    assert.equal(toolOf(entry)?.approval, undefined, 'no question was asked');
    assert.equal(readFileSync(path.join(workspace, 'auto.txt'), 'utf8'), 'auto\n');
    // A new session of the chat runs in the mode picked too.
    await run('nexus.chat.newSession');
    await run('nexus.chat.ask', 'Write auto2.txt');
    assert.equal(toolOf(lastTurn())?.approval, undefined);
    assert.equal(readFileSync(path.join(workspace, 'auto2.txt'), 'utf8'), 'two\n');
    assert.equal(stub.recorded.statusTexts.filter((t) => t.startsWith('$(shield)')).at(-1), '$(shield) auto');
    await run('nexus.permissions.setMode', 'yolo');
    assert.match(stub.recorded.messages.at(-1)?.text ?? '', /unknown permission mode "yolo" \(one of default, plan/);
    assert.equal(chat.state.mode, 'auto');
  });
});
