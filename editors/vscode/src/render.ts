/**
 * Chat entries → HTML for the webview, rendered safely.
 *
 * Markdown goes through markdown-it with raw HTML disabled (it is escaped) and
 * images disabled (no remote content; the webview's CSP forbids it anyway);
 * every string of ours is escaped here. The webview only swaps the HTML in and
 * wires buttons, so this is the one place that decides what markup reaches it.
 * No `vscode` import: unit-tested in plain Node.
 */

import MarkdownIt from 'markdown-it';
import type { AssistantEntry, Entry, Part, ToolView } from './chatState';
import {
  TOOL_DELETE_FILE,
  TOOL_EDIT_FILE,
  TOOL_LIST_DIRECTORY,
  TOOL_READ_FILE,
  TOOL_RENAME_FILE,
  TOOL_SEARCH_TEXT,
  TOOL_WRITE_FILE,
} from './protocol';

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });
md.disable('image');

const defaultFence = md.renderer.rules.fence;
md.renderer.rules.fence = (tokens, idx, options, env, self) => {
  const code = defaultFence ? defaultFence(tokens, idx, options, env, self) : '';
  return (
    '<div class="code-block"><div class="code-actions">' +
    '<button type="button" data-action="copy" title="Copy">Copy</button>' +
    '<button type="button" data-action="insert" title="Insert at cursor">Insert</button>' +
    `</div>${code}</div>`
  );
};

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

export function renderMarkdown(text: string): string {
  return md.render(text);
}

const STATUS_ICONS: Record<ToolView['status'], string> = {
  pending: '○',
  running: '◌',
  completed: '✓',
  failed: '✗',
  cancelled: '⊘',
  skipped: '↷',
};

const TOOL_VERBS: Record<string, string> = {
  [TOOL_READ_FILE]: 'Read',
  [TOOL_LIST_DIRECTORY]: 'List',
  [TOOL_SEARCH_TEXT]: 'Search',
  [TOOL_WRITE_FILE]: 'Write',
  [TOOL_EDIT_FILE]: 'Edit',
  [TOOL_DELETE_FILE]: 'Delete',
  [TOOL_RENAME_FILE]: 'Rename',
};

/** A one-line summary of a tool call's arguments, as a chat user reads it. */
export function toolSummary(tool: ToolView): string {
  const args = tool.arguments;
  const str = (key: string): string | undefined =>
    typeof args[key] === 'string' ? (args[key] as string) : undefined;
  if (tool.name === TOOL_RENAME_FILE && str('path') && str('newPath')) {
    return `${str('path')} → ${str('newPath')}`;
  }
  if (tool.name === TOOL_SEARCH_TEXT && str('pattern')) {
    const where = str('path') ?? str('glob');
    return where ? `/${str('pattern')}/ in ${where}` : `/${str('pattern')}/`;
  }
  return str('path') ?? (tool.name === TOOL_LIST_DIRECTORY ? '.' : '');
}

export function renderEntry(entry: Entry): string {
  const id = escapeHtml(entry.id);
  switch (entry.role) {
    case 'user':
      return (
        `<div class="entry user" id="${id}"><div class="role">You</div>` +
        `<div class="body markdown">${renderMarkdown(entry.text)}</div></div>`
      );
    case 'notice':
      return (
        `<div class="entry notice ${entry.level}" id="${id}">` +
        `${escapeHtml(entry.text)}</div>`
      );
    case 'assistant':
      return (
        `<div class="entry assistant state-${entry.state}" id="${id}">` +
        '<div class="role">Nexus</div><div class="body">' +
        entry.parts.map((part, i) => renderPart(entry, part, i)).join('') +
        renderFooter(entry) +
        '</div></div>'
      );
  }
}

function renderPart(entry: AssistantEntry, part: Part, index: number): string {
  const key = escapeHtml(`${entry.id}-${index}`);
  switch (part.kind) {
    case 'text':
      return `<div class="markdown">${renderMarkdown(part.text)}</div>`;
    case 'reasoning':
      return (
        `<details class="reasoning" data-key="${key}"${part.active ? ' data-active' : ''}>` +
        `<summary>${part.active ? 'Thinking…' : 'Thought'}</summary>` +
        `<div class="markdown">${renderMarkdown(part.text)}</div></details>`
      );
    case 'tool':
      return renderTool(part.tool, key);
  }
}

function renderTool(tool: ToolView, key: string): string {
  const verb = TOOL_VERBS[tool.name] ?? tool.name;
  const summary = toolSummary(tool);
  const locations = tool.locations
    .map(
      (uri) =>
        `<a href="#" class="location" data-open="${escapeHtml(uri)}">${escapeHtml(shortUri(uri))}</a>`,
    )
    .join(' ');
  const details = [
    `<div class="label">Arguments</div><pre>${escapeHtml(JSON.stringify(tool.arguments, null, 2))}</pre>`,
    tool.output ? `<div class="label">Output</div><pre>${escapeHtml(tool.output)}</pre>` : '',
  ].join('');
  return (
    `<div class="tool status-${tool.status}" data-tool="${escapeHtml(tool.toolCallId)}">` +
    `<details data-key="${key}"><summary>` +
    `<span class="tool-icon" aria-hidden="true">${STATUS_ICONS[tool.status]}</span>` +
    `<span class="tool-verb">${escapeHtml(verb)}</span>` +
    (summary ? ` <code class="tool-args">${escapeHtml(summary)}</code>` : '') +
    ` <span class="tool-status">${tool.status}</span>` +
    '</summary>' +
    details +
    '</details>' +
    (tool.error ? `<div class="tool-error">${escapeHtml(tool.error)}</div>` : '') +
    (locations ? `<div class="tool-locations">${locations}</div>` : '') +
    '</div>'
  );
}

function renderFooter(entry: AssistantEntry): string {
  const bits: string[] = [];
  if (entry.state === 'streaming' && entry.parts.length === 0) {
    bits.push('<div class="working"><span class="spinner"></span> Working…</div>');
  }
  if (entry.state === 'cancelled') {
    bits.push('<div class="stopped">Stopped.</div>');
  }
  if (entry.stopReason === 'maxIterations') {
    bits.push(
      '<div class="stopped">Stopped after the maximum number of tool rounds ' +
        '(setting <code>nexus.session.maxIterations</code>).</div>',
    );
  }
  if (entry.error) {
    bits.push(`<div class="error">${escapeHtml(entry.error)}</div>`);
  }
  const usage = entry.usage;
  if (usage && (usage.inputTokens !== undefined || usage.outputTokens !== undefined)) {
    bits.push(
      `<div class="usage">${usage.inputTokens ?? '?'} tokens in · ${usage.outputTokens ?? '?'} out</div>`,
    );
  }
  return bits.join('');
}

function shortUri(uri: string): string {
  const path = uri.replace(/^file:\/\//, '');
  const parts = decodeURIComponentSafe(path).split('/');
  return parts.slice(-2).join('/');
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
