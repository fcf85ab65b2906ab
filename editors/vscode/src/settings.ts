/**
 * VS Code's `nexus.*` settings → the protocol §7 settings object and the
 * server's command line.
 *
 * The same object goes out as `initializationOptions`, as the answer to
 * `workspace/configuration` (section `nexus`) and in `didChangeConfiguration`,
 * so the server never sees the extension-only keys (`nexus.server.*`,
 * `nexus.trace.*`), which it would reject as unknown. No `vscode` import: the
 * caller passes a getter over `workspace.getConfiguration('nexus')`.
 */

/** Reads one key below `nexus.` (e.g. `provider.kind`); undefined when unset and without default. */
export type ConfigGetter = (key: string) => unknown;

/** The keys of protocol §7 (docs/protocol.md §8), grouped as on the wire. */
export const PROTOCOL_KEYS = {
  provider: ['kind', 'baseUrl', 'model', 'apiKeyEnv', 'timeoutSeconds', 'maxRetries'],
  session: [
    'maxIterations',
    'toolTimeoutSeconds',
    'maxParallelTools',
    'systemPrompt',
    'contextTokens',
    'maxToolOutputChars',
    'compactAt',
    'keepRecentExchanges',
    'maxAttachmentChars',
  ],
  logging: ['streams', 'markdownTruncate', 'eventRetention'],
  edits: ['fallbackToDisk', 'confirm', 'diagnosticsDelayMs'],
  permissions: ['mode', 'rules'],
  commands: ['timeoutSeconds', 'maxStoredOutputBytes', 'envDeny'],
} as const;

export const DEFAULT_API_KEY_ENV = 'OPENAI_API_KEY';

export type ProtocolSettings = Record<string, unknown>;

export function protocolSettings(get: ConfigGetter): ProtocolSettings {
  const settings: ProtocolSettings = {};
  for (const [group, keys] of Object.entries(PROTOCOL_KEYS)) {
    const values: Record<string, unknown> = {};
    for (const key of keys) {
      const value = get(`${group}.${key}`);
      // An empty system prompt means "none"; null and undefined mean "server default".
      if (value === undefined || value === null || (key === 'systemPrompt' && value === '')) {
        continue;
      }
      values[key] = value;
    }
    settings[group] = values;
  }
  const codeActions = get('codeActions');
  if (Array.isArray(codeActions)) {
    settings.codeActions = codeActions;
  }
  const mcpServers = get('mcpServers');
  if (typeof mcpServers === 'object' && mcpServers !== null && !Array.isArray(mcpServers)) {
    settings.mcpServers = mcpServers;
  }
  return settings;
}

/** The environment variable the server reads the API key from. */
export function apiKeyEnv(get: ConfigGetter): string {
  const name = get('provider.apiKeyEnv');
  return typeof name === 'string' && name.trim() !== '' ? name.trim() : DEFAULT_API_KEY_ENV;
}

export interface ServerCommand {
  command: string;
  args: string[];
}

/** `nexus.server.args`: extra arguments for whichever server runs. */
export function serverArgs(get: ConfigGetter): string[] {
  const raw = get('server.args');
  return Array.isArray(raw) ? raw.filter((a): a is string => typeof a === 'string') : [];
}

/**
 * `nexus.server.python` set → `<python> -m nexus_lsp <args>`; else
 * `nexus.server.command` set → that command with `nexus.server.args`; neither →
 * undefined: the extension runs the server it carries, in its own environment
 * ({@link ./managedEnv}).
 */
export function serverCommand(get: ConfigGetter): ServerCommand | undefined {
  const args = serverArgs(get);
  const python = get('server.python');
  if (typeof python === 'string' && python.trim() !== '') {
    return { command: python.trim(), args: ['-m', 'nexus_lsp', ...args] };
  }
  const command = get('server.command');
  if (typeof command === 'string' && command.trim() !== '') {
    return { command: command.trim(), args };
  }
  return undefined;
}

/** Settings whose change needs a new server process rather than a didChangeConfiguration. */
export const RESTART_KEYS = ['nexus.server', 'nexus.provider.apiKeyEnv'] as const;
