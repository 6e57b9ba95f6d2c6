#!/usr/bin/env node
// Runs the compiled CLI in dist/ (built by `npm ci`/`npm install` and before `npm test`, see
// scripts/build.mjs). Where dist/ is missing or older than a source file (a checkout being
// edited), it runs the TypeScript sources through tsx instead, so a stale build never runs.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function builtAt() {
  try {
    return statSync(join(root, 'dist', 'BUILT')).mtimeMs;
  } catch {
    return 0;
  }
}

if (builtAt() >= newestSource(join(root, 'functions'))) {
  await import('../dist/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../functions/cli/main.ts');
}
