// Test helpers shared by the suites: where the Python interpreter is, and the
// extension manifest.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Tests run from editors/vscode (the Makefile's directory). */
export const EXTENSION_DIR = process.cwd();

/** The interpreter with nexus_lsp installed (the Makefile exports NEXUS_PYTHON). */
export const NEXUS_PYTHON = process.env.NEXUS_PYTHON || path.resolve(EXTENSION_DIR, '../../.venv/bin/python');

interface Property {
  default?: unknown;
}

export function manifestProperties(): Record<string, Property> {
  const pkg = JSON.parse(readFileSync(path.join(EXTENSION_DIR, 'package.json'), 'utf8'));
  return pkg.contributes.configuration.properties;
}

/** A getter like `workspace.getConfiguration('nexus').get` with nothing set by the user. */
export function defaultsGetter(overrides: Record<string, unknown> = {}) {
  const props = manifestProperties();
  return (key: string): unknown => (key in overrides ? overrides[key] : props[`nexus.${key}`]?.default);
}
