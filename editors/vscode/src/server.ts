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
  CloseAction,
  type ConfigurationParams,
  DidChangeConfigurationNotification,
  ErrorAction,
  type ErrorHandler,
  LanguageClient,
  type LanguageClientOptions,
  LogMessageNotification,
  ResponseError,
  type ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { applyWithConfirmation } from './editConfirm';
import { commandExists, ManagedEnvError } from './managedEnv';
import { COMMAND_ASK, SETTINGS_SECTION } from './protocol';
import type { ManagedLauncher } from './pythonEnv';
import { ServerStderr, showLogMessage } from './serverLog';
import { type CancellationTokenLike, NexusClient, type RpcConnection, type UpdateEvent } from './session';
import { apiKeyEnv, type ConfigGetter, protocolSettings, type ServerCommand, serverArgs, serverCommand } from './settings';

export const API_KEY_SECRET = 'nexus.apiKey';
/** How long a failed start waits for the rest of the server's stderr. */
const STDERR_GRACE_MS = 2000;
const REJECTED_EDIT =
  'VS Code did not apply the edit (the document changed since it was read, or the edit was declined)';

/**
 * The language client, quiet while it starts: a start-up failure is reported
 * once, by {@link NexusServer}'s caller, with a way out (Open Settings), not
 * also by the client's own "couldn't create connection" toast.
 */
class NexusLanguageClient extends LanguageClient {
  starting = true;

  override error(message: string, data?: unknown, showNotification: boolean | 'force' = true): void {
    super.error(message, data, this.starting ? false : showNotification);
  }
}

/**
 * While the client starts, a closed or broken connection ends the start (no
 * restarts, no toast: the failure is reported once); afterwards the client's
 * default handling applies (restart a crashed server a few times).
 */
class StartAwareErrorHandler implements ErrorHandler {
  fallback: ErrorHandler | undefined;
  constructor(private readonly starting: () => boolean) {}

  error(...args: Parameters<ErrorHandler['error']>): ReturnType<ErrorHandler['error']> {
    if (this.starting() || !this.fallback) return { action: ErrorAction.Shutdown, handled: true };
    return this.fallback.error(...args);
  }

  closed(): ReturnType<ErrorHandler['closed']> {
    if (this.starting() || !this.fallback) {
      return { action: CloseAction.DoNotRestart, message: 'the Nexus server exited while starting', handled: true };
    }
    return this.fallback.closed();
  }
}

const getter = (scope?: vscode.Uri): ConfigGetter => {
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION, scope);
  return (key) => config.get(key);
};

export class NexusServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private nexus: NexusClient | undefined;
  private starting: Promise<NexusClient> | undefined;
  private trace: vscode.LogOutputChannel | undefined;
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
    this.trace?.dispose();
    this.trace = undefined;
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
    const stderr = new ServerStderr(this.output);
    const errorHandler = new StartAwareErrorHandler(() => client.starting);
    const trace = traceChannel(this.output);
    const options = this.clientOptions(stderr, errorHandler, trace);
    const client = new NexusLanguageClient('nexus', 'Nexus', serverOptions, options);
    errorHandler.fallback = client.createDefaultErrorHandler();
    // Replaces the client's own handler once initialized (see serverLog.ts: each record once).
    client.onNotification(LogMessageNotification.type, (params) => showLogMessage(this.output, params));
    const nexus = new NexusClient(connectionOf(client), (message) => this.output.debug(message));
    nexus.onUpdate((event) => this.updates.fire(event));
    client.onDidChangeState((change) => {
      // The client restarts a crashed server by itself; the new process counts afresh.
      if (change.newState === State.Running) nexus.resetSequences();
      if (change.newState === State.Stopped && this.client === client) this.states.fire('stopped');
    });
    this.client = client;
    this.nexus = nexus;
    this.trace = trace;
    this.states.fire('starting');
    this.output.info(`starting ${command} ${args.join(' ')}`);
    try {
      await client.start();
      client.starting = false;
    } catch (err) {
      this.client = undefined;
      this.nexus = undefined;
      nexus.dispose();
      trace.dispose();
      this.states.fire('failed');
      // What the server said last (e.g. "No module named nexus_lsp") says more than the
      // client's error ("write EPIPE"); it may still be on its way when the process has exited.
      await stderr.closedWithin(STDERR_GRACE_MS);
      const said = stderr.lastLines().slice(-1)[0];
      const why = said ? `${said} (${errorMessage(err)})` : errorMessage(err);
      throw new Error(
        `could not start the Nexus server (${command}): ${why}. ` +
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

  private clientOptions(
    stderr: ServerStderr,
    errorHandler: ErrorHandler,
    trace: vscode.LogOutputChannel,
  ): LanguageClientOptions {
    return {
      // Every file document: read_file answers from open, unsaved buffers.
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      traceOutputChannel: trace,
      stdioOptions: {
        stdout: () => undefined, // the JSON-RPC wire: the client reads it itself
        stderr: (input) => stderr.attach(input),
      },
      errorHandler,
      initializationFailedHandler: (error) => {
        this.output.error(`initialize failed: ${errorMessage(error)}`);
        return false; // no retry and no toast of the client's own: the caller reports it
      },
      initializationOptions: () => protocolSettings(getter()),
      synchronize: { configurationSection: SETTINGS_SECTION },
      middleware: {
        executeCommand: (command, args, next) =>
          command === COMMAND_ASK && this.askHandler ? this.askHandler(args[0]) : next(command, args),
        workspace: {
          configuration: (params, token, next) => this.configuration(params, token, next),
          handleApplyEdit: async (params, next) => {
            let failed: ResponseError<void> | undefined;
            const result = await applyWithConfirmation(params, async (edit) => {
              const answer = await next(edit, CancellationToken.None);
              if (answer instanceof ResponseError) {
                failed = answer;
                return { applied: false };
              }
              return answer;
            });
            if (failed) return failed;
            // VS Code's applyEdit says only yes or no; the tool's error should say why.
            return !result.applied && !result.failureReason ? { ...result, failureReason: REJECTED_EDIT } : result;
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

/**
 * The channel the language client traces to: the Nexus channel, seen at Trace
 * level while `nexus.trace.server` is on. vscode-languageclient traces only when
 * its trace channel's level is Trace, and writes at trace level, so with the
 * channel at VS Code's default level (Info) the setting alone showed nothing;
 * here the trace is written at info level while the setting is on.
 */
function traceChannel(output: vscode.LogOutputChannel): vscode.LogOutputChannel {
  const on = () => getter()('trace.server') !== undefined && getter()('trace.server') !== 'off';
  const level = () => (on() ? vscode.LogLevel.Trace : output.logLevel);
  const levels = new vscode.EventEmitter<vscode.LogLevel>();
  const subscriptions = [
    output.onDidChangeLogLevel(() => levels.fire(level())),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SETTINGS_SECTION}.trace.server`)) levels.fire(level());
    }),
  ];
  const channel: vscode.LogOutputChannel = {
    get name() {
      return output.name;
    },
    get logLevel() {
      return level();
    },
    onDidChangeLogLevel: levels.event,
    trace: (message, ...args) => (on() ? output.info(message, ...args) : output.trace(message, ...args)),
    debug: (message, ...args) => output.debug(message, ...args),
    info: (message, ...args) => output.info(message, ...args),
    warn: (message, ...args) => output.warn(message, ...args),
    error: (error, ...args) => output.error(error, ...args),
    append: (value) => output.append(value),
    appendLine: (value) => output.appendLine(value),
    replace: (value) => output.replace(value),
    clear: () => output.clear(),
    show: (...args: unknown[]) => output.show(...(args as [boolean?])),
    hide: () => output.hide(),
    dispose: () => {
      for (const s of subscriptions) s.dispose();
      levels.dispose();
    },
  };
  return channel;
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
