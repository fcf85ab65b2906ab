// Bundles the extension (dist/extension.js) and, with --tests, the node --test
// suites (out/test/*.test.js). --production minifies and drops source maps.
import { readdirSync, rmSync } from 'node:fs';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const tests = process.argv.includes('--tests');

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
};

await esbuild.build({
  ...common,
  entryPoints: ['src/extension.ts'],
  outfile: 'dist/extension.js',
  external: ['vscode'],
  minify: production,
  sourcemap: production ? false : 'linked',
});

if (tests) {
  rmSync('out/test', { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: readdirSync('test')
      .filter((name) => name.endsWith('.test.ts'))
      .map((name) => `test/${name}`),
    outdir: 'out/test',
    // The protocol layer and its tests never load the VS Code API; jsdom loads
    // files of its own at run time, so it stays in node_modules.
    external: ['vscode', 'jsdom'],
    sourcemap: 'inline',
  });
}
