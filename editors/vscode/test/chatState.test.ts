// Unit tests of the chat view model: updates in, entries out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AssistantEntry, ChatState, entryText } from '../src/chatState';
import type { SendResult, SessionUpdate } from '../src/protocol';
import { renderEntry } from '../src/render';

type Fields = Record<string, unknown>;

/** Builds updates of one session with increasing seq, like the server. */
function stream(sessionId: string, turnId = 1, start = 1) {
  let seq = start;
  return (kind: SessionUpdate['kind'], fields: Fields = {}, missed = 0) => ({
    update: { sessionId, turnId, seq: seq++, kind, ...fields } as SessionUpdate,
    missed,
  });
}

function result(fields: Partial<SendResult> = {}): SendResult {
  return { sessionId: 's1', turnId: 1, stopReason: 'endTurn', content: '', toolCalls: [], ...fields };
}

function started(): { state: ChatState; entry: AssistantEntry } {
  const state = new ChatState();
  const entry = state.beginTurn('hello');
  state.adoptSession('s1', 'hello');
  return { state, entry };
}

describe('ChatState', () => {
  it('streams content deltas into one text part and ends the turn', () => {
    const { state, entry } = started();
    const u = stream('s1');
    assert.equal(state.running, true);
    state.applyUpdate(u('turnStart', { prompt: 'hello' }));
    state.applyUpdate(u('content', { text: 'Hel' }));
    state.applyUpdate(u('content', { text: 'lo **there**' }));
    state.applyUpdate(u('turnEnd', { stopReason: 'endTurn', usage: { inputTokens: 3, outputTokens: 4 } }));
    assert.equal(entry.turnId, 1);
    assert.equal(entryText(entry), 'Hello **there**');
    assert.equal(entry.parts.length, 1);
    assert.equal(entry.state, 'done');
    assert.deepEqual(entry.usage, { inputTokens: 3, outputTokens: 4 });
    assert.equal(state.running, false);
  });

  it('ignores updates of other sessions', () => {
    const { state, entry } = started();
    const applied = state.applyUpdate(stream('other')('content', { text: 'nope' }));
    assert.equal(applied, false);
    assert.equal(entry.parts.length, 0);
  });

  it('keeps reasoning, text and tool calls in the order they arrived', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('turnStart', { prompt: 'hello' }));
    state.applyUpdate(u('reasoning', { active: true, text: 'Let me ' }));
    state.applyUpdate(u('reasoning', { active: true, text: 'think.' }));
    state.applyUpdate(u('content', { text: 'I will write it.' }));
    state.applyUpdate(
      u('toolCall', { toolCallId: 'c1', name: 'write_file', arguments: { path: 'x.txt' }, status: 'pending' }),
    );
    state.applyUpdate(u('toolCallUpdate', { toolCallId: 'c1', name: 'write_file', status: 'running' }));
    const running = entry.parts[2];
    assert.equal(running?.kind === 'tool' && running.tool.status, 'running');
    state.applyUpdate(
      u('toolCallUpdate', {
        toolCallId: 'c1',
        name: 'write_file',
        status: 'completed',
        output: 'wrote x.txt',
        locations: [{ uri: 'file:///w/x.txt' }],
      }),
    );
    state.applyUpdate(u('content', { text: 'Done.' }));
    assert.deepEqual(
      entry.parts.map((p) => p.kind),
      ['reasoning', 'text', 'tool', 'text'],
    );
    const [reasoning, , tool] = entry.parts;
    assert.ok(reasoning?.kind === 'reasoning');
    assert.equal(reasoning.text, 'Let me think.');
    assert.equal(reasoning.active, false, 'content ends the reasoning');
    assert.ok(tool?.kind === 'tool');
    assert.equal(tool.tool.status, 'completed');
    assert.equal(tool.tool.output, 'wrote x.txt');
    assert.deepEqual(tool.tool.locations, ['file:///w/x.txt']);
    assert.deepEqual(tool.tool.arguments, { path: 'x.txt' });
  });

  it('takes the text from the result when updates were lost', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('turnStart', { prompt: 'hello' }));
    state.applyUpdate(u('content', { text: 'Hel' }));
    state.applyUpdate(u('content', { text: 'world' }, 1)); // one delta ("lo ") lost before it
    assert.equal(entry.gap, true);
    state.finishTurn(entry, result({ content: 'Hello world' }));
    assert.equal(entryText(entry), 'Hello world');
  });

  it('trusts the stream when nothing was lost', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('content', { text: 'streamed' }));
    state.finishTurn(entry, result({ content: 'final' }));
    assert.equal(entryText(entry), 'streamed');
  });

  it('applies tool statuses and the provider error from the result', () => {
    const { state, entry } = started();
    state.finishTurn(
      entry,
      result({
        stopReason: 'error',
        toolCalls: [
          { toolCallId: 'c9', name: 'edit_file', arguments: { path: 'a.py' }, status: 'failed', error: 'oldText not found' },
        ],
        error: { code: 'providerAuth', message: 'HTTP 401' },
      }),
    );
    assert.equal(entry.state, 'error');
    assert.equal(entry.error, 'HTTP 401 (providerAuth)');
    const tool = entry.parts[0];
    assert.ok(tool?.kind === 'tool');
    assert.equal(tool.tool.status, 'failed');
    assert.equal(tool.tool.error, 'oldText not found');
  });

  it('marks a cancelled turn and its unfinished tools', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('toolCall', { toolCallId: 'c1', name: 'read_file', arguments: {}, status: 'pending' }));
    state.failTurn(entry, 'cancelled');
    assert.equal(entry.state, 'cancelled');
    const tool = entry.parts[0];
    assert.ok(tool?.kind === 'tool');
    assert.equal(tool.tool.status, 'cancelled');
    assert.equal(state.running, false);
  });

  it('keeps the turnEnd outcome when the request fails afterwards', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('turnEnd', { stopReason: 'cancelled' }));
    state.failTurn(entry, 'error', 'connection closed');
    assert.equal(entry.state, 'cancelled');
  });

  it('shows turns it did not start (a code action in the same session)', () => {
    const state = new ChatState();
    state.reset('s1', 'chat');
    const u = stream('s1', 4, 40);
    state.applyUpdate(u('turnStart', { prompt: 'Explain this code.' }));
    state.applyUpdate(u('content', { text: 'It adds.' }));
    state.applyUpdate(u('turnEnd', { stopReason: 'endTurn' }));
    assert.deepEqual(
      state.entries.map((e) => e.role),
      ['user', 'assistant'],
    );
    const [user, answer] = state.entries;
    assert.ok(user?.role === 'user' && answer?.role === 'assistant');
    assert.equal(user.text, 'Explain this code.');
    assert.equal(entryText(answer), 'It adds.');
    assert.equal(answer.state, 'done');
  });

  it('rebuilds a loaded session, one entry per turn with tool results', () => {
    const state = new ChatState();
    state.loadHistory({
      sessionId: 's7',
      title: 'Old chat',
      repaired: true,
      messages: [
        { role: 'system', content: 'You are Nexus.' },
        { role: 'user', content: 'make x' },
        {
          role: 'assistant',
          content: 'Writing.',
          toolCalls: [{ toolCallId: 'c1', name: 'write_file', arguments: { path: 'x.txt' } }],
        },
        { role: 'tool', content: 'wrote x.txt', toolCallId: 'c1', name: 'write_file' },
        { role: 'assistant', content: 'Done.' },
      ],
    });
    assert.equal(state.sessionId, 's7');
    assert.equal(state.title, 'Old chat');
    assert.deepEqual(
      state.entries.map((e) => e.role),
      ['user', 'assistant', 'notice'],
    );
    const answer = state.entries[1];
    assert.ok(answer?.role === 'assistant');
    assert.deepEqual(
      answer.parts.map((p) => p.kind),
      ['text', 'tool', 'text'],
    );
    const tool = answer.parts[1];
    assert.ok(tool?.kind === 'tool');
    assert.equal(tool.tool.status, 'completed');
    assert.equal(tool.tool.output, 'wrote x.txt');
  });

  it('shows a loaded turn as the live one ended: failed, skipped and cancelled tools, Stopped, links', () => {
    const state = new ChatState();
    const call = (toolCallId: string, name: string, args: Record<string, unknown>) => ({ toolCallId, name, arguments: args });
    state.loadHistory(
      {
        sessionId: 's8',
        title: 'Tools',
        repaired: false,
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'edit things' },
          {
            role: 'assistant',
            content: '',
            toolCalls: [
              call('c1', 'rename_file', { path: 'a.txt', newPath: 'b.txt' }),
              call('c2', 'edit_file', { path: 'b.txt', oldText: 'x', newText: 'y' }),
              call('c3', 'read_file', { path: 'b.txt' }),
            ],
          },
          { role: 'tool', content: 'Renamed a.txt to b.txt', toolCallId: 'c1', name: 'rename_file' },
          { role: 'tool', content: 'edit_file: failed: oldText not found', toolCallId: 'c2', name: 'edit_file', isError: true },
          {
            role: 'tool',
            content: 'read_file: skipped: an earlier tool call of the batch failed',
            toolCallId: 'c3',
            name: 'read_file',
            isError: true,
          },
          { role: 'assistant', content: 'One edit failed.' },
          { role: 'user', content: 'wait' },
          { role: 'assistant', content: 'Thin', cancelled: true },
          { role: 'user', content: 'list' },
          { role: 'assistant', content: '', toolCalls: [call('c4', 'list_directory', {})] },
          {
            role: 'tool',
            content: 'list_directory: cancelled: the turn was cancelled before it finished',
            toolCallId: 'c4',
            name: 'list_directory',
            isError: true,
          },
        ],
      },
      (p) => `file:///w/${p}`,
    );
    const answers = state.entries.filter((e): e is AssistantEntry => e.role === 'assistant');
    const tools = (entry: AssistantEntry | undefined) =>
      (entry?.parts ?? []).flatMap((p) => (p.kind === 'tool' ? [p.tool] : []));
    const [edits, cut, listed] = answers;
    assert.deepEqual(
      tools(edits).map((t) => [t.toolCallId, t.status, t.error, t.locations]),
      [
        ['c1', 'completed', undefined, ['file:///w/a.txt', 'file:///w/b.txt']],
        ['c2', 'failed', 'edit_file: failed: oldText not found', []],
        ['c3', 'skipped', 'read_file: skipped: an earlier tool call of the batch failed', []],
      ],
    );
    assert.equal(edits?.state, 'done');
    assert.equal(entryText(edits as AssistantEntry), 'One edit failed.');
    assert.equal(cut?.state, 'cancelled');
    assert.equal(cut?.stopReason, 'cancelled');
    assert.equal(listed?.state, 'cancelled', 'a turn whose tools were cancelled was stopped');
    assert.equal(tools(listed)[0]?.status, 'cancelled');
    assert.match(renderEntry(cut as AssistantEntry), /Stopped\./);
    assert.match(renderEntry(edits as AssistantEntry), /class="tool status-skipped"/);
  });

  it('reports exactly the changed entries, everything after a reset', () => {
    const state = new ChatState();
    const first = state.takeChanges();
    assert.equal(first.reset, true);
    const entry = state.beginTurn('hi');
    state.adoptSession('s1', 'hi');
    const afterAsk = state.takeChanges();
    assert.equal(afterAsk.reset, false);
    assert.equal(afterAsk.entries.length, 2);
    assert.equal(afterAsk.header.running, true);
    assert.equal(afterAsk.header.sessionId, 's1');
    state.applyUpdate(stream('s1')('content', { text: 'x' }));
    assert.deepEqual(
      state.takeChanges().entries.map((e) => e.id),
      [entry.id],
    );
    assert.equal(state.takeChanges().entries.length, 0);
    state.invalidate();
    assert.equal(state.takeChanges().entries.length, 2);
  });
});
