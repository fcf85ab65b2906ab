/**
 * The chat webview's page: markup, the content security policy, and the nonce
 * that lets exactly our script run. Pure (no `vscode` import), so the page can
 * be loaded in a DOM in tests together with media/chat.js.
 */

import { randomInt } from 'node:crypto';

export interface PageResources {
  /** `webview.cspSource`: where our own script, style and fonts come from. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

const NONCE_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** 32 characters from a CSPRNG: a CSP nonce must be unguessable for each page. */
export function makeNonce(): string {
  return Array.from({ length: 32 }, () => NONCE_CHARS[randomInt(NONCE_CHARS.length)]).join('');
}

export function chatPage(r: PageResources): string {
  const csp = [
    "default-src 'none'",
    `style-src ${r.cspSource}`,
    `script-src 'nonce-${r.nonce}'`,
    `font-src ${r.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link href="${r.styleUri}" rel="stylesheet">
<title>Nexus</title>
</head>
<body>
<header id="header">
  <button type="button" id="mode" class="chip" title="Permission mode: click to change it">default</button>
  <div id="meter" role="meter" aria-label="Context window used" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" hidden>
    <div class="meter-bar"><div class="meter-fill"></div></div><span class="meter-text"></span>
  </div>
</header>
<div id="log" role="log" aria-live="polite"></div>
<div id="empty">
  <p><strong>Ask Nexus</strong> about your code, or to change it.</p>
  <p>Edits arrive as workspace edits you can undo. Select code and run
  <em>Nexus: Ask About Selection</em> to ask about it.</p>
</div>
<form id="composer">
  <div id="attachments" aria-label="Attachments of the next prompt"></div>
  <ul id="mentions" role="listbox" aria-label="Workspace files" hidden></ul>
  <textarea id="prompt" rows="3" placeholder="Ask Nexus… (@ attaches a file; Enter to send, Shift+Enter for a new line)" aria-label="Prompt" aria-autocomplete="list" aria-controls="mentions"></textarea>
  <div class="actions">
    <button type="submit" id="send">Send</button>
    <button type="button" id="queue" title="Run this prompt after the running turn">Queue</button>
    <button type="button" id="steer" class="secondary" title="Give this prompt to the running turn before its next model call">Steer now</button>
    <button type="button" id="stop" class="secondary">Stop</button>
  </div>
</form>
<script nonce="${r.nonce}" src="${r.scriptUri}"></script>
</body>
</html>`;
}
