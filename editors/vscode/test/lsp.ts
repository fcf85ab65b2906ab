// End-to-end harness: the real nexus-lsp over stdio, driven through the
// extension's protocol layer (NexusClient) on a vscode-jsonrpc connection, with
// the scripted model server as the model. Answers the server's requests the way
// VS Code does (configuration, progress tokens, applyEdit).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  type MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import type { SessionUpdate } from '../src/protocol';
import { NexusClient, type UpdateEvent } from '../src/session';
import { NEXUS_PYTHON } from './harness';

export interface ApplyEditParams {
  label?: string;
  edit: { documentChanges?: Record<string, unknown>[]; changes?: Record<string, unknown> };
}

export interface ApplyEditAnswer {
  applied: boolean;
  failureReason?: string;
}

export interface Harness {
  nexus: NexusClient;
  connection: MessageConnection;
  workspace: string;
  events: UpdateEvent[];
  edits: ApplyEditParams[];
  progress: { token: string | number; value: { kind: string; [key: string]: unknown } }[];
  /** How the "editor" answers workspace/applyEdit; applied by default. */
  answerEdit: (params: ApplyEditParams) => ApplyEditAnswer;
  updates(sessionId: string): SessionUpdate[];
  waitForUpdate(predicate: (u: SessionUpdate) => boolean): Promise<SessionUpdate>;
  /** Stops both servers; the workspace is kept when `keepWorkspace`. */
  close(keepWorkspace?: boolean): Promise<void>;
}

export type Script = { responses: Record<string, unknown>[] };

const WAIT_MS = 15_000;

export function settingsFor(modelUrl: string): Record<string, unknown> {
  return {
    provider: { kind: 'openai', baseUrl: `${modelUrl}/v1`, model: 'scripted', apiKeyEnv: 'NEXUS_TEST_KEY', maxRetries: 0 },
  };
}

export interface ModelServer {
  url: string;
  close(): Promise<void>;
}

/** The scripted model server as a child process (`listening http://127.0.0.1:PORT`). */
export async function startModelServer(script: Script): Promise<ModelServer> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-'));
  const scriptFile = path.join(scratch, 'script.json');
  writeFileSync(scriptFile, JSON.stringify(script));
  const model = spawn(NEXUS_PYTHON, ['-m', 'nexus_lsp.testing', '--script', scriptFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const close = async (): Promise<void> => {
    model.kill('SIGTERM');
    await withTimeout(exited(model), 'model server exit').catch(() => model.kill('SIGKILL'));
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    const url = await firstLine(model, /^listening (http:\/\/127\.0\.0\.1:\d+)$/);
    return { url, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function startHarness(
  script: Script,
  options: { workspace?: string; python?: string } = {},
): Promise<Harness> {
  const workspace = options.workspace ?? mkdtempSync(path.join(os.tmpdir(), 'nexus-vscode-ws-'));
  const model = await startModelServer(script);
  const server = spawn(options.python ?? NEXUS_PYTHON, ['-m', 'nexus_lsp'], {
    cwd: workspace,
    env: { ...process.env, NEXUS_TEST_KEY: 'test-key' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  try {
    return await connect(server, model, workspace, settingsFor(model.url));
  } catch (err) {
    server.kill('SIGKILL');
    await model.close();
    throw err;
  }
}

async function connect(
  server: ChildProcess,
  model: ModelServer,
  workspace: string,
  settings: Record<string, unknown>,
): Promise<Harness> {
  const stderr: string[] = [];
  server.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const connection = createMessageConnection(
    new StreamMessageReader(server.stdout!),
    new StreamMessageWriter(server.stdin!),
  );
  const waiters: { predicate: (u: SessionUpdate) => boolean; resolve: (u: SessionUpdate) => void }[] = [];
  const harness: Harness = {
    nexus: new NexusClient(connection),
    connection,
    workspace,
    events: [],
    edits: [],
    progress: [],
    answerEdit: () => ({ applied: true }),
    updates: (sessionId) => harness.events.map((e) => e.update).filter((u) => u.sessionId === sessionId),
    waitForUpdate: (predicate) => {
      const seen = harness.events.find((e) => predicate(e.update));
      if (seen) return Promise.resolve(seen.update);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no such update arrived')), WAIT_MS);
        waiters.push({
          predicate,
          resolve: (u) => {
            clearTimeout(timer);
            resolve(u);
          },
        });
      });
    },
    close: async (keepWorkspace = false) => {
      try {
        await withTimeout(connection.sendRequest('shutdown'), 'shutdown');
        await connection.sendNotification('exit');
        // As VS Code's client does after `exit`: end the stream.
        server.stdin?.end();
        await withTimeout(exited(server), 'server exit').catch((err: Error) => {
          throw new Error(`${err.message}; server stderr:\n${stderr.join('').slice(-3000)}`);
        });
      } finally {
        server.kill('SIGKILL');
        connection.dispose();
        await model.close();
        if (!keepWorkspace) rmSync(workspace, { recursive: true, force: true });
      }
    },
  };
  harness.nexus.onUpdate((event) => {
    harness.events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(event.update)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event.update);
      }
    }
  });
  connection.onRequest('workspace/configuration', (params: { items: { section?: string }[] }) =>
    params.items.map((item) => (item.section === 'nexus' ? settings : null)),
  );
  connection.onRequest('window/workDoneProgress/create', () => null);
  connection.onRequest('client/registerCapability', () => null);
  connection.onRequest('window/showDocument', () => ({ success: true }));
  connection.onRequest('workspace/applyEdit', (params: ApplyEditParams) => {
    harness.edits.push(params);
    return harness.answerEdit(params);
  });
  connection.onNotification('$/progress', (params: Harness['progress'][number]) => {
    harness.progress.push(params);
  });
  connection.onNotification('window/logMessage', () => undefined);
  connection.onNotification('window/showMessage', (params: { message: string }) => {
    stderr.push(params.message);
  });
  connection.listen();

  const rootUri = pathToFileURL(workspace).href;
  await withTimeout(
    connection.sendRequest('initialize', {
      processId: process.pid,
      clientInfo: { name: 'nexus-vscode-tests' },
      rootUri,
      workspaceFolders: [{ uri: rootUri, name: path.basename(workspace) }],
      initializationOptions: settings,
      capabilities: {
        workspace: {
          applyEdit: true,
          configuration: true,
          workspaceFolders: true,
          didChangeConfiguration: { dynamicRegistration: true },
          workspaceEdit: {
            documentChanges: true,
            resourceOperations: ['create', 'rename', 'delete'],
            failureHandling: 'textOnlyTransactional',
          },
        },
        window: { workDoneProgress: true, showDocument: { support: true } },
      },
    }),
    `initialize (server stderr: ${stderr.join('')})`,
  );
  await connection.sendNotification('initialized', {});
  return harness;
}

/** Resolves with the first capture group of the process's first stdout line. */
function firstLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const errors: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      const match = pattern.exec(line);
      lines.close();
      if (match?.[1]) resolve(match[1]);
      else reject(new Error(`unexpected first line ${JSON.stringify(line)}`));
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${errors.join('')}`)));
    child.once('error', reject);
  });
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
