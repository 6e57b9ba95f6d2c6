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
    assert.equal(got.properties?.$lib, 'web');
    assert.equal(got.properties?.$is_server, undefined);
    assert.equal(got.properties?.$geoip_disable, true);
    assert.equal(got.timestamp, e!.timestamp);
    assert.ok(capture.historicalFlags.has(true));
  });

  test('429 with Retry-After, 503 and a reset are retried inside one send', async () => {
    const before = capture.unique;
    capture.fail({ kind: 'status', status: 429, retryAfter: 1 }, { kind: 'status', status: 503 });
    await sink({ batchSize: 1000 }).send(events(300, 'retry'));
    capture.fail({ kind: 'reset' });
    await sink({ batchSize: 1000 }).send(events(300, 'reset'));
    assert.equal(capture.unique - before, 600);
  });

  test('a failure that outlasts the retries rejects the whole send, even mid-chunk', async () => {
    capture.fail({ kind: 'pass' }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    await assert.rejects(sink({ retries: 2 }).send(events(1_000, 'fail')), /PostHog capture failed: HTTP 503/);
  });

  test('a 413 halves the batch and still delivers everything', async () => {
    const before = capture.unique;
    capture.fail({ kind: 'status', status: 413 });
    await sink({ batchSize: 400 }).send(events(400, 'too-large'));
    assert.equal(capture.unique - before, 400);
  });

  test('a 400 for the batch is a failure, never a silent drop', async () => {
    // posthog-node silently swaps a bad uuid or empty distinct_id for random ones, which is why
    // the transform validates first; an event over 1 MB is one it passes through.
    const bad = events(10, 'bad');
    bad[3]!.properties.blob = 'x'.repeat(1_100_000);
    const before = capture.unique;
    await assert.rejects(sink().send(bad), /HTTP 400/);
    assert.equal(capture.unique, before, 'capture accepted none of the batch');
  });
});
