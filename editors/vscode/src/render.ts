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
import type { Approval, AssistantEntry, CommandExit, CompactionPart, Entry, Part, ToolView } from './chatState';
import {
  MCP_SERVER_PERMISSION_PREFIX,
  MCP_TOOL_PREFIX,
  TOOL_RUN_COMMAND,
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
  [TOOL_RUN_COMMAND]: 'Run',
};

/** A one-line summary of a tool call's arguments, as a chat user reads it. */
export function toolSummary(tool: ToolView): string {
  const args = tool.arguments;
  const str = (key: string): string | undefined =>
    typeof args[key] === 'string' ? (args[key] as string) : undefined;
  if (tool.name === TOOL_RENAME_FILE && str('path') && str('newPath')) {
    return `${str('path')} → ${str('newPath')}`;
  }
  if (tool.name.startsWith(MCP_SERVER_PERMISSION_PREFIX)) {
    return tool.name.slice(MCP_SERVER_PERMISSION_PREFIX.length);
  }
  if (tool.name === TOOL_RUN_COMMAND && str('command')) {
    return str('cwd') ? `${str('command')} (in ${str('cwd')})` : (str('command') as string);
  }
  if (tool.name === TOOL_SEARCH_TEXT && str('pattern')) {
    const where = str('path') ?? str('glob');
    return where ? `/${str('pattern')}/ in ${where}` : `/${str('pattern')}/`;
  }
  return str('path') ?? (tool.name === TOOL_LIST_DIRECTORY ? '.' : '');
}

export interface RenderOptions {
  /** The server can revert and fork (it lists `nexus/session/revert`): offer both on each turn. */
  turnActions?: boolean;
}

export function renderEntry(entry: Entry, options: RenderOptions = {}): string {
  const id = escapeHtml(entry.id);
  switch (entry.role) {
    case 'user':
      return (
        `<div class="entry user" id="${id}"><div class="role">You</div>` +
        (entry.attachments?.length
          ? `<div class="attachments">${entry.attachments
              .map((a) => `<span class="attachment">@${escapeHtml(a)}</span>`)
              .join(' ')}</div>`
          : '') +
        `<div class="body markdown">${renderMarkdown(entry.text)}</div></div>`
      );
    case 'notice':
      return (
        `<div class="entry notice ${entry.level}" id="${id}">` +
        `${escapeHtml(entry.text)}` +
        (entry.details?.length
          ? `<ul class="notice-details">${entry.details.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>`
          : '') +
        '</div>'
      );
    case 'assistant':
      return (
        `<div class="entry assistant state-${entry.state}${entry.reverted ? ' reverted' : ''}" id="${id}">` +
        '<div class="role">Nexus' +
        (entry.reverted ? ' <span class="reverted-tag">reverted</span>' : '') +
        (entry.queued ? ' <span class="queued-tag">queued</span>' : '') +
        '</div><div class="body">' +
        entry.parts.map((part, i) => renderPart(entry, part, i)).join('') +
        renderFooter(entry, options) +
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
    case 'compaction':
      return renderCompaction(part, key);
    case 'steer':
      return `<div class="steer"><span class="label">You (steering):</span> ${escapeHtml(part.text)}</div>`;
  }
}

function renderCompaction(part: CompactionPart, key: string): string {
  if (part.phase === 'start') {
    return '<div class="compaction working"><span class="spinner"></span> Compacting the conversation…</div>';
  }
  const tokens =
    part.tokensBefore !== undefined && part.tokensAfter !== undefined
      ? ` (${formatTokens(part.tokensBefore)} → ${formatTokens(part.tokensAfter)} tokens)`
      : '';
  if (!part.summary) {
    return `<div class="compaction">Context compacted${tokens}: ${escapeHtml(part.fallback ?? 'the oldest messages were truncated')}</div>`;
  }
  return (
    `<details class="compaction" data-key="${key}"><summary>Earlier conversation summarised${tokens}</summary>` +
    `<div class="markdown">${renderMarkdown(part.summary)}</div></details>`
  );
}

export function formatTokens(n: number): string {
  return n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

/** The permission card: the question, the command and its folder, the options as buttons. */
function renderApproval(approval: Approval): string {
  const key = escapeHtml(approval.key);
  const what = approval.command
    ? `<pre class="approval-command">${escapeHtml(approval.command)}</pre>` +
      `<div class="approval-cwd">in <code>${escapeHtml(approval.cwd ?? '.')}</code> (workspace folder)</div>`
    : '';
  if (approval.state !== 'pending') {
    const said = approval.state === 'answered' ? `You chose: ${approval.chosen ?? '?'}` : 'Question withdrawn.';
    return `<div class="approval settled" data-approval="${key}">${escapeHtml(approval.title)} — ${escapeHtml(said)}</div>`;
  }
  const buttons = approval.options
    .map((o) => {
      const reject = o.kind.startsWith('reject');
      return (
        `<button type="button" class="${reject ? 'secondary' : 'primary'}" data-action="permission" ` +
        `data-approval="${key}" data-option="${escapeHtml(o.optionId)}" data-kind="${escapeHtml(o.kind)}" ` +
        `aria-label="${escapeHtml(`${o.name}: ${approval.title}`)}">${escapeHtml(o.name)}</button>`
      );
    })
    .join('');
  return (
    `<div class="approval pending" role="group" data-approval="${key}" aria-label="${escapeHtml(`Permission needed: ${approval.title}`)}">` +
    `<div class="approval-title">Allow? ${escapeHtml(approval.title)}</div>${what}` +
    `<div class="approval-options">${buttons}</div></div>`
  );
}

/** How a command ended: exit status or signal, and how long it took. */
export function exitSummary(exit: CommandExit): string {
  const bits: string[] = [];
  if (exit.timedOut) bits.push('timed out');
  if (exit.signal) bits.push(`killed by ${exit.signal}`);
  else if (exit.exitCode !== null) bits.push(`exit ${exit.exitCode}`);
  if (exit.durationMs !== undefined) {
    bits.push(exit.durationMs >= 1000 ? `${(exit.durationMs / 1000).toFixed(1)} s` : `${exit.durationMs} ms`);
  }
  if (exit.truncated) bits.push('output truncated');
  return bits.join(' · ');
}

function renderTool(tool: ToolView, key: string): string {
  const mcp = tool.name.startsWith(MCP_TOOL_PREFIX) ? tool.name.slice(MCP_TOOL_PREFIX.length).split('__') : undefined;
  const verb = tool.name.startsWith(MCP_SERVER_PERMISSION_PREFIX)
    ? 'Start MCP server'
    : (TOOL_VERBS[tool.name] ?? (mcp && mcp.length >= 2 ? `${mcp.slice(1).join('__')} (${mcp[0]})` : tool.name));
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
    (tool.kind ? ` <span class="tool-kind kind-${escapeHtml(tool.kind)}">${escapeHtml(tool.kind)}</span>` : '') +
    ` <span class="tool-status">${tool.status}</span>` +
    '</summary>' +
    details +
    '</details>' +
    (tool.approval ? renderApproval(tool.approval) : '') +
    (tool.stream !== undefined
      ? `<pre class="tool-stream" aria-label="Command output">${escapeHtml(tool.stream)}</pre>`
      : '') +
    (tool.exit ? `<div class="tool-exit${tool.exit.exitCode === 0 ? ' ok' : ''}">${escapeHtml(exitSummary(tool.exit))}</div>` : '') +
    (tool.error ? `<div class="tool-error">${escapeHtml(tool.error)}</div>` : '') +
    (locations ? `<div class="tool-locations">${locations}</div>` : '') +
    '</div>'
  );
}

function renderFooter(entry: AssistantEntry, options: RenderOptions): string {
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
  if (options.turnActions && entry.turnId !== undefined && entry.state !== 'streaming' && !entry.reverted) {
    const turn = entry.turnId;
    bits.push(
      '<div class="turn-actions">' +
        `<button type="button" class="link" data-action="revert" data-turn="${turn}" ` +
        `aria-label="Revert the code and conversation to before turn ${turn}">Revert to before this turn</button>` +
        `<button type="button" class="link" data-action="fork" data-turn="${turn}" ` +
        `aria-label="Fork a new session from the end of turn ${turn}">Fork from here</button>` +
        '</div>',
    );
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
