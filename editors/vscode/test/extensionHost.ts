// Running the built extension bundle in the stand-in VS Code (test/vscodeStub.ts),
// shared by the suites that activate it.
import Module, { createRequire } from 'node:module';
import * as path from 'node:path';
import type { ChatState } from '../src/chatState';
import { EXTENSION_DIR } from './harness';
import * as stub from './vscodeStub';

const WAIT_MS = 15_000;

export interface Extension {
  activate(context: unknown): void;
  deactivate(): Promise<void>;
}

export interface ChatProvider {
  state: ChatState;
  resolveWebviewView(view: unknown): void;
}

/** `dist/extension.js` with `require('vscode')` answered by the stub. */
export function loadExtension(): Extension {
  const moduleWithLoad = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = moduleWithLoad._load;
  moduleWithLoad._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? stub.vscodeModule : load.call(this, request, ...rest);
  };
  return createRequire(__filename)(path.join(EXTENSION_DIR, 'dist', 'extension.js')) as Extension;
}

/** Polls `probe` until it gives a truthy value. */
export async function until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An extension context as VS Code passes it to `activate`. */
export function extensionContext(workspaceState = stub.memento()) {
  return {
    subscriptions: [] as { dispose(): unknown }[],
    secrets: stub.secretStorage(),
    workspaceState,
    extensionUri: stub.Uri.file(EXTENSION_DIR),
  };
}
