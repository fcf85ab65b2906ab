// The managed Python environment against a real `python -m venv` and real pip:
// the wheel the package step bundles (bundled/*.whl), its dependencies from a local
// folder (repacked from the project venv by fixtures/wheelhouse.py; no network),
// then a real turn through the server started from the environment. Also the
// failure paths: no suitable Python, no package index, a broken wheel.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  bundledWheel,
  commandExists,
  ENV_DIR,
  ensureManagedServer,
  ManagedEnvError,
  type ManagedEnvOptions,
  type PythonCandidate,
} from '../src/managedEnv';
import { EXTENSION_DIR, NEXUS_PYTHON } from './harness';
import { startHarness } from './lsp';

const TIMEOUT = { timeout: 180_000 };
// Only the folders the tests name: not the machine's pip configuration.
const ENV: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PIP_'))),
  PIP_CONFIG_FILE: os.devNull,
};
const PYTHON: PythonCandidate = { command: NEXUS_PYTHON, source: 'the test' };

let root: string;
let wheel: string;
let wheelhouse: string;

function options(storage: string, overrides: Partial<ManagedEnvOptions> = {}): ManagedEnvOptions & { reports: string[] } {
  const reports: string[] = [];
  return {
    storageDir: storage,
    wheel,
    candidates: [PYTHON],
    pipArgs: ['--no-index', '--find-links', wheelhouse],
    env: ENV,
    reports,
    withProgress: (task) => task((message) => reports.push(message)),
    ...overrides,
  };
}

function fakePython(name: string, script: string): string {
  const file = path.join(root, name);
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
  return file;
}

async function failure(promise: Promise<unknown>): Promise<ManagedEnvError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ManagedEnvError, `expected a ManagedEnvError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the environment setup to fail');
}

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'nexus-managed-'));
  wheel = await bundledWheel(path.join(EXTENSION_DIR, 'bundled'));
  wheelhouse = path.join(root, 'wheelhouse');
  execFileSync(NEXUS_PYTHON, [path.join(EXTENSION_DIR, 'test', 'fixtures', 'wheelhouse.py'), wheelhouse]);
});

after(() => rmSync(root, { recursive: true, force: true }));

describe('the managed Python environment', () => {
  it('installs the bundled wheel once, with progress, and serves a turn from it', TIMEOUT, async () => {
    const storage = path.join(root, 'storage-install');
    // Two windows starting at once: one installs, the other waits and reuses it.
    const first = options(storage, { candidates: [{ command: 'no-such-python-3', source: 'the PATH' }, PYTHON] });
    const second = options(storage);
    const [a, b] = await Promise.all([ensureManagedServer(first), ensureManagedServer(second)]);
    assert.deepEqual([a.installed, b.installed].sort(), [false, true]);
    assert.deepEqual(a.args, ['-m', 'nexus_lsp']);
    assert.equal(a.command, path.join(storage, ENV_DIR, 'bin', 'python'));
    assert.equal(b.command, a.command);
    const reports = a.installed ? first.reports : second.reports;
    assert.ok(reports.includes('installing nexus-lsp and its dependencies'), reports.join('\n'));

    const version = execFileSync(a.command, [...a.args, '--version'], { encoding: 'utf8' });
    assert.equal(version.trim(), `nexus-lsp ${path.basename(wheel).split('-')[1]}`);
    const located = execFileSync(a.command, ['-c', 'import nexus_lsp; print(nexus_lsp.__file__)'], { encoding: 'utf8' });
    assert.ok(located.startsWith(path.join(storage, ENV_DIR)), located);

    const h = await startHarness({ responses: [{ text: 'Hello from the managed environment.' }] }, { python: a.command });
    try {
      const result = await h.nexus.send({ prompt: 'say hello' });
      assert.equal(result.stopReason, 'endTurn');
      assert.equal(result.content, 'Hello from the managed environment.');
    } finally {
      await h.close();
    }

    // A later start reuses it without a progress notification.
    const later = options(storage);
    const again = await ensureManagedServer(later);
    assert.equal(again.installed, false);
    assert.deepEqual(later.reports, []);
  });

  it('replaces the environment when the extension brings a different wheel', TIMEOUT, async () => {
    const storage = path.join(root, 'storage-update');
    // The dependencies are not what this test is about: install the wheel alone.
    const quick = { pipArgs: ['--no-deps', '--no-index'] };
    assert.equal((await ensureManagedServer(options(storage, quick))).installed, true);
    const marker = path.join(storage, ENV_DIR, 'from-the-old-version');
    writeFileSync(marker, '');
    assert.equal((await ensureManagedServer(options(storage, quick))).installed, false);

    // Same name, other bytes (a zip comment): what a rebuilt extension carries.
    const updated = path.join(root, 'update', path.basename(wheel));
    mkdirSync(path.dirname(updated), { recursive: true });
    copyFileSync(wheel, updated);
    execFileSync(NEXUS_PYTHON, ['-c', `import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], "a") as z: z.comment = b"v2"`, updated]);
    const replaced = await ensureManagedServer(options(storage, { ...quick, wheel: updated }));
    assert.equal(replaced.installed, true);
    assert.equal(existsSync(marker), false, 'the old environment is gone');
  });

  it('says how to get Python when none is suitable', TIMEOUT, async () => {
    const old = fakePython('python3.9', 'echo \'{"version": [3, 9, 2], "executable": "/usr/bin/python3.9"}\'');
    const noVenv = fakePython('python-novenv', 'echo "ModuleNotFoundError: No module named \'ensurepip\'" >&2; exit 1');
    const storage = path.join(root, 'storage-nopython');
    const err = await failure(
      ensureManagedServer(
        options(storage, {
          candidates: [
            { command: path.join(root, 'missing', 'python3'), source: 'the Python extension' },
            { command: old, source: 'the PATH' },
            { command: noVenv, source: 'the PATH' },
          ],
        }),
      ),
    );
    assert.equal(err.kind, 'noPython');
    assert.match(err.message, /needs Python 3\.11 or newer/);
    assert.match(err.message, /python3 \(the Python extension\): not found/);
    assert.match(err.message, /is Python 3\.9/);
    assert.match(err.message, /python3-venv/);
    assert.match(err.message, /Python: Select Interpreter/);
    assert.match(err.message, /nexus\.server\.command/);
    assert.equal(existsSync(path.join(storage, ENV_DIR)), false);
  });

  it('says the package index could not be reached, and leaves no half-made environment', TIMEOUT, async () => {
    const storage = path.join(root, 'storage-offline');
    const empty = path.join(root, 'empty-index');
    mkdirSync(empty, { recursive: true });
    const err = await failure(ensureManagedServer(options(storage, { pipArgs: ['--no-index', '--find-links', empty] })));
    assert.equal(err.kind, 'network');
    assert.match(err.message, /could not download the dependencies of nexus-lsp/);
    assert.match(err.message, /Check the network connection/);
    assert.match(err.message, /Nexus: Restart Server/);
    assert.equal(existsSync(path.join(storage, ENV_DIR)), false);
  });

  it("reports pip's own error for a broken wheel", TIMEOUT, async () => {
    const storage = path.join(root, 'storage-broken');
    const broken = path.join(root, 'broken', path.basename(wheel));
    mkdirSync(path.dirname(broken), { recursive: true });
    writeFileSync(broken, 'not a zip file');
    const err = await failure(ensureManagedServer(options(storage, { wheel: broken })));
    assert.equal(err.kind, 'pip');
    assert.match(err.message, /pip could not install nexus-lsp/);
    assert.match(err.message, /Nexus: Show Log/);
    assert.equal(existsSync(path.join(storage, ENV_DIR)), false);
  });

  it('names the missing wheel of a build without one', async () => {
    const err = await failure(bundledWheel(path.join(root, 'no-bundled')));
    assert.equal(err.kind, 'noWheel');
    assert.match(err.message, /carries no nexus-lsp wheel/);
  });

  it('tells whether a server command exists, on the PATH or as a path', () => {
    const bin = path.dirname(NEXUS_PYTHON);
    assert.equal(commandExists('python', { PATH: `/nonexistent:${bin}` }), true);
    assert.equal(commandExists('python', { PATH: '/nonexistent' }), false);
    assert.equal(commandExists(NEXUS_PYTHON, { PATH: '' }), true);
    assert.equal(commandExists(path.join(bin, 'no-such-exe'), { PATH: bin }), false);
  });
});
