import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_WORKERS, importFile, WORKERS_FROM_BYTES, type ImportOptions } from '../../functions/cli/import';
import { Limits } from '../../functions/core/settings';
import { CaptureStandIn } from '../support/capture-stand-in';
import { posthogRecords } from '../support/fixtures';
import { amplitudeRecords, amplitudeZip } from '../support/vendors';

const KEY = 'phc_workers_test';
const opts = (over: Partial<ImportOptions>): ImportOptions => ({
  stateDir: join(mkdtempSync(join(tmpdir(), 'workers-')), 'state'),
  limits: Limits.parse({ chunkRecords: 150, batchSize: 50 }),
  attempts: 3,
  retryDelayMs: 5,
  progress: false,
  ...over,
});

describe('local mode on several threads', () => {
  let capture: CaptureStandIn;
  before(async () => {
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
  });
  after(() => capture.stop());

  test('two send workers deliver exactly what the main thread alone does: same uuids, links once, same report', async () => {
    const { records, pairs } = amplitudeRecords(1_200);
    const input = join(mkdtempSync(join(tmpdir(), 'workers-in-')), 'export.zip');
    writeFileSync(input, await amplitudeZip(records, 300));

    const one = await importFile(input, opts({ host: capture.url, apiKey: KEY, workers: 0 }));
    assert.equal(one.workers, 0);
    // A link's timestamp is that of the chunk that claims it first, which depends on timing
    // when chunks run at once; everything else must be identical.
    const shape = (e: { event: string; timestamp?: string }) => JSON.stringify({ ...e, properties: undefined, timestamp: e.event === '$identify' ? undefined : e.timestamp });
    const first = new Map([...capture.events].map(([u, e]) => [u, shape(e)]));
    assert.equal(first.size, 1_200 + pairs.length);

    const received = capture.received;
    // A fault on the way: one request fails and its chunk is retried by the main thread.
    capture.fail({ kind: 'pass' }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    const two = await importFile(input, opts({ host: capture.url, apiKey: KEY, workers: 2 }));
    assert.equal(two.workers, 2);
    assert.ok(capture.injected.status503 >= 1, 'the fault happened');
    assert.equal(capture.events.size, first.size, 'no uuid the single thread did not send');
    for (const [u, e] of capture.events) assert.equal(shape(e), first.get(u));
    assert.ok(capture.received - received >= 1_200 + pairs.length);
    const { completedAt: _a, startedAt: _b, fileId: _c, ...r1 } = one.report!;
    const { completedAt: _d, startedAt: _e, fileId: _f, ...r2 } = two.report!;
    assert.deepEqual(r2, r1);
    assert.equal(two.report!.records.links, pairs.length);
    assert.equal(two.report!.reconciled, true);
  });

  test('each send thread has a second chunk in flight while its first is on the wire', async () => {
    const slow = await new CaptureStandIn({ apiKey: KEY, latencyMs: 250, keepEvents: false }).start();
    try {
      const input = join(mkdtempSync(join(tmpdir(), 'workers-in-')), 'events.jsonl');
      const { text, valid } = posthogRecords(1_200);
      writeFileSync(input, text);
      // One request per chunk of 100: requests at once are chunks at once.
      const o = { limits: Limits.parse({ chunkRecords: 100, batchSize: 1_000 }) };
      const two = await importFile(input, opts({ host: slow.url, apiKey: KEY, workers: 2, ...o }));
      assert.equal(two.report!.records.sent, valid);
      assert.equal(slow.maxActive, 4, 'two workers, two chunks each');
      slow.maxActive = 0;
      const one = await importFile(input, opts({ host: slow.url, apiKey: KEY, workers: 0, ...o }));
      assert.equal(one.report!.records.sent, valid);
      assert.equal(slow.maxActive, 2, 'the main thread alone: two chunks');
    } finally {
      await slow.stop();
    }
  });

  test('the workers take their events from the main thread\'s one rate budget', async () => {
    const { records } = amplitudeRecords(600);
    const input = join(mkdtempSync(join(tmpdir(), 'workers-in-')), 'budget.zip');
    writeFileSync(input, await amplitudeZip(records, 300));
    const start = capture.log.length;
    const res = await importFile(input, opts({ host: capture.url, apiKey: KEY, workers: 2, eventsPerMinute: 100_000 }));
    assert.equal(res.report!.records.sent, 600);
    const byMinute = new Map<number, number>();
    for (const l of capture.log.slice(start)) byMinute.set(Math.floor(l.at / 60_000), (byMinute.get(Math.floor(l.at / 60_000)) ?? 0) + l.events);
    for (const n of byMinute.values()) assert.ok(n <= 100_000);
  });

  test('by default a file of 1 MiB or more is sent by a worker per core, a smaller one by the main thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'workers-in-'));
    const { records } = amplitudeRecords(1_500);
    const lines = records.map((r) => JSON.stringify(r));
    const big = join(dir, 'big.jsonl');
    writeFileSync(big, lines.join('\n') + '\n');
    assert.ok(statSync(big).size >= WORKERS_FROM_BYTES, 'big enough');
    const res = await importFile(big, opts({ host: capture.url, apiKey: KEY }));
    assert.equal(res.workers, DEFAULT_WORKERS);
    assert.equal(res.report!.records.sent, 1_500);

    const small = join(dir, 'small.jsonl');
    writeFileSync(small, lines.slice(0, 300).join('\n') + '\n');
    const one = await importFile(small, opts({ host: capture.url, apiKey: KEY }));
    assert.equal(one.workers, 0, 'no worker started for a small file');
    assert.equal(one.report!.records.sent, 300);
    const forced = await importFile(small, opts({ host: capture.url, apiKey: KEY, workers: 2 }));
    assert.equal(forced.workers, 2, '--workers is followed whatever the size');
  });

  test('a worker that runs out of its heap fails the import with what to do, never silently', async () => {
    const { records } = amplitudeRecords(900);
    const input = join(mkdtempSync(join(tmpdir(), 'workers-in-')), 'oom.zip');
    writeFileSync(input, await amplitudeZip(records, 900));
    // A heap far below one chunk's events (a 900-record chunk): every attempt runs out of it.
    const big = opts({ host: capture.url, apiKey: KEY, workers: 1, workerHeap: { oldMb: 4, youngMb: 1 }, limits: Limits.parse({ chunkRecords: 900, batchSize: 900 }) });
    await assert.rejects(importFile(input, big), /ran out of its 4 MB heap: run again with a larger --worker-heap-mb/);
    // Nothing was marked done: the same command with room enough sends everything.
    const again = await importFile(input, { ...big, workerHeap: { oldMb: 192, youngMb: 12 } });
    assert.equal(again.report!.records.sent, 900);
    assert.equal(again.report!.reconciled, true);
  });
});
