// The server's log in the output channel: stderr records at their own level,
// window/logMessage only for what stderr does not carry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerStderr, showLogMessage } from '../src/serverLog';

function sink() {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => lines.push(`${level} ${message}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('the server log', () => {
  it('shows stderr records at their level, with the traceback of a record in the same chunk', () => {
    const out = sink();
    const stderr = new ServerStderr(out);
    stderr.write('2026-11-30 14:00:00,123 WARNING nexus_lsp.session: turn 1 failed\n2026-11-30 14:00:00,124 ERR');
    stderr.write('OR nexus_lsp.store: boom\nTraceback (most recent call last):\n  File "x.py"\nValueError: bad\n');
    stderr.write('Fatal Python error: Aborted\n');
    stderr.write('no newline at the end');
    stderr.end();
    assert.deepEqual(out.lines, [
      'warn WARNING nexus_lsp.session: turn 1 failed',
      'error ERROR nexus_lsp.store: boom',
      'error Traceback (most recent call last):',
      'error   File "x.py"',
      'error ValueError: bad',
      'error Fatal Python error: Aborted',
      'error no newline at the end',
    ]);
    assert.equal(stderr.lastLines().at(-1), 'no newline at the end');
  });

  it('keeps INFO and debug messages from window/logMessage and drops warnings and errors (they come on stderr)', () => {
    const out = sink();
    showLogMessage(out, { type: 2, message: 'WARNING x: once from stderr' });
    showLogMessage(out, { type: 1, message: 'ERROR x: once from stderr' });
    showLogMessage(out, { type: 3, message: 'INFO x: only here' });
    showLogMessage(out, { type: 4, message: 'a log line' });
    assert.deepEqual(out.lines, ['info INFO x: only here', 'debug a log line']);
  });
});
