// Unit tests of prompt attachments (`@` mentions) and the editor diagnostics answer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attachmentsFor, completeMention, mentionAt, mentionedPaths, mentionGlob, rangeLabel, rankPaths } from '../src/attachments';
import { editorDiagnostics } from '../src/diagnostics';
import { mcpItem } from '../src/mcp';

describe('attachments', () => {
  it('finds @path mentions, not e-mail addresses or trailing punctuation', () => {
    assert.deepEqual(mentionedPaths('look at @src/app.py, and @README.md. mail me@x.org @src/app.py'), ['src/app.py', 'README.md']);
    assert.deepEqual(mentionedPaths('@a.py'), ['a.py']);
  });

  it('completes the mention under the caret', () => {
    assert.deepEqual(mentionAt('see @sr', 7), { start: 4, query: 'sr' });
    assert.deepEqual(mentionAt('@', 1), { start: 0, query: '' });
    assert.equal(mentionAt('me@x', 4), undefined);
    assert.equal(mentionAt('see @src now', 12), undefined);
    assert.deepEqual(completeMention('see @sr and', 7, 'src/app.py'), { text: 'see @src/app.py and', caret: 16 });
  });

  it('ranks file names starting with the query first, then shorter paths', () => {
    assert.deepEqual(rankPaths(['lib/xapp.py', 'src/app.py', 'app.py', 'zzz.txt', 'app.py'], 'app'), ['app.py', 'src/app.py', 'lib/xapp.py', 'zzz.txt']);
    assert.equal(mentionGlob('a*[b]'), '**/*ab*');
    assert.equal(mentionGlob(''), '**/*');
  });

  it('sends the pending attachments and the mentioned files that exist', () => {
    const pending = [{ label: 'a.py:3-9', item: { type: 'text' as const, title: 'a.py:3-9', text: 'x' } }];
    const resolve = (p: string) => (p === 'missing.py' ? undefined : `file:///ws/${p}`);
    const out = attachmentsFor('fix @b.py using @missing.py and @b.py', pending, resolve);
    assert.deepEqual(out.map((a) => a.item), [
      { type: 'text', title: 'a.py:3-9', text: 'x' },
      { type: 'file', uri: 'file:///ws/b.py' },
    ]);
    assert.equal(rangeLabel('a.py', 3, 3), 'a.py:3');
  });
});

describe('nexus/editor/diagnostics', () => {
  const error = {
    range: { start: { line: 2, character: 4 }, end: { line: 2, character: 9 } },
    message: 'undefined name',
    severity: 0,
    source: 'ruff',
    code: { value: 'F821' },
  };
  const reader = (uri: string | undefined) =>
    uri === undefined ? ([['file:///a.py', [error]], ['file:///clean.py', []]] as const) : ([[uri, uri === 'file:///a.py' ? [error] : []]] as const);

  it('answers the files asked for, as LSP diagnostics (severity 1-based, code as a value)', () => {
    assert.deepEqual(editorDiagnostics({ uris: ['file:///a.py', 'file:///b.py'] }, reader), {
      items: [
        { uri: 'file:///a.py', diagnostics: [{ range: error.range, message: 'undefined name', severity: 1, source: 'ruff', code: 'F821' }] },
        { uri: 'file:///b.py', diagnostics: [] },
      ],
    });
  });

  it('answers every file with diagnostics when no uris are given', () => {
    assert.deepEqual(editorDiagnostics({ uris: [] }, reader).items.map((i) => i.uri), ['file:///a.py']);
    assert.deepEqual(editorDiagnostics({}, reader).items.map((i) => i.uri), ['file:///a.py']);
  });
});

describe('MCP servers in the Nexus status', () => {
  it('lists a server with its status, where it is configured and its tools', () => {
    assert.deepEqual(
      mcpItem({ name: 'everything', source: 'settings', transport: 'stdio', status: 'running', tools: ['mcp__everything__echo', 'mcp__everything__add'] }),
      { label: '$(pass) everything', description: 'running (settings, stdio)', detail: '2 tools: echo, add' },
    );
    assert.deepEqual(
      mcpItem({ name: 'db', source: 'project', status: 'notAllowed', tools: [], error: 'not allowed yet' }),
      { label: '$(circle-outline) db', description: 'notAllowed (.mcp.json)', detail: 'not allowed yet — no tools' },
    );
    assert.equal(mcpItem({ name: 'b', status: 'failed', tools: [] }).label, '$(error) b');
  });
});
