import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { importFile, type ImportOptions } from '../../functions/cli/import';
import { Limits } from '../../functions/core/settings';
import { CaptureStandIn } from '../support/capture-stand-in';
import { amplitudeRecords, amplitudeZip, mixpanelLines, segmentLines } from '../support/vendors';

const KEY = 'phc_local_formats';

describe('backfill import: every source format on one machine', () => {
  let capture: CaptureStandIn;
  const dir = mkdtempSync(join(tmpdir(), 'formats-'));
  before(async () => {
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
  });
  after(() => capture.stop());
  const opts = (over: Partial<ImportOptions> = {}): ImportOptions => ({
    host: capture.url,
    apiKey: KEY,
    stateDir: join(dir, 'state'), // one state dir: one sent-alias file for every import
    limits: Limits.parse({ chunkRecords: 200 }),
    attempts: 1,
    retryDelayMs: 5,
    progress: false,
    ...over,
  });
  const file = (name: string, body: Buffer | string) => {
    const p = join(dir, name);
    writeFileSync(p, body);
    return p;
  };

  test('Amplitude zip: --out shows the events; posting twice adds no uuid and no link', async () => {
    const { records, pairs } = amplitudeRecords(900);
    const zip = file('amplitude-export.zip', await amplitudeZip(records, 300));
    const out = join(dir, 'amp.ndjson');
    const dry = await importFile(zip, opts({ host: undefined, out })); // same state dir: a dry run must not use up the links
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    assert.equal(lines.length, 900 + pairs.length, 'the events plus one $identify per device-user pair');
    assert.equal(lines.filter((e) => e.event === '$identify').length, pairs.length);
    assert.equal(dry.report?.format, 'amplitude');

    const before = capture.unique;
    const first = await importFile(zip, opts());
    assert.equal(capture.unique - before, 900 + pairs.length);
    assert.equal(first.report?.records.links, pairs.length);
    // The same records in another file (a re-export): nothing new reaches PostHog.
    const copy = file('amplitude-again.zip', await amplitudeZip(records, 450));
    const second = await importFile(copy, opts());
    assert.equal(capture.unique - before, 900 + pairs.length);
    assert.equal(second.report?.records.links, 0);
  });

  test('Segment archive, Mixpanel export and a CSV with --config', async () => {
    const seg = segmentLines(35);
    const s = await importFile(file('segment-archive.gz', gzipSync(seg.lines.join('\n'))), opts());
    assert.deepEqual([s.report?.format, s.report?.records.sent, s.report?.records.filtered], ['segment', seg.sent, seg.filtered]);

    const mp = mixpanelLines(120);
    const before = capture.unique;
    const m = await importFile(file('mixpanel.jsonl', mp.lines.join('\n')), opts());
    assert.equal(m.report?.format, 'mixpanel');
    assert.equal(capture.unique - before, mp.unique + mp.pairs.length);

    const config = file('orders.config.json', JSON.stringify({ format: 'csv', csv: { eventName: 'order', distinctId: 'customer', timestamp: 'at', delimiter: ';' } }));
    const c = await importFile(file('orders.csv', 'customer;at;total\nc1;2024-02-01T10:00:00Z;3\nc2;2024-02-01T10:05:00Z;4\n'), opts({ config }));
    assert.deepEqual([c.report?.format, c.report?.records.sent], ['csv', 2]);
  });

  test('a bad --config stops before anything is read', async () => {
    const config = file('bad.config.json', JSON.stringify({ events: { renam: {} } }));
    const before = capture.requests;
    await assert.rejects(importFile(file('x.jsonl', '{"event":"e","distinct_id":"d"}\n'), opts({ config })), /bad\.config\.json: invalid mapping config: events: Unrecognized key: "renam"/);
    assert.equal(capture.requests, before);
  });
});
