/**
 * The `nexus-lsp` process and its language client (VS Code layer).
 *
 * Starts the server from the `nexus.server.*` settings with the API key from
 * SecretStorage in its environment, serves the protocol settings to
 * `initializationOptions`, `workspace/configuration` and
 * `didChangeConfiguration`, and relays `nexus/session/update` to the chat view
 * through one {@link NexusClient}. A new key or server setting means a new
 * process, since the environment is fixed at spawn.
 */

import * as vscode from 'vscode';
import {
  CancellationToken,
  type ConfigurationParams,
  DidChangeConfigurationNotification,
  LanguageClient,
  type LanguageClientOptions,
  ResponseError,
  type ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { commandExists, ManagedEnvError } from './managedEnv';
import { COMMAND_ASK, SETTINGS_SECTION } from './protocol';
import type { ManagedLauncher } from './pythonEnv';
import { type CancellationTokenLike, NexusClient, type RpcConnection, type UpdateEvent } from './session';
import { apiKeyEnv, type ConfigGetter, protocolSettings, type ServerCommand, serverArgs, serverCommand } from './settings';

export const API_KEY_SECRET = 'nexus.apiKey';
const REJECTED_EDIT =
  'VS Code did not apply the edit (the document changed since it was read, or the edit was declined)';

const getter = (scope?: vscode.Uri): ConfigGetter => {
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION, scope);
  return (key) => config.get(key);
};

export class NexusServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private nexus: NexusClient | undefined;
  private starting: Promise<NexusClient> | undefined;
  private readonly updates = new vscode.EventEmitter<UpdateEvent>();
  private readonly states = new vscode.EventEmitter<'starting' | 'running' | 'stopped' | 'failed'>();
  /**
   * Runs the server's `nexus.ask` command (what its code actions invoke) in the
   * chat instead, where the answer streams and can be stopped, as users of chat
   * extensions expect. Unset: the command goes to the server.
   */
  askHandler: ((argument: unknown) => Promise<unknown>) | undefined;
  /** Every session update of the current server process, in seq order. */
  readonly onUpdate = this.updates.event;
  readonly onState = this.states.event;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly output: vscode.LogOutputChannel,
    /** The server the extension carries, used when no server setting names one. */
    private readonly managed?: ManagedLauncher,
  ) {}

  /** The protocol layer of a running server, starting it on first use. */
  async ready(): Promise<NexusClient> {
    if (this.nexus && this.client?.isRunning()) return this.nexus;
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async restart(reason: string): Promise<void> {
    this.output.info(`restarting nexus-lsp: ${reason}`);
    await this.stop();
    await this.ready();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.nexus?.dispose();
    this.nexus = undefined;
    if (client) {
      try {
        await client.dispose(2000);
      } catch (err) {
        this.output.warn(`stopping nexus-lsp: ${String(err)}`);
      }
      this.states.fire('stopped');
    }
  }

  dispose(): void {
    void this.stop();
    this.updates.dispose();
    this.states.dispose();
  }

  private async start(): Promise<NexusClient> {
    await this.stop();
    const get = getter();
    const folder = vscode.workspace.workspaceFolders?.[0];
    const configured = serverCommand(get);
    if (configured && !commandExists(configured.command)) {
      this.states.fire('failed');
      const python = get('server.python');
      const setting = typeof python === 'string' && python.trim() ? 'nexus.server.python' : 'nexus.server.command';
      throw new Error(
        `${setting} is "${configured.command}", which was not found. Install nexus-lsp ` +
          '(pipx install, see its README) or correct the setting, or clear nexus.server.command and ' +
          'nexus.server.python to use the server the extension carries.',
      );
    }
    const { command, args } = configured ?? (await this.managedCommand(get, folder?.uri));
    const env: NodeJS.ProcessEnv = { ...process.env };
    const key = await this.secrets.get(API_KEY_SECRET);
    if (key) env[apiKeyEnv(get)] = key;
    const serverOptions: ServerOptions = {
      command,
      args,
      transport: TransportKind.stdio,
      options: { env, cwd: folder?.uri.fsPath },
    };
    const client = new LanguageClient('nexus', 'Nexus', serverOptions, this.clientOptions());
    const nexus = new NexusClient(connectionOf(client), (message) => this.output.debug(message));
    nexus.onUpdate((event) => this.updates.fire(event));
    client.onDidChangeState((change) => {
      // The client restarts a crashed server by itself; the new process counts afresh.
      if (change.newState === State.Running) nexus.resetSequences();
      if (change.newState === State.Stopped && this.client === client) this.states.fire('stopped');
    });
    this.client = client;
    this.nexus = nexus;
    this.states.fire('starting');
    this.output.info(`starting ${command} ${args.join(' ')}`);
    try {
      await client.start();
    } catch (err) {
      this.client = undefined;
      this.nexus = undefined;
      nexus.dispose();
      this.states.fire('failed');
      throw new Error(
        `could not start the Nexus server (${command}): ${errorMessage(err)}. ` +
          'Set nexus.server.command, or nexus.server.python to a Python with nexus-lsp installed.',
      );
    }
    this.states.fire('running');
    return nexus;
  }

  private async managedCommand(get: ConfigGetter, scope: vscode.Uri | undefined): Promise<ServerCommand> {
    try {
      if (!this.managed) throw new Error('no server command: set nexus.server.command');
      const managed = await this.managed(scope);
      return { command: managed.command, args: [...managed.args, ...serverArgs(get)] };
    } catch (err) {
      this.states.fire('failed');
      // Its message already says what to do; the server settings are the other way out.
      if (err instanceof ManagedEnvError) throw new Error(`could not set up the Nexus server: ${err.message}`);
      throw err;
    }
  }

  private clientOptions(): LanguageClientOptions {
    return {
      // Every file document: read_file answers from open, unsaved buffers.
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      initializationOptions: () => protocolSettings(getter()),
      synchronize: { configurationSection: SETTINGS_SECTION },
      middleware: {
        executeCommand: (command, args, next) =>
          command === COMMAND_ASK && this.askHandler ? this.askHandler(args[0]) : next(command, args),
        workspace: {
          configuration: (params, token, next) => this.configuration(params, token, next),
          handleApplyEdit: async (params, next) => {
            const result = await next(params, CancellationToken.None);
            // VS Code's applyEdit says only yes or no; the tool's error should say why.
            if (!(result instanceof ResponseError) && !result.applied && !result.failureReason) {
              return { ...result, failureReason: REJECTED_EDIT };
            }
            return result;
          },
          didChangeConfiguration: async () => {
            // Send the protocol object, not VS Code's raw section with its extension-only keys.
            await this.client?.sendNotification(DidChangeConfigurationNotification.type, {
              settings: { [SETTINGS_SECTION]: protocolSettings(getter()) },
            });
          },
        },
      },
    };
  }

  private async configuration(
    params: ConfigurationParams,
    token: vscode.CancellationToken,
    next: (params: ConfigurationParams, token: vscode.CancellationToken) => unknown,
  ): Promise<unknown[]> {
    const results: unknown[] = [];
    for (const item of params.items) {
      if (item.section === SETTINGS_SECTION) {
        const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
        results.push(protocolSettings(getter(scope)));
      } else {
        const other = await next({ items: [item] }, token);
        results.push(Array.isArray(other) ? other[0] : null);
      }
    }
    return results;
  }
}

/** The language client seen through the protocol layer's connection interface. */
function connectionOf(client: LanguageClient): RpcConnection {
  return {
    sendRequest: <R>(method: string, params: unknown, token?: CancellationTokenLike) =>
      token
        ? client.sendRequest<R>(method, params, token as vscode.CancellationToken)
        : client.sendRequest<R>(method, params),
    sendNotification: (method, params) => client.sendNotification(method, params),
    onNotification: (method, handler) => client.onNotification(method, handler),
  };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
