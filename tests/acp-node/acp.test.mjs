// nexus-lsp acp driven by a client the project did not write: the official ACP
// TypeScript SDK's ClientSideConnection, against the real server and the scripted
// model server (python -m nexus_lsp.testing). Run by `make test` (npm ci, node --test).
//
// NEXUS_LSP names the server executable (default: nexus-lsp on PATH), NEXUS_PYTHON
// the Python that has nexus_lsp installed (default: python3).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { createInterface } from "node:readline";
import { ClientSideConnection, ndJsonStream, PROTOCOL_VERSION } from "@agentclientprotocol/sdk";

const SERVER = process.env.NEXUS_LSP || "nexus-lsp";
const PYTHON = process.env.NEXUS_PYTHON || "python3";
const KEY_ENV = "NEXUS_NODE_TEST_KEY";

/** The scripted model server playing `responses`; resolves with its base URL. */
async function modelServer(t, responses) {
  const dir = mkdtempSync(join(tmpdir(), "nexus-acp-model-"));
  const script = join(dir, "script.json");
  writeFileSync(script, JSON.stringify({ responses }));
  const proc = spawn(PYTHON, ["-m", "nexus_lsp.testing", "--script", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.after(() => {
    proc.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });
  const lines = createInterface({ input: proc.stdout });
  for await (const line of lines) {
    const match = /^listening (\S+)/.exec(line);
    if (match) return `${match[1]}/v1`;
  }
  throw new Error("the scripted model server did not start");
}

function workspace(t) {
  const root = mkdtempSync(join(tmpdir(), "nexus-acp-ws-"));
  mkdirSync(join(root, "src"));
  writeFileSync(join(root, "src", "app.py"), "def greet(name):\n    return 'hi ' + name\n");
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** A running `nexus-lsp acp` and a ClientSideConnection to it, initialized. */
async function connect(t, baseUrl, client) {
  const settings = {
    provider: { kind: "openai", baseUrl, model: "scripted", apiKeyEnv: KEY_ENV, maxRetries: 0 },
    session: { maxIterations: 6 },
  };
  const proc = spawn(SERVER, ["acp", "--settings", JSON.stringify(settings)], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, [KEY_ENV]: "node-test-key", XDG_CONFIG_HOME: "/nonexistent/nexus-node" },
  });
  const exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  t.after(async () => {
    proc.stdin.end();
    assert.equal(await exited, 0, "nexus-lsp acp exits 0 when stdin closes");
  });
  const stream = ndJsonStream(Writable.toWeb(proc.stdin), Readable.toWeb(proc.stdout));
  const conn = new ClientSideConnection(() => client, stream);
  const init = await conn.initialize({
    protocolVersion: PROTOCOL_VERSION,
    clientCapabilities: { fs: { readTextFile: true, writeTextFile: true } },
    clientInfo: { name: "node-sdk-test", version: "1" },
  });
  assert.equal(init.protocolVersion, PROTOCOL_VERSION);
  assert.equal(init.agentCapabilities.loadSession, true);
  assert.equal(init.agentCapabilities.promptCapabilities.embeddedContext, true);
  return conn;
}

/** A client recording updates; files read from and written to disk. */
function recordingClient() {
  const client = {
    updates: [],
    writes: [],
    permissions: [],
    waiters: [],
    async sessionUpdate(params) {
      client.updates.push(params);
      for (const waiter of client.waiters.splice(0)) waiter();
    },
    async readTextFile({ path }) {
      return { content: readFileSync(path, "utf-8") };
    },
    async writeTextFile({ path, content }) {
      client.writes.push({ path, content });
      writeFileSync(path, content);
      return {};
    },
    async requestPermission(params) {
      client.permissions.push(params);
      return { outcome: { outcome: "selected", optionId: "allow_once" } };
    },
    async waitFor(predicate) {
      while (!client.updates.some(predicate)) {
        await new Promise((resolve) => client.waiters.push(resolve));
      }
    },
  };
  return client;
}

const kind = (u) => u.update.sessionUpdate;

test("a prompt with an edit goes through fs/write_text_file", async (t) => {
  const baseUrl = await modelServer(t, [
    { toolCalls: [{ id: "e1", name: "edit_file",
        arguments: { path: "src/app.py", oldText: "'hi '", newText: "'hello '" } }] },
    { text: "Edited." },
  ]);
  const root = workspace(t);
  const client = recordingClient();
  const conn = await connect(t, baseUrl, client);
  const { sessionId } = await conn.newSession({ cwd: root, mcpServers: [] });
  const answer = await conn.prompt({ sessionId, prompt: [{ type: "text", text: "say hello" }] });
  assert.equal(answer.stopReason, "end_turn");
  const app = join(root, "src", "app.py");
  assert.deepEqual(client.writes, [
    { path: app, content: "def greet(name):\n    return 'hello ' + name\n" },
  ]);
  const start = client.updates.find((u) => kind(u) === "tool_call");
  assert.equal(start.update.kind, "edit");
  assert.equal(start.update.toolCallId, "e1");
  const done = client.updates.find(
    (u) => kind(u) === "tool_call_update" && u.update.status === "completed");
  assert.equal(done.update.content[0].type, "diff");
  const text = client.updates.filter((u) => kind(u) === "agent_message_chunk")
    .map((u) => u.update.content.text).join("");
  assert.equal(text, "Edited.");
  const listed = await conn.listSessions({ cwd: root });
  assert.deepEqual(listed.sessions.map((s) => s.sessionId), [sessionId]);
});

test("session/cancel answers the prompt cancelled", async (t) => {
  const baseUrl = await modelServer(t, [
    { text: "I am thinking about", chunkSize: 4, fault: { stallAfterChunks: 2 } },
    { text: "Back again." },
  ]);
  const root = workspace(t);
  const client = recordingClient();
  const conn = await connect(t, baseUrl, client);
  const { sessionId } = await conn.newSession({ cwd: root, mcpServers: [] });
  const pending = conn.prompt({ sessionId, prompt: [{ type: "text", text: "think" }] });
  await client.waitFor((u) => kind(u) === "agent_message_chunk");
  await conn.cancel({ sessionId });
  assert.equal((await pending).stopReason, "cancelled");
  const after = await conn.prompt({ sessionId, prompt: [{ type: "text", text: "go on" }] });
  assert.equal(after.stopReason, "end_turn");
});

test("a command asks session/request_permission; allowed once, refused once", async (t) => {
  const baseUrl = await modelServer(t, [
    { toolCalls: [{ id: "c1", name: "run_command", arguments: { command: "echo from-node" } }] },
    { text: "Ran it." },
    { toolCalls: [{ id: "c2", name: "run_command", arguments: { command: "echo refused" } }] },
    { text: "Did not run." },
  ]);
  const root = workspace(t);
  const client = recordingClient();
  const conn = await connect(t, baseUrl, client);
  const { sessionId, modes } = await conn.newSession({ cwd: root, mcpServers: [] });
  assert.equal(modes.currentModeId, "default");
  const first = await conn.prompt({ sessionId, prompt: [{ type: "text", text: "run it" }] });
  assert.equal(first.stopReason, "end_turn");
  assert.equal(client.permissions.length, 1);
  const question = client.permissions[0];
  assert.equal(question.toolCall.toolCallId, "c1");
  assert.equal(question.toolCall.kind, "execute");
  assert.deepEqual(question.options.map((o) => o.kind),
    ["allow_once", "allow_always", "reject_once", "reject_always"]);
  const ran = client.updates.find((u) => kind(u) === "tool_call_update"
    && u.update.toolCallId === "c1" && u.update.status === "completed");
  assert.match(ran.update.content.at(-1).content.text, /from-node/);

  client.requestPermission = async (params) => {
    client.permissions.push(params);
    return { outcome: { outcome: "selected", optionId: "reject_once" } };
  };
  const second = await conn.prompt({ sessionId, prompt: [{ type: "text", text: "again" }] });
  assert.equal(second.stopReason, "end_turn");
  const refused = client.updates.find((u) => kind(u) === "tool_call_update"
    && u.update.toolCallId === "c2" && u.update.status === "failed");
  assert.match(refused.update.rawOutput.error, /denied/);
});
