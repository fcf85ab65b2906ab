/**
 * Attachments of a prompt (protocol v2 §4): `@path` mentions typed in the chat
 * input, and the items the "Add selection to chat" / "Add this file's problems"
 * commands put on the composer. Pure functions, no `vscode` import.
 */

import type { ContextItem } from './protocol';

/** One attachment waiting on the composer: its chip's label and the wire item. */
export interface PendingAttachment {
  label: string;
  item: ContextItem;
}

// `@` at the start or after whitespace, then a path without spaces.
const MENTION = /(^|\s)@([^\s@]+)/g;

/** The `@path` mentions of a prompt, in order, without duplicates. */
export function mentionedPaths(prompt: string): string[] {
  const found: string[] = [];
  for (const match of prompt.matchAll(MENTION)) {
    // A mention at the end of a sentence: "look at @src/app.py."
    const path = (match[2] ?? '').replace(/[.,;:!?)]+$/, '');
    if (path && !found.includes(path)) found.push(path);
  }
  return found;
}

/** The partial path being typed after an `@` that ends at `caret`, if any. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | undefined {
  const before = text.slice(0, caret);
  const match = /(^|\s)@([^\s@]*)$/.exec(before);
  if (!match) return undefined;
  const query = match[2] ?? '';
  return { start: caret - query.length - 1, query };
}

/** The text with the mention at `caret` replaced by `@path ` and where the caret goes. */
export function completeMention(text: string, caret: number, path: string): { text: string; caret: number } {
  const mention = mentionAt(text, caret);
  if (!mention) return { text, caret };
  const inserted = `@${path} `;
  const after = text.slice(caret).replace(/^\S*/, '').replace(/^ /, '');
  return { text: text.slice(0, mention.start) + inserted + after, caret: mention.start + inserted.length };
}

/** A glob for `workspace.findFiles` matching paths that contain `query` (case as typed). */
export function mentionGlob(query: string): string {
  const safe = query.replace(/[[\]{}*?!]/g, '');
  return safe ? `**/*${safe}*` : '**/*';
}

/** Ranks completion candidates: name starts with the query, then path contains it, then the rest; shorter first. */
export function rankPaths(paths: string[], query: string, limit = 20): string[] {
  const q = query.toLowerCase();
  const score = (p: string): number => {
    const lower = p.toLowerCase();
    const name = lower.slice(lower.lastIndexOf('/') + 1);
    if (name.startsWith(q)) return 0;
    if (lower.includes(q)) return 1;
    return 2;
  };
  return [...new Set(paths)]
    .sort((a, b) => score(a) - score(b) || a.length - b.length || a.localeCompare(b))
    .slice(0, limit);
}

/** The label of a selection attachment: `path:line` or `path:first-last` (1-based). */
export function rangeLabel(path: string, startLine: number, endLine: number): string {
  return startLine === endLine ? `${path}:${startLine}` : `${path}:${startLine}-${endLine}`;
}

/** The prompt's attachments: those pending on the composer, then the mentioned files that exist. */
export function attachmentsFor(
  prompt: string,
  pending: readonly PendingAttachment[],
  resolve: (path: string) => string | undefined,
): PendingAttachment[] {
  const out = [...pending];
  for (const path of mentionedPaths(prompt)) {
    const uri = resolve(path);
    if (uri && !out.some((a) => a.item.type === 'file' && a.item.uri === uri)) {
      out.push({ label: path, item: { type: 'file', uri } });
    }
  }
  return out;
}
