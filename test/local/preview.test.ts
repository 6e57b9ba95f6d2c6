import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { estimateFrom } from '../../functions/cli/estimate';
import { importFile } from '../../functions/cli/import';
import { previewFile } from '../../functions/cli/preview';
import { Limits } from '../../functions/core/settings';
import { posthogRecords } from '../support/fixtures';
import { amplitudeRecords } from '../support/vendors';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const EXAMPLE = resolve(import.meta.dirname, '..', '..', 'examples', 'posthog-events.jsonl');
const run = promisify(execFile);
const limits = Limits.parse({});
const workdir = () => mkdtempSync(join(tmpdir(), 'preview-'));

describe('backfill preview and estimate', () => {
  test('each record beside the events the import would send (same uuids as import --out), counts by outcome; writes nothing', async () => {
    const cwd = workdir();
    const { stdout } = await run(process.execPath, [BIN, 'preview', EXAMPLE, '--records', '7', '--estimate', '--json'], { cwd });
    const { preview: p, estimate: e } = JSON.parse(stdout);
    assert.deepEqual(readdirSync(cwd), [], 'no checkpoints, reports or output files');
    assert.equal(p.format, 'posthog');
    assert.equal(p.detected, true);
    assert.equal(p.origin, 'posthog-events.jsonl');
    assert.deepEqual(p.records.map((r: { outcome: string; code?: string }) => r.code ?? r.outcome), ['sent', 'sent', 'sent', 'sent', 'missing_distinct_id', 'sent', 'invalid_timestamp']);
    assert.deepEqual({ read: p.sample.read, sent: p.sample.sent, rejected: p.sample.rejected, events: p.sample.events, complete: p.sample.complete }, { read: 7, sent: 5, rejected: 2, events: 5, complete: true });
    assert.deepEqual(p.sample.byReason, { missing_distinct_id: 1, invalid_timestamp: 1 });

    // The same file through the real import: the very events the preview showed.
    const dir = workdir();
    const out = join(dir, 'events.ndjson');
    await importFile(EXAMPLE, { stateDir: join(dir, 'state'), limits, attempts: 1, retryDelayMs: 1, progress: false, out });
    const imported = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const previewed = p.records.flatMap((r: { events: Array<{ timestamp?: string }> }) => r.events);
    // A record without a timestamp is sent at the import's start, fixed when the file is split:
    // a preview splits nothing, so it shows such events without one.
    assert.equal(previewed.filter((e: { timestamp?: string }) => e.timestamp === undefined).length, 1);
    const { startedAt } = JSON.parse(readFileSync(join(dir, 'state', readdirSync(join(dir, 'state')).find((f) => f.endsWith('.json') && !f.startsWith('sent-aliases'))!), 'utf8')).manifest;
    assert.deepEqual(previewed.map((e: { timestamp?: string }) => ({ ...e, timestamp: e.timestamp ?? startedAt })), imported);

    assert.equal(e.exact, true);
    assert.equal(e.records, 7);
    assert.equal(e.events, 5);
    assert.ok(e.cost.total > 0 && e.cost.total < 0.01);
  });

  test('links beside the record that shows them, repeats within a chunk and oversize lines marked', async () => {
    const dir = workdir();
    const { records } = amplitudeRecords(12);
    const lines = records.map((r) => JSON.stringify(r));
    lines.splice(3, 0, lines[2]!); // an exact repeat (line 4 repeats line 3)
    lines.splice(6, 0, JSON.stringify({ event_type: 'x', device_id: 'd', pad: 'y'.repeat(2_000_000) }));
    const path = join(dir, 'amplitude-export.jsonl');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const p = await previewFile(path, { records: 8, sample: 100, limits });
    assert.equal(p.format, 'amplitude');
    assert.equal(p.records[3]!.outcome, 'duplicate');
    assert.deepEqual([p.records[6]!.outcome, p.records[6]!.code], ['rejected', 'record_too_large']);
    const first = p.records[0]!;
    assert.equal(first.links.length, 1);
    assert.equal(first.links[0]!.event, '$identify');
    assert.equal(first.links[0]!.properties.$anon_distinct_id, 'device-d1');
    assert.equal(first.events[0]!.properties.$set_once !== undefined, true, 'person properties as $set_once');
    assert.deepEqual({ read: p.sample.read, duplicates: p.sample.duplicates, rejected: p.sample.rejected, links: p.sample.links }, { read: 14, duplicates: 1, rejected: 1, links: 5 });
  });

  test('a sample stops early on a large file; the estimate extrapolates from the share of bytes read', async () => {
    const dir = workdir();
    const plain = join(dir, 'big.jsonl');
    const { text } = posthogRecords(40_000);
    writeFileSync(plain, text);
    const t0 = performance.now();
    const p = await previewFile(plain, { records: 3, sample: 2_000, limits });
    const ms = performance.now() - t0;
    assert.equal(p.sample.read, 2_000);
    assert.equal(p.sample.complete, false);
    assert.ok(p.sample.bytesRead < p.size / 10, `${p.sample.bytesRead} of ${p.size} bytes`);
    assert.ok(ms < 5_000, `took ${ms} ms`);
    const e = estimateFrom(p, { concurrency: 4, inFlight: 8, limits });
    assert.ok(Math.abs(e.records - 40_000) / 40_000 < 0.02, `estimated ${e.records} records`);
    const budgeted = estimateFrom(p, { concurrency: 4, inFlight: 8, limits, eventsPerMinute: 6_000 });
    assert.equal(budgeted.bound, 'rate budget');
    assert.ok(Math.abs(budgeted.seconds - e.events / 100) < 1, 'events at 100/s');

    // Gzipped, the share read is measured in compressed bytes (with read-ahead), so the
    // estimate reads on to a floor of stored bytes; a small file is then read whole: exact.
    const gz = join(dir, 'big.jsonl.gz');
    writeFileSync(gz, gzipSync(text));
    const g = await previewFile(gz, { records: 0, sample: 2_000, limits, minStoredBytes: 16 * 1024 * 1024 });
    assert.equal(g.sample.complete, true);
    assert.equal(estimateFrom(g, { concurrency: 4, inFlight: 8, limits }).records, 40_000);
  });

  test('a format set by config that the content contradicts is said once, as the import says it', async () => {
    const p = await previewFile(EXAMPLE, { records: 2, sample: 10, limits, mapping: { format: 'amplitude' } });
    assert.match(p.error ?? '', /the config says format "amplitude" but the first record looks like "posthog"/);
    assert.equal(p.sample.read, 0);
  });
});
