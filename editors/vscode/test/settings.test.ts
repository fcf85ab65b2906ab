// Unit tests of the settings mapping, checked against the manifest and the server's defaults.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { apiKeyEnv, PROTOCOL_KEYS, protocolSettings, serverCommand } from '../src/settings';
import { defaultsGetter, manifestProperties, NEXUS_PYTHON } from './harness';

const EXTENSION_ONLY = /^nexus\.(server|trace)\./;

describe('settings', () => {
  it('contributes exactly the protocol keys plus the extension-only ones', () => {
    const contributed = Object.keys(manifestProperties())
      .filter((key) => !EXTENSION_ONLY.test(key))
      .sort();
    const protocol = [
      ...Object.entries(PROTOCOL_KEYS).flatMap(([group, keys]) => keys.map((k) => `nexus.${group}.${k}`)),
      'nexus.codeActions',
      'nexus.mcpServers',
    ].sort();
    assert.deepEqual(contributed, protocol);
  });

  it('builds the protocol object without extension-only keys', () => {
    const settings = protocolSettings(defaultsGetter({ 'server.command': 'x', 'provider.model': 'scripted' }));
    assert.deepEqual(Object.keys(settings).sort(), ['codeActions', 'commands', 'edits', 'logging', 'mcpServers', 'permissions', 'provider', 'session']);
    assert.equal((settings.provider as Record<string, unknown>).model, 'scripted');
    assert.equal(
      'systemPrompt' in (settings.session as Record<string, unknown>),
      false,
      'an empty system prompt is left to the server',
    );
  });

  it("matches the server's own defaults", () => {
    const script =
      'import json; from nexus_lsp.config import Settings; ' +
      'print(json.dumps(Settings().model_dump(by_alias=True, mode="json")))';
    const server = JSON.parse(execFileSync(NEXUS_PYTHON, ['-c', script], { encoding: 'utf8' }));
    const ours = protocolSettings(defaultsGetter());
    for (const [group, keys] of Object.entries(PROTOCOL_KEYS)) {
      for (const key of keys) {
        if (key === 'systemPrompt') continue; // null on the server, '' (omitted) here
        assert.deepEqual(
          (ours[group] as Record<string, unknown>)[key],
          server[group][key],
          `nexus.${group}.${key}`,
        );
      }
    }
    assert.deepEqual(ours.codeActions, server.codeActions);
    assert.deepEqual(ours.mcpServers, server.mcpServers);
  });

  it('runs python -m nexus_lsp when nexus.server.python is set, else the command, else the managed server', () => {
    assert.equal(serverCommand(defaultsGetter()), undefined, 'nothing set: the bundled server');
    assert.deepEqual(serverCommand(defaultsGetter({ 'server.python': '/v/bin/python', 'server.args': ['--stdio'] })), {
      command: '/v/bin/python',
      args: ['-m', 'nexus_lsp', '--stdio'],
    });
    assert.deepEqual(serverCommand(defaultsGetter({ 'server.command': ' nexus-lsp ', 'server.args': ['--tcp', 7] })), {
      command: 'nexus-lsp',
      args: ['--tcp'],
    });
    assert.equal(serverCommand(defaultsGetter({ 'server.command': ' ' })), undefined);
  });

  it('names the API key variable, falling back to the default', () => {
    assert.equal(apiKeyEnv(defaultsGetter()), 'OPENAI_API_KEY');
    assert.equal(apiKeyEnv(defaultsGetter({ 'provider.apiKeyEnv': 'ANTHROPIC_API_KEY' })), 'ANTHROPIC_API_KEY');
    assert.equal(apiKeyEnv(defaultsGetter({ 'provider.apiKeyEnv': '' })), 'OPENAI_API_KEY');
  });
});
