// Revert and fork (protocol v2 §3) from the chat, in the built extension in the
// stand-in VS Code with the real nexus-lsp and the scripted model: "Fork from
// here" opens a new session holding the history up to that turn; "Revert to
// before this turn" restores the files through one undoable workspace edit and
// dims the reverted turns, listing what happened to each file.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  openSession(id: string): Promise<void>;
}

describe('revert and fork from the chat', () => {
  let model: ModelServer;
  let workspace: string;
  let extension: Extension;
  let chat: Chat;
  let original: string;
  const context = extensionContext();
  const posted: { entries: { id: string; html: string }[] }[] = [];
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
      postMessage: async (message: { entries: { id: string; html: string }[] }) => {
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
  const htmlOf = (id: string) => posted.flatMap((m) => m.entries).filter((e) => e.id === id).at(-1)?.html ?? '';
  const turns = () => chat.state.entries.filter((e): e is AssistantEntry => e.role === 'assistant');
  const file = (name: string) => path.join(workspace, name);

  before(async () => {
    model = await startModelServer({
      responses: [
        {
          toolCalls: [
            { id: 'w1', name: 'write_file', arguments: { path: 'a.txt', content: 'changed\n' } },
            { id: 'w2', name: 'write_file', arguments: { path: 'b.txt', content: 'new\n' } },
          ],
        },
        { text: 'Changed a.txt, created b.txt.' },
        { text: 'Second answer.' },
      ],
    });
    workspace = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-revert-'));
    writeFileSync(file('a.txt'), 'original\n');
    for (const [key, property] of Object.entries(manifestProperties())) stub.defaults.set(key, property.default);
    stub.settings.set('nexus.server.python', NEXUS_PYTHON);
    stub.settings.set('nexus.provider.baseUrl', `${model.url}/v1`);
    stub.settings.set('nexus.provider.model', 'scripted');
    stub.settings.set('nexus.provider.maxRetries', 0);
    stub.workspaceFolders.push({ uri: stub.Uri.file(workspace), name: 'ws', index: 0 });
    stub.editsToDisk.on = true;
    extension = loadExtension();
    extension.activate(context);
    chat = stub.recorded.views.get('nexus.chatView') as Chat;
    chat.resolveWebviewView(view);
    receive({ type: 'ready' });
  });

  after(async () => {
    if (process.env.NEXUS_TEST_DEBUG) console.error(stub.recorded.log.join('\n'), stub.recorded.messages);
    stub.editsToDisk.on = false;
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    await model?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('offers revert and fork on each finished turn', async () => {
    await run('nexus.chat.ask', 'Edit the files');
    await run('nexus.chat.ask', 'Say more');
    assert.equal(readFileSync(file('a.txt'), 'utf8'), 'changed\n');
    assert.equal(readFileSync(file('b.txt'), 'utf8'), 'new\n');
    original = chat.state.sessionId as string;
    const [first, second] = turns();
    assert.deepEqual([first?.turnId, second?.turnId], [1, 2]);
    const html = await until('the turn actions', () => htmlOf(second?.id ?? '').includes('data-action="fork"') && htmlOf(second?.id ?? ''));
    assert.match(html, /data-action="revert" data-turn="2"[^>]*>Revert to before this turn</);
  });

  it('forks from the first turn: a new session with its history, the code untouched', async () => {
    receive({ type: 'fork', turnId: 1 });
    const forked = await until('the fork', () => chat.state.sessionId !== original && chat.state.sessionId);
    const users = chat.state.entries.flatMap((e) => (e.role === 'user' ? [e.text] : []));
    assert.deepEqual(users, ['Edit the files']);
    await until('the notice', () => chat.state.entries.at(-1)?.role === 'notice');
    assert.match(String((chat.state.entries.at(-1) as { text: string }).text), /^Forked ".*" from turn 1/);
    assert.equal(readFileSync(file('a.txt'), 'utf8'), 'changed\n', 'a fork does not touch the code');
    // Open Sessions says where the fork came from.
    const before = stub.recorded.quickPicks.length;
    const picking = run('nexus.chat.openSessions') as Promise<void>;
    const pick = await until('the picker', () => stub.recorded.quickPicks[before]);
    type Item = { sessionId?: string; detail?: string };
    const item = await until('the fork listed', () => (pick.items as Item[]).find((i) => i.sessionId === forked));
    assert.match(item.detail ?? '', /^forked from Edit the files$/);
    pick.hide();
    await picking;
  });

  it('reverts the first turn of the original: files restored by one edit, both turns dimmed', async () => {
    await chat.openSession(original);
    stub.messageAnswers.push({ match: /^Revert to before turn 1\?/, answer: 'Revert Code and Conversation' });
    const before = stub.recorded.appliedEdits.length;
    receive({ type: 'revert', turnId: 1 });
    const notice = await until('the revert result', () => {
      const last = chat.state.entries.at(-1);
      return last?.role === 'notice' && last.text.startsWith('Reverted') && last;
    });
    assert.ok(notice.role === 'notice');
    assert.match(notice.text, /^Reverted to before turn 1: 2 files restored, \d+ messages? reverted\.$/);
    assert.deepEqual([...(notice.details ?? [])].sort(), ['deleted: b.txt', 'restored: a.txt']);
    const edits = stub.recorded.appliedEdits.slice(before);
    assert.equal(edits.length, 1, 'one workspace edit (one undo step)');
    const ops = edits[0]?.edit.operations ?? [];
    assert.ok(ops.some((o) => o.op === 'delete' && o.uri.endsWith('/b.txt')));
    assert.ok(ops.some((o) => o.op === 'edit' && o.uri.endsWith('/a.txt')));
    assert.equal(readFileSync(file('a.txt'), 'utf8'), 'original\n');
    assert.equal(existsSync(file('b.txt')), false);
    assert.deepEqual(turns().map((t) => t.reverted), [true, true]);
    const html = await until('the dimmed turn', () => htmlOf(turns()[0]?.id ?? '').includes(' reverted"') && htmlOf(turns()[0]?.id ?? ''));
    assert.doesNotMatch(html, /data-action="revert"/);
  });

  it('shows the reverted turns as such when the session is opened again', async () => {
    await chat.openSession(original);
    assert.equal(turns().length, 0, 'no live turn left');
    assert.match(String((chat.state.entries.at(-1) as { text?: string }).text), /2 reverted turns are kept in the history/);
  });
});
