/**
 * MCP servers (protocol v2 §5) as the Nexus status lists them: one row per
 * server with its status, where it is configured and its tools. No `vscode`
 * import: unit-tested in plain Node.
 */

import { MCP_TOOL_PREFIX, type McpServerInfo } from './protocol';

export interface StatusRow {
  label: string;
  description?: string;
  detail?: string;
}

/** One line of the MCP section: its name and status, its tools (without the `mcp__<server>__` prefix) below. */
export function mcpItem(s: McpServerInfo): StatusRow {
  const icon = s.status === 'running' ? '$(pass)' : s.status === 'failed' ? '$(error)' : '$(circle-outline)';
  const prefix = `${MCP_TOOL_PREFIX}${s.name}__`;
  const names = s.tools.map((t) => (t.startsWith(prefix) ? t.slice(prefix.length) : t));
  const tools = names.length ? `${names.length} tool${names.length === 1 ? '' : 's'}: ${names.join(', ')}` : 'no tools';
  const where = [s.source === 'project' ? '.mcp.json' : s.source, s.transport].filter(Boolean).join(', ');
  return {
    label: `${icon} ${s.name}`,
    description: where ? `${s.status} (${where})` : s.status,
    detail: s.error ? `${s.error} — ${tools}` : tools,
  };
}
