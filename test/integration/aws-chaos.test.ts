import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { awsClients } from '../../functions/adapters/aws/clients';
import type { Continuation } from '../../functions/adapters/aws/continuation';
import { replayDlq } from '../../functions/adapters/aws/dlq';
import { DynamoCheckpoints } from '../../functions/adapters/aws/dynamo-checkpoints';
import { SqsChunkQueue } from '../../functions/adapters/aws/sqs';
import { deployedStatus } from '../../functions/cli/status';
import type { ChunkMessage } from '../../functions/core/messages';
import type { ChunkStats, FileReport } from '../../functions/core/report';
import { createSender } from '../../functions/sender/handler';
import { createSplitter, type SplitterEvent } from '../../functions/splitter/handler';
import { AwsFaults, type AwsFaultRates } from '../support/aws-faults';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, lambdaContext, queueDepth, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';
import { amplitudeCrowd, zipOf } from '../support/vendors';

const KEY = 'phc_aws_chaos';
const SPLITTER_CHILD = join(import.meta.dirname, '..', 'support', 'splitter-process.ts');
const OFF: AwsFaultRates = { s3Reset: 0, s3SlowDown: 0, ddbThrottle: 0, ddbConflict: 0, sqsEntryFail: 0, lambdaInvoke: 0 };

const stats = (n: number): ChunkStats => ({ read: n, sent: n, rejected: 0, filtered: 0, duplicates: 0, events: n, noTimestamp: 0, links: 0, byReason: {}, byFilter: {} });
const message = (chunk: number): ChunkMessage =>
  ({ v: 1, fileId: 'f', file: { uri: 's3://b/k' }, chunk, format: 'posthog', mapping: {}, unit: 'line', firstLine: 1, records: 1, staged: `s/${chunk}`, oversize: [] }) as unknown as ChunkMessage;

describe('AWS-side faults', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let faults: AwsFaults;
  /** Async invocations of the splitter the proxy accepted (Lambda's queue of Event invokes). */
  const invoked: SplitterEvent[] = [];
  let onInvokeHook: (() => 'drop' | void) | undefined;
  let restore = () => {};
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    faults = await new AwsFaults({
      seed: 9,
      onInvoke: (_fn, payload) => {
        if (onInvokeHook?.() === 'drop') return 'drop';
        invoked.push(payload as SplitterEvent);
      },
    }).start(moto.endpoint);
  });
  after(async () => {
    restore();
    await faults?.stop();
    await capture?.stop();
    await moto?.stop();
  });

  test('SendMessageBatch with failed entries: only those are sent again, bounded, then the split fails', async () => {
    // Through the proxy: moto names queues after the host it was asked on, and the SDK sends
    // SQS calls to the queue URL's host.
    restore = faults.use();
    const stack = await createStack(capture.url, KEY);
    try {
      const queue = new SqsChunkQueue(awsClients().sqs, stack.queueUrl);
      faults.set({ ...OFF, sqsEntryFail: 0.3 });
      const before = faults.injected.sqsEntryFail;
      const forwarded = faults.sqsEntriesForwarded.length;
      await queue.send(Array.from({ length: 25 }, (_, i) => message(i)));
      assert.ok(faults.injected.sqsEntryFail > before, 'some entries were failed');
      // Each chunk reached SQS exactly once: failed entries were resent, accepted ones never.
      const sent = faults.sqsEntriesForwarded.slice(forwarded).sort();
      assert.deepEqual(sent, Array.from({ length: 25 }, (_, i) => `c${i}`).sort());
      faults.set(OFF);
      const got: number[] = [];
      const sqs = new SQSClient({});
      for (let i = 0; i < 10 && got.length < 25; i++) {
        const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.queueUrl, MaxNumberOfMessages: 10 }));
        for (const m of r.Messages ?? []) got.push((JSON.parse(m.Body!) as ChunkMessage).chunk);
      }
      assert.deepEqual(got.sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i));

      // An entry SQS never takes: a few attempts, then the error reaches the splitter.
      faults.set({ sqsEntryFail: 1 });
      const calls = faults.calls.get('sqs.SendMessageBatch') ?? 0;
      await assert.rejects(queue.send([message(99)]), /SQS refused 1 chunk messages: InternalError/);
      assert.equal((faults.calls.get('sqs.SendMessageBatch') ?? 0) - calls, 5);
    } finally {
      faults.set(OFF);
      restore();
    }
  });

  test('DynamoDB throttles and TransactionConflict are retried; a chunk is still counted once', async () => {
    // Through the proxy: moto names queues after the host it was asked on, and the SDK sends
    // SQS calls to the queue URL's host.
    restore = faults.use();
    const stack = await createStack(capture.url, KEY);
    try {
      const cp = new DynamoCheckpoints(awsClients().ddb, stack.env.CHECKPOINT_TABLE);
      // Four throttles in a row (more than the SDK's default 3 attempts), then a third of all calls.
      const throttled = faults.injected.ddbThrottle;
      faults.force('ddbThrottle', 4);
      await cp.openFile({ fileId: 'f1', file: { uri: 's3://b/k' }, format: 'posthog', unit: 'line', startedAt: new Date().toISOString() });
      assert.equal(faults.injected.ddbThrottle - throttled, 4);
      faults.set({ ...OFF, ddbThrottle: 0.33 });
      for (let i = 0; i < 12; i++) assert.equal(await cp.addChunk('f1', i), 'pending');
      assert.ok(faults.injected.ddbThrottle - throttled > 4, `throttles injected: ${faults.injected.ddbThrottle - throttled}`);

      // The checkpoint transaction meets a conflict three times in a row, then goes through once.
      faults.set({ ...OFF });
      const conflicts = faults.injected.ddbConflict;
      faults.force('ddbConflict', 3);
      assert.equal(await cp.completeChunk('f1', 0, stats(5)), true);
      assert.equal(faults.injected.ddbConflict - conflicts, 3);
      // Its condition still stops a second completion: a cancel for ConditionalCheckFailed is not retried.
      assert.equal(await cp.completeChunk('f1', 0, stats(5)), false);
      faults.set({ ddbConflict: 0.3, ddbThrottle: 0.1 });
      for (let i = 1; i < 12; i++) assert.equal(await cp.completeChunk('f1', i, stats(5)), true);
      faults.set(OFF);
      assert.equal((await cp.getManifest('f1'))!.doneChunks, 12, 'every chunk counted once');
      assert.equal((await cp.chunkStats('f1')).length, 12);
    } finally {
      faults.set(OFF);
      restore();
    }
  });
});
