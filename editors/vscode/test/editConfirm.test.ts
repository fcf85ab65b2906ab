// nexus.edits.confirm in the built extension (stand-in VS Code, real server):
// each edit is asked about first; Apply applies it, Cancel and an unticked
// Refactor Preview refuse it with a reason the chat and the model read.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ToolView } from '../src/chatState';
import { type ChatProvider, type Extension, extensionContext, loadExtension, until } from './extensionHost';
import { manifestProperties, NEXUS_PYTHON } from './harness';
import { type ModelServer, startModelServer } from './lsp';
import * as stub from './vscodeStub';

const write = (id: string, file: string) => ({
  toolCalls: [{ id, name: 'write_file', arguments: { path: file, content: `${file}\n` } }],
});

describe('nexus.edits.confirm in VS Code', () => {
  let model: ModelServer;
  let workspace: string;
  let extension: Extension;
  let chat: ChatProvider;
  const context = extensionContext();

  /** Asks for one write and answers the confirmation with `answer`; the tool call as the chat shows it. */
  async function askToWrite(prompt: string, answer: string | undefined): Promise<ToolView> {
    stub.messageAnswers.push({ match: /^Nexus: write_file/, answer });
    await stub.recorded.commands.get('nexus.chat.ask')?.(prompt);
    const entry = chat.state.entries.at(-1);
    assert.ok(entry?.role === 'assistant');
    const tool = entry.parts.find((p) => p.kind === 'tool');
    assert.ok(tool?.kind === 'tool');
    return tool.tool;
  }

  const asked = () => stub.recorded.messages.filter((m) => m.modal);

  before(async () => {
    model = await startModelServer({
      responses: [
        write('w1', 'a.txt'),
        { text: 'Wrote a.txt.' },
        write('w2', 'b.txt'),
        { text: 'You declined.' },
        write('w3', 'c.txt'),
        { text: 'Not applied.' },
      ],
    });
    workspace = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-confirm-'));
    for (const [key, property] of Object.entries(manifestProperties())) stub.defaults.set(key, property.default);
    stub.settings.set('nexus.server.python', NEXUS_PYTHON);
    stub.settings.set('nexus.provider.baseUrl', `${model.url}/v1`);
    stub.settings.set('nexus.provider.model', 'scripted');
    stub.settings.set('nexus.provider.maxRetries', 0);
    stub.settings.set('nexus.edits.confirm', true);
    stub.workspaceFolders.push({ uri: stub.Uri.file(workspace), name: 'ws', index: 0 });
    extension = loadExtension();
    extension.activate(context);
    chat = stub.recorded.views.get('nexus.chatView') as ChatProvider;
    await until('the server commands', () => stub.recorded.commands.has('nexus.ask'));
  });

  after(async () => {
    if (process.env.NEXUS_TEST_DEBUG) console.error(stub.recorded.log.join('\n'), stub.recorded.messages);
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    await model?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('asks before the edit, naming it; Apply applies it as it is', async () => {
    const tool = await askToWrite('Write a.txt', 'Apply');
    const [question] = asked();
    assert.equal(question?.text, 'Nexus: write_file a.txt?');
    assert.match(question?.detail ?? '', /^create a\.txt\nedit a\.txt \(1 change\)\n/);
    assert.deepEqual(question?.items, ['Apply', 'Review in Refactor Preview']);
    assert.equal(tool.status, 'completed', tool.error);
    const [applied] = stub.recorded.appliedEdits;
    assert.ok(applied, 'workspace.applyEdit was called');
    assert.ok(
      applied.edit.operations.every((o) => !o.needsConfirmation),
      'no Refactor Preview with unticked changes: the user has confirmed',
    );
  });

  it('declines the edit on Cancel and says so', async () => {
    const before = stub.recorded.appliedEdits.length;
    const tool = await askToWrite('Write b.txt', undefined);
    assert.equal(tool.status, 'failed');
    assert.match(tool.error ?? '', /the user declined the edit \(nexus\.edits\.confirm is on\)/);
    assert.equal(stub.recorded.appliedEdits.length, before, 'nothing was sent to VS Code');
    assert.equal(existsSync(path.join(workspace, 'b.txt')), false);
  });

  it('explains an edit the Refactor Preview did not apply', async () => {
    const tool = await askToWrite('Write c.txt', 'Review in Refactor Preview');
    const previewed = stub.recorded.appliedEdits.at(-1);
    assert.ok(previewed?.edit.operations.some((o) => o.needsConfirmation), 'VS Code previews the edit');
    assert.equal(tool.status, 'failed');
    assert.match(tool.error ?? '', /nothing was applied in the Refactor Preview .*unticked/);
  });
});
