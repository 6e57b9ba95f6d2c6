import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { CaptureStandIn } from '../support/capture-stand-in';
import { amplitudeRecords, amplitudeZip } from '../support/vendors';

// What the CLI loads to start: the compiled build when it is current, and for an NDJSON import
// none of the zip, CSV and JSON-array readers (they cost start time and a plain import needs none).
const ROOT = join(import.meta.dirname, '..', '..');
const TRACE = join(import.meta.dirname, '..', 'support', 'module-trace.mjs');
const run = promisify(execFile);
const READERS = ['yauzl', 'csv-parse', 'stream-json'];

/** Runs bin/backfill.mjs (of `root`) and returns stdout and every module URL the process imported. */
async function traced(args: string[], root = ROOT): Promise<{ stdout: string; modules: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'cli-start-'));
  const file = join(dir, 'modules.txt');
  writeFileSync(file, '');
  const { stdout } = await run(process.execPath, ['--import', TRACE, join(root, 'bin', 'backfill.mjs'), ...args], { env: { ...process.env, MODULE_TRACE: file } });
  return { stdout, modules: readFileSync(file, 'utf8').split('\n').filter(Boolean) };
}
const readersIn = (modules: string[]) => READERS.filter((p) => modules.some((u) => u.includes(`/node_modules/${p}/`)));

describe('CLI start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-start-'));
  const file = (name: string, body: Buffer | string) => {
    const p = join(dir, name);
    writeFileSync(p, body);
    return p;
  };
  const importArgs = (input: string, ...more: string[]) => ['import', input, '--out', `${input}.out.ndjson`, '--state-dir', join(dir, `state-${input.split('/').pop()}`), '--no-progress', ...more];

  test('an NDJSON import loads no zip, CSV or JSON-array reader', async () => {
    const input = file('one.jsonl', '{"event":"signed up","distinct_id":"u1","timestamp":"2024-01-01T00:00:00Z"}\n');
    const { stdout, modules } = await traced(importArgs(input));
    assert.match(stdout, /1 records read, 1 sent/);
    assert.ok(modules.some((u) => /\/(dist\/main\.js|functions\/cli\/main\.ts)$/.test(u)), 'the trace saw the CLI load');
    assert.deepEqual(readersIn(modules), []);
  });

  test('a one-record import posted to capture starts no worker thread', async () => {
    const capture = await new CaptureStandIn({ apiKey: 'phc_start' }).start();
    try {
      const input = file('posted.jsonl', '{"event":"signed up","distinct_id":"u1","timestamp":"2024-01-01T00:00:00Z"}\n');
      const { stdout, modules } = await traced(['import', input, '--host', capture.url, '--api-key', 'phc_start', '--state-dir', join(dir, 'state-posted'), '--no-progress']);
      assert.match(stdout, /1 records read, 1 sent/);
      assert.equal(capture.unique, 1);
      assert.deepEqual(capture.wire.map((w) => w.xfl), [4], 'gzipped at level 1 by default');
      assert.ok(modules.some((u) => u.includes('posthog')), 'the trace saw the sink load');
      assert.deepEqual(modules.filter((u) => u.includes('send-worker')), []);
      // The same import with a worker asked for: the trace does see it start; the worker's sink
      // gzips at the level given.
      const forced = await traced(['import', input, '--host', capture.url, '--api-key', 'phc_start', '--state-dir', join(dir, 'state-forced'), '--no-progress', '--workers', '1', '--gzip-level', '9']);
      assert.match(forced.stdout, /1 records read, 1 sent/);
      assert.deepEqual(capture.wire.map((w) => w.xfl), [4, 2]);
      await assert.rejects(traced(['import', input, '--host', capture.url, '--api-key', 'phc_start', '--gzip-level', '10']), /must be a whole number from 0 to 9/);
      assert.deepEqual(forced.modules.filter((u) => u.includes('send-worker')).map((u) => u.replace(/.*\//, '')), ['send-worker.js']);
    } finally {
      await capture.stop();
    }
  });

  test('zip, CSV and JSON-array inputs load their reader and import', async () => {
    const zip = file('export.zip', await amplitudeZip(amplitudeRecords(30).records, 10));
    const z = await traced(importArgs(zip));
    assert.match(z.stdout, /\(amplitude\): 30 records read, 30 sent/);
    assert.deepEqual(readersIn(z.modules), ['yauzl']);

    const config = file('orders.config.json', JSON.stringify({ format: 'csv', csv: { eventName: 'order', distinctId: 'customer', timestamp: 'at' } }));
    const csv = file('orders.csv', 'customer,at,total\nc1,2024-02-01T10:00:00Z,3\nc2,2024-02-01T10:05:00Z,4\n');
    const c = await traced(importArgs(csv, '--config', config));
    assert.match(c.stdout, /\(csv\): 2 records read, 2 sent/);
    assert.deepEqual(readersIn(c.modules), ['csv-parse']);

    const array = file('array.json', JSON.stringify([{ event: 'a', distinct_id: 'u1', timestamp: '2024-01-01T00:00:00Z' }, { event: 'b', distinct_id: 'u2', timestamp: '2024-01-01T00:00:01Z' }]));
    const a = await traced(importArgs(array));
    assert.match(a.stdout, /\(posthog\): 2 records read, 2 sent/);
    assert.deepEqual(readersIn(a.modules), ['stream-json']);
  });

  test('bin/backfill.mjs runs the build while it is current, the sources once one of them is newer', async () => {
    // A copy of the CLI's part of the checkout, built there, so its sources can be touched.
    const copy = mkdtempSync(join(tmpdir(), 'cli-checkout-'));
    for (const p of ['bin', 'scripts', 'functions', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, p), join(copy, p), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    await run(process.execPath, [join(copy, 'scripts', 'build.mjs')]);
    const ran = async () => {
      const { modules } = await traced(['--help'], copy);
      const dist = modules.some((u) => u.endsWith('/dist/main.js'));
      const sources = modules.some((u) => u.endsWith('/functions/cli/main.ts'));
      assert.notEqual(dist, sources, 'exactly one of them ran');
      return dist ? 'dist' : 'sources';
    };
    assert.equal(await ran(), 'dist');

    // A source file the build read, edited after the build: the build is stale.
    const now = new Date();
    utimesSync(join(copy, 'functions', 'core', 'names.ts'), now, now);
    assert.equal(await ran(), 'sources');

    // Built again it is current; a new source file that nothing built imports changes nothing.
    await run(process.execPath, [join(copy, 'scripts', 'build.mjs')]);
    mkdirSync(join(copy, 'functions', 'extra'));
    writeFileSync(join(copy, 'functions', 'extra', 'new.ts'), 'export const x = 1;\n');
    assert.equal(await ran(), 'dist');
    // A build whose stamp is gone (or no build at all) is not run.
    rmSync(join(copy, 'dist', 'BUILT'));
    assert.equal(await ran(), 'sources');
    rmSync(join(copy, 'dist'), { recursive: true });
    assert.equal(await ran(), 'sources');
  });
});
