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

describe('the chat webview, protocol v2', () => {
  let page: Page;
  beforeEach(() => {
    page = openPage();
  });
  const post = (data: Record<string, unknown>) =>
    page.dom.window.dispatchEvent(new page.dom.window.MessageEvent('message', { data }));
  const card = (state: 'pending' | 'answered' = 'pending') =>
    answer({
      state: 'streaming',
      turnId: 1,
      parts: [
        {
          kind: 'tool',
          tool: {
            toolCallId: 'c1',
            name: 'run_command',
            arguments: { command: 'pytest -q' },
            status: 'pending',
            locations: [],
            kind: 'execute',
            approval: {
              key: 'q1',
              title: 'Run `pytest -q`',
              command: 'pytest -q',
              options: [
                { optionId: 'allow_once', name: 'Allow once', kind: 'allow_once' },
                { optionId: 'allow_always', name: 'Always allow `pytest *`', kind: 'allow_always' },
                { optionId: 'reject_once', name: 'Reject', kind: 'reject_once' },
                { optionId: 'reject_always', name: 'Always reject `pytest *`', kind: 'reject_always' },
              ],
              state,
            },
          },
        },
      ],
    });

  it('focuses a new permission card; its buttons answer it and give the focus back to the prompt', () => {
    page.render([card()], { reset: true, running: true });
    const buttons = [...page.doc.querySelectorAll('.approval button')] as HTMLButtonElement[];
    assert.deepEqual(buttons.map((b) => b.textContent), ['Allow once', 'Always allow `pytest *`', 'Reject', 'Always reject `pytest *`']);
    assert.equal(page.doc.activeElement, buttons[0], 'the first option has the focus');
    assert.equal(page.doc.querySelector('.approval')?.getAttribute('role'), 'group');
    // A re-render of the same card does not steal the focus again.
    (page.doc.getElementById('prompt') as HTMLElement).focus();
    page.render([card()], { running: true });
    assert.equal(page.doc.activeElement, page.doc.getElementById('prompt'));
    (page.doc.querySelector('button[data-option="reject_always"]') as HTMLButtonElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'permission', key: 'q1', optionId: 'reject_always' });
    assert.ok([...page.doc.querySelectorAll('.approval button')].every((b) => (b as HTMLButtonElement).disabled));
    assert.equal(page.doc.activeElement, page.doc.getElementById('prompt'));
  });

  it('does not take the focus from a prompt being typed; Escape on the card rejects once', () => {
    const prompt = page.doc.getElementById('prompt') as HTMLTextAreaElement;
    prompt.value = 'half a thought';
    prompt.focus();
    page.render([card()], { reset: true, running: true });
    assert.equal(page.doc.activeElement, prompt);
    const allow = page.doc.querySelector('button[data-option="allow_once"]') as HTMLButtonElement;
    allow.focus();
    allow.dispatchEvent(new page.dom.window.KeyboardEvent('keydown', { key: 'Escape', bubbles: true, cancelable: true }));
    assert.deepEqual(page.posted.at(-1), { type: 'permission', key: 'q1', optionId: 'reject_once' });
  });

  it('offers Queue and Steer now while a turn runs; Enter queues', () => {
    const prompt = page.doc.getElementById('prompt') as HTMLTextAreaElement;
    const queue = page.doc.getElementById('queue') as HTMLButtonElement;
    const steer = page.doc.getElementById('steer') as HTMLButtonElement;
    assert.equal(queue.hidden, true);
    page.render([], { running: true });
    assert.equal(queue.hidden, false);
    assert.equal(steer.hidden, false);
    prompt.value = 'also run the linter';
    steer.click();
    assert.deepEqual(page.posted.at(-1), { type: 'send', prompt: 'also run the linter', whenBusy: 'steer' });
    prompt.value = 'then commit';
    prompt.dispatchEvent(new page.dom.window.KeyboardEvent('keydown', { key: 'Enter', cancelable: true }));
    assert.deepEqual(page.posted.at(-1), { type: 'send', prompt: 'then commit', whenBusy: 'queue' });
  });

  it('shows the mode and the context meter in the header', () => {
    post({ type: 'render', reset: true, entries: [], running: false, header: { mode: 'plan', context: { usedTokens: 96000, contextTokens: 128000, estimated: false } } });
    const mode = page.doc.getElementById('mode') as HTMLButtonElement;
    assert.equal(mode.textContent, 'Mode: plan');
    const meter = page.doc.getElementById('meter') as HTMLElement;
    assert.equal(meter.hidden, false);
    assert.equal(meter.getAttribute('aria-valuenow'), '75');
    assert.equal(meter.querySelector('.meter-text')?.textContent, '75% of context');
    assert.equal((meter.querySelector('.meter-fill') as HTMLElement).style.width, '75%');
    mode.click();
    assert.deepEqual(page.posted.at(-1), { type: 'mode' });
  });

  it('completes @ with workspace files from the keyboard and lists the attachments', () => {
    const prompt = page.doc.getElementById('prompt') as HTMLTextAreaElement;
    prompt.focus();
    prompt.value = 'fix @ap';
    prompt.selectionStart = prompt.selectionEnd = 7;
    prompt.dispatchEvent(new page.dom.window.Event('input'));
    assert.deepEqual(page.posted.at(-1), { type: 'files', query: 'ap' });
    post({ type: 'files', query: 'ap', paths: ['app.py', 'src/app.py'] });
    const list = page.doc.getElementById('mentions') as HTMLElement;
    assert.equal(list.hidden, false);
    const key = (name: string) => prompt.dispatchEvent(new page.dom.window.KeyboardEvent('keydown', { key: name, cancelable: true }));
    key('ArrowDown');
    assert.equal(prompt.getAttribute('aria-activedescendant'), 'mention-1');
    key('Enter');
    assert.equal(prompt.value, 'fix @src/app.py ');
    assert.equal(list.hidden, true);
    assert.notEqual(page.posted.at(-1)?.type, 'send', 'Enter chose the file, it did not send');

    post({ type: 'render', reset: false, entries: [], running: false, attachments: ['a.py:3-9', 'problems of b.py'] });
    const chips = [...page.doc.querySelectorAll('#attachments .attachment')].map((c) => c.firstChild?.textContent);
    assert.deepEqual(chips, ['@a.py:3-9', '@problems of b.py']);
    (page.doc.querySelectorAll('#attachments button.detach')[1] as HTMLElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'detach', index: 1 });
  });

  it('asks to revert or fork a turn', () => {
    const entry = answer({ turnId: 3, parts: [{ kind: 'text', text: 'Done.' }] });
    post({ type: 'render', reset: true, entries: [{ id: entry.id, html: renderEntry(entry, { turnActions: true }) }], running: false });
    (page.doc.querySelector('button[data-action="revert"]') as HTMLElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'revert', turnId: 3 });
    (page.doc.querySelector('button[data-action="fork"]') as HTMLElement).click();
    assert.deepEqual(page.posted.at(-1), { type: 'fork', turnId: 3 });
    assert.deepEqual(page.errors, []);
  });
});
