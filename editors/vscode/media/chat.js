// The chat webview's script: swaps in the HTML the extension renders (already
// escaped there), keeps the user's open/closed choice for collapsible parts,
// and reports the user's gestures back. No network, no eval, no inline handlers.
// @ts-check
(function () {
  // eslint-disable-next-line no-undef
  const vscode = acquireVsCodeApi();
  const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
  const log = byId('log');
  const empty = byId('empty');
  const form = /** @type {HTMLFormElement} */ (byId('composer'));
  const prompt = /** @type {HTMLTextAreaElement} */ (byId('prompt'));
  const send = /** @type {HTMLButtonElement} */ (byId('send'));
  const queue = /** @type {HTMLButtonElement} */ (byId('queue'));
  const steer = /** @type {HTMLButtonElement} */ (byId('steer'));
  const stop = /** @type {HTMLButtonElement} */ (byId('stop'));
  const mode = /** @type {HTMLButtonElement} */ (byId('mode'));
  const meter = byId('meter');
  const attachments = byId('attachments');
  const mentions = byId('mentions');
  /** details[data-key] → open, for the parts the user opened or closed */
  const userOpen = new Map();
  let running = false;
  /** The `@` completion shown: its query and the highlighted row. */
  let mention = { query: '', active: -1, paths: /** @type {string[]} */ ([]) };

  const saved = vscode.getState();
  if (saved && typeof saved.draft === 'string') prompt.value = saved.draft;

  function setRunning(value) {
    running = value;
    stop.hidden = !running;
    send.hidden = running;
    // While a turn runs a prompt can wait for it (Queue) or join it (Steer now).
    queue.hidden = !running;
    steer.hidden = !running;
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

  function renderHeader(header) {
    if (!header) return;
    const current = header.mode || 'default';
    mode.textContent = `Mode: ${current}`;
    mode.setAttribute('aria-label', `Permission mode: ${current}. Change it`);
    const context = header.context;
    meter.hidden = !context;
    if (context) {
      const percent = Math.min(100, Math.round((context.usedTokens / context.contextTokens) * 100));
      meter.setAttribute('aria-valuenow', String(percent));
      const text = `${percent}% of context${context.estimated ? ' (estimated)' : ''}`;
      meter.setAttribute('aria-valuetext', `${text}: ${context.usedTokens} of ${context.contextTokens} tokens`);
      meter.title = `${context.usedTokens} of ${context.contextTokens} tokens${context.estimated ? ' (estimated)' : ''}`;
      const fill = /** @type {HTMLElement} */ (meter.querySelector('.meter-fill'));
      fill.style.width = `${percent}%`;
      meter.classList.toggle('high', percent >= 80);
      const label = /** @type {HTMLElement} */ (meter.querySelector('.meter-text'));
      label.textContent = text;
    }
  }

  function renderAttachments(labels) {
    attachments.replaceChildren();
    (labels || []).forEach((label, index) => {
      const chip = document.createElement('span');
      chip.className = 'attachment';
      chip.textContent = `@${label}`;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'detach';
      remove.textContent = '×';
      remove.setAttribute('aria-label', `Remove the attachment ${label}`);
      remove.dataset.index = String(index);
      chip.appendChild(remove);
      attachments.appendChild(chip);
    });
  }

  /** A new permission card takes the focus (its first option) unless the user is typing. */
  function focusNewCard(before) {
    const card = log.querySelector('.approval.pending button');
    if (!card) return;
    const key = card.getAttribute('data-approval');
    if (before.has(key)) return;
    if (document.activeElement === prompt && prompt.value.trim()) return;
    /** @type {HTMLElement} */ (card).focus();
  }

  function pendingCards() {
    return new Set([...log.querySelectorAll('.approval.pending')].map((c) => c.getAttribute('data-approval')));
  }

  function render(message) {
    const stick = nearBottom();
    const before = pendingCards();
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
    renderHeader(message.header);
    if (message.attachments) renderAttachments(message.attachments);
    focusNewCard(before);
    if (stick) window.scrollTo(0, document.body.scrollHeight);
  }

  // --- `@` completion of workspace files

  function mentionAt() {
    const before = prompt.value.slice(0, prompt.selectionStart);
    const match = /(^|\s)@([^\s@]*)$/.exec(before);
    return match ? match[2] : undefined;
  }

  function closeMentions() {
    mentions.hidden = true;
    mentions.replaceChildren();
    mention = { query: '', active: -1, paths: [] };
    prompt.removeAttribute('aria-activedescendant');
  }

  function showMentions(query, paths) {
    if (mentionAt() !== query) return; // the user typed on
    mention = { query, active: paths.length ? 0 : -1, paths };
    mentions.replaceChildren();
    paths.forEach((path, index) => {
      const row = document.createElement('li');
      row.id = `mention-${index}`;
      row.setAttribute('role', 'option');
      row.textContent = path;
      row.dataset.path = path;
      mentions.appendChild(row);
    });
    mentions.hidden = paths.length === 0;
    highlight();
  }

  function highlight() {
    mentions.querySelectorAll('li').forEach((row, index) => {
      row.setAttribute('aria-selected', String(index === mention.active));
    });
    if (mention.active >= 0) prompt.setAttribute('aria-activedescendant', `mention-${mention.active}`);
  }

  function choose(path) {
    const caret = prompt.selectionStart;
    const before = prompt.value.slice(0, caret);
    const match = /(^|\s)@([^\s@]*)$/.exec(before);
    if (!match) return;
    const start = caret - match[2].length - 1;
    const after = prompt.value.slice(caret).replace(/^\S*/, '').replace(/^ /, '');
    const inserted = `@${path} `;
    prompt.value = prompt.value.slice(0, start) + inserted + after;
    prompt.selectionStart = prompt.selectionEnd = start + inserted.length;
    closeMentions();
    vscode.setState({ draft: prompt.value });
    prompt.focus();
  }

  window.addEventListener('message', (event) => {
    const data = event.data;
    if (!data) return;
    if (data.type === 'render') render(data);
    if (data.type === 'files') showMentions(data.query, data.paths || []);
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
      const action = button.getAttribute('data-action');
      if (action === 'permission') {
        const card = button.closest('.approval');
        card?.querySelectorAll('button').forEach((b) => ((/** @type {HTMLButtonElement} */ (b)).disabled = true));
        vscode.postMessage({
          type: 'permission',
          key: button.getAttribute('data-approval'),
          optionId: button.getAttribute('data-option'),
        });
        prompt.focus();
        return;
      }
      if (action === 'revert' || action === 'fork') {
        vscode.postMessage({ type: action, turnId: Number(button.getAttribute('data-turn')) });
        return;
      }
      const block = button.closest('.code-block');
      const code = block && block.querySelector('pre code, pre');
      if (code) vscode.postMessage({ type: action, text: code.textContent || '' });
      return;
    }
    const link = target.closest('a');
    if (link) {
      event.preventDefault();
      const where = link.getAttribute('data-open') || link.getAttribute('href');
      if (where && where !== '#') vscode.postMessage({ type: 'open', target: where });
    }
  });

  // Escape on a permission card rejects once (the safe answer), as a dialog's Cancel.
  log.addEventListener('keydown', (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    const card = target.closest && target.closest('.approval.pending');
    if (!card || event.key !== 'Escape') return;
    const reject = /** @type {HTMLButtonElement | null} */ (card.querySelector('button[data-kind="reject_once"]'));
    if (reject) {
      event.preventDefault();
      reject.click();
    }
  });

  attachments.addEventListener('click', (event) => {
    const button = /** @type {HTMLElement} */ (event.target).closest('button.detach');
    if (button) vscode.postMessage({ type: 'detach', index: Number(button.getAttribute('data-index')) });
  });

  mentions.addEventListener('mousedown', (event) => {
    const row = /** @type {HTMLElement} */ (event.target).closest('li');
    if (row) {
      event.preventDefault();
      choose(row.getAttribute('data-path') || '');
    }
  });

  mode.addEventListener('click', () => vscode.postMessage({ type: 'mode' }));

  function submit(whenBusy) {
    const text = prompt.value.trim();
    if (!text) return;
    if (running && !whenBusy) whenBusy = 'queue';
    vscode.postMessage(running ? { type: 'send', prompt: text, whenBusy } : { type: 'send', prompt: text });
    prompt.value = '';
    closeMentions();
    vscode.setState({ draft: '' });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  prompt.addEventListener('keydown', (event) => {
    if (!mentions.hidden && mention.paths.length) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        mention.active = (mention.active + step + mention.paths.length) % mention.paths.length;
        highlight();
        return;
      }
      if ((event.key === 'Enter' || event.key === 'Tab') && mention.active >= 0) {
        event.preventDefault();
        choose(mention.paths[mention.active]);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        closeMentions();
        return;
      }
    }
    // Enter sends (queues while a turn runs), Shift+Enter breaks the line; never while an IME composes.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  prompt.addEventListener('input', () => {
    vscode.setState({ draft: prompt.value });
    const query = mentionAt();
    if (query === undefined) closeMentions();
    else vscode.postMessage({ type: 'files', query });
  });
  queue.addEventListener('click', () => submit('queue'));
  steer.addEventListener('click', () => submit('steer'));
  stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));

  setRunning(false);
  vscode.postMessage({ type: 'ready' });
})();
