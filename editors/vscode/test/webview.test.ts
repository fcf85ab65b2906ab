// The webview script (media/chat.js) in a DOM (jsdom) on the page chatView serves:
// rendering, kept open/closed state, buttons, links and the composer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { JSDOM, VirtualConsole } from 'jsdom';
import type { AssistantEntry, Entry } from '../src/chatState';
import { renderEntry } from '../src/render';
import { chatPage, makeNonce } from '../src/webviewHtml';
import { EXTENSION_DIR } from './harness';

const SCRIPT = readFileSync(path.join(EXTENSION_DIR, 'media', 'chat.js'), 'utf8');

interface Page {
  dom: JSDOM;
  doc: Document;
  posted: Record<string, unknown>[];
  errors: string[];
  render(entries: Entry[], options?: { reset?: boolean; running?: boolean }): void;
}

function openPage(state?: unknown): Page {
  const errors: string[] = [];
  const virtualConsole = new VirtualConsole();
  virtualConsole.on('jsdomError', (err) => {
    // jsdom has no layout: scrolling is not implemented there.
    if (!/Not implemented: window\.scrollTo/.test(err.message)) errors.push(err.message);
  });
  const html = chatPage({ cspSource: 'vscode-webview://x', scriptUri: 'chat.js', styleUri: 'chat.css', nonce: makeNonce() });
  const dom = new JSDOM(html, { runScripts: 'outside-only', virtualConsole });
  const posted: Record<string, unknown>[] = [];
  let saved = state;
  Object.assign(dom.window, {
    acquireVsCodeApi: () => ({
      // Serialised, as the real postMessage does (and out of the page's realm).
      postMessage: (message: Record<string, unknown>) => posted.push(JSON.parse(JSON.stringify(message))),
      getState: () => saved,
      setState: (value: unknown) => {
        saved = value;
      },
    }),
  });
  dom.window.eval(SCRIPT);
  return {
    dom,
    doc: dom.window.document,
    posted,
    errors,
    render(entries, options = {}) {
      const data = {
        type: 'render',
        reset: options.reset ?? false,
        entries: entries.map((e) => ({ id: e.id, html: renderEntry(e) })),
        running: options.running ?? false,
      };
      dom.window.dispatchEvent(new dom.window.MessageEvent('message', { data }));
    },
  };
}

function answer(fields: Partial<AssistantEntry> = {}): AssistantEntry {
  return { id: 'e2', role: 'assistant', parts: [], state: 'done', gap: false, ...fields };
}

describe('the chat webview', () => {
  let page: Page;
  beforeEach(() => {
    page = openPage();
  });

  it('says it is ready, then shows rendered entries in place of the welcome text', () => {
    assert.deepEqual(page.posted, [{ type: 'ready' }]);
    const empty = page.doc.getElementById('empty') as HTMLElement;
    assert.equal(empty.hidden, false);
    page.render([{ id: 'e1', role: 'user', text: 'Hi *there*' }, answer({ parts: [{ kind: 'text', text: 'Hello' }] })], {
      reset: true,
    });
    assert.equal(page.doc.querySelectorAll('#log > .entry').length, 2);
    assert.equal(page.doc.querySelector('#e1 em')?.textContent, 'there');
    assert.equal(empty.hidden, true);
    assert.deepEqual(page.errors, []);
  });

  it('replaces an entry that changed instead of appending it again', () => {
    page.render([answer({ state: 'streaming', parts: [{ kind: 'text', text: 'Hel' }] })], { reset: true, running: true });
    page.render([answer({ parts: [{ kind: 'text', text: 'Hello' }] })]);
    const entries = page.doc.querySelectorAll('#log > .entry');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.textContent?.includes('Hello'), true);
  });

  it('shows Stop while a turn runs and reports it', () => {
    const send = page.doc.getElementById('send') as HTMLButtonElement;
    const stop = page.doc.getElementById('stop') as HTMLButtonElement;
    page.render([], { running: true });
    assert.equal(stop.hidden, false);
    assert.equal(send.hidden, true);
    stop.click();
    assert.deepEqual(page.posted.at(-1), { type: 'stop' });
    page.render([], { running: false });
    assert.equal(stop.hidden, true);
    assert.equal(send.hidden, false);
  });

  it('keeps running reasoning open, and what the user closed closed across renders', () => {
    const thinking = answer({ state: 'streaming', parts: [{ kind: 'reasoning', text: 'hmm', active: true }] });
    page.render([thinking], { reset: true, running: true });
    const details = () => page.doc.querySelector('details.reasoning') as HTMLDetailsElement;
    assert.equal(details().open, true);
    (details().querySelector('summary') as HTMLElement).click();
    page.render([answer({ state: 'streaming', parts: [{ kind: 'reasoning', text: 'hmm, more', active: true }] })]);
    assert.equal(details().open, false);
  });

  it('sends code to copy or insert, and links to open', () => {
    page.render([answer({ parts: [{ kind: 'text', text: 'See [a.py](src/a.py)\n\n```py\nx = 1 < 2\n```' }] })], {
      reset: true,
    });
    (page.doc.querySelector('button[data-action="copy"]') as HTMLElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'copy', text: 'x = 1 < 2\n' });
    (page.doc.querySelector('button[data-action="insert"]') as HTMLElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'insert', text: 'x = 1 < 2\n' });
    (page.doc.querySelector('.markdown a') as HTMLElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'open', target: 'src/a.py' });
  });

  it('opens the files a tool touched', () => {
    page.render(
      [
        answer({
          parts: [
            {
              kind: 'tool',
              tool: {
                toolCallId: 'c1',
                name: 'write_file',
                arguments: { path: 'x.txt' },
                status: 'completed',
                locations: ['file:///w/x.txt'],
              },
            },
          ],
        }),
      ],
      { reset: true },
    );
    (page.doc.querySelector('a.location') as HTMLElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'open', target: 'file:///w/x.txt' });
  });

  it('sends on Enter, breaks the line on Shift+Enter, and keeps the draft', () => {
    const prompt = page.doc.getElementById('prompt') as HTMLTextAreaElement;
    const key = (shiftKey: boolean) =>
      prompt.dispatchEvent(new page.dom.window.KeyboardEvent('keydown', { key: 'Enter', shiftKey, cancelable: true }));
    prompt.value = 'first line';
    prompt.dispatchEvent(new page.dom.window.Event('input'));
    assert.equal(key(true), true, 'Shift+Enter is left to the textarea');
    assert.equal(page.posted.length, 1);
    const reopened = openPage({ draft: 'first line' });
    assert.equal((reopened.doc.getElementById('prompt') as HTMLTextAreaElement).value, 'first line');
    assert.equal(key(false), false, 'Enter is taken');
    assert.deepEqual(page.posted.at(-1), { type: 'send', prompt: 'first line' });
    assert.equal(prompt.value, '');
    page.render([], { running: true });
    prompt.value = 'while running';
    key(false);
    assert.notDeepEqual(page.posted.at(-1), { type: 'send', prompt: 'while running' });
  });

  it('wraps long chat text and keeps code lines, scrolling them (media/chat.css)', () => {
    const css = readFileSync(path.join(EXTENSION_DIR, 'media', 'chat.css'), 'utf8');
    const style = page.doc.createElement('style');
    style.textContent = css;
    page.doc.head.appendChild(style);
    const long = `see ${'src/'.repeat(60)}x.py`;
    page.render(
      [
        { id: 'e1', role: 'user', text: `${long}\nsecond line` },
        answer({ parts: [{ kind: 'text', text: `${long}\n\n\`\`\`\n${'x = 1; '.repeat(40)}\n\`\`\`` }] }),
      ],
      { reset: true },
    );
    const computed = (selector: string) => {
      const element = page.doc.querySelector(selector);
      assert.ok(element, selector);
      return page.dom.window.getComputedStyle(element);
    };
    // jsdom computes white-space and overflow but knows neither overflow-wrap nor inheritance:
    // the wrapping of long words is read from the rule that every element inherits it from.
    assert.match(css, /(^|\n)body \{[^}]*overflow-wrap: anywhere;/);
    assert.equal(computed('#e1 .markdown p').whiteSpace, 'pre-wrap', "the user's line breaks are kept");
    assert.equal(computed('#e2 .code-block pre').whiteSpace, 'pre', 'code keeps its lines');
    assert.equal(computed('#e2 .code-block pre').overflowX, 'auto', 'and scrolls');
    assert.match(css, /\.markdown pre, \.tool pre \{[^}]*overflow-wrap: normal;/);
  });
});
