#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx backfill` works straight after `npm ci`.
import { register } from 'tsx/esm/api';

register();
await import('../functions/cli/main.ts');
