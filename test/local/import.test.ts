import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { importFile, type ImportOptions } from '../../functions/cli/import';
import { Limits } from '../../functions/core/settings';
import { CaptureStandIn } from '../support/capture-stand-in';
import { posthogRecords } from '../support/fixtures';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const run = promisify(execFile);
const KEY = 'phc_local_test';

function workdir() {
  return mkdtempSync(join(tmpdir(), 'import-'));
}
const opts = (dir: string, over: Partial<ImportOptions> = {}): ImportOptions => ({
  stateDir: join(dir, 'state'),
  limits: Limits.parse({ chunkRecords: 200, batchSize: 100 }),
  attempts: 1,
  retryDelayMs: 5,
  progress: false,
  ...over,
});
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

describe('backfill import (local mode)', () => {
  let capture: CaptureStandIn;
  before(async () => {
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
  });
  after(() => capture.stop());

  test('--out writes exactly the events that would be posted, and a report', async () => {
    const dir = workdir();
    const { text, valid, invalid } = posthogRecords(1_000, { badEvery: 50 });
    const input = join(dir, 'export.jsonl.gz');
    writeFileSync(input, gzipSync(text));
    const out = join(dir, 'events.ndjson');
    const res = await importFile(input, opts(dir, { out }));
    const events = lines(out).map((l) => JSON.parse(l));
    assert.equal(events.length, valid);
    assert.equal(new Set(events.map((e) => e.uuid)).size, valid);
    assert.equal(res.report?.records.read, 1_000);
    assert.equal(res.report?.records.rejected, invalid);
    assert.equal(res.report?.reconciled, true);
    const rejected = readdirSync(res.report!.rejectedReport!).flatMap((f) => lines(join(res.report!.rejectedReport!, f)).map((l) => JSON.parse(l)));
    assert.equal(rejected.length, invalid);
    assert.deepEqual(rejected.slice(0, 2).map((r) => r.line), [50, 100]);

    // Posting the same file gives the same uuids as the --out file.
    const before = capture.unique;
    await importFile(input, opts(workdir(), { host: capture.url, apiKey: KEY }));
    assert.equal(capture.unique - before, valid);
    for (const e of events) assert.ok(capture.events.has(e.uuid));
  });

  test('a run that stops at a failing chunk resumes where it stopped and sends no done chunk again', async () => {
    const dir = workdir();
    const { text, valid } = posthogRecords(1_000, { seed: 'resume' });
    const input = join(dir, 'resume.jsonl');
    writeFileSync(input, text);
    // One chunk at a time, so the scripted faults meet the requests in a known order.
    const o = opts(dir, { host: capture.url, apiKey: KEY, chunksInFlight: 1 });
    const before = { unique: capture.unique, received: capture.received };
    // Chunks 0-2 go through (two batches each), then chunk 3's second batch fails.
    capture.fail(...Array.from({ length: 7 }, () => ({ kind: 'pass' as const })), { kind: 'status', status: 500 }, { kind: 'status', status: 500 }, { kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    await assert.rejects(importFile(input, o), /chunk 3 \(from line 601\) failed 1 times: .*run the same command again/);
    assert.equal(capture.unique - before.unique, 700);

    const res = await importFile(input, o);
    assert.equal(capture.unique - before.unique, valid);
    assert.equal(capture.received - before.received, valid + 100, 'only the failed chunk\'s accepted batch went twice');
    assert.equal(res.report?.records.sent, valid);

    const again = await importFile(input, o);
    assert.equal(again.alreadyDone, true);
    assert.equal(capture.received - before.received, valid + 100);

    const { stdout } = await run(process.execPath, [BIN, 'status', '--state-dir', o.stateDir]);
    assert.match(stdout, /resume\.jsonl \[posthog\] done, 5\/5 chunks/);
    assert.match(stdout, new RegExp(`read 1000 = sent ${valid} \\+ rejected 0 \\+ filtered 0 \\+ duplicates 0`));
  });

  test('a run that stops at its last chunk, after the split finished, is completed by the next run (never "already imported")', async () => {
    const dir = workdir();
    const { text, valid } = posthogRecords(400, { seed: 'last-chunk' });
    const input = join(dir, 'last.jsonl');
    writeFileSync(input, text);
    // Main thread, one chunk at a time: chunk 0 (two batches) goes through, chunk 1 fails; by
    // then the whole file was cut and the manifest says split.
    const o = opts(dir, { host: capture.url, apiKey: KEY, chunksInFlight: 1, workers: 0 });
    const before = capture.unique;
    // (Chunk 1's two batches go at once, each tried 4 times.)
    capture.fail({ kind: 'pass' }, { kind: 'pass' }, ...Array.from({ length: 8 }, () => ({ kind: 'status' as const, status: 500 })));
    await assert.rejects(importFile(input, o), /chunk 1 \(from line 201\) failed 1 times/);
    assert.equal(capture.unique - before, 200, 'the fault stopped the last chunk');

    const res = await importFile(input, o);
    assert.equal(res.alreadyDone, false);
    assert.equal(capture.unique - before, valid);
    assert.equal(res.report?.records.sent, valid);
    assert.equal(res.report?.reconciled, true);
    assert.equal((await importFile(input, o)).alreadyDone, true);
  });

  test('with two chunks in flight, a failure stops the run and a re-run completes it exactly', async () => {
    const dir = workdir();
    const { text, valid } = posthogRecords(3_000, { seed: 'inflight' });
    const input = join(dir, 'inflight.jsonl');
    writeFileSync(input, text);
    const o = opts(dir, { host: capture.url, apiKey: KEY });
    const before = capture.unique;
    // Capture goes down once a few batches were accepted, while two chunks are in flight.
    const accepted = capture.log.length;
    const watch = setInterval(() => capture.log.length >= accepted + 4 && capture.outage({ kind: 'status', status: 500 }), 1);
    await assert.rejects(importFile(input, { ...o, attempts: 1 }), /failed 1 times/);
    clearInterval(watch);
    capture.outage(undefined);
    assert.ok(capture.unique - before >= 400 && capture.unique - before < valid, 'part of the file went before the failure');
    const res = await importFile(input, o);
    assert.equal(capture.unique - before, valid);
    assert.equal(res.report?.records.sent, valid);
    assert.equal(res.report?.reconciled, true);
  });

  test('killed mid-run (SIGKILL), the CLI resumes to exactly one line per event', async () => {
    const dir = workdir();
    const { text, valid } = posthogRecords(120_000, { seed: 'kill' });
    const input = join(dir, 'big.jsonl');
    writeFileSync(input, text);
    const out = join(dir, 'big.ndjson');
    const state = join(dir, 'state');
    const args = [BIN, 'import', input, '--out', out, '--state-dir', state, '--chunk-records', '2000', '--no-progress'];
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    // Kill it once a few chunks are checkpointed (a line each in the checkpoint journal).
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const journal = existsSync(state) ? readdirSync(state).find((f) => f.endsWith('.json.log')) : undefined;
      if (journal && readFileSync(join(state, journal), 'utf8').split('\n').length > 3) break;
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const partial = existsSync(out) ? lines(out).length : 0;
    assert.ok(partial > 0 && partial < valid, `stopped partway (${partial} of ${valid})`);
    appendFileSync(out, '{"uuid":"half-written'); // a torn tail, as a crash mid-write leaves

    const { stdout } = await run(process.execPath, args);
    assert.match(stdout, /120000 records read, 120000 sent/);
    const events = lines(out).map((l) => JSON.parse(l) as { uuid: string });
    assert.equal(events.length, valid);
    assert.equal(new Set(events.map((e) => e.uuid)).size, valid);
  });

  test('the CLI explains bad usage and unreadable input', async () => {
    const dir = workdir();
    await assert.rejects(run(process.execPath, [BIN, 'import', join(dir, 'missing.jsonl')]), (err: { stderr: string; code: number }) => {
      assert.match(err.stderr, /backfill: .*missing\.jsonl/);
      assert.equal(err.code, 2);
      return true;
    });
    await assert.rejects(run(process.execPath, [BIN, 'import', 'x', '--format', 'nope']), /Allowed choices are auto, posthog/);
    const truncated = join(dir, 'cut.jsonl.gz');
    const gz = gzipSync(posthogRecords(3_000).text);
    writeFileSync(truncated, gz.subarray(0, Math.floor(gz.length / 2)));
    await assert.rejects(run(process.execPath, [BIN, 'import', truncated, '--out', join(dir, 'o.ndjson'), '--state-dir', join(dir, 's')]), (err: { stdout: string; code: number }) => {
      assert.match(err.stdout, /input error: .*cut\.jsonl\.gz: reading stopped after \d+ records: unexpected end of file/);
      assert.equal(err.code, 1);
      return true;
    });
  });
});

describe('local state is per destination', () => {
  test('writing --out first does not mark the file imported for a --host run', async () => {
    const capture = await new CaptureStandIn({ apiKey: KEY }).start();
    try {
      const dir = workdir();
      const { text, valid } = posthogRecords(300, { seed: 'dest' });
      const input = join(dir, 'dest.jsonl');
      writeFileSync(input, text);
      await importFile(input, opts(dir, { out: join(dir, 'dry.ndjson') }));
      const res = await importFile(input, opts(dir, { host: capture.url, apiKey: KEY }));
      assert.equal(res.alreadyDone, false);
      assert.equal(capture.unique, valid);
      const again = await importFile(input, opts(dir, { host: capture.url, apiKey: KEY }));
      assert.equal(again.alreadyDone, true);
    } finally {
      await capture.stop();
    }
  });
});
