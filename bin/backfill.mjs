#!/usr/bin/env node
// Runs the compiled CLI in dist/ (built by `npm ci`/`npm install` and before `npm test`, see
// scripts/build.mjs). Where dist/ is missing or one of the source files it was built from has
// changed since (a checkout being edited), it runs the TypeScript sources through tsx instead, so
// a stale build never runs.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

/** The build's stamp lists the sources it read: one stat each, no walk of the tree. */
function buildIsCurrent() {
  try {
    const { started, sources } = JSON.parse(readFileSync(join(root, 'dist', 'BUILT'), 'utf8'));
    return sources.length > 0 && sources.every((f) => statSync(join(root, f)).mtimeMs < started);
  } catch {
    return false; // no build, an old stamp, or a source gone
  }
}

if (buildIsCurrent()) {
  await import('../dist/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../functions/cli/main.ts');
}
