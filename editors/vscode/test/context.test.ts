// Context (protocol v2 §4) in the built extension, in the stand-in VS Code with the
// real nexus-lsp and the scripted model: the context meter from `usage` updates,
// attachments (Add Selection to Chat, Add This File's Problems answered from
// `languages.getDiagnostics` through `nexus/editor/diagnostics`, `@file`), a prompt
// queued after the running turn and one steered into it, and a forced compaction
// whose summary the chat shows.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AssistantEntry, ChatState } from '../src/chatState';
import { type Extension, extensionContext, loadExtension, until } from './extensionHost';
import { manifestProperties, NEXUS_PYTHON } from './harness';
import { type ModelServer, startModelServer } from './lsp';
import * as stub from './vscodeStub';

interface Chat {
  state: ChatState;
  resolveWebviewView(view: unknown): void;
}

interface Posted {
  entries: { id: string; html: string }[];
  header?: { context?: { usedTokens: number; contextTokens: number } };
  attachments?: string[];
}

describe('context in the extension', () => {
  let model: ModelServer;
  let workspace: string;
  let extension: Extension;
  let chat: Chat;
  const context = extensionContext();
  const posted: Posted[] = [];
  let receive: (message: unknown) => void = () => undefined;
  const view = {
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
  const turns = () => chat.state.entries.filter((e): e is AssistantEntry => e.role === 'assistant');
  const transcript = () =>
    readFileSync(path.join(workspace, '.nexus', 'sessions', chat.state.sessionId as string, 'context.md'), 'utf8');
  const textOf = (entry: AssistantEntry | undefined) =>
    (entry?.parts ?? []).map((p) => (p.kind === 'text' ? p.text : '')).join('');

  before(async () => {
    model = await startModelServer({
      responses: [
        { text: 'Looked at it.', usage: { inputTokens: 1200, outputTokens: 40 } },
        { text: 'Slow answer streaming in small pieces.', chunkSize: 2, delayMs: 40 },
        { text: 'Queued answer.' },
        { toolCalls: [{ id: 'r1', name: 'read_file', arguments: { path: 'a.py' } }], chunkSize: 1, delayMs: 60 },
        { text: 'Steered answer.' },
      ],
    });
    workspace = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-context-'));
    writeFileSync(path.join(workspace, 'a.py'), 'def f():\n    return x\n');
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
    (stub.window as { activeTextEditor?: unknown }).activeTextEditor = undefined;
    stub.diagnostics.clear();
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    await model?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('attaches the selection, a file with @ and its problems; the meter shows the usage', async () => {
    const uri = stub.Uri.file(path.join(workspace, 'a.py'));
    const document = await stub.workspace.openTextDocument(uri);
    (stub.window as { activeTextEditor?: unknown }).activeTextEditor = {
      document,
      selection: Object.assign(new stub.Range(1, 4, 1, 12), { isEmpty: false }),
    };
    stub.diagnostics.set(uri.toString(), [
      { range: new stub.Range(1, 11, 1, 12), message: "Undefined name `x`", severity: 0, source: 'ruff', code: 'F821' },
    ]);
    // `@` completion asks the extension for workspace files.
    stub.workspaceFiles.push('a.py', 'docs/a.md', 'b.txt');
    receive({ type: 'files', query: 'a.' });
    const files = await until('the completions', () =>
      (posted as unknown as { type?: string; paths?: string[] }[]).find((m) => m.type === 'files'),
    );
    assert.deepEqual(files.paths, ['a.py', 'docs/a.md']);
    await run('nexus.chat.addSelection');
    await run('nexus.chat.addProblems');
    await until('the chips', () => posted.at(-1)?.attachments?.length === 2);
    assert.deepEqual(posted.at(-1)?.attachments, ['a.py:2', 'problems of a.py']);
    receive({ type: 'send', prompt: 'Why does @a.py fail?' });
    await until('the answer', () => turns()[0]?.state === 'done');
    const user = chat.state.entries[0];
    assert.ok(user?.role === 'user');
    assert.deepEqual(user.attachments, ['a.py:2', 'problems of a.py', 'a.py']);
    const md = transcript();
    assert.match(md, /Attached/);
    assert.match(md, /a\.py:2/);
    // The problem VS Code reports reached the model (nexus/editor/diagnostics answered by the client).
    const raw = readFileSync(path.join(workspace, '.nexus', 'sessions', chat.state.sessionId as string, 'raw.jsonl'), 'utf8');
    assert.match(raw, /Undefined name `x`/);
    assert.deepEqual(chat.state.context, { usedTokens: 1200, contextTokens: 128000, estimated: false });
    await until('the meter in the header', () => posted.at(-1)?.header?.context?.usedTokens === 1200);
    assert.deepEqual(posted.at(-1)?.attachments, [], 'the composer is cleared');
  });

  it('queues a prompt sent while a turn runs; it runs next', async () => {
    const first = run('nexus.chat.ask', 'Answer slowly') as Promise<void>;
    await until('the first chunk', () => textOf(turns()[1]).length > 0);
    receive({ type: 'send', prompt: 'And then this', whenBusy: 'queue' });
    await until('the queued entry', () => turns().length === 3);
    assert.equal(turns()[2]?.queued, true);
    await first;
    await until('the queued turn', () => turns()[2]?.state === 'done');
    assert.deepEqual(turns().map((t) => t.turnId), [1, 2, 3]);
    assert.equal(textOf(turns()[2]), 'Queued answer.');
  });

  it('steers the running turn: the prompt joins it before its next model call', async () => {
    const running = run('nexus.chat.ask', 'Read a.py') as Promise<void>;
    await until('the tool call streaming', () => turns()[3]?.turnId === 4);
    receive({ type: 'send', prompt: 'Only the first line matters', whenBusy: 'steer' });
    await until('the steer shown', () => turns()[3]?.parts.some((p) => p.kind === 'steer'));
    await running;
    assert.equal(turns().length, 4, 'no turn of its own');
    assert.equal(textOf(turns()[3]), 'Steered answer.');
    assert.match(transcript(), /Only the first line matters/);
  });

  it('compacts on request and shows the summary under the last turn', async () => {
    stub.settings.set('nexus.session.keepRecentExchanges', 0);
    await run('nexus.chat.compact');
    const part = await until('the summary', () =>
      turns()[3]?.parts.find((p) => p.kind === 'compaction' && p.phase === 'end'),
    );
    assert.ok(part.kind === 'compaction');
    assert.match(part.summary ?? '', /^Summary \(scripted\)/);
  });
});
