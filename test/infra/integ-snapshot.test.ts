// The real-account test cannot run here (no AWS): check that it synthesizes and that its
// committed snapshot is current, so what `npm run integ:aws` deploys is what was reviewed.
// After a deliberate change to the stack or the test, refresh the snapshot with:
//   UPDATE_INTEG_SNAPSHOT=1 node --import tsx --test test/infra/integ-snapshot.test.ts
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { integApp } from '../integ/integ.backfill';

const SNAPSHOT = join(import.meta.dirname, '..', 'integ', 'integ.backfill.snapshot');

/**
 * Not compared: asset hashes (they change with every code change, and differ without bundling)
 * and the assertions' salt (a timestamp, so each deploy runs them again).
 */
const canonical = (template: unknown) =>
  JSON.stringify(template, null, 1)
    .replace(/[0-9a-f]{64}/g, '<asset hash>')
    .replace(/"salt": "\d+"/g, '"salt": "<deploy time>"');

test('the real-account integ test synthesizes, and its snapshot is current', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'integ-'));
  try {
    // No bundling (CDK skips stacks not listed here): the templates are otherwise the same.
    const assembly = integApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } }).synth();
    const actual = Object.fromEntries(assembly.stacks.map((s) => [`${s.stackName}.template.json`, canonical(s.template)]));
    assert.ok(Object.keys(actual).length >= 3, 'the pipeline stack, the drop stack and the assertion stack');
    if (process.env.UPDATE_INTEG_SNAPSHOT) {
      rmSync(SNAPSHOT, { recursive: true, force: true });
      mkdirSync(SNAPSHOT, { recursive: true });
      for (const [name, body] of Object.entries(actual)) writeFileSync(join(SNAPSHOT, name), `${body}\n`);
    }
    const expected = Object.fromEntries(readdirSync(SNAPSHOT).map((f) => [f, readFileSync(join(SNAPSHOT, f), 'utf8').trimEnd()]));
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), 'the same stacks as the snapshot');
    for (const [name, body] of Object.entries(actual)) {
      assert.ok(body === expected[name], `${name} differs from test/integ/integ.backfill.snapshot/${name}: if the change is meant, refresh the snapshot (UPDATE_INTEG_SNAPSHOT=1, see the top of this file) and review its diff`);
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
