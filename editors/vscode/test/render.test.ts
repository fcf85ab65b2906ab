// Unit tests of the webview HTML: markdown rendered, everything else escaped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AssistantEntry, ToolView } from '../src/chatState';
import { escapeHtml, renderEntry, renderMarkdown, toolSummary } from '../src/render';

function assistant(fields: Partial<AssistantEntry>): AssistantEntry {
  return { id: 'e2', role: 'assistant', parts: [], state: 'done', gap: false, ...fields };
}

function tool(fields: Partial<ToolView>): ToolView {
  return { toolCallId: 'c1', name: 'write_file', arguments: {}, status: 'pending', locations: [], ...fields };
}

describe('render', () => {
  it('renders markdown and escapes raw HTML', () => {
    const html = renderMarkdown('**bold** <script>alert(1)</script> <img src=x onerror=alert(1)>');
    assert.match(html, /<strong>bold<\/strong>/);
    assert.doesNotMatch(html, /<script/);
    assert.doesNotMatch(html, /<img/);
    assert.match(html, /&lt;script&gt;/);
  });

  it('loads no remote images and refuses javascript: links', () => {
    const html = renderMarkdown('![x](https://example.com/a.png) [go](javascript:alert(1))');
    assert.doesNotMatch(html, /<img/);
    assert.doesNotMatch(html, /href="javascript:/);
  });

  it('wraps code blocks with copy and insert buttons, code escaped', () => {
    const html = renderMarkdown('```ts\nconst a = 1 < 2;\n```');
    assert.match(html, /data-action="copy"/);
    assert.match(html, /data-action="insert"/);
    assert.match(html, /1 &lt; 2/);
  });

  it('escapes the five HTML-significant characters', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('renders a user entry as markdown with its id', () => {
    const html = renderEntry({ id: 'e1', role: 'user', text: 'fix `a<b`' });
    assert.match(html, /^<div class="entry user" id="e1">/);
    assert.match(html, /<code>a&lt;b<\/code>/);
  });

  it('renders tool calls with status, escaped arguments, error and locations', () => {
    const html = renderEntry(
      assistant({
        parts: [
          {
            kind: 'tool',
            tool: tool({
              status: 'failed',
              arguments: { path: '<evil>.txt' },
              error: 'editor said <no>',
              locations: ['file:///w/src/%3Cevil%3E.txt'],
            }),
          },
        ],
      }),
    );
    assert.match(html, /class="tool status-failed"/);
    assert.match(html, /<span class="tool-verb">Write<\/span>/);
    assert.match(html, /&lt;evil&gt;\.txt/);
    assert.match(html, /editor said &lt;no&gt;/);
    assert.match(html, /data-open="file:\/\/\/w\/src\/%3Cevil%3E\.txt"/);
    assert.doesNotMatch(html, /<evil>|<no>/);
  });

  it('keeps reasoning collapsible and says whether it is still running', () => {
    const active = renderEntry(assistant({ state: 'streaming', parts: [{ kind: 'reasoning', text: 'hmm', active: true }] }));
    assert.match(active, /<details class="reasoning" data-key="e2-0" data-active>/);
    assert.match(active, /Thinking…/);
    const done = renderEntry(assistant({ parts: [{ kind: 'reasoning', text: 'hmm', active: false }] }));
    assert.doesNotMatch(done, /data-active/);
  });

  it('shows stop, error and usage footers', () => {
    assert.match(renderEntry(assistant({ state: 'cancelled', stopReason: 'cancelled' })), /Stopped\./);
    assert.match(renderEntry(assistant({ state: 'error', error: 'HTTP 401 <x>' })), /HTTP 401 &lt;x&gt;/);
    assert.match(renderEntry(assistant({ stopReason: 'maxIterations' })), /maxIterations/);
    assert.match(renderEntry(assistant({ usage: { inputTokens: 10, outputTokens: 2 } })), /10 tokens in · 2 out/);
    assert.match(renderEntry(assistant({ state: 'streaming' })), /Working…/);
  });

  it('summarises tool arguments the way a reader wants them', () => {
    assert.equal(toolSummary(tool({ name: 'rename_file', arguments: { path: 'a', newPath: 'b' } })), 'a → b');
    assert.equal(toolSummary(tool({ name: 'search_text', arguments: { pattern: 'foo', glob: '*.py' } })), '/foo/ in *.py');
    assert.equal(toolSummary(tool({ name: 'list_directory', arguments: {} })), '.');
    assert.equal(toolSummary(tool({ name: 'read_file', arguments: { path: 'src/a.py' } })), 'src/a.py');
  });
});
