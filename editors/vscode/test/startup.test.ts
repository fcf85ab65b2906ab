// The built extension in the stand-in VS Code, around its server's life: a
// server that cannot start (one toast, and Open Settings where the server
// settings apply), the LSP trace and the server's log in the output channel,
// and the chat reopening its session after a window reload. One workspace; the
// extension is re-activated between steps as a window reload does.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ChatProvider, type Extension, extensionContext, loadExtension, until } from './extensionHost';
import { manifestProperties, NEXUS_PYTHON } from './harness';
import { type ModelServer, startModelServer } from './lsp';
import * as stub from './vscodeStub';

/** Server processes that are children of this test (`-m nexus_lsp`). */
function serverCount(): number {
  let count = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (ppid === process.pid && cmdline.includes('nexus_lsp')) count++;
    } catch {
      // The process ended while we looked.
    }
  }
  return count;
}

describe('the extension around its server: start-up failures, logs, reload', () => {
  let model: ModelServer;
  let workspace: string;
  let extension: Extension;
  const workspaceState = stub.memento();
  let context = extensionContext(workspaceState);

  /** Deactivate and activate again with a fresh context and the same workspaceState: a window reload. */
  async function reload(): Promise<ChatProvider> {
    await extension.deactivate();
    for (const d of context.subscriptions) d.dispose();
    stub.recorded.messages.length = 0;
    stub.recorded.executed.length = 0;
    context = extensionContext(workspaceState);
    extension.activate(context);
    return stub.recorded.views.get('nexus.chatView') as ChatProvider;
  }

  const errors = () => stub.recorded.messages.filter((m) => m.level === 'error');
  const logged = (text: string) => stub.recorded.log.filter((line) => line.includes(text));

  before(async () => {
    model = await startModelServer({
      responses: [{ fault: { status: 500, message: 'the model fell over' } }, { text: 'Remembered answer.' }],
    });
    workspace = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-startup-'));
    for (const [key, property] of Object.entries(manifestProperties())) stub.defaults.set(key, property.default);
    stub.settings.set('nexus.server.command', path.join(workspace, 'no-such-nexus-lsp'));
    stub.settings.set('nexus.provider.baseUrl', `${model.url}/v1`);
    stub.settings.set('nexus.provider.model', 'scripted');
    stub.settings.set('nexus.provider.maxRetries', 0);
    stub.workspaceFolders.push({ uri: stub.Uri.file(workspace), name: 'ws', index: 0 });
    extension = loadExtension();
  });

  after(async () => {
    if (process.env.NEXUS_TEST_DEBUG) console.error(stub.recorded.log.join('\n'), stub.recorded.messages);
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    await model?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('says once that a missing server command failed; Open Settings shows the server settings', async () => {
    stub.messageAnswers.push({ match: /which was not found/, answer: 'Open Settings' });
    extension.activate(context);
    await until('the settings to open', () => stub.recorded.executed.find((c) => c.id.includes('Settings')));
    assert.equal(errors().length, 1, JSON.stringify(errors()));
    // Checked before the language client spawns it (which would add its own toast).
    assert.match(errors()[0]?.text ?? '', /^Nexus: nexus\.server\.command is ".*no-such-nexus-lsp", which was not found/);
    assert.deepEqual(errors()[0]?.items, ['Open Settings', 'Show Log']);
    assert.deepEqual(stub.recorded.executed.find((c) => c.id.includes('Settings')), {
      id: 'workbench.action.openSettings',
      args: ['nexus.server'],
    });
  });

  it('says once that a server exiting at start failed; in a remote window Open Settings opens the Remote tab', async () => {
    // A server that starts and exits at once, as a Python without nexus-lsp does.
    stub.settings.set('nexus.server.command', '/bin/sh');
    stub.settings.set('nexus.server.args', ['-c', 'echo "No module named nexus_lsp" >&2; exit 1', 'sh']);
    (stub.env as { remoteName?: string }).remoteName = 'ssh-remote';
    stub.messageAnswers.push({ match: /could not start the Nexus server/, answer: 'Open Settings' });
    await reload();
    await until('the settings to open', () => stub.recorded.executed.find((c) => c.id.includes('Settings')));
    (stub.env as { remoteName?: string }).remoteName = undefined;
    stub.settings.delete('nexus.server.args');
    assert.equal(errors().length, 1, JSON.stringify(errors()));
    assert.match(errors()[0]?.text ?? '', /\(\/bin\/sh\): No module named nexus_lsp \(.+\)\. Set/, 'says what the server said');
    assert.deepEqual(stub.recorded.executed.find((c) => c.id.includes('Settings')), {
      id: 'workbench.action.openRemoteSettings',
      args: [{ query: 'nexus.server' }],
    });
    assert.ok(logged('No module named nexus_lsp').length > 0, 'the server output is in the log');
  });

  it('traces the LSP traffic with nexus.trace.server at the channel level VS Code starts with', async () => {
    stub.settings.set('nexus.server.command', 'nexus-lsp');
    stub.settings.set('nexus.server.python', NEXUS_PYTHON);
    stub.settings.set('nexus.trace.server', 'messages');
    const chat = await reload();
    await until('the server commands', () => stub.recorded.commands.has('nexus.ask'));
    assert.equal(errors().length, 0, JSON.stringify(errors()));
    assert.ok(logged("Sending request 'initialize").length > 0, 'the initialize request is traced');
    assert.ok(chat);
    stub.settings.delete('nexus.trace.server');
  });

  it('shows each server warning once in the output', async () => {
    const chat = stub.recorded.views.get('nexus.chatView') as ChatProvider;
    await stub.recorded.commands.get('nexus.chat.ask')?.('Fail please');
    const last = chat.state.entries.at(-1);
    assert.ok(last?.role === 'assistant' && last.state === 'error');
    // Everything the server wrote has arrived once its process is gone.
    await extension.deactivate();
    await until('the server to exit', () => serverCount() === 0);
    await new Promise((resolve) => setImmediate(resolve));
    const warnings = logged('the model fell over').filter((line) => line.includes('nexus_lsp.session.session'));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /^\[Nexus warn\] WARNING /);
  });

  it('reopens the session the chat showed after a window reload', async () => {
    let chat = await reload();
    await until('the server commands', () => stub.recorded.commands.has('nexus.ask'));
    await stub.recorded.commands.get('nexus.chat.newSession')?.();
    await stub.recorded.commands.get('nexus.chat.ask')?.('Remember this');
    const sessionId = chat.state.sessionId;
    assert.ok(sessionId);

    chat = await reload();
    await until('the session reopened', () => chat.state.sessionId === sessionId);
    assert.deepEqual(
      chat.state.entries.map((e) => (e.role === 'user' ? e.text : e.role)),
      ['Remember this', 'assistant'],
    );
    const posted: { entries: { html: string }[] }[] = [];
    chat.resolveWebviewView({
      show: () => undefined,
      onDidDispose: () => new stub.Disposable(),
      webview: {
        options: {},
        html: '',
        cspSource: 'vscode-webview://test',
        asWebviewUri: (uri: stub.Uri) => uri,
        onDidReceiveMessage: (handler: (message: unknown) => void) => {
          handler({ type: 'ready' });
          return new stub.Disposable();
        },
        postMessage: async (message: { entries: { html: string }[] }) => posted.push(message),
      },
    });
    await until('the render', () => posted.length > 0);
    assert.match(posted.flatMap((m) => m.entries.map((e) => e.html)).join(''), /Remembered answer\./);

    // New Session is what the next reload shows: an empty chat.
    await stub.recorded.commands.get('nexus.chat.newSession')?.();
    chat = await reload();
    await until('the server commands', () => stub.recorded.commands.has('nexus.ask'));
    assert.equal(chat.state.sessionId, undefined);
    assert.equal(workspaceState.get('nexus.lastSessionId'), undefined);
  });
});
