/**
 * The server the extension carries, run from its own Python environment (VS Code
 * layer over {@link ./managedEnv}): the interpreter comes from the Python extension
 * when it is installed, else `python3` (then `python`) on the PATH; the environment
 * lives in the extension's global storage; installing shows a progress notification.
 */

import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';
import { bundledWheel, ensureManagedServer, type PythonCandidate } from './managedEnv';
import type { ServerCommand } from './settings';

const PYTHON_EXTENSION_ID = 'ms-python.python';

export type ManagedLauncher = (scope: vscode.Uri | undefined) => Promise<ServerCommand>;

export function managedLauncher(context: vscode.ExtensionContext, output: vscode.LogOutputChannel): ManagedLauncher {
  return async (scope) => {
    const wheel = await bundledWheel(vscode.Uri.joinPath(context.extensionUri, 'bundled').fsPath);
    const candidates = [...(await pythonExtensionInterpreter(scope, output)), ...pathInterpreters()];
    const server = await ensureManagedServer({
      storageDir: context.globalStorageUri.fsPath,
      wheel,
      candidates,
      log: (line) => output.info(line),
      withProgress: (task) =>
        Promise.resolve(
          vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: 'Nexus: first start' },
            (progress) => task((message) => progress.report({ message })),
          ),
        ),
    });
    return { command: server.command, args: server.args };
  };
}

function pathInterpreters(): PythonCandidate[] {
  const names = process.platform === 'win32' ? ['python', 'py'] : ['python3', 'python'];
  return names.map((command) => ({ command, source: 'the PATH' }));
}

/** The interpreter selected in the Python extension for the workspace, when there is one. */
async function pythonExtensionInterpreter(
  scope: vscode.Uri | undefined,
  output: vscode.LogOutputChannel,
): Promise<PythonCandidate[]> {
  if (!vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) return [];
  // Its interpreter may be one of the workspace's own (.venv/bin/python): running it
  // would run the workspace's code, which an untrusted workspace must not get to do.
  if (!vscode.workspace.isTrusted) {
    output.info('untrusted workspace: not using the Python extension\'s interpreter');
    return [];
  }
  try {
    const api = await PythonExtension.api();
    const active = api.environments.getActiveEnvironmentPath(scope);
    const resolved = await api.environments.resolveEnvironment(active);
    const executable = resolved?.executable.uri?.fsPath ?? active.path;
    return executable ? [{ command: executable, source: 'the Python extension' }] : [];
  } catch (err) {
    // Not fatal: the PATH is tried next.
    output.warn(`could not ask the Python extension for its interpreter: ${String(err)}`);
    return [];
  }
}
