import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { SQSEvent } from 'aws-lambda';
import type { Continuation } from '../../functions/adapters/aws/continuation';
import type { ChunkMessage } from '../../functions/core/messages';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { createStack, drain, lambdaContext, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';

const KEY = 'phc_continuation';

describe('a file that outlasts one splitter run is continued by the next', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 200 });
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  /** Drains the queue through the sender, noting each chunk message's shape. */
  async function drainNoting(seen: Array<[number, number, number]>) {
    const sender = stack.sender();
    await drain(stack.queueUrl, async (event: SQSEvent, ctx) => {
      for (const r of event.Records) {
        const m = JSON.parse(r.body) as ChunkMessage;
        seen.push([m.chunk, m.firstLine, m.records]);
      }
      return sender(event, ctx);
    });
    return seen.sort((a, b) => a[0] - b[0]);
  }

  test('a tiny time budget: same chunks, same records, nothing skipped or repeated', async () => {
    const { text, valid } = posthogRecords(5_000, { seed: 'long', badEvery: 250 });
    const body = gzipSync(text);

    // Run A: the budget is spent after every chunk, so each run queues one and hands over.
    const hops: Continuation[] = [];
    const paused = stack.splitter({ SPLIT_TIME_BUDGET_MS: 0 }, { continueWith: async (c) => void hops.push(c) });
    const a = await upload(stack.bucket, 'posthog/long-a.jsonl.gz', body);
    await paused(s3Event(stack.bucket, 'posthog/long-a.jsonl.gz', a), lambdaContext);
    for (let i = 0; i < hops.length; i++) await paused({ continuation: hops[i]! }, lambdaContext);
    assert.equal(hops.length, 25, 'one hand-over per chunk');
    assert.deepEqual(hops.slice(0, 3).map((h) => [h.fromChunk, h.hop]), [[1, 1], [2, 2], [3, 3]]);
    const chunksA = await drainNoting([]);
    const reportA = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/long-a.jsonl.gz.report.json');
    assert.equal(capture.unique, valid);

    // Run B: the same bytes in one run.
    const b = await upload(stack.bucket, 'posthog/long-b.jsonl.gz', body);
    const [resB] = await stack.splitter()(s3Event(stack.bucket, 'posthog/long-b.jsonl.gz', b), lambdaContext);
    assert.equal(resB!.pausedAt, undefined);
    const chunksB = await drainNoting([]);
    const reportB = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/long-b.jsonl.gz.report.json');

    assert.deepEqual(chunksA, chunksB, 'identical chunk boundaries');
    assert.equal(chunksA.length, 25);
    assert.deepEqual(reportA.records, reportB.records);
    assert.deepEqual([reportA.chunks, reportA.records.read, reportA.records.sent, reportA.reconciled], [25, 5_000, valid, true]);
    assert.equal(capture.unique, valid, 'the second file added nothing new');
  });

  test('a continuation delivered twice queues nothing twice', async () => {
    const { text } = posthogRecords(600, { seed: 'twice' });
    const hops: Continuation[] = [];
    const paused = stack.splitter({ SPLIT_TIME_BUDGET_MS: 0 }, { continueWith: async (c) => void hops.push(c) });
    const o = await upload(stack.bucket, 'posthog/twice.jsonl', text);
    await paused(s3Event(stack.bucket, 'posthog/twice.jsonl', o), lambdaContext);
    await paused({ continuation: hops[0]! }, lambdaContext);
    const retried = await paused({ continuation: hops[0]! }, lambdaContext); // Lambda retried the async invoke
    assert.equal(retried[0]!.skipped, 'superseded', 'a run already handed over past it');
    for (let i = 1; i < hops.length; i++) await paused({ continuation: hops[i]! }, lambdaContext);
    const late = await paused({ continuation: hops[0]! }, lambdaContext); // and once more, after the split ended
    assert.equal(late[0]!.skipped, 'already-split');
    const seen = await drainNoting([]);
    assert.equal(hops.length, 3, 'the retried run did not fork a second chain of continuations');
    assert.equal(seen.length, 3, 'no chunk queued twice');
    const report = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/twice.jsonl.report.json');
    assert.deepEqual([report.records.read, report.records.sent, report.reconciled], [600, 600, true]);
  });
});
