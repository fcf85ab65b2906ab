/**
 * `nexus.edits.confirm` in VS Code (VS Code layer): ask before an edit is applied.
 *
 * With the setting on, the server marks its edits' change annotation
 * `needsConfirmation`. VS Code then opens the Refactor Preview with those
 * changes *unticked* (its bulk edit preview starts each one at
 * `!needsConfirmation`), so pressing Apply there applied nothing and the tool
 * failed with no word on why. Instead the extension asks itself: Apply applies
 * the edit as it is (undoable), Review opens VS Code's preview, Cancel declines;
 * every refusal tells the model (and the chat) what happened.
 */

import * as vscode from 'vscode';
import type { ApplyWorkspaceEditParams, ApplyWorkspaceEditResult } from 'vscode-languageclient/node';

export const APPLY = 'Apply';
export const REVIEW = 'Review in Refactor Preview';
export const DECLINED = 'the user declined the edit (nexus.edits.confirm is on)';
export const NOT_TICKED =
  'nothing was applied in the Refactor Preview (VS Code opens changes that need confirmation ' +
  'unticked; the user applied without ticking them, or discarded them)';

type Edit = ApplyWorkspaceEditParams['edit'];

/** Whether any change annotation of the edit asks for confirmation. */
export function needsConfirmation(edit: Edit): boolean {
  return Object.values(edit.changeAnnotations ?? {}).some((a) => a.needsConfirmation === true);
}

/** The edit with every change annotation confirmed already: VS Code applies it without a preview. */
export function confirmed(params: ApplyWorkspaceEditParams): ApplyWorkspaceEditParams {
  const annotations = Object.fromEntries(
    Object.entries(params.edit.changeAnnotations ?? {}).map(([id, a]) => [id, { ...a, needsConfirmation: false }]),
  );
  return { ...params, edit: { ...params.edit, changeAnnotations: annotations } };
}

/** One line per operation of the edit, with workspace-relative paths. */
export function describeEdit(edit: Edit): string[] {
  const rel = (uri: string) => vscode.workspace.asRelativePath(vscode.Uri.parse(uri), false);
  const lines: string[] = [];
  for (const change of edit.documentChanges ?? []) {
    if ('textDocument' in change) {
      lines.push(`edit ${rel(change.textDocument.uri)} (${changes(change.edits.length)})`);
    } else if (change.kind === 'create') {
      lines.push(`create ${rel(change.uri)}`);
    } else if (change.kind === 'rename') {
      lines.push(`rename ${rel(change.oldUri)} → ${rel(change.newUri)}`);
    } else if (change.kind === 'delete') {
      lines.push(`delete ${rel(change.uri)}`);
    }
  }
  for (const [uri, edits] of Object.entries(edit.changes ?? {})) {
    lines.push(`edit ${rel(uri)} (${changes(edits.length)})`);
  }
  return lines;
}

function changes(count: number): string {
  return `${count} change${count === 1 ? '' : 's'}`;
}

/**
 * Apply a server edit, asking first when it needs confirmation. `apply` is the
 * language client's own handling (the `next` of its middleware).
 */
export async function applyWithConfirmation(
  params: ApplyWorkspaceEditParams,
  apply: (params: ApplyWorkspaceEditParams) => Promise<ApplyWorkspaceEditResult>,
): Promise<ApplyWorkspaceEditResult> {
  if (!needsConfirmation(params.edit)) return apply(params);
  const label = params.label ?? 'Nexus: edit';
  const choice = await vscode.window.showInformationMessage(
    `${label}?`,
    { modal: true, detail: `${describeEdit(params.edit).join('\n')}\n\nAsked because nexus.edits.confirm is on.` },
    APPLY,
    REVIEW,
  );
  if (choice === APPLY) return apply(confirmed(params));
  if (choice !== REVIEW) return { applied: false, failureReason: DECLINED };
  const result = await apply(params);
  return result.applied ? result : { ...result, failureReason: result.failureReason || NOT_TICKED };
}
