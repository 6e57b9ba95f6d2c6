// Compiles the CLI to dist/ (esbuild), so `npx backfill` starts without a TypeScript compiler.
// Run by `npm ci` / `npm install` (prepare) and before `npm test`; never committed.
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['functions/cli/main.ts', 'functions/cli/send-worker.ts'],
  bundle: true,
  splitting: true, // each command's code loads only when that command runs
  packages: 'external',
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist',
  sourcemap: true,
  logLevel: 'warning',
});
writeFileSync(join(root, 'dist', 'BUILT'), `${new Date().toISOString()}\n`);
