import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { replayDlq } from '../../functions/adapters/aws/dlq';
import { deployedStatus } from '../../functions/cli/status';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, queueDepth, readJson, s3Event, upload, type SqsHandler, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';
import { amplitudeCrowd, zipOf } from '../support/vendors';

const KEY = 'phc_chaos';
const CHILD = join(import.meta.dirname, '..', 'support', 'sender-process.ts');

/**
 * Runs one invocation in a child process and SIGKILLs it as soon as the stand-in has accepted
 * a batch from it: the chunk is part-sent, nothing is checkpointed, the messages come back.
 */
function killMidChunk(stack: Stack, capture: CaptureStandIn, event: SQSEvent): Promise<{ killed: boolean; accepted: number; out?: SQSBatchResponse }> {
  const before = capture.log.length;
  const child = fork(CHILD, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const watch = setInterval(() => {
      const accepted = capture.log.length - before;
      if (accepted > 0) {
        clearInterval(watch);
        child.kill('SIGKILL');
        resolve({ killed: true, accepted });
      }
    }, 1);
    child.once('message', (m: { out?: SQSBatchResponse; error?: string }) => {
      clearInterval(watch);
      if (m.error) reject(new Error(m.error));
      else resolve({ killed: false, accepted: capture.log.length - before, out: m.out! });
    });
    child.once('error', reject);
    child.send({ env: stack.env, event, credentials: stack.roles.sender!.credentials });
  });
}

describe('chaos: faults everywhere, and still every record exactly once', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  before(async () => {
    moto = await startMoto();
    // 20 % 503s, 5 % connection resets, 429 bursts (three in a row) with Retry-After.
    capture = await new CaptureStandIn({ apiKey: KEY, random: { status503: 0.2, reset: 0.05, burst429: 0.02, seed: 7 } }).start();
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  test('tens of thousands of records through 503s, resets, 429s, killed senders, double delivery and the DLQ', async () => {
    // A faster redrive than the stack's 5 receives, through the stack's own knob: the six-round
    // outage below must push chunks into the DLQ.
    const stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 500, BATCH_SIZE: 100, POSTHOG_RETRIES: 2, POSTHOG_RETRY_DELAY_MS: 5 }, { context: { maxReceiveCount: 3 } });
    const crowd = amplitudeCrowd(24, 1000);
    const ampKey = 'posthog/amplitude/export 2024-01.zip'; // under the stack's drop prefix, as the splitter role requires
    const phKey = 'posthog/events.jsonl';
    const ph = posthogRecords(6000, { badEvery: 250, seed: 'chaos' });
    const phText = ph.text + '{"event": "cut off mid-line\n';

    const splitter = stack.splitter();
    for (const [key, body] of [[ampKey, await zipOf(crowd.members)], [phKey, phText]] as const) {
      const obj = await upload(stack.bucket, key, body);
      await splitter(s3Event(stack.bucket, key, obj));
    }
    // Zip members are cut separately; the JSONL file has 6,001 lines.
    const chunks = crowd.members.reduce((n, m) => n + Math.ceil(m.lines.length / 500), 0) + Math.ceil(6_001 / 500);
    assert.equal(await queueDepth(stack.queueUrl), chunks, 'every chunk is queued, once');

    const sender = stack.sender();
    const kills: Array<{ killed: boolean; accepted: number }> = [];
    let invocation = 0;
    const handler: SqsHandler = async (event, context) => {
      invocation++;
      // Every third invocation runs in a process of its own and dies mid-chunk, until three
      // have died that way (an invocation holding only done chunks sends nothing to die in).
      const died = kills.filter((k) => k.killed).length;
      if (died >= 3 || invocation % 3 !== 2 || kills.length >= 12) return sender(event, context);
      const r = await killMidChunk(stack, capture, event);
      kills.push(r);
      if (r.killed) throw new Error('sender died');
      return r.out!;
    };
    // A capture outage for a few rounds: the chunks received then fail maxReceiveCount times
    // in a row and move to the DLQ.
    const outage = (round: number) => capture.outage(round >= 14 && round < 20 ? { kind: 'status', status: 503 } : undefined);

    let replayed = 0;
    const sqs = new SQSClient({});
    for (let pass = 0; pass < 8; pass++) {
      await drain(stack.queueUrl, handler, { copies: 2, redeliverOnce: true, batchSize: 4, onRound: pass === 0 ? outage : undefined });
      capture.outage(undefined);
      if ((await queueDepth(stack.dlqUrl)) === 0) break;
      replayed += (await replayDlq(sqs, { dlqUrl: stack.dlqUrl, queueUrl: stack.queueUrl })).moved;
    }
    assert.equal(await queueDepth(stack.queueUrl), 0, 'the queue is drained');
    assert.equal(await queueDepth(stack.dlqUrl), 0, 'the DLQ is empty');

    // The chaos really happened.
    assert.ok(replayed > 0, 'some chunks went through the DLQ and were replayed');
    assert.ok(kills.filter((k) => k.killed && k.accepted > 0).length >= 3, `senders died after part of a chunk was accepted: ${JSON.stringify(kills)}`);
    assert.ok(capture.injected.status503 > 10 && capture.injected.reset > 0 && capture.injected.status429 > 0, JSON.stringify(capture.injected));
    assert.ok(capture.received > capture.unique, 'repeats reached capture and were absorbed by uuid');

    // Every valid record exactly once, with the right distinct id.
    const events = [...capture.events.values()];
    const data = events.filter((e) => e.event !== '$identify');
    assert.equal(data.length, crowd.valid + ph.valid);
    const perDistinct = new Map<string, number>();
    for (const e of data) if (!e.distinct_id.startsWith('user_')) perDistinct.set(e.distinct_id, (perDistinct.get(e.distinct_id) ?? 0) + 1);
    assert.deepEqual(perDistinct, crowd.perDistinct);

    // Every device↔user pair linked once, and the sent-alias table agrees.
    const identifies = events.filter((e) => e.event === '$identify');
    assert.deepEqual(new Set(identifies.map((e) => `${e.properties!.$anon_distinct_id}:${e.distinct_id}`)), crowd.pairs);
    assert.equal(identifies.length, crowd.pairs.size);
    const ddb = DynamoDBDocumentClient.from(clients().ddb);
    const rows = (await ddb.send(new ScanCommand({ TableName: stack.env.ALIAS_TABLE }))).Items ?? [];
    assert.equal(rows.length, crowd.pairs.size);
    assert.ok(rows.every((r) => r.status === 'sent'));

    // The reports reconcile exactly, per file and for the import.
    const amp = await readJson<FileReport>(stack.bucket, `_backfill/reports/${ampKey}.report.json`);
    assert.deepEqual(
      { read: amp.records.read, sent: amp.records.sent, duplicates: amp.records.duplicates, rejected: amp.records.byReason, reconciled: amp.reconciled },
      { read: crowd.lines, sent: crowd.valid, duplicates: crowd.duplicates, rejected: crowd.rejected, reconciled: true },
    );
    const phReport = await readJson<FileReport>(stack.bucket, `_backfill/reports/${phKey}.report.json`);
    assert.equal(phReport.records.read, 6001);
    assert.equal(phReport.records.sent, ph.valid);
    assert.equal(phReport.records.rejected, ph.invalid + 1);
    assert.equal(phReport.reconciled, true);
    const status = await deployedStatus(stack.env.CHECKPOINT_TABLE);
    assert.equal(status.length, 2);
    assert.ok(status.every((s) => s.reconciled));
    assert.equal(status.reduce((n, s) => n + s.totals.sent, 0), crowd.valid + ph.valid);
  });
});
