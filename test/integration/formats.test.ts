import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { createStack, drain, readJson, rejectedRows, s3Event, upload, type Stack } from '../support/aws-env';
import { startMoto, type Moto } from '../support/moto';
import { amplitudeRecords, amplitudeZip, mixpanelLines, segmentLines } from '../support/vendors';

const KEY = 'phc_formats';

describe('every source format through S3 → splitter → SQS → sender, on moto', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 250, DROP_PREFIX: 'posthog/' });
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  /** Drops a file, runs the splitter on its event and drains the queue; returns the report and what capture gained. */
  async function importKey(key: string, body: Buffer | string, extra: { ContentEncoding?: string } = {}) {
    const before = { unique: capture.unique, identifies: countIdentifies() };
    const obj = await upload(stack.bucket, key, body, extra);
    await stack.splitter()(s3Event(stack.bucket, key, obj));
    await drain(stack.queueUrl, stack.sender());
    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
    return { report, newUuids: capture.unique - before.unique, newIdentifies: countIdentifies() - before.identifies };
  }
  const countIdentifies = () => [...capture.events.values()].filter((e) => e.event === '$identify' && e.properties?.$anon_distinct_id).length;

  test('Amplitude Export API zip: members streamed by range, links sent once ever', async () => {
    const { records } = amplitudeRecords(600);
    records[150]!.event_type = ''; // member 1, line 51
    const zip = await amplitudeZip(records, 100);
    const { report, newUuids, newIdentifies } = await importKey('posthog/amplitude/export 187520.zip', zip);
    assert.equal(report.format, 'amplitude');
    assert.deepEqual([report.records.read, report.records.sent, report.records.rejected], [600, 599, 1]);
    assert.equal(report.records.links, 5, 'd1-u1, d2-u1, d3-u2, d3-u3, d4-u4');
    assert.equal(newUuids, 599 + 5);
    assert.equal(newIdentifies, 5);
    assert.equal(report.chunks, 6, 'one chunk per hourly member of 100');
    const [row] = await rejectedRows(stack.bucket, 'posthog/amplitude/export 187520.zip');
    assert.deepEqual([row!.member, row!.line, row!.code], ['187520/187520_2024-01-01_1#0.json.gz', 51, 'missing_event']);

    // The same export again, as another file: no new event, no new link.
    const again = await importKey('posthog/amplitude/export again.zip', zip);
    assert.equal(again.newUuids, 0);
    assert.equal(again.report.records.links, 0);
    // And one hourly member alone, as Amplitude's S3 export delivers it (.json.gz).
    const member = gzipSync(records.slice(0, 100).map((r) => JSON.stringify(r)).join('\n'));
    const single = await importKey('posthog/amplitude/187520_2024-01-01_0#0.json.gz', member);
    assert.equal(single.report.format, 'amplitude');
    assert.equal(single.newUuids, 0);
  });

  test('Segment S3 archive (Content-Encoding: gzip): calls mapped, integrations filter counted', async () => {
    const { lines, sent, filtered } = segmentLines(70);
    const { report, newUuids } = await importKey('posthog/segment-logs/src1/1450000000000/part-0.gz', gzipSync(lines.join('\n')), { ContentEncoding: 'gzip' });
    assert.equal(report.format, 'segment');
    assert.deepEqual([report.records.read, report.records.sent, report.records.filtered], [70, sent, filtered]);
    assert.deepEqual(report.records.byFilter, { segment_integrations: filtered });
    assert.equal(report.reconciled, true);
    assert.equal(newUuids, sent);
  });

  test('Mixpanel raw export: duplicates collapse on $insert_id, device links once', async () => {
    const { lines, unique, pairs } = mixpanelLines(300);
    const { report, newUuids, newIdentifies } = await importKey('posthog/mixpanel/export.jsonl', lines.join('\n'));
    assert.equal(report.format, 'mixpanel');
    assert.equal(report.records.read, lines.length);
    assert.equal(newUuids, unique + pairs.length);
    assert.equal(newIdentifies, pairs.length);
  });

  test('CSV with a backfill.config.json next to it; a users CSV; a PostHog export as a JSON array', async () => {
    await upload(stack.bucket, 'posthog/orders/backfill.config.json', JSON.stringify({ format: 'csv', csv: { eventName: 'order placed', distinctId: 'customer', timestamp: 'placed_at' }, properties: { extra: { source: 'shop' } } }));
    const csv = 'customer,placed_at,total,note\nc1,2024-02-01T10:00:00Z,19.99,"two\nlines"\nc2,2024-02-01T11:00:00Z,5,\n,2024-02-01T12:00:00Z,1,no customer\n';
    const orders = await importKey('posthog/orders/2024/feb.csv', csv);
    assert.equal(orders.report.format, 'csv');
    assert.equal(orders.report.unit, 'row');
    assert.deepEqual([orders.report.records.read, orders.report.records.sent, orders.report.records.rejected], [3, 2, 1]);
    assert.equal(orders.newUuids, 2);
    const c1 = [...capture.events.values()].find((e) => e.distinct_id === 'c1')!;
    assert.deepEqual([c1.event, c1.properties?.total, c1.properties?.note, c1.properties?.source], ['order placed', 19.99, 'two\nlines', 'shop']);

    const users = await importKey('posthog/users/users.csv', 'distinct_id,email,plan\nu1,a@example.com,pro\nu2,b@example.com,free\n');
    assert.equal(users.report.format, 'users');
    assert.equal(users.newUuids, 2);

    const exported = JSON.stringify([
      { uuid: '0190c2a4-9c3e-7a11-8d2f-3b4c5d6e7f81', event: '$pageview', distinct_id: 'p1', timestamp: '2024-03-01 10:00:00', team_id: 1, properties: '{"$current_url":"https://x"}' },
      { uuid: '0190c2a4-9c3e-7a11-8d2f-3b4c5d6e7f82', event: '$pageview', distinct_id: 'p2', timestamp: '2024-03-01 10:00:01', team_id: 1, properties: '{}' },
    ]);
    const ph = await importKey('posthog/other-instance/events.json', exported);
    assert.deepEqual([ph.report.format, ph.report.unit, ph.report.records.sent], ['posthog-export', 'element', 2]);
    assert.ok(capture.events.has('0190c2a4-9c3e-7a11-8d2f-3b4c5d6e7f81'));
  });

  test('a bad mapping config fails the file with a clear error before anything is sent', async () => {
    await upload(stack.bucket, 'posthog/broken/backfill.config.json', JSON.stringify({ format: 'amplitude', personMode: 'always' }));
    const { report, newUuids } = await importKey('posthog/broken/x.jsonl', JSON.stringify(amplitudeRecords(1).records[0]));
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /s3:\/\/.*\/posthog\/broken\/backfill\.config\.json: invalid mapping config: personMode/);
    assert.equal(report.records.read, 0);
    assert.equal(newUuids, 0);
  });
});
