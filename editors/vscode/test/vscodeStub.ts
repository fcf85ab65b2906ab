// A small in-process stand-in for the `vscode` module, enough to run the built
// extension bundle (dist/extension.js) with its real language client in Node:
// VS Code itself cannot be downloaded here. It records what the extension does
// (commands, views, messages, status bar, edits) for the tests to check.
// Members the extension and the language client only register or subscribe
// with are answered generically (a disposable), never silently ignored in a
// way that could make a test pass: the tests assert on the recorded effects.
import { EventEmitter as NodeEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Listener<T> = (e: T) => unknown;

export class Disposable {
  constructor(private readonly fn: () => void = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((d) => d.dispose()));
  }
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class CancellationError extends Error {}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    if (this.token.isCancellationRequested) return;
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    private readonly text: string,
  ) {}
  static parse(text: string): Uri {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1] ?? 'file';
    const p = scheme === 'file' ? fileURLToPath(text) : text.slice(scheme.length + 1);
    return new Uri(scheme, p, text);
  }
  static file(fsPath: string): Uri {
    return new Uri('file', fsPath, pathToFileURL(fsPath).href);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return Uri.file(path.join(base.fsPath, ...parts));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: number | Position, b: number | Position, c?: number, d?: number) {
    this.start = typeof a === 'number' ? new Position(a, b as number) : a;
    this.end = typeof a === 'number' ? new Position(c ?? 0, d ?? 0) : (b as Position);
  }
}

export class TextEdit {
  constructor(
    readonly range: Range,
    readonly newText: string,
  ) {}
}

interface EntryMetadata {
  needsConfirmation?: boolean;
}

/** Records the operations of an edit the language client converts from LSP, with `needsConfirmation`. */
export class WorkspaceEdit {
  readonly operations: { op: string; uri: string; newUri?: string; edits?: TextEdit[]; needsConfirmation: boolean }[] = [];
  createFile(uri: Uri, _options?: unknown, metadata?: EntryMetadata): void {
    this.operations.push({ op: 'create', uri: uri.toString(), needsConfirmation: Boolean(metadata?.needsConfirmation) });
  }
  deleteFile(uri: Uri, _options?: unknown, metadata?: EntryMetadata): void {
    this.operations.push({ op: 'delete', uri: uri.toString(), needsConfirmation: Boolean(metadata?.needsConfirmation) });
  }
  renameFile(oldUri: Uri, newUri: Uri, _options?: unknown, metadata?: EntryMetadata): void {
    this.operations.push({
      op: 'rename',
      uri: oldUri.toString(),
      newUri: newUri.toString(),
      needsConfirmation: Boolean(metadata?.needsConfirmation),
    });
  }
  set(uri: Uri, edits: (TextEdit | [TextEdit, EntryMetadata | undefined])[]): void {
    const plain = edits.map((e) => (Array.isArray(e) ? e[0] : e));
    const confirm = edits.some((e) => Array.isArray(e) && Boolean(e[1]?.needsConfirmation));
    this.operations.push({ op: 'edit', uri: uri.toString(), edits: plain, needsConfirmation: confirm });
  }
}

export class CodeActionKind {
  static readonly Empty = new CodeActionKind('');
  static readonly QuickFix = new CodeActionKind('quickfix');
  static readonly Refactor = new CodeActionKind('refactor');
  static readonly RefactorExtract = new CodeActionKind('refactor.extract');
  static readonly RefactorInline = new CodeActionKind('refactor.inline');
  static readonly RefactorRewrite = new CodeActionKind('refactor.rewrite');
  static readonly Source = new CodeActionKind('source');
  static readonly SourceOrganizeImports = new CodeActionKind('source.organizeImports');
  constructor(readonly value: string) {}
  append(part: string): CodeActionKind {
    return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
  }
}

export class ThemeIcon {
  constructor(readonly id: string) {}
}

export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
export const LogLevel = { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 };
export const version = '1.91.0';

// What the tests read back.
export const recorded = {
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  views: new Map<string, unknown>(),
  context: new Map<string, unknown>(),
  messages: [] as { level: string; text: string; items: string[]; modal: boolean; detail?: string }[],
  /** Every `commands.executeCommand` call, in order. */
  executed: [] as { id: string; args: unknown[] }[],
  statusTexts: [] as string[],
  appliedEdits: [] as { label?: string; edit: WorkspaceEdit }[],
  progress: [] as string[],
  log: [] as string[],
  openedDocuments: [] as string[],
  quickPicks: [] as QuickPick<unknown>[],
};

/** The settings under `nexus.` the stubbed `getConfiguration` answers (package.json defaults otherwise). */
export const settings = new Map<string, unknown>();
export const defaults = new Map<string, unknown>();
export const workspaceFolders: { uri: Uri; name: string; index: number }[] = [];
/** What the next workspace/applyEdit answers. */
export const editAnswer = { applied: true };

const events = new NodeEmitter();
/** Something the tests wait for: `status`, `message`, `edit`. */
export function nextEvent(name: string): Promise<unknown> {
  return new Promise((resolve) => events.once(name, resolve));
}

const noopEvent = (): Disposable => new Disposable();

/** Generic answers for `on…` events and `register…` calls that are not recorded. */
function generic<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      if (prop in obj) return Reflect.get(obj, prop, receiver);
      if (typeof prop === 'string' && (prop.startsWith('onDid') || prop.startsWith('onWill'))) return noopEvent;
      if (typeof prop === 'string' && (prop.startsWith('register') || prop.startsWith('create'))) {
        return () => new Disposable();
      }
      return undefined;
    },
  });
}

/** The level new log channels start at, as VS Code's default (Info) unless a test changes it. */
export const logLevel = { initial: LogLevel.Info };

function logChannel(name: string) {
  const levels: Record<string, number> = { trace: LogLevel.Trace, debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning, error: LogLevel.Error };
  // As VS Code's LogOutputChannel: a message below the channel's level is not shown.
  const write = (level: string) => (text: string) => {
    if ((levels[level] ?? LogLevel.Info) >= channel.logLevel) recorded.log.push(`[${name} ${level}] ${text}`);
  };
  const channel = generic({
    name,
    logLevel: logLevel.initial,
    onDidChangeLogLevel: noopEvent,
    trace: write('trace'),
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: (text: unknown) => write('error')(String(text)),
    append: write('append'),
    appendLine: write('line'),
    replace: () => undefined,
    clear: () => undefined,
    show: () => undefined,
    hide: () => undefined,
    dispose: () => undefined,
  });
  return channel;
}

/** How the user answers the next message whose text matches: the button chosen (undefined: dismissed). */
export const messageAnswers: { match: RegExp; answer: string | undefined }[] = [];

function message(level: string) {
  return async (text: string, ...rest: unknown[]) => {
    const options = typeof rest[0] === 'object' && rest[0] !== null && !('title' in rest[0]) ? (rest.shift() as { modal?: boolean; detail?: string }) : {};
    const items = rest.map((i) => (typeof i === 'string' ? i : String((i as { title?: string }).title)));
    recorded.messages.push({ level, text, items, modal: Boolean(options.modal), detail: options.detail });
    events.emit('message', text);
    const index = messageAnswers.findIndex((a) => a.match.test(text));
    if (index < 0) return undefined;
    return messageAnswers.splice(index, 1)[0]?.answer;
  };
}

/** A QuickPick the test drives: `recorded.quickPicks` holds every one created. */
export class QuickPick<T> {
  items: T[] = [];
  selectedItems: T[] = [];
  busy = false;
  placeholder = '';
  matchOnDescription = false;
  visible = false;
  private readonly accepted = new EventEmitter<void>();
  private readonly hidden = new EventEmitter<void>();
  private readonly buttons = new EventEmitter<{ item: T; button: unknown }>();
  readonly onDidAccept = this.accepted.event;
  readonly onDidHide = this.hidden.event;
  readonly onDidTriggerItemButton = this.buttons.event;
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
    this.hidden.fire();
  }
  dispose(): void {
    this.visible = false;
    this.accepted.dispose();
    this.hidden.dispose();
    this.buttons.dispose();
  }
  /** The user picks `item` and presses Enter. */
  accept(item: T): void {
    this.selectedItems = [item];
    this.accepted.fire();
  }
  /** The user clicks the item's first button. */
  pressButton(item: T): void {
    this.buttons.fire({ item, button: (item as { buttons?: unknown[] }).buttons?.[0] });
  }
}

export const window = generic({
  createQuickPick: () => {
    const pick = new QuickPick<unknown>();
    recorded.quickPicks.push(pick);
    return pick;
  },
  activeTextEditor: undefined,
  visibleTextEditors: [],
  tabGroups: generic({ all: [] }),
  createOutputChannel: (name: string) => logChannel(name),
  createStatusBarItem: () => {
    const item = { text: '', tooltip: '', command: '' as unknown, show: () => undefined, hide: () => undefined, dispose: () => undefined };
    return new Proxy(item, {
      set(obj, prop, value) {
        Reflect.set(obj, prop, value);
        if (prop === 'text') {
          recorded.statusTexts.push(value as string);
          events.emit('status', value);
        }
        return true;
      },
    });
  },
  registerWebviewViewProvider: (id: string, provider: unknown) => {
    recorded.views.set(id, provider);
    return new Disposable();
  },
  showInformationMessage: message('info'),
  showWarningMessage: message('warning'),
  showErrorMessage: message('error'),
  showInputBox: async () => undefined,
  showTextDocument: async (uri: Uri) => {
    recorded.openedDocuments.push(uri.toString());
  },
  withProgress: async (options: { title?: string }, task: (p: unknown, t: unknown) => Promise<unknown>) => {
    recorded.progress.push(options.title ?? '');
    return task({ report: () => undefined }, new CancellationTokenSource().token);
  },
});

export const commands = generic({
  registerCommand: (id: string, run: (...args: unknown[]) => unknown) => {
    // As in VS Code: two registrations of one id is an error.
    if (recorded.commands.has(id)) throw new Error(`command '${id}' already exists`);
    recorded.commands.set(id, run);
    return new Disposable(() => recorded.commands.delete(id));
  },
  executeCommand: async (id: string, ...args: unknown[]) => {
    recorded.executed.push({ id, args });
    if (id === 'setContext') {
      recorded.context.set(args[0] as string, args[1]);
      return undefined;
    }
    return recorded.commands.get(id)?.(...args);
  },
});

export const workspace = generic({
  workspaceFolders,
  isTrusted: true,
  textDocuments: [],
  notebookDocuments: [],
  getConfiguration: (section?: string) => ({
    get: (key: string, fallback?: unknown) => {
      const full = section ? `${section}.${key}` : key;
      if (settings.has(full)) return settings.get(full);
      return defaults.has(full) ? defaults.get(full) : fallback;
    },
    has: (key: string) => settings.has(`${section}.${key}`) || defaults.has(`${section}.${key}`),
    inspect: () => undefined,
    update: async () => undefined,
  }),
  asRelativePath: (target: Uri | string) => {
    const full = typeof target === 'string' ? target : target.fsPath;
    const root = workspaceFolders[0]?.uri.fsPath;
    return root && full.startsWith(`${root}${path.sep}`) ? path.relative(root, full) : full;
  },
  openTextDocument: async (uri: Uri) => {
    const text = readFileSync(uri.fsPath, 'utf8');
    const lines = text.split('\n');
    const offset = (p: Position) => lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
    return {
      uri,
      version: 1,
      languageId: uri.fsPath.endsWith('.py') ? 'python' : 'plaintext',
      getText: (range?: Range) => (range ? text.slice(offset(range.start), offset(range.end)) : text),
    };
  },
  applyEdit: async (edit: WorkspaceEdit, metadata?: { label?: string }) => {
    recorded.appliedEdits.push({ label: metadata?.label, edit });
    events.emit('edit', edit);
    // As VS Code: changes that need confirmation open the Refactor Preview unticked, and
    // Apply there (without ticking) applies nothing.
    if (edit.operations.some((o) => o.needsConfirmation)) return false;
    return editAnswer.applied;
  },
});

export const languages = generic({
  match: () => 0,
  createDiagnosticCollection: () => generic({ set: () => undefined, delete: () => undefined, clear: () => undefined, dispose: () => undefined }),
});

export const env = generic({
  /** Set by a test to stand for a remote window (e.g. 'ssh-remote'). */
  remoteName: undefined as string | undefined,
  appName: 'Stub Code',
  language: 'en',
  clipboard: { writeText: async () => undefined, readText: async () => '' },
  openExternal: async () => true,
});

/** A Memento (workspaceState) over a map. */
export function memento(values = new Map<string, unknown>()) {
  return {
    values,
    keys: () => [...values.keys()],
    get: <T>(key: string, fallback?: T) => (values.has(key) ? (values.get(key) as T) : fallback),
    update: async (key: string, value: unknown) => {
      if (value === undefined) values.delete(key);
      else values.set(key, value);
    },
  };
}

/** A SecretStorage over a map, firing onDidChange like VS Code's. */
/** What `extensions.getExtension(id)` answers (e.g. a stand-in of ms-python.python); none by default. */
export const installedExtensions = new Map<string, { isActive: boolean; activate(): Promise<unknown>; exports: unknown }>();

export const extensions = generic({
  all: [] as unknown[],
  getExtension: (id: string) => installedExtensions.get(id),
});

export function secretStorage() {
  const values = new Map<string, string>();
  const changes = new EventEmitter<{ key: string }>();
  return {
    values,
    get: async (key: string) => values.get(key),
    store: async (key: string, value: string) => {
      values.set(key, value);
      changes.fire({ key });
    },
    delete: async (key: string) => {
      values.delete(key);
      changes.fire({ key });
    },
    onDidChange: changes.event,
  };
}

// Types the language client names (some it extends at load time) but our tests never exercise.
const UNUSED_TYPES = `CallHierarchyIncomingCall CallHierarchyItem CallHierarchyOutgoingCall CodeAction
  CodeActionTriggerKind CodeLens Color ColorInformation ColorPresentation CompletionItem
  CompletionItemKind CompletionItemTag CompletionList CompletionTriggerKind Diagnostic
  DiagnosticRelatedInformation DiagnosticSeverity DiagnosticTag DocumentHighlight DocumentHighlightKind
  DocumentLink DocumentSymbol FileType FoldingRange FoldingRangeKind Hover InlayHint InlayHintLabelPart
  InlineCompletionItem InlineCompletionList InlineCompletionTriggerKind InlineValueEvaluatableExpression
  InlineValueText InlineValueVariableLookup LinkedEditingRanges Location MarkdownString NotebookCellKind
  ParameterInformation RelativePattern SelectionRange SemanticTokens SemanticTokensEdit SemanticTokensEdits
  SignatureHelp SignatureHelpTriggerKind SignatureInformation SnippetString SnippetTextEdit SymbolInformation
  SymbolKind SymbolTag TabInputCustom TabInputNotebook TabInputText TabInputTextDiff TextDocumentSaveReason
  TypeHierarchyItem`;

/** The module as `require('vscode')` returns it. */
export const vscodeModule: Record<string, unknown> = {
  ...Object.fromEntries(UNUSED_TYPES.split(/\s+/).map((name) => [name, class {}])),
  Disposable, EventEmitter, CancellationError, CancellationTokenSource, Uri, Position, Range, TextEdit,
  WorkspaceEdit, CodeActionKind, ThemeIcon, StatusBarAlignment, ProgressLocation, LogLevel, version,
  window, commands, workspace, languages, env, extensions,
};
