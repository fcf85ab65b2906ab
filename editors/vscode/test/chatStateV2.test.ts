// Unit tests of the chat view model's protocol v2 parts: permission cards, command
// output, tool kinds, usage, compaction, queued and steered prompts, revert results
// and loaded history with reverted turns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AssistantEntry, ChatState } from '../src/chatState';
import type { PermissionRequest, SessionUpdate } from '../src/protocol';
import { renderEntry } from '../src/render';

type Fields = Record<string, unknown>;

function stream(sessionId: string, turnId = 1, start = 1) {
  let seq = start;
  return (kind: SessionUpdate['kind'], fields: Fields = {}) => ({
    update: { sessionId, turnId, seq: seq++, kind, ...fields } as SessionUpdate,
    missed: 0,
  });
}

function started(): { state: ChatState; entry: AssistantEntry } {
  const state = new ChatState();
  const entry = state.beginTurn('run the tests');
  state.adoptSession('s1', 'run the tests');
  return { state, entry };
}

const OPTIONS: PermissionRequest['options'] = [
  { optionId: 'allow_once', name: 'Allow once', kind: 'allow_once' },
  { optionId: 'allow_always', name: 'Always allow `pytest *`', kind: 'allow_always' },
  { optionId: 'reject_once', name: 'Reject', kind: 'reject_once' },
  { optionId: 'reject_always', name: 'Always reject `pytest *`', kind: 'reject_always' },
];

function question(fields: Partial<PermissionRequest> = {}): PermissionRequest {
  return {
    sessionId: 's1',
    turnId: 1,
    toolCall: {
      id: 'call_1',
      name: 'run_command',
      kind: 'execute',
      title: 'Run `pytest -q`',
      arguments: { command: 'pytest -q', cwd: 'pkg' },
    },
    options: OPTIONS,
    ...fields,
  };
}

const toolOf = (entry: AssistantEntry) => entry.parts.flatMap((p) => (p.kind === 'tool' ? [p.tool] : []))[0];

describe('ChatState, protocol v2', () => {
  it('shows a permission card under its tool call and settles it with the option chosen', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('turnStart', { prompt: 'run the tests' }));
    state.applyUpdate(u('toolCall', { toolCallId: 'call_1', name: 'run_command', arguments: { command: 'pytest -q' }, status: 'pending', toolKind: 'execute' }));
    assert.equal(state.askPermission(question(), 'q1'), true);
    const tool = toolOf(entry);
    assert.equal(tool?.kind, 'execute');
    assert.deepEqual(
      { state: tool?.approval?.state, command: tool?.approval?.command, cwd: tool?.approval?.cwd },
      { state: 'pending', command: 'pytest -q', cwd: 'pkg' },
    );
    assert.deepEqual(state.pendingApprovals(), ['q1']);
    const html = renderEntry(entry);
    assert.match(html, /Allow\? Run `pytest -q`/);
    assert.match(html, /aria-label="Always reject `pytest \*`: Run `pytest -q`"/);
    assert.equal(state.settlePermission('q1', 'allow_always'), true);
    assert.equal(tool?.approval?.chosen, 'Always allow `pytest *`');
    assert.equal(state.settlePermission('q1', 'allow_once'), false, 'answered once');
    assert.deepEqual(state.pendingApprovals(), []);
    assert.match(renderEntry(entry), /You chose: Always allow `pytest \*`/);
  });

  it('adds the tool when the question comes before its toolCall update, binding the turn', () => {
    const { state, entry } = started();
    assert.equal(state.askPermission(question({ turnId: 4 }), 'q1'), true);
    assert.equal(entry.turnId, 4);
    assert.deepEqual(toolOf(entry)?.arguments, { command: 'pytest -q', cwd: 'pkg' });
    // The turn's updates now land in the same entry.
    state.applyUpdate(stream('s1', 4)('toolCall', { toolCallId: 'call_1', name: 'run_command', arguments: { command: 'pytest -q' }, status: 'pending' }));
    assert.equal(state.entries.length, 2);
  });

  it("refuses questions of sessions it doesn't show, and withdraws pending ones when the turn ends", () => {
    const { state, entry } = started();
    assert.equal(state.askPermission(question({ sessionId: 'other' }), 'q0'), false);
    const u = stream('s1');
    state.applyUpdate(u('turnStart', { prompt: 'x' }));
    state.askPermission(question(), 'q1');
    state.applyUpdate(u('turnEnd', { stopReason: 'cancelled' }));
    assert.equal(toolOf(entry)?.approval?.state, 'withdrawn');
    assert.deepEqual(state.pendingApprovals(), []);
    assert.match(renderEntry(entry), /Question withdrawn\./);
    assert.doesNotMatch(renderEntry(entry), /data-action="permission"/);
  });

  it('a failed send withdraws the card too', () => {
    const { state, entry } = started();
    state.askPermission(question(), 'q1');
    state.failTurn(entry, 'error', 'connection lost');
    assert.equal(toolOf(entry)?.approval?.state, 'withdrawn');
  });

  it("streams a command's output chunks and keeps the model's output and exit apart", () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('toolCall', { toolCallId: 'c', name: 'run_command', arguments: { command: 'make' }, status: 'pending', toolKind: 'execute' }));
    state.applyUpdate(u('toolCallUpdate', { toolCallId: 'c', name: 'run_command', status: 'running' }));
    state.applyUpdate(u('toolCallUpdate', { toolCallId: 'c', name: 'run_command', status: 'running', output: 'cc -o a a.c\n' }));
    state.applyUpdate(u('toolCallUpdate', { toolCallId: 'c', name: 'run_command', status: 'running', output: 'done\n' }));
    state.applyUpdate(
      u('toolCallUpdate', {
        toolCallId: 'c', name: 'run_command', status: 'completed', output: '$ make\ncc -o a a.c\ndone\n[exit code 0; 1250 ms]',
        exitCode: 0, signal: null, durationMs: 1250, truncated: false,
      }),
    );
    const tool = toolOf(entry);
    assert.equal(tool?.stream, 'cc -o a a.c\ndone\n');
    assert.match(tool?.output ?? '', /^\$ make/);
    assert.deepEqual(tool?.exit, { exitCode: 0, signal: null, durationMs: 1250, truncated: false, timedOut: undefined });
    const html = renderEntry(entry);
    assert.match(html, /<span class="tool-verb">Run<\/span> <code class="tool-args">make<\/code>/);
    assert.match(html, /class="tool-exit ok">exit 0 · 1\.3 s</);
  });

  it('says how a killed or timed-out command ended', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(
      u('toolCallUpdate', { toolCallId: 'c', name: 'run_command', status: 'completed', exitCode: null, signal: 'SIGTERM', durationMs: 120, timedOut: true, truncated: true }),
    );
    assert.match(renderEntry(entry), /timed out · killed by SIGTERM · 120 ms · output truncated/);
  });

  it('shows an MCP tool like a built-in, named by its tool and server', () => {
    const { state, entry } = started();
    state.applyUpdate(stream('s1')('toolCall', { toolCallId: 'm', name: 'mcp__github__create_issue', arguments: { title: 'x' }, status: 'pending', toolKind: 'mcp' }));
    assert.match(renderEntry(entry), /<span class="tool-verb">create_issue \(github\)<\/span> <span class="tool-kind kind-mcp">mcp<\/span>/);
  });

  it("shows the question that allows a project's MCP server as its own row, settled by the answer", () => {
    const { state, entry } = started();
    const ask = (key: string, id: string) =>
      state.askPermission(
        question({ toolCall: { id, name: 'mcp_server:db', kind: 'mcp', title: 'Start the MCP server `db` from .mcp.json', arguments: { command: 'db-server' } } }),
        key,
      );
    ask('q1', 'start_db');
    assert.match(renderEntry(entry), /<span class="tool-verb">Start MCP server<\/span> <code class="tool-args">db<\/code>/);
    state.settlePermission('q1', 'allow_always');
    assert.equal(toolOf(entry)?.status, 'completed');
    ask('q2', 'start_db2');
    state.settlePermission('q2', 'reject_once');
    assert.equal(entry.parts.flatMap((p) => (p.kind === 'tool' ? [p.tool] : []))[1]?.status, 'failed');
  });

  it('keeps the last usage as the context meter of the header', () => {
    const { state } = started();
    const u = stream('s1');
    state.applyUpdate(u('usage', { usedTokens: 5210, contextTokens: 128000, inputTokens: 5210, outputTokens: 312, costUsd: null }));
    state.applyUpdate(u('usage', { usedTokens: 6000, contextTokens: 128000, estimated: true }));
    assert.deepEqual(state.header().context, { usedTokens: 6000, contextTokens: 128000, estimated: true });
    state.reset();
    assert.equal(state.header().context, undefined);
  });

  it('shows a compaction: working, then its summary collapsible, or the fallback', () => {
    const { state, entry } = started();
    const u = stream('s1');
    state.applyUpdate(u('compaction', { phase: 'start', tokensBefore: 102400 }));
    assert.match(renderEntry(entry), /Compacting the conversation…/);
    state.applyUpdate(u('compaction', { phase: 'end', tokensBefore: 102400, tokensAfter: 18300, summary: 'We fixed **a.py**.' }));
    const parts = entry.parts.filter((p) => p.kind === 'compaction');
    assert.equal(parts.length, 1, 'the end replaces the start');
    assert.match(renderEntry(entry), /<details class="compaction"[^>]*><summary>Earlier conversation summarised \(102k → 18k tokens\)<\/summary><div class="markdown"><p>We fixed <strong>a\.py<\/strong>\.<\/p>/);
    state.applyUpdate(u('compaction', { phase: 'end', summary: null, fallback: 'summary cancelled; the oldest messages were truncated instead' }));
    assert.match(renderEntry(entry), /Context compacted: summary cancelled; the oldest messages were truncated instead/);
  });

  it('binds queued prompts to their turns in order, and shows a steered prompt in the running turn', () => {
    const state = new ChatState();
    const first = state.beginTurn('one');
    state.adoptSession('s1', 'one');
    const second = state.beginTurn('two', { queued: true, attachments: ['src/a.py'] });
    assert.match(renderEntry(second), /queued/);
    assert.match(renderEntry(state.entries[2] as never), /@src\/a\.py/);
    state.applyUpdate(stream('s1', 1)('turnStart', { prompt: 'one' }));
    state.steer(first, 'also check b.py');
    assert.match(renderEntry(first), /You \(steering\):<\/span> also check b\.py/);
    state.applyUpdate(stream('s1', 2, 10)('turnStart', { prompt: 'two' }));
    assert.equal(first.turnId, 1);
    assert.equal(second.turnId, 2);
    assert.equal(second.queued, false);
    assert.equal(state.entryOfTurn(2), second);
  });

  it('shows a revert: later turns dimmed, the files, conflicts and what was not restored', () => {
    const { state, entry } = started();
    state.applyUpdate(stream('s1')('turnEnd', { stopReason: 'endTurn' }));
    assert.match(renderEntry(entry, { turnActions: true }), /data-action="revert" data-turn="1"/);
    assert.doesNotMatch(renderEntry(entry), /data-action="revert"/, 'only when the server can revert');
    state.showRevert(
      1,
      {
        files: [{ path: 'a.py', action: 'restored' }, { path: 'new.py', action: 'deleted' }, { path: 'b.py', action: 'unchanged' }],
        conflicts: [{ path: 'c.py', reason: 'you changed lines 3-4 too' }],
        notRestored: [{ path: 'out.bin', reason: 'not a text file' }],
        messagesReverted: 4,
      },
      true,
    );
    assert.equal(entry.reverted, true);
    const html = renderEntry(entry, { turnActions: true });
    assert.match(html, /class="entry assistant state-done reverted"/);
    assert.doesNotMatch(html, /data-action="revert"/, 'a reverted turn offers no revert');
    const notice = state.entries.at(-1);
    assert.ok(notice?.role === 'notice');
    assert.equal(notice.level, 'warning');
    assert.equal(notice.text, 'Reverted to before turn 1: 2 files restored, 1 conflict, 1 not restored, 4 messages reverted.');
    assert.match(renderEntry(notice), /<li>conflict \(left as you changed it\): c\.py — you changed lines 3-4 too<\/li>/);
  });

  it('numbers loaded turns around the reverted ones and shows a loaded summary', () => {
    const state = new ChatState();
    state.loadHistory({
      sessionId: 's1',
      title: 't',
      repaired: false,
      messages: [
        { role: 'system', name: 'compaction', content: 'Earlier: set up the project.' },
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'a1' },
        { role: 'user', content: 'four' },
        { role: 'assistant', content: 'a4' },
      ],
      reverted: [
        { role: 'user', content: 'two', turnId: 2, reverted: true },
        { role: 'user', content: 'three', turnId: 3, reverted: true },
      ],
    });
    const turns = state.entries.flatMap((e) => (e.role === 'assistant' ? [e.turnId] : []));
    assert.deepEqual(turns, [undefined, 1, 4]);
    assert.match(renderEntry(state.entries[0] as never), /Earlier: set up the project\./);
    assert.match(String((state.entries.at(-1) as { text?: string }).text), /2 reverted turns are kept in the history/);
  });
});
