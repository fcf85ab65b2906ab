// Unit tests of the protocol layer over a fake connection: seq order, gaps, errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SESSION_LOAD, SESSION_SEND, SESSION_UPDATE } from '../src/protocol';
import { errorReason, isCancelledError, NexusClient, type RpcConnection, type UpdateEvent } from '../src/session';

class FakeConnection implements RpcConnection {
  handler: ((params: unknown) => void) | undefined;
  readonly requests: { method: string; params: unknown; args: number }[] = [];
  answer: (method: string, params: unknown) => unknown = () => ({});

  async sendRequest<R>(method: string, params: unknown, ...rest: unknown[]): Promise<R> {
    this.requests.push({ method, params, args: 2 + rest.length });
    return this.answer(method, params) as R;
  }
  sendNotification(): void {}
  onNotification(method: string, handler: (params: unknown) => void) {
    assert.equal(method, SESSION_UPDATE);
    this.handler = handler;
    return { dispose: () => (this.handler = undefined) };
  }
  push(params: unknown): void {
    this.handler?.(params);
  }
}

function setup() {
  const conn = new FakeConnection();
  const logs: string[] = [];
  const client = new NexusClient(conn, (m) => logs.push(m));
  const events: UpdateEvent[] = [];
  client.onUpdate((e) => events.push(e));
  return { conn, client, events, logs };
}

const update = (seq: number, kind = 'content', sessionId = 's1') => ({ sessionId, turnId: 1, seq, kind, text: 'x' });

describe('NexusClient', () => {
  it('delivers updates in order and reports lost ones', () => {
    const { conn, events, logs } = setup();
    conn.push(update(5, 'turnStart'));
    conn.push(update(6));
    conn.push(update(9));
    assert.deepEqual(
      events.map((e) => [e.update.seq, e.missed]),
      [
        [5, 0],
        [6, 0],
        [9, 2],
      ],
    );
    assert.ok(logs.some((l) => l.includes('lost 2 update(s)')));
  });

  it('drops duplicates but accepts a fresh numbering at a turnStart', () => {
    const { conn, client, events } = setup();
    conn.push(update(3));
    conn.push(update(3));
    conn.push(update(1, 'turnStart'));
    conn.push(update(2));
    assert.deepEqual(
      events.map((e) => e.update.seq),
      [3, 1, 2],
    );
    client.resetSequences();
    conn.push(update(1));
    assert.equal(events.at(-1)?.update.seq, 1);
  });

  it('counts seq per session', () => {
    const { conn, events } = setup();
    conn.push(update(1, 'content', 'a'));
    conn.push(update(7, 'content', 'b'));
    conn.push(update(2, 'content', 'a'));
    assert.deepEqual(
      events.map((e) => e.missed),
      [0, 0, 0],
    );
  });

  it('ignores malformed updates with a reason', () => {
    const { conn, events, logs } = setup();
    conn.push({ sessionId: 's1', turnId: 1, seq: 1, kind: 'bogus' });
    conn.push({ sessionId: 's1', turnId: 1, kind: 'content' });
    conn.push(null);
    assert.equal(events.length, 0);
    assert.equal(logs.length, 3);
    assert.match(logs[0] ?? '', /unknown kind "bogus"/);
  });

  it('sends a token only when there is one', async () => {
    const { conn, client } = setup();
    conn.answer = () => ({ sessionId: 's1' });
    await client.send({ prompt: 'hi' });
    assert.equal(conn.requests[0]?.args, 2);
    assert.equal(conn.requests[0]?.method, SESSION_SEND);
  });

  it('loads a session the server does not know and retries the turn once', async () => {
    const { conn, client } = setup();
    let sends = 0;
    conn.answer = (method) => {
      if (method === SESSION_SEND && sends++ === 0) {
        throw Object.assign(new Error('unknown'), { code: -32803, data: { reason: 'unknownSession' } });
      }
      return { sessionId: 's1', stopReason: 'endTurn' };
    };
    const result = await client.sendResuming({ sessionId: 's1', prompt: 'hi' });
    assert.equal(result.stopReason, 'endTurn');
    assert.deepEqual(
      conn.requests.map((r) => r.method),
      [SESSION_SEND, SESSION_LOAD, SESSION_SEND],
    );
  });

  it('classifies errors', () => {
    assert.equal(isCancelledError({ code: -32800, message: 'cancelled' }), true);
    assert.equal(isCancelledError(new Error('x')), false);
    assert.equal(errorReason({ code: -32803, message: 'busy', data: { reason: 'sessionBusy' } }), 'sessionBusy');
    assert.equal(errorReason({ code: -32803, message: 'busy' }), undefined);
  });
});
