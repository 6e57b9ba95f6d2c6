import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { FileReport } from '../../functions/core/report';
import type { HandlerEnv } from '../../functions/config';
import { CaptureStandIn } from '../support/capture-stand-in';
import { createStack, drain, lambdaContext, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';
import { S3FaultProxy } from '../support/s3-faults';

const KEY = 'phc_source';

describe('the splitter reads on through S3 resets and 503 SlowDown', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let proxy: S3FaultProxy;
  let stack: Stack;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    proxy = await new S3FaultProxy(moto.endpoint).start();
    stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 500, S3_READ_BACKOFF_MS: 5 });
  });
  after(async () => {
    delete process.env.AWS_ENDPOINT_URL_S3;
    await proxy?.stop();
    await capture?.stop();
    await moto?.stop();
  });

  /** Splits through the fault proxy (only the splitter's S3 client goes through it). */
  async function split(key: string, obj: { versionId?: string; eTag?: string }, env: Partial<HandlerEnv> = {}) {
    return proxy.route(() => stack.splitter(env)(s3Event(stack.bucket, key, obj), lambdaContext));
  }

  for (const kind of ['plain', 'gzip'] as const) {
    test(`${kind}: a body reset twice mid-way and three 503s: ranged re-reads from the last byte, every record once`, async () => {
      const { text, valid } = posthogRecords(6_000, { seed: kind, badEvery: 300 });
      const body = kind === 'gzip' ? gzipSync(text) : Buffer.from(text);
      const key = `posthog/source-${kind}.jsonl${kind === 'gzip' ? '.gz' : ''}`;
      const obj = await upload(stack.bucket, key, body);
      const before = { ...proxy.injected };
      const received = capture.received;
      const unique = capture.unique;
      proxy.match = key;
      // Three 503s in a row outlast the SDK's own three attempts: the source stage must retry.
      proxy.plan = [{ reset: Math.floor(body.length * 0.3) }, 'slowdown', 'slowdown', 'slowdown', { reset: Math.floor(body.length * 0.2) }];
      const [res] = await split(key, obj);
      assert.equal(res!.error, undefined, 'the file was read to its end');
      assert.equal(proxy.plan.length, 0, 'every planned fault was met');
      assert.equal(proxy.injected.resets - before.resets, 2, 'two bodies were cut off');
      assert.equal(proxy.injected.slowdowns - before.slowdowns, 3, 'three 503 SlowDown answers');
      assert.ok(proxy.injected.ranged - before.ranged >= 2, 'the re-reads were ranged GETs');
      await drain(stack.queueUrl, stack.sender());
      const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
      assert.deepEqual([report.records.read, report.records.sent, report.reconciled, report.error], [6_000, valid, true, undefined]);
      assert.equal(capture.unique - unique, valid, 'every valid record arrived');
      assert.equal(capture.received - received, valid, 'and none twice');
    });
  }

  test('a read that keeps failing fails the file after the retries, with what was read sent and the reason reported', async () => {
    const { text } = posthogRecords(3_000, { seed: 'dead' });
    const key = 'posthog/source-dead.jsonl';
    const obj = await upload(stack.bucket, key, text);
    const before = proxy.injected.resets;
    proxy.match = key;
    proxy.plan = Array.from({ length: 20 }, () => ({ reset: 40_000 }));
    const [res] = await split(key, obj, { S3_READ_ATTEMPTS: 3 });
    proxy.plan = [];
    assert.equal(proxy.injected.resets - before, 3, 'three attempts, then it gave up');
    assert.match(res!.error ?? '', /reading stopped after \d+ records: .*3 attempts/);
    await drain(stack.queueUrl, stack.sender());
    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
    assert.equal(report.status, 'failed');
    assert.ok(report.records.read > 0 && report.records.read < 3_000);
  });
});
