import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PostHog } from 'posthog-node';
import { PostHogSink } from '../../functions/adapters/posthog-sink';
import { importFile } from '../../functions/cli/import';
import type { PostHogEvent } from '../../functions/core/event';
import { Limits } from '../../functions/core/settings';
import { deriveUuid } from '../../functions/core/uuid';
import { CaptureStandIn } from '../support/capture-stand-in';

const KEY = 'phc_seam_test';
const MiB = 1024 * 1024;
const events = (n: number, tag: string, pad = 0): PostHogEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    uuid: deriveUuid('seam', tag, String(i)),
    event: 'e',
    distinct_id: `u${i % 10}`,
    timestamp: new Date(Date.UTC(2024, 0, 1, 0, 0, i % 60)).toISOString(),
    // Padding that gzip cannot shrink much, so the body on the wire is large too.
    properties: { i, $import_source: 'f', ...(pad ? { pad: deriveUuid('pad', tag, String(i)).repeat(Math.ceil(pad / 36)).slice(0, pad) } : {}) },
  }));

describe('the posthog-node seam', () => {
  let capture: CaptureStandIn;
  before(async () => {
    // Capture today refuses bodies over about 10 MiB.
    capture = await new CaptureStandIn({ apiKey: KEY, bodyLimit: 10 * MiB }).start();
  });
  after(() => capture.stop());
  const sink = (over: Partial<ConstructorParameters<typeof PostHogSink>[0]> = {}) =>
    new PostHogSink({ host: capture.url, apiKey: KEY, batchSize: 1000, retries: 1, retryDelayMs: 5, requestTimeoutMs: 20_000, ...over });

  test('requests stay under what capture accepts: no 413, nothing lost', async () => {
    const refusedBefore = capture.rejectedBatches.length;
    const before = capture.unique;
    const requests = capture.bodyBytes.length;
    // 150 events of ~100 KB: 15 MB in all, one request's worth by count.
    await sink().send(events(150, 'cap', 100_000));
    assert.deepEqual(capture.rejectedBatches.slice(refusedBefore), [], 'capture refused no request as too large');
    assert.equal(capture.unique - before, 150);
    const sizes = capture.bodyBytes.slice(requests);
    assert.ok(sizes.length >= 2, `cut into ${sizes.length} requests`);
    assert.ok(Math.max(...sizes) <= 9.5 * MiB, `largest body ${Math.max(...sizes)} bytes`);
  });

  test('what reaches capture, request by request, is what was enqueued', async () => {
    const log = capture.log.length;
    const before = capture.received;
    await sink({ batchSize: 400 }).send(events(1_000, 'count'));
    // Requests go in flight together, so they may arrive in any order.
    assert.deepEqual(capture.log.slice(log).map((r) => r.events).sort((a, b) => b - a), [400, 400, 200]);
    assert.equal(capture.received - before, 1_000);
  });

  test('a flush that delivers fewer events than were enqueued fails the send', async () => {
    // Stands for a change in @posthog/core's queue: every tenth event silently dropped.
    const proto = PostHog.prototype as unknown as { enqueue: (...a: unknown[]) => void };
    const had = Object.prototype.hasOwnProperty.call(proto, 'enqueue');
    const original = proto.enqueue;
    let n = 0;
    proto.enqueue = function (this: unknown, ...args: unknown[]) {
      if (n++ % 10 === 9) return;
      return original.apply(this, args);
    };
    const before = capture.received;
    try {
      await assert.rejects(sink().send(events(50, 'drop')), /delivered 45 of 50 events/);
    } finally {
      if (had) proto.enqueue = original;
      else delete (proto as { enqueue?: unknown }).enqueue;
    }
    assert.equal(capture.received - before, 45, 'the fault happened: 5 events never reached capture');
  });

  test('an event posthog-node re-ids (invalid uuid) fails the send instead of arriving under a random uuid', async () => {
    const [a, b] = events(2, 'reid');
    const before = capture.received;
    await assert.rejects(sink().send([a!, { ...b!, uuid: 'not-a-uuid' }]), /1 enqueued uuids not among them/);
    assert.equal(capture.received - before, 2, 'both arrived, one under a uuid of posthog-node\'s making');
  });

  test('an empty or whitespace API key fails at construction, in the sink and the CLI', async () => {
    for (const apiKey of ['', '   ', '\t\n']) assert.throws(() => sink({ apiKey }), /API key is empty/);
    const dir = mkdtempSync(join(tmpdir(), 'seam-'));
    const input = join(dir, 'e.jsonl');
    writeFileSync(input, '{"event":"e","distinct_id":"u","timestamp":"2024-01-01T00:00:00Z"}\n');
    const requests = capture.requests;
    await assert.rejects(
      importFile(input, { host: capture.url, apiKey: '  ', stateDir: join(dir, 'state'), limits: Limits.parse({}), attempts: 1, retryDelayMs: 1, progress: false }),
      /API key is empty/,
    );
    assert.equal(capture.requests, requests, 'nothing was posted');
  });

  test('POSTHOG_CAPTURE_MODE=v1 (another endpoint) refuses to start', () => {
    const before = process.env.POSTHOG_CAPTURE_MODE;
    try {
      process.env.POSTHOG_CAPTURE_MODE = 'v1';
      assert.throws(() => sink(), /POSTHOG_CAPTURE_MODE=v1 is not supported/);
      process.env.POSTHOG_CAPTURE_MODE = 'v0';
      assert.ok(sink(), 'v0 is the /batch/ endpoint: fine');
    } finally {
      if (before === undefined) delete process.env.POSTHOG_CAPTURE_MODE;
      else process.env.POSTHOG_CAPTURE_MODE = before;
    }
  });

  test('geolocation reaches capture as the event decided it, not as posthog-node defaults', async () => {
    const [withIp, withoutIp] = events(2, 'geo');
    withIp!.properties.$ip = '203.0.113.9';
    withoutIp!.properties.$geoip_disable = true;
    await sink().send([withIp!, withoutIp!]);
    assert.equal(capture.events.get(withIp!.uuid)?.properties?.$geoip_disable, undefined);
    assert.equal(capture.events.get(withoutIp!.uuid)?.properties?.$geoip_disable, true);
  });

  test('@posthog/core, whose protected enqueue the sink calls, is pinned to the installed version', () => {
    const root = join(import.meta.dirname, '..', '..');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const installed = (JSON.parse(readFileSync(join(root, 'node_modules', '@posthog', 'core', 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(pkg.dependencies['@posthog/core'], installed);
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dependencies?: Record<string, string> }> };
    assert.equal(lock.packages['']?.dependencies?.['@posthog/core'], installed);
    assert.equal(lock.packages['node_modules/@posthog/core']?.version, installed);
  });
});
