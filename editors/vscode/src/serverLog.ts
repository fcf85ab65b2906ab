/**
 * The server's log in the output channel, each record once.
 *
 * nexus-lsp logs warnings and errors to stderr for its whole life, and, from
 * `initialized` until `exit`, every record of INFO and above to the editor with
 * `window/logMessage` as well (`nexus_lsp/server/logs.py`). Shown from both, each
 * warning appeared twice (once from stderr as an error). So warnings and errors
 * are taken from stderr only, at their own level, and `window/logMessage`
 * contributes the INFO records stderr does not carry. No `vscode` import:
 * unit-tested in plain Node.
 */

/** The output channel's logging methods. */
export interface LogSink {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** `window/logMessage` types (LSP MessageType). */
const MESSAGE_ERROR = 1;
const MESSAGE_WARNING = 2;
const MESSAGE_INFO = 3;

/** A record line on stderr: `2025-01-31 12:00:00,123 WARNING nexus_lsp.x: text` (logs.py's format). */
const RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) /;
const KEPT_LINES = 20;

type Level = 'info' | 'warn' | 'error';

function levelOf(name: string): Level {
  if (name === 'WARNING') return 'warn';
  if (name === 'ERROR' || name === 'CRITICAL') return 'error';
  return 'info';
}

/** Reads the server's stderr into the channel; keeps the last lines for a start-up failure message. */
export class ServerStderr {
  private partial = '';
  private readonly last: string[] = [];
  private ended: Promise<void> | undefined;

  constructor(private readonly sink: LogSink) {}

  /** Read the process's stderr. */
  attach(input: NodeJS.ReadableStream): void {
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => this.write(chunk));
    this.ended = new Promise((resolve) => {
      input.on('end', () => {
        this.end();
        resolve();
      });
      input.on('close', () => resolve());
    });
  }

  /** Wait (at most `ms`) until the stream has ended; at once when none was attached. */
  async closedWithin(ms: number): Promise<void> {
    if (!this.ended) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([this.ended, timeout]);
    clearTimeout(timer);
  }

  /**
   * One chunk as it arrived. logging writes a record with its traceback in one
   * write, so lines following a record in the same chunk are that record's and
   * keep its level; other output (a crash, a stray print) is an error.
   */
  write(chunk: string): void {
    const lines = (this.partial + chunk).split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    let level: Level = 'error';
    for (const line of lines) {
      const record = RECORD.exec(line);
      if (record) level = levelOf(record[1] ?? '');
      this.line(level, record ? line.slice(24) : line);
    }
  }

  /** The stream ended: show what is left of an unfinished line. */
  end(): void {
    if (this.partial) this.line('error', this.partial);
    this.partial = '';
  }

  /** The last non-empty lines (without timestamps), oldest first. */
  lastLines(): string[] {
    return [...this.last];
  }

  private line(level: Level, text: string): void {
    if (!text.trim()) return;
    this.last.push(text);
    if (this.last.length > KEPT_LINES) this.last.shift();
    this.sink[level](text);
  }
}

/**
 * A `window/logMessage` from the server: warnings and errors are dropped (the
 * same records arrive on stderr, see {@link ServerStderr}), the rest is shown.
 */
export function showLogMessage(sink: LogSink, params: { type: number; message: string }): void {
  if (params.type === MESSAGE_ERROR || params.type === MESSAGE_WARNING) return;
  if (params.type === MESSAGE_INFO) sink.info(params.message);
  else sink.debug(params.message);
}
