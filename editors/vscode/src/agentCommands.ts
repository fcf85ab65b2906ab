/**
 * The commands of protocol v2 (VS Code layer): the permission mode picker and
 * its status bar item, Manage Permissions (grants: list, revoke), the Nexus
 * status with its MCP servers, and the attachment commands (Add Selection to
 * Chat, Add This File's Problems).
 */

import * as vscode from 'vscode';
import { rangeLabel } from './attachments';
import type { ChatViewProvider } from './chatView';
import { compact } from './sessionActions';
import { mcpItem } from './mcp';
import { MCP_LIST, PERMISSION_MODES, type PermissionMode } from './protocol';
import { errorMessage, type NexusServer } from './server';

export type Register = (id: string, run: (...args: unknown[]) => unknown) => void;

export const MODE_DESCRIPTIONS: Record<PermissionMode, string> = {
  default: 'Reads and edits run (edits can be undone); commands and MCP tools ask',
  plan: 'Read and search only: no edits, no commands',
  acceptEdits: 'Like default, and edits are never confirmed',
  strict: 'Edits, commands and MCP tools all ask',
  auto: 'Everything runs without asking',
};

interface ModeItem extends vscode.QuickPickItem {
  mode: PermissionMode;
}

interface GrantItem extends vscode.QuickPickItem {
  grantId?: string | number;
}

const REVOKE_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('trash'), tooltip: 'Revoke' };

export function registerAgentCommands(
  context: vscode.ExtensionContext,
  server: NexusServer,
  chat: ChatViewProvider,
  command: Register,
): void {
  const mode = new ModeStatus(chat);
  context.subscriptions.push(mode);

  command('nexus.permissions.setMode', async (argument?: unknown) => {
    const current = chat.state.mode ?? configuredMode();
    let chosen = typeof argument === 'string' ? argument : undefined;
    if (!chosen) {
      const items: ModeItem[] = PERMISSION_MODES.map((m) => ({
        label: m === current ? `$(check) ${m}` : m,
        description: MODE_DESCRIPTIONS[m],
        mode: m,
      }));
      const picked = await vscode.window.showQuickPick(items, {
        placeHolder: chat.state.sessionId
          ? `Permission mode of this session (now ${current})`
          : `Permission mode of the next session (now ${current})`,
      });
      chosen = picked?.mode;
    }
    if (!chosen) return;
    if (!(PERMISSION_MODES as readonly string[]).includes(chosen)) {
      throw new Error(`unknown permission mode "${chosen}" (one of ${PERMISSION_MODES.join(', ')})`);
    }
    await chat.setMode(chosen);
    mode.update();
  });

  command('nexus.permissions.manage', () => manageGrants(server));
  command('nexus.chat.compact', () => compact(chat, server));
  command('nexus.status', () => showStatus(server, chat));

  command('nexus.chat.addSelection', async () => {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
      void vscode.window.showInformationMessage('Nexus: select some text first.');
      return;
    }
    const { document, selection } = editor;
    const endLine =
      selection.end.character === 0 && selection.end.line > selection.start.line
        ? selection.end.line
        : selection.end.line + 1;
    const title = rangeLabel(vscode.workspace.asRelativePath(document.uri, false), selection.start.line + 1, endLine);
    chat.attach({ label: title, item: { type: 'text', title, text: document.getText(selection) } });
    await chat.reveal();
  });

  command('nexus.chat.addProblems', async (target?: unknown) => {
    const uri = target instanceof vscode.Uri ? target : vscode.window.activeTextEditor?.document.uri;
    if (!uri) {
      void vscode.window.showInformationMessage('Nexus: open the file whose problems to add.');
      return;
    }
    const path = vscode.workspace.asRelativePath(uri, false);
    chat.attach({ label: `problems of ${path}`, item: { type: 'diagnostics', uri: uri.toString() } });
    await chat.reveal();
  });
}

function configuredMode(): string {
  return vscode.workspace.getConfiguration('nexus').get<string>('permissions.mode') ?? 'default';
}

/** Grants the workspace stored ("always allow/reject"), revoked on accept or with the trash button. */
async function manageGrants(server: NexusServer): Promise<void> {
  const nexus = await server.ready();
  const pick = vscode.window.createQuickPick<GrantItem>();
  pick.placeholder = 'Stored permissions of this workspace: pick one to revoke it';
  const refresh = async (): Promise<void> => {
    pick.busy = true;
    const { grants } = await nexus.listGrants();
    pick.items = grants.length
      ? grants.map((g) => ({
          label: `${g.action === 'allow' ? '$(check)' : '$(circle-slash)'} ${g.action} ${g.tool} \`${g.match}\``,
          description: new Date(g.createdAt).toLocaleString(),
          grantId: g.id,
          buttons: [REVOKE_BUTTON],
        }))
      : [{ label: 'No stored permissions', description: '"Always allow" and "Always reject" answers are kept here' }];
    pick.busy = false;
  };
  const revoke = async (item: GrantItem | undefined): Promise<void> => {
    if (item?.grantId === undefined) return;
    try {
      const { revoked } = await nexus.revokeGrant(item.grantId);
      if (!revoked) void vscode.window.showWarningMessage('Nexus: that permission was already gone.');
      await refresh();
    } catch (err) {
      void vscode.window.showErrorMessage(`Nexus: could not revoke the permission: ${errorMessage(err)}`);
    }
  };
  const done = new Promise<void>((resolve) => {
    pick.onDidAccept(() => void revoke(pick.selectedItems[0]));
    pick.onDidTriggerItemButton(({ item }) => void revoke(item));
    pick.onDidHide(() => resolve());
  });
  pick.show();
  try {
    await refresh();
    await done;
  } finally {
    pick.dispose();
  }
}

/** The Nexus status: the server, the chat's session and mode, and the MCP servers when the server has them. */
async function showStatus(server: NexusServer, chat: ChatViewProvider): Promise<void> {
  const nexus = await server.ready();
  const items: vscode.QuickPickItem[] = [
    { label: '$(server-process) Server', description: 'running' },
    { label: '$(comment-discussion) Session', description: chat.state.sessionId ? chat.state.title : 'none yet' },
    { label: '$(shield) Permission mode', description: chat.state.mode ?? configuredMode() },
  ];
  const meter = chat.state.context;
  if (meter) {
    const percent = Math.round((meter.usedTokens / meter.contextTokens) * 100);
    items.push({ label: '$(dashboard) Context', description: `${percent}% of ${meter.contextTokens} tokens` });
  }
  if (server.methods().has(MCP_LIST)) {
    items.push({ label: 'MCP servers', kind: vscode.QuickPickItemKind.Separator });
    try {
      const { servers } = await nexus.mcpServers();
      items.push(...(servers.length ? servers.map(mcpItem) : [{ label: 'No MCP servers configured', description: 'setting nexus.mcpServers or .mcp.json' }]));
    } catch (err) {
      items.push({ label: '$(error) Could not list the MCP servers', description: errorMessage(err) });
    }
  }
  const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Nexus status' });
  if (picked?.label.endsWith('Permission mode')) await vscode.commands.executeCommand('nexus.permissions.setMode');
}

/** The status bar item showing the chat session's permission mode; click to change it. */
class ModeStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 99);
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly chat: ChatViewProvider) {
    this.item.command = 'nexus.permissions.setMode';
    this.subscriptions = [
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('nexus.permissions.mode')) this.update();
      }),
      chat.onRunning(() => this.update()),
      chat.onChange(() => this.update()),
    ];
    this.update();
    this.item.show();
  }

  update(): void {
    const mode = this.chat.state.mode ?? configuredMode();
    const text = `$(shield) ${mode}`;
    if (this.item.text === text) return; // called on every change of the chat
    this.item.text = text;
    this.item.tooltip = `Nexus permission mode: ${mode} — ${MODE_DESCRIPTIONS[mode as PermissionMode] ?? ''}. Click to change it.`;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}
