import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { SQSClient } from '@aws-sdk/client-sqs';
import { replayDlq } from '../../functions/adapters/aws/dlq';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { createStack, drain, queueDepth, readJson, s3Event, upload } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const KEY = 'phc_dlq_test';

describe('DLQ: chunks that exhaust their retries, then replay-dlq', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  test('a capture outage sends chunks to the DLQ; after replay every record arrives once', async () => {
    // A faster redrive than the stack's 5 receives, through the stack's own knob.
    const stack = await createStack(capture.url, KEY, { POSTHOG_RETRIES: 0, CHUNK_RECORDS: 300 }, { context: { maxReceiveCount: 3 } });
    const { text, valid } = posthogRecords(900, { seed: 'dlq' });
    const key = 'posthog/outage.jsonl';
    const obj = await upload(stack.bucket, key, text);
    const split = await stack.splitter()(s3Event(stack.bucket, key, obj));
    assert.equal(split[0]!.chunks, 3);

    // Every request fails: each chunk is received maxReceiveCount (3) times, then moved to the DLQ.
    capture.outage({ kind: 'status', status: 503 });
    const sender = stack.sender();
    await drain(stack.queueUrl, sender);
    assert.equal(capture.unique, 0);
    assert.equal(await queueDepth(stack.queueUrl), 0);
    assert.equal(await queueDepth(stack.dlqUrl), 3);

    // Dry run through the CLI: lists, moves nothing.
    const env = { ...process.env, BACKFILL_QUEUE_URL: stack.queueUrl, BACKFILL_DLQ_URL: stack.dlqUrl };
    const dry = await promisify(execFile)(process.execPath, [BIN, 'replay-dlq', '--dry-run'], { env });
    assert.match(dry.stdout, /3 messages in the DLQ would be moved \(dry run: nothing moved\)/);
    assert.match(dry.stdout, new RegExp(`s3://${stack.bucket}/${key}#0`));
    assert.equal(await queueDepth(stack.dlqUrl), 3);

    // --max moves only that many.
    const sqs = new SQSClient({});
    const one = await replayDlq(sqs, { dlqUrl: stack.dlqUrl, queueUrl: stack.queueUrl, max: 1 });
    assert.equal(one.moved, 1);
    assert.equal(await queueDepth(stack.dlqUrl), 2);
    const rest = await promisify(execFile)(process.execPath, [BIN, 'replay-dlq'], { env });
    assert.match(rest.stdout, /moved 2 of 2 messages/);
    assert.equal(await queueDepth(stack.dlqUrl), 0);
    assert.equal(await queueDepth(stack.queueUrl), 3);

    // The cause is fixed (the stand-in answers again): the replayed chunks go through once.
    capture.outage(undefined);
    await drain(stack.queueUrl, sender);
    assert.equal(capture.unique, valid);
    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
    assert.equal(report.records.sent, valid);
    assert.equal(report.reconciled, true);
  });
});
