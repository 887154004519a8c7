/**
 * Checks which way the Worker's dependencies point (`.dependency-cruiser.cjs`): `npm run deps`.
 *
 * dependency-cruiser reads TypeScript through the TypeScript compiler's API, which TypeScript 7 (the
 * project's, native) does not ship, and its other parser cannot read TSX. So the sources are first
 * transpiled file by file with esbuild — which also drops type-only imports, as the bundle does: only
 * what the Worker imports at run time counts — and the JavaScript is cruised.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const out = join(root, '.deps');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [...sources('workers'), ...sources('durable-objects')].map((f) => join(root, f)),
  outdir: out,
  outbase: root,
  bundle: false,
  format: 'esm',
  jsx: 'automatic',
  jsxImportSource: 'hono/jsx',
  logLevel: 'warning',
});
const cruise = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
    '--config',
    '.dependency-cruiser.cjs',
    '--output-type',
    'err',
    '.deps/workers',
    '.deps/durable-objects',
  ],
  { cwd: root, stdio: 'inherit' },
);
process.exit(cruise.status ?? 1);
