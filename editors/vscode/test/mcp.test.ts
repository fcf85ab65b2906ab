// Tools from MCP servers (protocol v2 §5) in the built extension, in the stand-in
// VS Code with the real nexus-lsp, the scripted model and a real MCP server (the
// project's SDK-built fault server): the call asks like a command, shows like a
// built-in tool, and the Nexus status lists the server with its tools.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AssistantEntry, ChatState } from '../src/chatState';
import { renderEntry } from '../src/render';
import { type Extension, extensionContext, loadExtension, until } from './extensionHost';
import { EXTENSION_DIR, manifestProperties, NEXUS_PYTHON } from './harness';
import { type ModelServer, startModelServer } from './lsp';
import * as stub from './vscodeStub';

interface Chat {
  state: ChatState;
  resolveWebviewView(view: unknown): void;
}

const FAULT_SERVER = path.resolve(EXTENSION_DIR, '../../tests/mcp_support/fault_server.py');

describe('MCP tools in the extension', () => {
  let model: ModelServer;
  let workspace: string;
  let extension: Extension;
  let chat: Chat;
  const context = extensionContext();
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
      postMessage: async () => true,
    },
  };
  const run = (id: string, ...args: unknown[]) => {
    const registered = stub.recorded.commands.get(id);
    assert.ok(registered, `command ${id} is registered`);
    return registered(...args);
  };

  before(async () => {
    model = await startModelServer({
      responses: [
        { toolCalls: [{ id: 'm1', name: 'mcp__fault__echo', arguments: { text: 'hello over MCP' } }] },
        { text: 'It echoed.' },
      ],
    });
    workspace = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-mcp-'));
    for (const [key, property] of Object.entries(manifestProperties())) stub.defaults.set(key, property.default);
    stub.settings.set('nexus.server.python', NEXUS_PYTHON);
    stub.settings.set('nexus.provider.baseUrl', `${model.url}/v1`);
    stub.settings.set('nexus.provider.model', 'scripted');
    stub.settings.set('nexus.provider.maxRetries', 0);
    stub.settings.set('nexus.mcpServers', { fault: { command: NEXUS_PYTHON, args: [FAULT_SERVER] } });
    stub.workspaceFolders.push({ uri: stub.Uri.file(workspace), name: 'ws', index: 0 });
    extension = loadExtension();
    extension.activate(context);
    chat = stub.recorded.views.get('nexus.chatView') as Chat;
    chat.resolveWebviewView(view);
    receive({ type: 'ready' });
  });

  after(async () => {
    if (process.env.NEXUS_TEST_DEBUG) console.error(stub.recorded.log.join('\n'), stub.recorded.messages);
    stub.settings.delete('nexus.mcpServers');
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    await model?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('asks before an MCP tool runs and shows the call like a built-in', async () => {
    const asking = run('nexus.chat.ask', 'Echo something') as Promise<void>;
    const key = await until('the permission card', () => chat.state.pendingApprovals()[0]);
    receive({ type: 'permission', key, optionId: 'allow_once' });
    await asking;
    const entry = chat.state.entries.at(-1) as AssistantEntry;
    const tool = entry.parts.flatMap((p) => (p.kind === 'tool' ? [p.tool] : []))[0];
    assert.equal(tool?.kind, 'mcp');
    assert.equal(tool?.status, 'completed');
    assert.match(tool?.output ?? '', /hello over MCP/);
    assert.match(renderEntry(entry), /<span class="tool-verb">echo \(fault\)<\/span>/);
  });

  it('lists the MCP servers with their tools in the Nexus status', async () => {
    const shown = stub.recorded.shownPicks.length;
    await run('nexus.status');
    const items = stub.recorded.shownPicks[shown]?.items as { label: string; description?: string; detail?: string; kind?: number }[];
    const separator = items.findIndex((i) => i.label === 'MCP servers');
    assert.ok(separator > 0 && items[separator]?.kind === stub.QuickPickItemKind.Separator);
    const fault = items[separator + 1];
    assert.equal(fault?.label, '$(pass) fault');
    assert.match(fault?.description ?? '', /^running/);
    assert.match(fault?.detail ?? '', /echo/);
  });
});
