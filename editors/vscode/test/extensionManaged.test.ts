// The built extension in the stand-in VS Code with no nexus.server.* setting: it runs
// the wheel it carries (bundled/) from its own environment in global storage. First
// with no suitable Python (one clear error), then with the interpreter a stand-in of
// the Python extension names (installed with a progress notification; dependencies
// from a local folder through pip's environment variables, no network), then a
// restart that reuses the environment.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENV_DIR } from '../src/managedEnv';
import { EXTENSION_DIR, manifestProperties, NEXUS_PYTHON } from './harness';
import * as stub from './vscodeStub';

const WAIT_MS = 120_000;
const TIMEOUT = { timeout: 180_000 };

interface Extension {
  activate(context: unknown): void;
  deactivate(): Promise<void>;
}

function loadExtension(): Extension {
  const moduleWithLoad = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = moduleWithLoad._load;
  moduleWithLoad._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? stub.vscodeModule : load.call(this, request, ...rest);
  };
  return createRequire(__filename)(path.join(EXTENSION_DIR, 'dist', 'extension.js')) as Extension;
}

/** The executables of our server processes (children of this test running `-m nexus_lsp`). */
function serverExecutables(): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const module = cmdline.indexOf('nexus_lsp');
      if (ppid === process.pid && module >= 1 && cmdline[module - 1] === '-m') found.push(cmdline[0]);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the extension with no server setting', () => {
  let root: string;
  let storage: string;
  let extension: Extension;
  const savedEnv = { ...process.env };
  const secrets = stub.secretStorage();
  const context = {
    subscriptions: [] as { dispose(): unknown }[],
    secrets,
    extensionUri: stub.Uri.file(EXTENSION_DIR),
    globalStorageUri: stub.Uri.file('/nonexistent'),
  };
  const run = (id: string, ...args: unknown[]) => {
    const command = stub.recorded.commands.get(id);
    assert.ok(command, `command ${id} is registered`);
    return command(...args);
  };

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-managed-'));
    storage = path.join(root, 'globalStorage');
    context.globalStorageUri = stub.Uri.file(storage);
    const wheelhouse = path.join(root, 'wheelhouse');
    execFileSync(NEXUS_PYTHON, [path.join(EXTENSION_DIR, 'test', 'fixtures', 'wheelhouse.py'), wheelhouse]);
    // On the PATH only a Python too old to use.
    const bin = path.join(root, 'bin');
    mkdirSync(bin);
    for (const name of ['python3', 'python']) {
      writeFileSync(path.join(bin, name), '#!/bin/sh\necho \'{"version": [3, 8, 10], "executable": "/usr/bin/python3.8"}\'\n');
      chmodSync(path.join(bin, name), 0o755);
    }
    for (const key of Object.keys(process.env)) if (key.startsWith('PIP_')) delete process.env[key];
    Object.assign(process.env, {
      PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
      PIP_CONFIG_FILE: os.devNull,
      PIP_NO_INDEX: '1',
      PIP_FIND_LINKS: wheelhouse,
    });
    const workspace = path.join(root, 'ws');
    mkdirSync(workspace);
    for (const [key, property] of Object.entries(manifestProperties())) stub.defaults.set(key, property.default);
    stub.workspaceFolders.push({ uri: stub.Uri.file(workspace), name: 'ws', index: 0 });
    extension = loadExtension();
  });

  after(async () => {
    if (process.env.NEXUS_TEST_DEBUG) console.error(stub.recorded.log.join('\n'), stub.recorded.messages);
    await extension?.deactivate();
    for (const d of context.subscriptions) d.dispose();
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('without a suitable Python: one error saying how to fix it, no install', TIMEOUT, async () => {
    extension.activate(context);
    const error = await until('the error message', () => stub.recorded.messages.find((m) => m.level === 'error'));
    assert.match(error.text, /^Nexus: could not set up the Nexus server: Nexus needs Python 3\.11 or newer/);
    assert.match(error.text, /python3 \(the PATH\) is Python 3\.8/);
    assert.match(error.text, /Python: Select Interpreter/);
    assert.match(error.text, /nexus\.server\.command/);
    await until('the failed status', () => stub.recorded.statusTexts.includes('$(error) Nexus'));
    assert.equal(stub.recorded.messages.filter((m) => m.level === 'error').length, 1);
    assert.deepEqual(stub.recorded.progress, ['Nexus: first start']);
    assert.deepEqual(serverExecutables(), []);
  });

  it("installs the bundled wheel with the Python extension's interpreter and starts the server from it", TIMEOUT, async () => {
    const asked: unknown[] = [];
    stub.installedExtensions.set('ms-python.python', {
      isActive: true,
      activate: async () => undefined,
      exports: {
        environments: {
          getActiveEnvironmentPath: (scope: unknown) => {
            asked.push(scope);
            return { id: 'test', path: NEXUS_PYTHON };
          },
          resolveEnvironment: async () => ({ executable: { uri: stub.Uri.file(NEXUS_PYTHON) } }),
        },
      },
    });
    // In an untrusted workspace the Python extension's choice is not used (it may be the workspace's own).
    (stub.workspace as { isTrusted: boolean }).isTrusted = false;
    const before = stub.recorded.messages.length;
    await run('nexus.restartServer');
    assert.deepEqual(asked, []);
    const untrusted = stub.recorded.messages.slice(before);
    assert.equal(untrusted.length, 1, JSON.stringify(untrusted));
    assert.match(untrusted[0]?.text ?? '', /found none \(python3 \(the PATH\) is Python 3\.8/);
    (stub.workspace as { isTrusted: boolean }).isTrusted = true;

    stub.recorded.progress.length = 0;
    await run('nexus.restartServer');
    assert.ok(stub.recorded.commands.has('nexus.ask'), "the server's commands are registered");
    assert.deepEqual(stub.recorded.progress, ['Nexus: first start']);
    assert.equal((asked[0] as stub.Uri | undefined)?.fsPath, stub.workspaceFolders[0]?.uri.fsPath);
    const python = path.join(storage, ENV_DIR, 'bin', 'python');
    assert.deepEqual(await until('the server process', () => serverExecutables().length === 1 && serverExecutables()), [
      python,
    ]);
    assert.ok(stub.recorded.log.some((line) => line.includes('the Python extension')), 'the log says which Python');
  });

  it('reuses the environment on the next start', TIMEOUT, async () => {
    stub.recorded.progress.length = 0;
    await run('nexus.restartServer');
    assert.deepEqual(stub.recorded.progress, []);
    const python = path.join(storage, ENV_DIR, 'bin', 'python');
    assert.deepEqual(await until('the server process', () => serverExecutables().length === 1 && serverExecutables()), [
      python,
    ]);
  });

  it('a server command that does not exist: one message naming the setting', TIMEOUT, async () => {
    stub.settings.set('nexus.server.command', 'nexus-lsp-not-installed');
    const before = stub.recorded.messages.length;
    await run('nexus.restartServer');
    const messages = stub.recorded.messages.slice(before);
    assert.deepEqual(
      messages.map((m) => m.level),
      ['error'],
      JSON.stringify(messages),
    );
    assert.match(messages[0]?.text ?? '', /nexus\.server\.command is "nexus-lsp-not-installed", which was not found/);
    assert.match(messages[0]?.text ?? '', /clear nexus\.server\.command/);
    stub.settings.delete('nexus.server.command');
  });
});
