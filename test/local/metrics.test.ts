import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EmfMetrics } from '../../functions/adapters/aws/emf-metrics';
import { MemoryRateBudget } from '../../functions/adapters/rate-budget';
import { DirReports } from '../../functions/adapters/local/dir-reports';
import { FileCheckpoints } from '../../functions/adapters/local/file-checkpoints';
import { FileLinks } from '../../functions/adapters/local/file-links';
import { MemoryStaging } from '../../functions/adapters/local/memory';
import { PostHogSink } from '../../functions/adapters/posthog-sink';
import type { PostHogEvent } from '../../functions/core/event';
import { formatByName } from '../../functions/core/formats';
import { DEFAULT_MAPPING } from '../../functions/core/mapping';
import type { ChunkMessage } from '../../functions/core/messages';
import { Limits } from '../../functions/core/settings';
import { deriveUuid } from '../../functions/core/uuid';
import { CountingMetrics, METRIC } from '../../functions/pipeline/metrics';
import { sendChunk } from '../../functions/pipeline/send';
import { splitFile } from '../../functions/pipeline/split';
import { CaptureStandIn } from '../support/capture-stand-in';
import { emfOf } from '../support/emf';
import { bufferSource } from '../support/sources';

const KEY = 'phc_metrics';
const events = (n: number, tag: string): PostHogEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    uuid: deriveUuid('metrics', tag, String(i)),
    event: 'e',
    distinct_id: `u${i % 10}`,
    timestamp: new Date(Date.UTC(2024, 0, 1)).toISOString(),
    properties: { i },
  }));

describe('metrics', () => {
  test('EMF output carries every metric with its unit, by dimension set, counts summed', async () => {
    const emf = new EmfMetrics(new Metrics({ namespace: 'TestNs', serviceName: 'backfill-sender' }));
    emf.add(METRIC.recordsRead, 100, 'Count', { Import: 'posthog/amplitude' });
    emf.add(METRIC.recordsRead, 50, 'Count', { Import: 'posthog/amplitude' });
    emf.add(METRIC.rejectedByReason, 3, 'Count', { Reason: 'invalid_timestamp' });
    emf.add(METRIC.chunkDuration, 1200, 'Milliseconds');
    emf.add(METRIC.chunkDuration, 800, 'Milliseconds');
    emf.add(METRIC.eventsPerSecond, 4000, 'Count/Second');
    emf.add(METRIC.captureResponses, 1, 'Count', { Status: '503' });
    const { docs } = await emfOf(() => emf.flush());
    assert.equal(docs.length, 4, 'one document per dimension set');
    const byDims = (dims: string[]) => docs.find((d) => JSON.stringify(d._aws.CloudWatchMetrics[0].Dimensions[0].slice().sort()) === JSON.stringify(dims.sort()))!;
    const imp = byDims(['service', 'Import']);
    assert.equal(imp._aws.CloudWatchMetrics[0].Namespace, 'TestNs');
    assert.equal(imp.Import, 'posthog/amplitude');
    assert.equal(imp.RecordsRead, 150);
    assert.equal(byDims(['service', 'Reason']).RejectedByReason, 3);
    assert.equal(byDims(['service', 'Status'])['CaptureResponses'], 1);
    const plain = byDims(['service']);
    assert.deepEqual(plain.ChunkDuration, [1200, 800]);
    const units = Object.fromEntries(plain._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string; Unit: string }) => [m.Name, m.Unit]));
    assert.deepEqual(units, { ChunkDuration: 'Milliseconds', EventsPerSecond: 'Count/Second' });
    assert.deepEqual((await emfOf(() => emf.flush())).docs, [], 'flushed values are not published twice');
  });

  describe('the sink counts capture answers, retries, bisections and budget waits', () => {
    let capture: CaptureStandIn;
    before(async () => {
      capture = await new CaptureStandIn({ apiKey: KEY }).start();
    });
    after(() => capture.stop());

    test('503 then 200: answers by status and one retry', async () => {
      const m = new CountingMetrics();
      capture.fail({ kind: 'status', status: 503 });
      await new PostHogSink({ host: capture.url, apiKey: KEY, batchSize: 100, retries: 2, retryDelayMs: 5, metrics: m }).send(events(10, 'retry'));
      assert.equal(m.get(METRIC.captureResponses, { Status: '503' }), 1);
      assert.equal(m.get(METRIC.captureResponses, { Status: '200' }), 1);
      assert.equal(m.get(METRIC.captureRetries), 1);
      assert.equal(m.get(METRIC.bisections), 0);
    });

    test('a 400 batch is bisected and counted; a spent budget is a counted wait', async () => {
      const m = new CountingMetrics();
      const bad = events(8, 'bisect');
      bad[3]!.properties.blob = 'x'.repeat(1_100_000);
      const budget = new MemoryRateBudget(8, 400);
      await budget.acquire(8); // the current window is spent: the first request waits for the next
      const res = await new PostHogSink({ host: capture.url, apiKey: KEY, batchSize: 8, retries: 0, metrics: m, acquire: (n) => budget.acquire(n) }).send(bad);
      assert.equal(res.rejected.length, 1);
      assert.equal(m.get(METRIC.bisections), 3, '8 → 4 → 2 → 1');
      assert.ok(m.get(METRIC.captureResponses, { Status: '400' }) >= 4);
      assert.ok(m.get(METRIC.rateBudgetWaits) >= 1);
      assert.ok(m.get(METRIC.rateBudgetWaitTime) >= 100);
    });
  });

  test('a done chunk counts its records by import and its rejections by reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
    const checkpoints = await FileCheckpoints.load(join(dir, 'cp.json'));
    const staging = new MemoryStaging();
    const reports = new DirReports(join(dir, 'reports'));
    const m = new CountingMetrics();
    const deps = {
      checkpoints,
      staging,
      reports,
      sink: { send: async () => ({ rejected: [] }) },
      links: await FileLinks.load(join(dir, 'links.json')),
      format: formatByName,
      origin: () => 'f',
      metrics: m,
    };
    const lines = ['{"event":"a","distinct_id":"u","timestamp":"2024-01-01T00:00:00Z"}', '{"event":"b","timestamp":"2024-01-01T00:00:00Z"}', '{"event":"a","distinct_id":"u","timestamp":"2024-01-01T00:00:00Z"}'];
    const queued: ChunkMessage[] = [];
    await splitFile({ uri: 's3://b/posthog/app/x.jsonl', bucket: 'b', key: 'posthog/app/x.jsonl' }, 'f1', bufferSource(lines.join('\n')), async () => DEFAULT_MAPPING, {
      checkpoints, staging, reports, limits: Limits.parse({}), stagingKey: (id: string, i: number) => `${id}/${i}`,
      queue: { send: async (msgs: ChunkMessage[]) => void queued.push(...msgs) },
    });
    for (const msg of queued) await sendChunk(msg, deps);
    const dims = { Import: 'posthog/app' };
    assert.equal(m.get(METRIC.recordsRead, dims), 3);
    assert.equal(m.get(METRIC.recordsSent, dims), 1);
    assert.equal(m.get(METRIC.duplicates, dims), 1);
    assert.equal(m.get(METRIC.recordsRejected, dims), 1);
    assert.equal(m.get(METRIC.rejectedByReason, { Reason: 'missing_distinct_id' }), 1);
    assert.equal(m.get(METRIC.eventsSent, dims), 1);
    assert.equal(m.get(METRIC.chunksDone, dims), 1);
  });
});
