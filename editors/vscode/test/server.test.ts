// End-to-end: the extension's protocol layer against the real nexus-lsp over
// stdio, with the scripted model server. Each test gets its own workspace and
// servers, so scripts are consumed in a known order.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { pathToFileURL } from 'node:url';
import { ChatState, entryText } from '../src/chatState';
import type { SessionUpdate } from '../src/protocol';
import { renderEntry } from '../src/render';
import { errorReason, isCancelledError } from '../src/session';
import { type ApplyEditParams, type Harness, type Script, startHarness } from './lsp';

const TIMEOUT = { timeout: 60_000 };
const ANSWER = 'Hello from the scripted model, streamed in small chunks.';
const writeX = (content = 'hi\n') => ({
  toolCalls: [{ id: 'c1', name: 'write_file', arguments: { path: 'x.txt', content } }],
  chunkSize: 8,
});

let harness: Harness | undefined;

async function start(script: Script, workspace?: string): Promise<Harness> {
  harness = await startHarness(script, { workspace });
  return harness;
}

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function kinds(updates: SessionUpdate[]): string[] {
  return updates.map((u) => u.kind);
}

function textOf(updates: SessionUpdate[]): string {
  return updates.map((u) => (u.kind === 'content' ? u.text : '')).join('');
}

/** The documentChanges entries of an edit that touch a file ending in `name`. */
function changesFor(edit: ApplyEditParams, name: string): Record<string, unknown>[] {
  return (edit.edit.documentChanges ?? []).filter((change) => {
    const uri = (change.uri ?? (change.textDocument as { uri?: string } | undefined)?.uri) as string | undefined;
    return typeof uri === 'string' && uri.endsWith(`/${name}`);
  });
}

describe('nexus-lsp through the protocol layer', () => {
  it('streams a turn whose content deltas concatenate to the result', TIMEOUT, async () => {
    const h = await start({ responses: [{ text: ANSWER, reasoning: 'Greet.', chunkSize: 4, delayMs: 1 }] });
    const result = await h.nexus.send({ prompt: 'say hello' });
    assert.equal(result.stopReason, 'endTurn');
    assert.equal(result.turnId, 1);
    assert.equal(result.content, ANSWER);

    // Everything of the turn arrived before the response, in seq order, nothing lost.
    const updates = h.updates(result.sessionId);
    assert.equal(updates[0]?.kind, 'turnStart');
    assert.equal(updates[0]?.kind === 'turnStart' && updates[0].prompt, 'say hello');
    const last = updates.at(-1);
    assert.equal(last?.kind, 'turnEnd');
    assert.equal(last?.kind === 'turnEnd' && last.stopReason, 'endTurn');
    assert.equal(kinds(updates).filter((k) => k === 'turnEnd').length, 1);
    assert.ok(kinds(updates).filter((k) => k === 'content').length > 1, 'streamed in several deltas');
    for (let i = 1; i < updates.length; i++) {
      assert.equal(updates[i]?.seq, (updates[i - 1]?.seq ?? 0) + 1, 'seq increases by one');
    }
    assert.ok(h.events.every((e) => e.missed === 0));
    assert.equal(textOf(updates), result.content);
    assert.ok(updates.every((u) => u.turnId === 1));

    // The chat view model shows the same text from the same stream.
    const chat = new ChatState();
    chat.reset(result.sessionId);
    const entry = chat.beginTurn('say hello');
    for (const event of h.events) chat.applyUpdate(event);
    chat.finishTurn(entry, result);
    assert.equal(entryText(entry), ANSWER);
    assert.equal(entry.state, 'done');
  });

  it('cancels a stalled turn with -32800 after turnEnd cancelled; the next turn works', TIMEOUT, async () => {
    // One chunk, then the model stalls: the content update proves the model request is in flight.
    const h = await start({
      responses: [{ text: 'Thinking about it', chunkSize: 4, fault: { stallAfterChunks: 1 } }, { text: 'After the stop.' }],
    });
    const { sessionId } = await h.nexus.newSession({ title: 'cancel' });
    const tokens = new CancellationTokenSource();
    const turn = h.nexus.send({ sessionId, prompt: 'wait forever' }, tokens.token);
    await h.waitForUpdate((u) => u.sessionId === sessionId && u.kind === 'content');
    tokens.cancel();
    await assert.rejects(turn, (err: unknown) => {
      assert.ok(isCancelledError(err), `expected -32800, got ${String(err)}`);
      return true;
    });
    const updates = h.updates(sessionId);
    const end = updates.at(-1);
    assert.equal(end?.kind, 'turnEnd', 'turnEnd was sent before the error');
    assert.equal(end?.kind === 'turnEnd' && end.stopReason, 'cancelled');
    assert.equal(kinds(updates).filter((k) => k === 'turnEnd').length, 1);
    assert.equal(textOf(updates), 'Thin');

    const next = await h.nexus.send({ sessionId, prompt: 'go on' });
    assert.equal(next.stopReason, 'endTurn');
    assert.equal(next.turnId, 2);
    assert.equal(next.content, 'After the stop.');
  });

  it('sends write_file as a workspace edit the editor applies', TIMEOUT, async () => {
    const h = await start({ responses: [writeX(), { text: 'Wrote x.txt.' }] });
    const result = await h.nexus.send({ prompt: 'create x.txt' });
    assert.equal(result.stopReason, 'endTurn');
    assert.equal(result.content, 'Wrote x.txt.');
    assert.deepEqual(
      result.toolCalls.map((c) => [c.toolCallId, c.name, c.status]),
      [['c1', 'write_file', 'completed']],
    );

    assert.equal(h.edits.length, 1);
    const [edit] = h.edits;
    assert.ok(edit);
    assert.equal(edit.label, 'Nexus: write_file x.txt');
    assert.ok(Array.isArray(edit.edit.documentChanges), 'documentChanges, since the client supports them');
    const changes = changesFor(edit, 'x.txt');
    assert.ok(changes.some((c) => c.kind === 'create'), 'a CreateFile for the new file');
    const texts = changes
      .filter((c) => c.textDocument !== undefined)
      .flatMap((c) => (c.edits as { newText: string }[]).map((e) => e.newText));
    assert.equal(texts.join(''), 'hi\n');
    // The editor applies edits; the server wrote nothing itself.
    assert.equal(existsSync(path.join(h.workspace, 'x.txt')), false);

    const updates = h.updates(result.sessionId);
    const call = updates.find((u) => u.kind === 'toolCall');
    assert.ok(call?.kind === 'toolCall');
    assert.equal(call.status, 'pending');
    assert.deepEqual(call.arguments, { path: 'x.txt', content: 'hi\n' });
    const statuses = updates.flatMap((u) => (u.kind === 'toolCallUpdate' ? [u.status] : []));
    assert.equal(statuses.at(-1), 'completed');

    // The batch was reported as work-done progress: begin (cancellable) … end.
    const begin = h.progress.find((p) => p.value.kind === 'begin' && p.value.cancellable === true);
    assert.ok(begin, 'a cancellable progress begin');
    assert.ok(h.progress.some((p) => p.token === begin.token && p.value.kind === 'end'));
  });

  it('fails the tool when the editor rejects the edit', TIMEOUT, async () => {
    const h = await start({ responses: [writeX(), { text: 'It was refused.' }] });
    h.answerEdit = () => ({ applied: false, failureReason: 'the user declined' });
    const result = await h.nexus.send({ prompt: 'create x.txt' });
    assert.equal(result.stopReason, 'endTurn');
    const [call] = result.toolCalls;
    assert.equal(call?.status, 'failed');
    assert.match(call?.error ?? '', /the user declined/);
    const failed = h.updates(result.sessionId).find((u) => u.kind === 'toolCallUpdate' && u.status === 'failed');
    assert.ok(failed, 'a toolCallUpdate with status failed');
    assert.equal(h.edits.length, 1);
    assert.equal(existsSync(path.join(h.workspace, 'x.txt')), false);
  });

  it('lists, loads and deletes sessions; names unknown ones', TIMEOUT, async () => {
    const h = await start({ responses: [{ text: 'First answer.' }] });
    const created = await h.nexus.newSession({ title: 'Listing test' });
    assert.equal(created.title, 'Listing test');
    await h.nexus.send({ sessionId: created.sessionId, prompt: 'first question' });

    const { sessions } = await h.nexus.list();
    const listed = sessions.find((s) => s.sessionId === created.sessionId);
    assert.ok(listed, 'the session is listed');
    assert.equal(listed.title, 'Listing test');
    assert.equal(listed.turnCount, 1);
    assert.equal(listed.status, 'idle');

    const loaded = await h.nexus.load(created.sessionId);
    assert.equal(loaded.sessionId, created.sessionId);
    assert.equal(loaded.repaired, false);
    const said = loaded.messages.filter((m) => m.role !== 'system').map((m) => [m.role, m.content]);
    assert.deepEqual(said, [
      ['user', 'first question'],
      ['assistant', 'First answer.'],
    ]);
    const chat = new ChatState();
    chat.loadHistory(loaded);
    assert.deepEqual(
      chat.entries.map((e) => e.role),
      ['user', 'assistant'],
    );

    await assert.rejects(h.nexus.send({ sessionId: 'no-such-session', prompt: 'x' }), (err: unknown) => {
      assert.equal(errorReason(err), 'unknownSession');
      return true;
    });

    assert.deepEqual(await h.nexus.delete(created.sessionId), { deleted: true });
    const after = await h.nexus.list();
    assert.equal(
      after.sessions.some((s) => s.sessionId === created.sessionId),
      false,
    );
  });

  it('shows a loaded session as the live turns showed it: failed, skipped, Stopped, links', TIMEOUT, async () => {
    const h = await start({
      responses: [
        {
          toolCalls: [
            { id: 'w1', name: 'write_file', arguments: { path: 'x.txt', content: 'one\n' } },
            { id: 'e1', name: 'edit_file', arguments: { path: 'x.txt', oldText: 'absent', newText: 'two' } },
            { id: 'r1', name: 'read_file', arguments: { path: 'x.txt' } },
          ],
        },
        { text: 'The edit failed.' },
        { text: 'Thinking about it', chunkSize: 4, fault: { stallAfterChunks: 1 } },
      ],
    });
    const { sessionId } = await h.nexus.newSession({ title: 'live and loaded' });
    const live = new ChatState();
    live.reset(sessionId, 'live and loaded');
    const first = live.beginTurn('edit x');
    const edited = await h.nexus.send({ sessionId, prompt: 'edit x' });
    for (const event of h.events) live.applyUpdate(event);
    live.finishTurn(first, edited);
    assert.deepEqual(
      edited.toolCalls.map((c) => c.status),
      ['completed', 'failed', 'skipped'],
    );

    const second = live.beginTurn('wait');
    const tokens = new CancellationTokenSource();
    const turn = h.nexus.send({ sessionId, prompt: 'wait' }, tokens.token);
    await h.waitForUpdate((u) => u.kind === 'content' && u.turnId === 2);
    tokens.cancel();
    await assert.rejects(turn);
    for (const event of h.events.filter((e) => e.update.turnId === 2)) live.applyUpdate(event);
    live.failTurn(second, 'cancelled');

    const loaded = new ChatState();
    loaded.loadHistory(await h.nexus.load(sessionId), (p) => pathToFileURL(path.join(h.workspace, p)).href);
    // What the history holds renders the same; usage is not part of it.
    const shown = (state: ChatState) =>
      state.entries.map((e) => renderEntry(e).replace(/<div class="usage">[^<]*<\/div>/, ''));
    const expected = shown(live);
    assert.match(expected[1] ?? '', /status-failed[\s\S]*status-skipped/);
    assert.match(expected[1] ?? '', /class="location"/);
    assert.match(expected[3] ?? '', /Stopped\./);
    assert.deepEqual(shown(loaded), expected);
  });

  it('continues a session after a server restart', TIMEOUT, async () => {
    const first = await start({ responses: [{ text: 'Before.' }] });
    const { sessionId } = await first.nexus.send({ prompt: 'one' });
    const workspace = first.workspace;
    await first.close(true);
    harness = undefined;

    const second = await start({ responses: [{ text: 'After.' }] }, workspace);
    const result = await second.nexus.sendResuming({ sessionId, prompt: 'two' });
    assert.equal(result.sessionId, sessionId);
    assert.equal(result.turnId, 2);
    assert.equal(result.content, 'After.');
  });
});
