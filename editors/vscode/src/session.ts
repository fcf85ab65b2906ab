/**
 * The protocol layer: typed Nexus requests over any JSON-RPC connection.
 *
 * The extension hands it the `LanguageClient`; the tests hand it a
 * `vscode-jsonrpc/node` `MessageConnection` over the real server. It owns the
 * one place where `nexus/session/update` notifications are received, checked
 * and ordered (per-session `seq`, gaps reported, duplicates dropped). No
 * `vscode` import.
 */

import {
  type ForkResult,
  type Grant,
  MCP_LIST,
  type McpServerInfo,
  PERMISSIONS_LIST,
  PERMISSIONS_REVOKE,
  type RevertParams,
  type RevertResult,
  SESSION_COMPACT,
  SESSION_FORK,
  SESSION_REVERT,
  SESSION_SET_MODE,
  type SteeredResult,
  type DeleteResult,
  type ListResult,
  type LoadResult,
  type NewSessionParams,
  type NewSessionResult,
  parseUpdate,
  REASON_UNKNOWN_SESSION,
  REQUEST_CANCELLED,
  SESSION_CANCEL,
  SESSION_DELETE,
  SESSION_LIST,
  SESSION_LOAD,
  SESSION_NEW,
  SESSION_SEND,
  SESSION_UPDATE,
  type SendParams,
  type SendResult,
  type SessionUpdate,
  UPDATE_TURN_START,
} from './protocol';

export interface Disposable {
  dispose(): void;
}

/** The part of a cancellation token the connection reads (VS Code's and vscode-jsonrpc's fit). */
export interface CancellationTokenLike {
  readonly isCancellationRequested: boolean;
  // `any`: the shape must accept both vscode.Event<any> and vscode-jsonrpc's Event<any>.
  readonly onCancellationRequested: (listener: (e: any) => any) => Disposable;
}

/** What the protocol layer needs from a connection (LanguageClient and MessageConnection fit). */
export interface RpcConnection {
  sendRequest<R>(method: string, params: unknown, token?: CancellationTokenLike): Promise<R>;
  sendNotification(method: string, params: unknown): Promise<void> | void;
  onNotification(method: string, handler: (params: unknown) => void): Disposable;
}

/** One update as delivered to listeners; `missed` > 0 when updates were lost before it. */
export interface UpdateEvent {
  update: SessionUpdate;
  missed: number;
}

export type UpdateListener = (event: UpdateEvent) => void;
export type Logger = (message: string) => void;

/** A JSON-RPC error as both vscode-jsonrpc and the language client raise it. */
export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

export function isRpcError(err: unknown): err is RpcError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as RpcError).code === 'number' &&
    typeof (err as RpcError).message === 'string'
  );
}

/** True for the -32800 answer a cancelled `send` gets. */
export function isCancelledError(err: unknown): boolean {
  return isRpcError(err) && err.code === REQUEST_CANCELLED;
}

/** `data.reason` of a -32803 error (`unknownSession`, `sessionBusy`), if any. */
export function errorReason(err: unknown): string | undefined {
  if (!isRpcError(err) || typeof err.data !== 'object' || err.data === null) {
    return undefined;
  }
  const reason = (err.data as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : undefined;
}

export class NexusClient implements Disposable {
  private readonly lastSeq = new Map<string, number>();
  private readonly listeners = new Set<UpdateListener>();
  private readonly subscription: Disposable;

  constructor(
    private readonly connection: RpcConnection,
    private readonly log: Logger = () => undefined,
  ) {
    this.subscription = connection.onNotification(SESSION_UPDATE, (params) => this.receive(params));
  }

  dispose(): void {
    this.subscription.dispose();
    this.listeners.clear();
  }

  onUpdate(listener: UpdateListener): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Forget the seq baselines: a restarted server numbers its updates afresh. */
  resetSequences(): void {
    this.lastSeq.clear();
  }

  newSession(params: NewSessionParams = {}): Promise<NewSessionResult> {
    return this.connection.sendRequest<NewSessionResult>(SESSION_NEW, params);
  }

  /**
   * Run one turn. Cancelling `token` sends `$/cancelRequest`; the promise then
   * rejects with the -32800 error (see {@link isCancelledError}).
   */
  send(params: SendParams, token?: CancellationTokenLike): Promise<SendResult> {
    // Pass the token only when there is one: vscode-jsonrpc would send a trailing
    // `undefined` as a second positional parameter.
    return token
      ? this.connection.sendRequest<SendResult>(SESSION_SEND, params, token)
      : this.connection.sendRequest<SendResult>(SESSION_SEND, params);
  }

  /**
   * Like {@link send}, but a session the server process does not know (it was
   * restarted since) is loaded from `.nexus` and the turn retried once.
   */
  async sendResuming(params: SendParams, token?: CancellationTokenLike): Promise<SendResult> {
    try {
      return await this.send(params, token);
    } catch (err) {
      if (params.sessionId === undefined || errorReason(err) !== REASON_UNKNOWN_SESSION) {
        throw err;
      }
      this.log(`session ${params.sessionId} unknown to the server; loading it and retrying`);
      await this.load(params.sessionId);
      return this.send(params, token);
    }
  }

  /** A send with `whenBusy: "steer"` answers at once when the prompt joined the running turn. */
  sendOrSteer(params: SendParams, token?: CancellationTokenLike): Promise<SendResult | SteeredResult> {
    return this.send(params, token) as Promise<SendResult | SteeredResult>;
  }

  setMode(sessionId: string, mode: string): Promise<{ mode: string }> {
    return this.connection.sendRequest(SESSION_SET_MODE, { sessionId, mode });
  }

  listGrants(): Promise<{ grants: Grant[] }> {
    return this.connection.sendRequest(PERMISSIONS_LIST, {});
  }

  revokeGrant(id: Grant['id']): Promise<{ revoked: boolean }> {
    return this.connection.sendRequest(PERMISSIONS_REVOKE, { id });
  }

  revert(params: RevertParams): Promise<RevertResult> {
    return this.connection.sendRequest(SESSION_REVERT, params);
  }

  fork(sessionId: string, turnId?: number): Promise<ForkResult> {
    return this.connection.sendRequest(SESSION_FORK, turnId === undefined ? { sessionId } : { sessionId, turnId });
  }

  compact(sessionId: string): Promise<Record<string, unknown>> {
    return this.connection.sendRequest(SESSION_COMPACT, { sessionId });
  }

  mcpServers(): Promise<{ servers: McpServerInfo[] }> {
    return this.connection.sendRequest(MCP_LIST, {});
  }

  list(): Promise<ListResult> {
    return this.connection.sendRequest<ListResult>(SESSION_LIST, {});
  }

  load(sessionId: string): Promise<LoadResult> {
    return this.connection.sendRequest<LoadResult>(SESSION_LOAD, { sessionId });
  }

  delete(sessionId: string): Promise<DeleteResult> {
    return this.connection.sendRequest<DeleteResult>(SESSION_DELETE, { sessionId });
  }

  /** Cancel the running turn of a session whose `send` request is not ours to cancel. */
  async cancelSession(sessionId: string): Promise<void> {
    await this.connection.sendNotification(SESSION_CANCEL, { sessionId });
  }

  private receive(params: unknown): void {
    const update = parseUpdate(params);
    if (typeof update === 'string') {
      this.log(`ignored ${SESSION_UPDATE}: ${update}`);
      return;
    }
    const last = this.lastSeq.get(update.sessionId);
    let missed = 0;
    if (last !== undefined) {
      if (update.seq <= last && update.kind !== UPDATE_TURN_START) {
        this.log(`dropped duplicate update seq ${update.seq} of session ${update.sessionId}`);
        return;
      }
      // A turnStart at or below the baseline means a fresh numbering (server restart).
      missed = update.seq > last ? update.seq - last - 1 : 0;
      if (missed > 0) {
        this.log(`lost ${missed} update(s) of session ${update.sessionId} before seq ${update.seq}`);
      }
    }
    this.lastSeq.set(update.sessionId, update.seq);
    for (const listener of [...this.listeners]) {
      try {
        listener({ update, missed });
      } catch (err) {
        this.log(`update listener failed: ${String(err)}`);
      }
    }
  }
}
