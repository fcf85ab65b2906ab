/**
 * Small VS Code-side helpers of the chat view: links opened from the chat, code
 * inserted at the cursor, `@` mentions resolved to workspace files, and the
 * permission question for a session the chat does not show.
 */

import { statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { mentionGlob, rankPaths } from './attachments';
import { OUTCOME_CANCELLED, OUTCOME_SELECTED, type PermissionOutcome, type PermissionRequest } from './protocol';
import { errorMessage } from './server';

/** The permission mode new sessions start in (`nexus.permissions.mode`). */
export function modeSetting(): string {
  return vscode.workspace.getConfiguration('nexus').get<string>('permissions.mode') ?? 'default';
}

/** A mentioned path's URI when it names a file of the workspace. */
export function workspaceFile(path: string): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder || isAbsolute(path)) return undefined;
  try {
    if (!statSync(join(folder.uri.fsPath, path)).isFile()) return undefined;
  } catch {
    return undefined;
  }
  return vscode.Uri.joinPath(folder.uri, path).toString();
}

/** A question about a session the chat does not show: a notification with the options as buttons. */
export async function askInNotification(
  request: PermissionRequest,
  token: vscode.CancellationToken,
): Promise<PermissionOutcome> {
  const names = request.options.map((o) => o.name);
  const withdrawn = new Promise<undefined>((resolve) => token.onCancellationRequested(() => resolve(undefined)));
  const chosen = await Promise.race([
    vscode.window.showWarningMessage(`Nexus: ${request.toolCall.title}?`, ...names),
    withdrawn,
  ]);
  const option = request.options.find((o) => o.name === chosen);
  return option && !token.isCancellationRequested
    ? { outcome: OUTCOME_SELECTED, optionId: option.optionId }
    : { outcome: OUTCOME_CANCELLED };
}

/** The link of a workspace-relative path a loaded tool call touched, as the live update gives it. */
export function locationUri(path: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder || isAbsolute(path)) return vscode.Uri.file(path).toString();
  return vscode.Uri.joinPath(folder.uri, path).toString();
}

/** Open a link from the chat: a file (URI or workspace-relative path) in the editor, http(s) outside. */
export async function openTarget(target: string): Promise<void> {
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

export async function insertAtCursor(text: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) {
    void vscode.window.showInformationMessage('Nexus: open an editor to insert the code into.');
    return;
  }
  await editor.edit((edit) => {
    for (const selection of editor.selections) edit.replace(selection, text);
  });
}

/** A turn failed on the provider: offer the way to fix it. */
export function offerFix(code: string): void {
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

/** `@` completion: workspace files whose path contains the query, best first. */
export async function completeFiles(query: string): Promise<string[]> {
  const found = await vscode.workspace.findFiles(mentionGlob(query), '**/{node_modules,.git,.nexus}/**', 200);
  return rankPaths(
    found.map((uri) => vscode.workspace.asRelativePath(uri, false)),
    query,
  );
}
