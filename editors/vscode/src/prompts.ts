/**
 * Prompt text the extension composes for the user: "Ask About Selection" and
 * session titles. Pure functions, no `vscode` import.
 */

export interface SelectionContext {
  /** Path relative to the workspace folder (or the URI for files outside it). */
  path: string;
  languageId: string;
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  text: string;
}

export const DEFAULT_SELECTION_QUESTION = 'Explain this code.';

/**
 * The question, then the selection as a fenced block the model can quote and
 * edit by path: the same text the server composes for `nexus.ask` with a range
 * (docs/protocol.md §7), so a turn reads the same whichever side built it.
 */
export function selectionPrompt(question: string, selection: SelectionContext): string {
  const ask = question.trim() || DEFAULT_SELECTION_QUESTION;
  const lines =
    selection.startLine === selection.endLine
      ? `line ${selection.startLine}`
      : `lines ${selection.startLine}-${selection.endLine}`;
  const fence = fenceFor(selection.text);
  const body = selection.text.endsWith('\n') ? selection.text : `${selection.text}\n`;
  return `${ask}\n\nSelection from \`${selection.path}\`, ${lines}:\n${fence}${selection.languageId}\n${body}${fence}`;
}

/** A backtick fence longer than any run of backticks inside the text. */
export function fenceFor(text: string): string {
  const longest = Math.max(0, ...Array.from(text.matchAll(/`+/g), (m) => m[0].length));
  return '`'.repeat(Math.max(3, longest + 1));
}

const TITLE_MAX = 60;

/** A session title from the first line of the prompt, as chat UIs name conversations. */
export function titleFromPrompt(prompt: string): string {
  const line = prompt.trim().split('\n', 1)[0]?.trim() ?? '';
  if (line.length <= TITLE_MAX) return line || 'New chat';
  return `${line.slice(0, TITLE_MAX - 1).trimEnd()}…`;
}
