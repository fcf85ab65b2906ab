// The chat webview's script: swaps in the HTML the extension renders (already
// escaped there), keeps the user's open/closed choice for collapsible parts,
// and reports the user's gestures back. No network, no eval, no inline handlers.
// @ts-check
(function () {
  // eslint-disable-next-line no-undef
  const vscode = acquireVsCodeApi();
  const log = /** @type {HTMLElement} */ (document.getElementById('log'));
  const empty = /** @type {HTMLElement} */ (document.getElementById('empty'));
  const form = /** @type {HTMLFormElement} */ (document.getElementById('composer'));
  const prompt = /** @type {HTMLTextAreaElement} */ (document.getElementById('prompt'));
  const send = /** @type {HTMLButtonElement} */ (document.getElementById('send'));
  const stop = /** @type {HTMLButtonElement} */ (document.getElementById('stop'));
  /** details[data-key] → open, for the parts the user opened or closed */
  const userOpen = new Map();
  let running = false;

  const saved = vscode.getState();
  if (saved && typeof saved.draft === 'string') prompt.value = saved.draft;

  function setRunning(value) {
    running = value;
    stop.hidden = !running;
    send.hidden = running;
  }

  function nearBottom() {
    return document.scrollingElement
      ? document.scrollingElement.scrollHeight - document.scrollingElement.scrollTop -
          document.scrollingElement.clientHeight < 40
      : true;
  }

  function applyOpenState(root) {
    for (const details of root.querySelectorAll('details[data-key]')) {
      const key = details.getAttribute('data-key');
      const open = userOpen.has(key) ? userOpen.get(key) : details.hasAttribute('data-active');
      details.open = open;
    }
  }

  function render(message) {
    const stick = nearBottom();
    if (message.reset) {
      log.replaceChildren();
      userOpen.clear();
    }
    for (const entry of message.entries) {
      const template = document.createElement('template');
      template.innerHTML = entry.html;
      const node = template.content.firstElementChild;
      if (!node) continue;
      applyOpenState(node);
      const existing = document.getElementById(entry.id);
      if (existing) existing.replaceWith(node);
      else log.appendChild(node);
    }
    empty.hidden = log.childElementCount > 0;
    setRunning(Boolean(message.running));
    if (stick) window.scrollTo(0, document.body.scrollHeight);
  }

  window.addEventListener('message', (event) => {
    if (event.data && event.data.type === 'render') render(event.data);
  });

  // Remember what the user opened or closed so re-rendering keeps it.
  log.addEventListener('click', (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    const summary = target.closest('summary');
    if (summary && summary.parentElement instanceof HTMLDetailsElement) {
      const details = summary.parentElement;
      const key = details.getAttribute('data-key');
      if (key) userOpen.set(key, !details.open);
      return;
    }
    const button = target.closest('button[data-action]');
    if (button) {
      const block = button.closest('.code-block');
      const code = block && block.querySelector('pre code, pre');
      if (code) vscode.postMessage({ type: button.getAttribute('data-action'), text: code.textContent || '' });
      return;
    }
    const link = target.closest('a');
    if (link) {
      event.preventDefault();
      const where = link.getAttribute('data-open') || link.getAttribute('href');
      if (where && where !== '#') vscode.postMessage({ type: 'open', target: where });
    }
  });

  function submit() {
    const text = prompt.value.trim();
    if (!text || running) return;
    vscode.postMessage({ type: 'send', prompt: text });
    prompt.value = '';
    vscode.setState({ draft: '' });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  prompt.addEventListener('keydown', (event) => {
    // Enter sends, Shift+Enter breaks the line; never while an IME composes.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  prompt.addEventListener('input', () => vscode.setState({ draft: prompt.value }));
  stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));

  setRunning(false);
  vscode.postMessage({ type: 'ready' });
})();
