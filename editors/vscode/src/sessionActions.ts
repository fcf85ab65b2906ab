/**
 * What the chat does to a whole session (VS Code layer): revert to before a
 * turn, fork from a turn (protocol v2 §3), compact the conversation (§4). The
 * results are shown in the chat.
 */

import * as vscode from 'vscode';
import type { ChatViewProvider } from './chatView';
import { SESSION_COMPACT } from './protocol';
import { errorMessage, type NexusServer } from './server';

/** Summarise the older exchanges now (`nexus/session/compact`); the updates show the summary. */
export async function compact(chat: ChatViewProvider, server: NexusServer): Promise<void> {
  const sessionId = chat.state.sessionId;
  if (!sessionId) {
    void vscode.window.showInformationMessage('Nexus: there is no conversation to compact yet.');
    return;
  }
  if (!server.methods().has(SESSION_COMPACT)) {
    void vscode.window.showInformationMessage('Nexus: this server cannot compact a conversation (it is older).');
    return;
  }
  const nexus = await server.ready();
  const result = (await nexus.compact(sessionId)) as { compacted?: boolean; fallback?: string };
  if (!result.compacted) {
    chat.state.addNotice('info', `Not compacted: ${result.fallback ?? 'nothing old enough to summarise'}.`);
    chat.refresh();
  }
}

/** Revert to before a turn (protocol v2 §3), after the user chose what to revert. */
export async function revert(chat: ChatViewProvider, server: NexusServer, turnId: number): Promise<void> {
  const sessionId = chat.state.sessionId;
  if (!sessionId) return;
  const both = 'Revert Code and Conversation';
  const codeOnly = 'Code Only';
  const conversationOnly = 'Conversation Only';
  const choice = await vscode.window.showWarningMessage(
    `Revert to before turn ${turnId}? The files the agent changed in it and later are restored ` +
      '(your own later changes are kept; overlaps are listed as conflicts), and those turns leave the conversation.',
    { modal: true },
    both,
    codeOnly,
    conversationOnly,
  );
  if (!choice) return;
  const code = choice !== conversationOnly;
  const conversation = choice !== codeOnly;
  const nexus = await server.ready();
  try {
    const result = await nexus.revert({ sessionId, turnId, code, conversation });
    chat.state.showRevert(turnId, result, conversation);
  } catch (err) {
    chat.state.addNotice('error', `Could not revert turn ${turnId}: ${errorMessage(err)}`);
  }
  chat.refresh();
}

/** A new session with the history up to the end of `turnId`, shown in the chat. */
export async function fork(chat: ChatViewProvider, server: NexusServer, turnId: number): Promise<void> {
  const sessionId = chat.state.sessionId;
  if (!sessionId || chat.isRunning) return;
  const nexus = await server.ready();
  try {
    const forked = await nexus.fork(sessionId, turnId);
    await chat.openSession(forked.sessionId);
    chat.state.addNotice('info', `Forked "${forked.title}" from turn ${turnId}: a new session; the code was not touched.`);
  } catch (err) {
    chat.state.addNotice('error', `Could not fork from turn ${turnId}: ${errorMessage(err)}`);
  }
  chat.refresh();
}
