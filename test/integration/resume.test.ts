import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import type { Continuation } from '../../functions/adapters/aws/continuation';
import { DynamoCheckpoints } from '../../functions/adapters/aws/dynamo-checkpoints';
import { stagingKey } from '../../functions/adapters/aws/s3';
import { formatResume, resumeImports } from '../../functions/cli/resume';
import { fileIdentity } from '../../functions/core/identity';
import type { ChunkMessage } from '../../functions/core/messages';
import { stalled } from '../../functions/core/progress';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, lambdaContext, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';

const KEY = 'phc_resume';

describe('backfill resume: the checkpoint table is the record of what is left', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;
  let checkpoints: DynamoCheckpoints;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 200 });
    checkpoints = new DynamoCheckpoints(DynamoDBDocumentClient.from(clients().ddb), stack.env.CHECKPOINT_TABLE);
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  /** Receives and deletes every message: what 14 days in SQS (or a purge) does. */
  async function loseQueuedMessages(): Promise<ChunkMessage[]> {
    const { sqs } = clients();
    const lost: ChunkMessage[] = [];
    for (let empty = 0; empty < 2; ) {
      const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.queueUrl, MaxNumberOfMessages: 10 }));
      if (!res.Messages?.length) {
        empty++;
        continue;
      }
      for (const m of res.Messages) {
        lost.push(JSON.parse(m.Body!) as ChunkMessage);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: stack.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
      }
    }
    return lost;
  }

  test('lost queue messages, deleted staged bodies and a split whose continuation never ran: resume, every record arrives once', async () => {
    // File A: split in one run; chunk 0 is sent, then every message is lost and two bodies are deleted.
    const a = posthogRecords(1_500, { seed: 'resume-a', badEvery: 200 });
    const keyA = 'posthog/resume/a.jsonl';
    const oa = await upload(stack.bucket, keyA, a.text);
    await stack.splitter()(s3Event(stack.bucket, keyA, oa), lambdaContext);
    const idA = fileIdentity(`s3://${stack.bucket}/${keyA}`, oa.versionId);
    const lostA = await loseQueuedMessages();
    assert.equal(lostA.length, 8);
    const sender = stack.sender();
    const first = lostA.find((m) => m.chunk === 0)!;
    await sender({ Records: [{ messageId: 'm0', body: JSON.stringify(first), attributes: { ApproximateReceiveCount: '1' } }] } as unknown as SQSEvent, lambdaContext);
    assert.equal(await checkpoints.chunkStatus(idA, 0), 'done');
    for (const c of [3, 5]) await clients().s3.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: stagingKey(idA, c) }));

    // File B (gzip): its first run handed over, but the continuation never arrived; its message and body are gone too.
    const b = posthogRecords(1_000, { seed: 'resume-b' });
    const keyB = 'posthog/resume/b.jsonl.gz';
    const ob = await upload(stack.bucket, keyB, gzipSync(b.text));
    const lostHops: Continuation[] = [];
    await stack.splitter({ SPLIT_TIME_BUDGET_MS: 0 }, { continueWith: async (c) => void lostHops.push(c) })(s3Event(stack.bucket, keyB, ob), lambdaContext);
    const idB = fileIdentity(`s3://${stack.bucket}/${keyB}`, ob.versionId);
    assert.equal(lostHops.length, 1);
    assert.equal((await loseQueuedMessages()).length, 1);
    await clients().s3.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: stagingKey(idB, 0) }));
    const stuck = (await checkpoints.getManifest(idB))!;
    assert.deepEqual([stuck.status, stuck.pause?.chunk, stuck.pause?.handedOver], ['splitting', 1, true]);
    assert.ok(stuck.updatedAt && stuck.mapping && stuck.limits, 'the manifest keeps progress time, mapping and limits');
    assert.match(stalled(stuck, Date.parse(stuck.updatedAt!) + 20 * 60_000, 16 * 60_000)!, /hand-over at chunk 1 \(hop 1\) not picked up/);

    // Nothing left in SQS: without resume, 7 + 4 chunks would never be sent.
    const restarted: Continuation[] = [];
    const splitter = stack.splitter();
    const res = await resumeImports({
      table: stack.env.CHECKPOINT_TABLE,
      queueUrl: stack.queueUrl,
      target: `s3://${stack.bucket}/posthog/resume/`,
      stalledAfterMs: 0,
      restartSplit: async (c) => {
        restarted.push(c);
        await splitter({ continuation: c }, lambdaContext);
      },
    });
    const text = formatResume(res);
    assert.match(text, /a\.jsonl: re-queued 7 chunks \(2 re-staged from the source\)/);
    assert.match(text, /b\.jsonl\.gz: re-queued 1 chunks \(1 re-staged from the source\); split restarted from chunk 1 \(hop 1\)/);
    assert.deepEqual(restarted.map((c) => [c.fromChunk, c.hop, c.takeover]), [[1, 1, true]]);

    await drain(stack.queueUrl, stack.sender());
    const ra = await readJson<FileReport>(stack.bucket, `_backfill/reports/${keyA}.report.json`);
    const rb = await readJson<FileReport>(stack.bucket, `_backfill/reports/${keyB}.report.json`);
    assert.deepEqual([ra.chunks, ra.records.read, ra.records.sent, ra.reconciled], [8, 1_500, a.valid, true]);
    assert.deepEqual([rb.chunks, rb.records.read, rb.records.sent, rb.reconciled], [5, 1_000, b.valid, true]);
    assert.equal(capture.unique, a.valid + b.valid, 'every record arrived');
    assert.equal(capture.received, a.valid + b.valid, 'and none twice');
    const done = (await checkpoints.getManifest(idA))!;
    assert.ok(done.updatedAt! > stuck.updatedAt!, 'each done chunk moved updatedAt');

    // Resume again: nothing is left.
    const again = await resumeImports({ table: stack.env.CHECKPOINT_TABLE, queueUrl: stack.queueUrl, stalledAfterMs: 0, restartSplit: async () => assert.fail('nothing to restart') });
    assert.equal(formatResume(again), 'nothing to resume: every import is reported');
  });
});
