import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PostHogSink } from '../../functions/adapters/posthog-sink';
import type { PostHogEvent } from '../../functions/core/event';
import { deriveUuid } from '../../functions/core/uuid';
import { CaptureStandIn } from '../support/capture-stand-in';

const KEY = 'phc_sink_test';
const events = (n: number, tag = ''): PostHogEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    uuid: deriveUuid('test', tag, String(i)),
    event: 'e',
    distinct_id: `u${i % 10}`,
    timestamp: new Date(Date.UTC(2024, 0, 1, 0, 0, i % 60)).toISOString(),
    properties: { i, $lib: 'web', $import_source: 'f' },
  }));

describe('PostHogSink against the capture stand-in', () => {
  let capture: CaptureStandIn;
  before(async () => {
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
  });
  after(() => capture.stop());
  const sink = (over: Partial<ConstructorParameters<typeof PostHogSink>[0]> = {}) =>
    new PostHogSink({ host: capture.url, apiKey: KEY, batchSize: 250, retries: 2, retryDelayMs: 5, requestTimeoutMs: 5_000, ...over });

  test('a chunk far larger than posthog-node\'s default queue loses nothing', async () => {
    const before = capture.unique;
    await sink().send(events(5_000, 'big'));
    assert.equal(capture.unique - before, 5_000);
    assert.ok(capture.requests >= 20, 'sent in batches of the configured size');
  });

  test('events keep their own $lib, uuid and timestamp, and go as a historical migration', async () => {
    const [e] = events(1, 'props');
    await sink().send([e!]);
    const got = capture.events.get(e!.uuid)!;
    // The message as capture gets it: the wire's field names only (distinct_id, not distinctId).
    assert.deepEqual(Object.keys(got).sort(), ['distinct_id', 'event', 'properties', 'timestamp', 'type', 'uuid'].filter((k) => k in got).sort());
    assert.equal(got.distinct_id, e!.distinct_id);
    assert.equal('distinctId' in got, false);
    assert.equal(got.properties?.$lib, 'web');
    assert.equal(got.properties?.$is_server, undefined);
    assert.equal(got.properties?.$geoip_disable, undefined, 'geo-ip is left to the event: posthog-node would add it to all');
    assert.equal(got.timestamp, e!.timestamp);
    assert.ok(capture.historicalFlags.has(true));
  });

  test('a 429 is retried after its Retry-After even with no retries left', async () => {
    const before = capture.unique;
    capture.fail({ kind: 'status', status: 429, retryAfter: 1 });
    const t0 = Date.now();
    await sink({ retries: 0 }).send(events(10, 'retry-after'));
    assert.ok(Date.now() - t0 >= 950, 'waited for Retry-After');
    assert.equal(capture.unique - before, 10);
  });

  test('429, 503 and a reset are retried inside one send', async () => {
    const before = capture.unique;
    capture.fail({ kind: 'status', status: 429 }, { kind: 'status', status: 503 });
    await sink({ batchSize: 1000 }).send(events(300, 'retry'));
    capture.fail({ kind: 'reset' });
    await sink({ batchSize: 1000 }).send(events(300, 'reset'));
    assert.equal(capture.unique - before, 600);
  });

  test('a request capture never answers is ended at the request timeout and sent again', async () => {
    const before = capture.unique;
    capture.fail({ kind: 'hang' });
    const t0 = Date.now();
    await sink({ requestTimeoutMs: 300, retries: 1, inFlight: 1 }).send(events(20, 'hang'));
    assert.equal(capture.injected.hang, 1, 'the fault happened');
    assert.ok(Date.now() - t0 >= 290, 'waited for the timeout');
    assert.equal(capture.unique - before, 20);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(capture.hungClosed, 1, 'the hung connection was closed, not left open');
  });

  test('a failure that outlasts the retries rejects the whole send, even mid-chunk', async () => {
    capture.fail({ kind: 'pass' }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    await assert.rejects(sink({ retries: 2, inFlight: 1 }).send(events(1_000, 'fail')), /PostHog capture failed: HTTP 503/);
  });

  test('a 413 halves the batch and still delivers everything', async () => {
    const before = capture.unique;
    capture.fail({ kind: 'status', status: 413 });
    await sink({ batchSize: 400 }).send(events(400, 'too-large'));
    assert.equal(capture.unique - before, 400);
  });

  test('a batch refused with 400 is bisected: the bad event comes back with the reason, the rest arrive', async () => {
    // posthog-node silently swaps a bad uuid or empty distinct_id for random ones, which is why
    // the transform validates first; an event over 1 MB is one it passes through.
    const bad = events(100, 'bad');
    bad[37]!.properties.blob = 'x'.repeat(1_100_000);
    bad[80]!.properties.blob = 'y'.repeat(1_100_000);
    const before = { unique: capture.unique, refused: capture.rejectedBatches.length };
    const res = await sink({ batchSize: 100 }).send(bad);
    assert.deepEqual(res.rejected.map((r) => [r.uuid, r.status]), [[bad[37]!.uuid, 400], [bad[80]!.uuid, 400]]);
    assert.match(res.rejected[0]!.reason, /capture answered 400: .*event over 1 MB/);
    assert.equal(capture.unique - before.unique, 98);
    assert.ok(capture.rejectedBatches.length - before.refused <= 2 * Math.ceil(Math.log2(100)) + 2, 'bisection, not one request per event');
  });

  test('a single event refused with 413 is rejected, never retried forever', async () => {
    capture.fail({ kind: 'status', status: 413 }, { kind: 'status', status: 413 });
    const res = await sink().send(events(1, 'single-413'));
    assert.deepEqual(res.rejected.map((r) => r.status), [413]);
  });

  test('bodies are gzipped at level 1 unless told otherwise: the same events, at the level asked for', async () => {
    // Records shaped like real ones compress differently by level; tiny test events hardly do.
    const batch = events(600, 'gzip').map((e, i) => ({ ...e, properties: { ...e.properties, $current_url: `https://shop.example.com/p/${(i * 7919) % 5000}?utm_source=mail`, price: (i * 37) % 20_000, sku: `sku-${(i * 104_729) % 20_000}` } }));
    const sent = async (over: { gzipLevel?: number }) => {
      const [from, before] = [capture.wire.length, capture.received];
      await sink({ batchSize: 600, ...over }).send(batch);
      assert.equal(capture.received - before, batch.length, 'every event arrives');
      return capture.wire.slice(from);
    };
    const [dflt, six, nine] = [await sent({}), await sent({ gzipLevel: 6 }), await sent({ gzipLevel: 9 })];
    assert.deepEqual([dflt, six, nine].map((w) => [...new Set(w.map((r) => r.xfl))]), [[4], [0], [2]], 'zlib marks the level in the gzip header');
    const bytes = (w: typeof dflt) => w.reduce((a, r) => a + r.bytes, 0);
    assert.ok(bytes(dflt) > bytes(six), `level 1 is the cheaper, larger body (${bytes(dflt)} vs ${bytes(six)} bytes at 6)`);
  });

  test('several batches go in flight at once', async () => {
    const before = capture.unique;
    await sink({ batchSize: 50, inFlight: 8 }).send(events(1000, 'parallel'));
    assert.equal(capture.unique - before, 1000);
  });
});

describe('the capture stand-in with deferChecks (the bench\'s)', () => {
  test('answers at once and checks at settle(): the same events counted, a bad body still refused', async () => {
    const capture = await new CaptureStandIn({ apiKey: KEY, deferChecks: true }).start();
    try {
      await new PostHogSink({ host: capture.url, apiKey: KEY, batchSize: 100 }).send(events(300, 'deferred'));
      const bad = await fetch(`${capture.url}/batch/`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"api_key":' });
      assert.equal(bad.status, 200, 'answered before reading');
      assert.equal(capture.unique, 0, 'nothing checked or counted yet');
      capture.settle();
      assert.equal(capture.unique, 300);
      assert.equal(capture.received, 300);
      assert.deepEqual(capture.rejectedBatches, [{ status: 400, reason: 'body is not JSON' }]);
    } finally {
      await capture.stop();
    }
  });
});
