// src/protocol.ts mirrors nexus_lsp/wire.py: every name we spell must be the server's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as protocol from '../src/protocol';
import { NEXUS_PYTHON } from './harness';

/**
 * Names of protocol v2 (docs/shared protocol-v2.md, final) whose server side has not
 * landed on this branch yet: the UI is built against the contract. Each must be
 * absent from wire.py; once it lands the test fails until it is taken off this list
 * and checked like the others.
 */
const NOT_LANDED = new Set<string>([]);

describe('protocol mirror', () => {
  it('spells every wire name exactly as nexus_lsp/wire.py does', () => {
    const script =
      'import json, nexus_lsp.wire as w; ' +
      'print(json.dumps({k: v for k, v in vars(w).items() if k.isupper() and isinstance(v, (str, int))}))';
    const wire: Record<string, unknown> = JSON.parse(execFileSync(NEXUS_PYTHON, ['-c', script], { encoding: 'utf8' }));
    const ours = Object.entries(protocol).filter(([, v]) => typeof v === 'string' || typeof v === 'number');
    assert.ok(ours.length >= 30, 'the constants were found');
    for (const [name, value] of ours) {
      if (NOT_LANDED.has(name)) {
        assert.equal(wire[name], undefined, `${name} landed in wire.py: take it off NOT_LANDED`);
        continue;
      }
      assert.equal(value, wire[name], `${name} in src/protocol.ts vs nexus_lsp/wire.py`);
    }
  });

  it('accepts well-formed updates and names what is wrong with others', () => {
    const update = { sessionId: 's', turnId: 1, seq: 1, kind: 'content', text: 'x' };
    assert.deepEqual(protocol.parseUpdate(update), update);
    assert.equal(protocol.parseUpdate({ ...update, seq: 1.5 }), 'update without an integer seq');
    assert.equal(protocol.parseUpdate({ ...update, sessionId: 3 }), 'update without a string sessionId');
    assert.equal(protocol.parseUpdate({ ...update, turnId: '1' }), 'update without a numeric turnId');
    assert.equal(protocol.parseUpdate('x'), 'update params are not an object');
  });
});
