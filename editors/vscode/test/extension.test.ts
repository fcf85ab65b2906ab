// The built extension (dist/extension.js) run in Node against a stand-in of the
// `vscode` module (test/vscodeStub.ts), with its real language client starting
// the real nexus-lsp and the scripted model server: commands, the chat webview,
// the status bar, Stop, edits, the API key in the server's environment, and
// sessions, as a user drives them. One server process for the whole scenario,
// so the steps run in order.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ChatState, entryText } from '../src/chatState';
import { EXTENSION_DIR, manifestProperties, NEXUS_PYTHON } from './harness';
import { type ModelServer, startModelServer } from './lsp';
import * as stub from './vscodeStub';

const KEY_ENV = 'NEXUS_VSCODE_TEST_KEY';
const WAIT_MS = 15_000;

interface Posted {
  type: string;
  reset: boolean;
  entries: { id: string; html: string }[];
  running: boolean;
}

interface ChatProvider {
  state: ChatState;
  resolveWebviewView(view: unknown): void;
  openSession(id: string): Promise<void>;
}

interface Extension {
  activate(context: unknown): void;
  deactivate(): Promise<void>;
}

function loadExtension(): Extension {
  const moduleWithLoad = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = moduleWithLoad._load;
  moduleWithLoad._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? stub.vscodeModule : load.call(this, request, ...rest);
  };
  return createRequire(__filename)(path.join(EXTENSION_DIR, 'dist', 'extension.js')) as Extension;
}

/** Our server processes (children of this test) with their environment, from /proc. */
function serverProcesses(): { pid: number; env: string[] }[] {
  const found: { pid: number; env: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      // `<python> -m nexus_lsp --stdio` (the language client adds --stdio); not nexus_lsp.testing.
      const module = cmdline.indexOf('nexus_lsp');
      if (ppid !== process.pid || module < 1 || cmdline[module - 1] !== '-m') continue;
      found.push({ pid: Number(name), env: readFileSync(`/proc/${name}/environ`, 'utf8').split('\0') });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the extension in a stand-in VS Code', () => {
  let model: ModelServer;
  let workspace: string;
  let extension: Extension;
  let chat: ChatProvider;
  const posted: Posted[] = [];
  let receive: (message: unknown) => void = () => undefined;
  const view = {
    description: undefined as string | undefined,
    show: () => undefined,
    onDidDispose: () => new stub.Disposable(),
    webview: {
      options: {} as { enableScripts?: boolean; localResourceRoots?: stub.Uri[] },
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
  const secrets = stub.secretStorage();
  const context = {
    subscriptions: [] as { dispose(): unknown }[],
    secrets,
    workspaceState: stub.memento(),
    extensionUri: stub.Uri.file(EXTENSION_DIR),
  };
  const run = (id: string, ...args: unknown[]) => {
    const command = stub.recorded.commands.get(id);
    assert.ok(command, `command ${id} is registered`);
    return command(...args);
  };
  /** The latest HTML posted for the last entry of the chat. */
  const lastHtml = () => {
    const id = chat.state.entries.at(-1)?.id;
    return posted.flatMap((m) => m.entries).filter((e) => e.id === id).at(-1)?.html ?? '';
  };
  /** The view renders on a short timer: wait for the last entry's final (non-streaming) HTML. */
  const settledHtml = () => until('the final render', () => !lastHtml().includes('state-streaming') && lastHtml());

  /** Runs Open Sessions and waits for its picker to list `sessionId`. */
  const openPicker = async (sessionId: string) => {
    const before = stub.recorded.quickPicks.length;
    const done = run('nexus.chat.openSessions') as Promise<void>;
    const pick = await until('the picker', () => stub.recorded.quickPicks[before]);
    const item = await until('the session in the picker', () => sessionItem(pick, sessionId));
    return { pick, item, done };
  };
  const sessionItem = (pick: stub.QuickPick<unknown>, sessionId: string) =>
    pick.items.find((i) => (i as { sessionId?: string }).sessionId === sessionId);

  before(async () => {
    model = await startModelServer({
      responses: [
        { text: 'Hello **world**, from the model.', chunkSize: 5 },
        { text: 'Waiting', chunkSize: 4, fault: { stallAfterChunks: 1 } },
        { toolCalls: [{ id: 'w1', name: 'write_file', arguments: { path: 'x.txt', content: 'hi\n' } }] },
        { text: 'Wrote x.txt.' },
        { text: 'It adds two numbers.' },
      ],
    });
    workspace = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-ext-'));
    for (const [key, property] of Object.entries(manifestProperties())) stub.defaults.set(key, property.default);
    stub.settings.set('nexus.server.python', NEXUS_PYTHON);
    stub.settings.set('nexus.provider.baseUrl', `${model.url}/v1`);
    stub.settings.set('nexus.provider.model', 'scripted');
    stub.settings.set('nexus.provider.apiKeyEnv', KEY_ENV);
    stub.settings.set('nexus.provider.maxRetries', 0);
    stub.workspaceFolders.push({ uri: stub.Uri.file(workspace), name: 'ws', index: 0 });
    secrets.values.set('nexus.apiKey', 'first-key');
    extension = loadExtension();
  });

  after(async () => {
    if (process.env.NEXUS_TEST_DEBUG) console.error(stub.recorded.log.join('\n'), stub.recorded.messages);
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    await model?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('activates: registers every contributed command and the chat view', async () => {
    extension.activate(context);
    const pkg = JSON.parse(readFileSync(path.join(EXTENSION_DIR, 'package.json'), 'utf8'));
    const contributed: string[] = pkg.contributes.commands.map((c: { command: string }) => c.command);
    assert.deepEqual([...stub.recorded.commands.keys()].sort(), [...contributed].sort());
    const menus = Object.values(pkg.contributes.menus as Record<string, { command: string }[]>).flat();
    for (const item of menus) assert.ok(contributed.includes(item.command), `menu item ${item.command}`);
    const viewId = pkg.contributes.views.nexus[0].id;
    chat = stub.recorded.views.get(viewId) as ChatProvider;
    assert.ok(chat, 'the chat view provider is registered');
    // The server starts at activation; its commands (nexus.ask, nexus.cancel) join ours without a clash.
    await until('the server commands', () => stub.recorded.commands.has('nexus.ask'));
    assert.ok(stub.recorded.commands.has('nexus.cancel'));
    assert.ok(stub.recorded.statusTexts.includes('$(comment-discussion) Nexus'));
  });

  it('passes the stored API key in the server environment under apiKeyEnv', async () => {
    const [server] = await until('the server process', () => serverProcesses().length === 1 && serverProcesses());
    assert.ok(server?.env.includes(`${KEY_ENV}=first-key`));
  });

  it('serves a webview with a strict content security policy', () => {
    chat.resolveWebviewView(view);
    const html = view.webview.html;
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-[a-z0-9]{32}'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const nonce = /nonce-([a-z0-9]+)/.exec(csp)?.[1];
    assert.match(html, new RegExp(`<script nonce="${nonce}" src="[^"]+media/chat\\.js"></script>`));
    assert.equal(view.webview.options.enableScripts, true);
    assert.deepEqual(
      view.webview.options.localResourceRoots?.map((u) => u.fsPath),
      [path.join(EXTENSION_DIR, 'media')],
    );
    receive({ type: 'ready' });
    assert.equal(posted.at(-1)?.reset, true);
  });

  it('asks: the answer streams into the view and the status bar shows the turn', async () => {
    stub.recorded.statusTexts.length = 0;
    await run('nexus.chat.ask', 'Say hello');
    const roles = chat.state.entries.map((e) => e.role);
    assert.deepEqual(roles, ['user', 'assistant']);
    const html = await settledHtml();
    assert.match(html, /Hello <strong>world<\/strong>, from the model\./);
    assert.match(html, /state-done/);
    assert.equal(chat.state.title, 'Say hello');
    assert.equal(view.description, 'Say hello');
    assert.deepEqual(stub.recorded.statusTexts.slice(0, 1), ['$(loading~spin) Nexus']);
    assert.equal(stub.recorded.statusTexts.at(-1), '$(comment-discussion) Nexus');
    assert.equal(stub.recorded.context.get('nexus.running'), false);
    await until('a render saying the turn ended', () => posted.at(-1)?.running === false);
  });

  it('stops a running turn from the status bar command: $/cancelRequest, kept as stopped', async () => {
    const asking = run('nexus.chat.ask', 'Wait for it') as Promise<void>;
    // The first chunk arrived: the model request is in flight, stalled.
    await until('the first chunk', () => {
      const last = chat.state.entries.at(-1);
      return last?.role === 'assistant' && last.turnId === 2 && entryText(last) === 'Wait';
    });
    assert.equal(stub.recorded.context.get('nexus.running'), true);
    await run('nexus.chat.cancel');
    await asking;
    const last = chat.state.entries.at(-1);
    assert.ok(last?.role === 'assistant');
    assert.equal(last.state, 'cancelled');
    const html = await settledHtml();
    assert.match(html, /Stopped\./);
    assert.match(html, /<p>Wait<\/p>/, 'the text streamed before the stop is kept');
    assert.equal(stub.recorded.context.get('nexus.running'), false);
  });

  it('restarts the server with the new key when the key changes', async () => {
    const [before] = serverProcesses();
    const notified = stub.nextEvent('message');
    await run('nexus.setApiKey'); // the input box is dismissed: nothing changes
    assert.equal(secrets.values.get('nexus.apiKey'), 'first-key');
    await secrets.store('nexus.apiKey', 'second-key');
    assert.match(String(await notified), /API key changed/);
    const [server] = await until('the new server process', () => {
      const found = serverProcesses();
      return found.length === 1 && found[0]?.pid !== before?.pid && found;
    });
    assert.ok(server?.env.includes(`${KEY_ENV}=second-key`));
  });

  it('applies the model edits through VS Code, continuing the session in the new server', async () => {
    const sessionId = chat.state.sessionId;
    await run('nexus.chat.ask', 'Create x.txt');
    assert.equal(chat.state.sessionId, sessionId);
    const [applied] = stub.recorded.appliedEdits;
    assert.ok(applied, 'workspace.applyEdit was called');
    const ops = applied.edit.operations;
    assert.ok(ops.some((o) => o.op === 'create' && o.uri.endsWith('/x.txt')));
    const text = ops.flatMap((o) => o.edits ?? []).map((e) => e.newText).join('');
    assert.equal(text, 'hi\n');
    const html = await settledHtml();
    assert.match(html, /class="tool status-completed"/);
    assert.match(html, /<code class="tool-args">x\.txt<\/code>/);
    assert.match(html, /Wrote x\.txt\./);
  });

  it("runs the server's code actions (nexus.ask with a range) in the chat", async () => {
    writeFileSync(path.join(workspace, 'a.py'), 'def add(a, b):\n    return a + b\n');
    const uri = stub.Uri.file(path.join(workspace, 'a.py')).toString();
    // The language client registered the server's command; its middleware sends it to the chat.
    await run('nexus.ask', { prompt: 'Explain this code.', uri, range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } } });
    const asked = chat.state.entries.at(-2);
    assert.ok(asked?.role === 'user');
    assert.equal(asked.text, 'Explain this code.\n\nSelection from `a.py`, lines 1-2:\n```python\ndef add(a, b):\n    return a + b\n```');
    assert.match(await settledHtml(), /It adds two numbers\./);
  });

  it('opens the transcript, starts afresh and reopens the session', async () => {
    const sessionId = chat.state.sessionId;
    assert.ok(sessionId);
    await run('nexus.chat.openTranscript');
    const transcript = stub.recorded.openedDocuments.at(-1) ?? '';
    assert.match(transcript, new RegExp(`/\\.nexus/sessions/${sessionId}/context\\.md$`));
    assert.ok(existsSync(path.join(workspace, '.nexus', 'sessions', sessionId, 'context.md')));

    await run('nexus.chat.newSession');
    assert.equal(chat.state.sessionId, undefined);
    assert.equal(chat.state.entries.length, 0);
    await until('a reset render', () => posted.at(-1)?.reset === true);

    // Open Sessions: the picker lists it (with New Session first); accepting it loads it.
    const { pick, item, done } = await openPicker(sessionId);
    assert.match(String((pick.items[0] as { label?: string }).label), /New Session/);
    pick.accept(item);
    await done;
    assert.equal(pick.visible, false);
    assert.equal(chat.state.sessionId, sessionId);
    const users = chat.state.entries.flatMap((e) => (e.role === 'user' ? [e.text] : []));
    assert.deepEqual(users.slice(0, 3), ['Say hello', 'Wait for it', 'Create x.txt']);
    assert.match(users[3] ?? '', /^Explain this code\./);
  });

  it('deletes a session from the picker with its trash button', async () => {
    const sessionId = chat.state.sessionId;
    assert.ok(sessionId);
    const { pick, item, done } = await openPicker(sessionId);
    pick.pressButton(item);
    await until('the picker refreshed without it', () => !sessionItem(pick, sessionId));
    assert.equal(chat.state.sessionId, undefined, 'the chat showing it starts afresh');
    assert.equal(existsSync(path.join(workspace, '.nexus', 'sessions', sessionId)), false);
    pick.hide();
    await done;
  });

  it('stops the server on deactivate', async () => {
    await extension.deactivate();
    await until('the server to exit', () => serverProcesses().length === 0);
  });
});
