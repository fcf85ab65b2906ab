/**
 * The extension's own Python environment for the server (no `vscode` import).
 *
 * With no `nexus.server.command` or `nexus.server.python` set, the extension runs
 * the nexus-lsp wheel it carries: it finds a Python ≥ 3.11 (the interpreter chosen
 * in the Python extension, else `python3` on the PATH), creates a virtual
 * environment in its global storage, installs the wheel there (dependencies from
 * the package index) and starts `<env python> -m nexus_lsp`. A stamp file holding
 * the wheel's name and SHA-256 marks a finished install: later starts reuse the
 * environment, a different wheel (an extension update) replaces it. Every failure
 * is a {@link ManagedEnvError} whose message says what went wrong and how to fix it.
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export const MIN_PYTHON: readonly [number, number] = [3, 11];
export const ENV_DIR = 'python-env';
const STAMP_FILE = 'nexus-stamp.json';
const LOCK_DIR = `${ENV_DIR}.lock`;
/** A lock older than this was left by a window that died while installing. */
const STALE_LOCK_MS = 15 * 60_000;
const LOCK_POLL_MS = 250;
const PROBE_TIMEOUT_MS = 20_000;
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** Prints the version as JSON; fails when `venv` cannot make environments with pip. */
const PROBE =
  'import sys, json, venv, ensurepip; ' +
  'print(json.dumps({"version": list(sys.version_info[:3]), "executable": sys.executable}))';

export interface PythonCandidate {
  /** An executable path or a command looked up on the PATH. */
  command: string;
  /** Where it came from, for messages ("the Python extension", "the PATH"). */
  source: string;
}

export interface ManagedEnvOptions {
  /** The extension's global storage folder (created when missing). */
  storageDir: string;
  /** The nexus-lsp wheel the extension carries. */
  wheel: string;
  /** Interpreters to try, in order. */
  candidates: PythonCandidate[];
  /** Extra `pip install` arguments (tests: `--no-index --find-links DIR`). */
  pipArgs?: string[];
  /** Environment of the Python and pip processes (default: this process's). */
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  log?: (line: string) => void;
  /** Runs the install (not a reuse) under a progress notification. */
  withProgress?: <T>(task: (report: (message: string) => void) => Promise<T>) => Promise<T>;
}

export interface ManagedServer {
  command: string;
  args: string[];
  /** True when this call created the environment. */
  installed: boolean;
}

export type ManagedEnvFailure = 'noWheel' | 'noPython' | 'venv' | 'network' | 'pip';

export class ManagedEnvError extends Error {
  constructor(
    readonly kind: ManagedEnvFailure,
    message: string,
  ) {
    super(message);
    this.name = 'ManagedEnvError';
  }
}

const OR_SET_COMMAND =
  'Or install nexus-lsp yourself (`pipx install .` in a checkout of nexus-lsp) and set nexus.server.command to nexus-lsp.';

interface Stamp {
  wheel: string;
  sha256: string;
}

interface Run {
  code: number | null;
  output: string;
  spawnError?: NodeJS.ErrnoException;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv | undefined, timeout: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout, maxBuffer: 16 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (!err) return resolve({ code: 0, output });
      const errno = err as NodeJS.ErrnoException & { code?: unknown };
      if (typeof errno.code === 'string') return resolve({ code: null, output, spawnError: errno });
      resolve({ code: typeof errno.code === 'number' ? errno.code : null, output });
    });
  });
}

export function envPython(envDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.join(envDir, 'Scripts', 'python.exe') : path.join(envDir, 'bin', 'python');
}

async function wheelStamp(wheel: string): Promise<Stamp> {
  let bytes: Buffer;
  try {
    bytes = await readFile(wheel);
  } catch (err) {
    throw new ManagedEnvError(
      'noWheel',
      `the extension's nexus-lsp wheel is missing (${wheel}: ${(err as Error).message}). ` +
        `Reinstall the extension. ${OR_SET_COMMAND}`,
    );
  }
  return { wheel: path.basename(wheel), sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function readStamp(envDir: string): Promise<Stamp | undefined> {
  try {
    const value = JSON.parse(await readFile(path.join(envDir, STAMP_FILE), 'utf8')) as Partial<Stamp>;
    return typeof value.wheel === 'string' && typeof value.sha256 === 'string'
      ? { wheel: value.wheel, sha256: value.sha256 }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The environment is usable: installed from this wheel and its interpreter still runs. */
async function isCurrent(envDir: string, stamp: Stamp, options: ManagedEnvOptions): Promise<boolean> {
  const found = await readStamp(envDir);
  if (!found || found.sha256 !== stamp.sha256 || found.wheel !== stamp.wheel) return false;
  // The base interpreter may have been upgraded or removed since (a venv only links to it).
  const check = await run(envPython(envDir, options.platform), ['-c', 'import nexus_lsp'], options.env, PROBE_TIMEOUT_MS);
  if (check.code !== 0) options.log?.(`the managed environment no longer runs, reinstalling: ${lastLine(check)}`);
  return check.code === 0;
}

export interface FoundPython {
  command: string;
  version: [number, number, number];
  executable: string;
  source: string;
}

/** The first candidate that is Python ≥ 3.11 with `venv` and `ensurepip`, or an error listing why each was not. */
export async function findPython(
  candidates: PythonCandidate[],
  env?: NodeJS.ProcessEnv,
): Promise<FoundPython> {
  const reasons: string[] = [];
  for (const candidate of candidates) {
    const result = await run(candidate.command, ['-c', PROBE], env, PROBE_TIMEOUT_MS);
    const name = `${candidate.command} (${candidate.source})`;
    if (result.spawnError) {
      reasons.push(`${name}: ${result.spawnError.code === 'ENOENT' ? 'not found' : result.spawnError.message}`);
      continue;
    }
    let info: { version?: unknown; executable?: unknown } | undefined;
    try {
      info = JSON.parse(result.output.trim().split('\n').pop() ?? '') as typeof info;
    } catch {
      info = undefined;
    }
    const version = info?.version;
    if (result.code !== 0 || !Array.isArray(version)) {
      const why = /No module named '?(venv|ensurepip)/.exec(result.output)
        ? 'has no venv/ensurepip module (on Debian and Ubuntu: sudo apt install python3-venv)'
        : `does not run: ${lastLine(result)}`;
      reasons.push(`${name} ${why}`);
      continue;
    }
    const [major, minor, micro] = version.map(Number);
    if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
      reasons.push(`${name} is Python ${major}.${minor}`);
      continue;
    }
    const executable = typeof info?.executable === 'string' && info.executable ? info.executable : candidate.command;
    return { command: candidate.command, version: [major, minor, micro], executable, source: candidate.source };
  }
  throw new ManagedEnvError(
    'noPython',
    `Nexus needs Python ${MIN_PYTHON.join('.')} or newer to run its server and found none ` +
      `(${reasons.join('; ') || 'nothing to try'}). Install Python ${MIN_PYTHON.join('.')}+ ` +
      '(python.org or your package manager) or choose one with "Python: Select Interpreter", ' +
      `then run "Nexus: Restart Server". ${OR_SET_COMMAND}`,
  );
}

// pip's words when the index cannot be reached or has nothing for a requirement.
const NETWORK_FAILURE =
  /NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|Network is unreachable|ConnectTimeout|Read timed out|ProxyError|SSLError|No matching distribution found|Could not find a version that satisfies/;

function lastLine(result: Run): string {
  const lines = result.output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const error = [...lines].reverse().find((l) => /^ERROR:|Error:/.test(l));
  return error ?? lines.pop() ?? (result.spawnError?.message || `exit status ${String(result.code)}`);
}

async function install(python: FoundPython, envDir: string, wheel: string, options: ManagedEnvOptions, report: (m: string) => void): Promise<void> {
  const log = options.log ?? (() => undefined);
  const where = `Python ${python.version.slice(0, 2).join('.')} at ${python.executable}`;
  report(`creating a Python environment (${where})`);
  log(`creating ${envDir} with ${where} (from ${python.source})`);
  await rm(envDir, { recursive: true, force: true });
  const venv = await run(python.command, ['-m', 'venv', envDir], options.env, INSTALL_TIMEOUT_MS);
  if (venv.code !== 0) {
    log(venv.output);
    await rm(envDir, { recursive: true, force: true });
    throw new ManagedEnvError(
      'venv',
      `could not create a Python environment with ${where}: ${lastLine(venv)}. ` +
        'On Debian and Ubuntu install python3-venv; or choose another interpreter with ' +
        `"Python: Select Interpreter", then run "Nexus: Restart Server". ${OR_SET_COMMAND}`,
    );
  }
  report('installing nexus-lsp and its dependencies');
  const pipArgs = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...(options.pipArgs ?? []), wheel];
  log(`pip ${pipArgs.slice(2).join(' ')}`);
  const pip = await run(envPython(envDir, options.platform), pipArgs, options.env, INSTALL_TIMEOUT_MS);
  log(pip.output);
  if (pip.code !== 0) {
    await rm(envDir, { recursive: true, force: true });
    if (NETWORK_FAILURE.test(pip.output)) {
      throw new ManagedEnvError(
        'network',
        `could not download the dependencies of nexus-lsp from the Python package index (${lastLine(pip)}). ` +
          'Check the network connection (and pip\'s proxy or index settings), then run "Nexus: Restart Server". ' +
          OR_SET_COMMAND,
      );
    }
    throw new ManagedEnvError(
      'pip',
      `pip could not install nexus-lsp into the extension's Python environment: ${lastLine(pip)}. ` +
        `"Nexus: Show Log" has pip's output; run "Nexus: Restart Server" to try again. ${OR_SET_COMMAND}`,
    );
  }
}

/** Holds the install lock (a directory: mkdir is atomic) while `task` runs; waits for another window's. */
async function withLock<T>(storageDir: string, task: () => Promise<T>, log: (line: string) => void): Promise<T> {
  const lock = path.join(storageDir, LOCK_DIR);
  let waited = false;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) {
        log(`removing a stale install lock (${Math.round(age / 1000)} s old)`);
        await rmdir(lock).catch(() => undefined);
        continue;
      }
      if (!waited) log('another window is installing the Python environment; waiting for it');
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  }
  try {
    return await task();
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}

/** The server command from the managed environment, creating or replacing it when needed. */
export async function ensureManagedServer(options: ManagedEnvOptions): Promise<ManagedServer> {
  const log = options.log ?? (() => undefined);
  const envDir = path.join(options.storageDir, ENV_DIR);
  const server = (installed: boolean): ManagedServer => ({
    command: envPython(envDir, options.platform),
    args: ['-m', 'nexus_lsp'],
    installed,
  });
  const stamp = await wheelStamp(options.wheel);
  if (existsSync(envDir) && (await isCurrent(envDir, stamp, options))) return server(false);

  await mkdir(options.storageDir, { recursive: true });
  return withLock(
    options.storageDir,
    async () => {
      // Another window may have installed it while this one waited for the lock.
      if (existsSync(envDir) && (await isCurrent(envDir, stamp, options))) return server(false);
      const progress = options.withProgress ?? ((task) => task(() => undefined));
      await progress(async (report) => {
        report('looking for Python');
        const python = await findPython(options.candidates, options.env);
        await install(python, envDir, options.wheel, options, report);
        // Written last: its presence means the install finished.
        await writeFile(path.join(envDir, STAMP_FILE), JSON.stringify(stamp), 'utf8');
      });
      log(`installed ${stamp.wheel} into ${envDir}`);
      return server(true);
    },
    log,
  );
}

/** The nexus-lsp wheel in the extension's `bundled` folder (the Makefile's package step puts it there). */
export async function bundledWheel(dir: string): Promise<string> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const wheels = names.filter((n) => /^nexus_lsp-.+\.whl$/.test(n)).sort();
  if (wheels.length === 0) {
    throw new ManagedEnvError(
      'noWheel',
      `this build of the extension carries no nexus-lsp wheel (nothing in ${dir}). ` +
        `Reinstall the extension from a .vsix made with \`make -C editors/vscode vsix\`. ${OR_SET_COMMAND}`,
    );
  }
  return path.join(dir, wheels[wheels.length - 1]);
}

/**
 * Whether `command` names an executable: a path that exists, or a name found on
 * `PATH`. Checked before starting a configured server so that a missing one gets
 * one message saying which setting to change, not the language client's spawn error.
 */
export function commandExists(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): boolean {
  const isFile = (file: string) => {
    try {
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/') || (platform === 'win32' && command.includes('\\'))) return isFile(command);
  const extensions = platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').concat('') : [''];
  const dirs = (env.PATH ?? env.Path ?? '').split(platform === 'win32' ? ';' : ':').filter(Boolean);
  return dirs.some((dir) => extensions.some((ext) => isFile(path.join(dir, command + ext))));
}
