import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, lambdaContext, s3Event, upload } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';

const KEY = 'phc_rate';

/** Visible, in flight and delayed: a deferred chunk waits as a delayed message. */
async function everything(queueUrl: string): Promise<number> {
  const res = await clients().sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
    }),
  );
  const a = res.Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
}

describe('a rate budget shared by all senders, through DynamoDB', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  before(async () => {
    moto = await startMoto();
    // Some 503s and resets, so that posthog-node retries requests: retries must pay too.
    capture = await new CaptureStandIn({ apiKey: KEY, random: { status503: 0.2, reset: 0.1, seed: 11 } }).start();
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  test('four concurrent senders hold every window to the budget exactly; retries pay; a chunk short of budget is deferred, never dead-lettered', async (t) => {
    const perWindow = 800;
    const windowMs = 2000;
    const timeoutMs = 5000;
    const stack = await createStack(capture.url, KEY, {
      CHUNK_RECORDS: 300,
      BATCH_SIZE: 100,
      RATE_LIMIT_EVENTS: perWindow,
      RATE_WINDOW_MS: windowMs,
      POSTHOG_RETRIES: 4,
      POSTHOG_TIMEOUT_MS: timeoutMs,
    });
    const { text, valid } = posthogRecords(2_400, { seed: 'rate' });
    const obj = await upload(stack.bucket, 'posthog/rate.jsonl', text);
    await stack.splitter()(s3Event(stack.bucket, 'posthog/rate.jsonl', obj));

    // Each invocation may wait about one second for budget: the sender keeps twice its request
    // timeout for the sends and the checkpoint, so a short Lambda run defers what it cannot get.
    const deferrals: Array<{ chunk: number; receiveCount: string; delaySeconds: number }> = [];
    const sender = stack.sender({}, { onDeferred: (d) => void deferrals.push(d) });
    const short = { ...lambdaContext, getRemainingTimeInMillis: () => 2 * timeoutMs + 1000 };
    const start = Date.now();
    for (let pass = 0; pass < 60 && (await everything(stack.queueUrl)) > 0; pass++) {
      // Four senders, each taking one chunk at a time, like four concurrent Lambdas.
      await Promise.all(Array.from({ length: 4 }, () => drain(stack.queueUrl, (e) => sender(e, short), { batchSize: 1 })));
      await new Promise((r) => setTimeout(r, 200)); // deferred chunks are delayed messages
    }
    const seconds = (Date.now() - start) / 1000;
    assert.equal(await everything(stack.queueUrl), 0, 'the queue is drained');
    assert.equal(capture.unique, valid, 'every valid record arrived');

    // The fault really happened, and a deferral never moved a chunk toward the DLQ: each
    // deferred delivery was the first receive of its message, and the DLQ stayed empty.
    assert.ok(deferrals.length > 0, 'some chunks could not get budget in time and were deferred');
    assert.deepEqual([...new Set(deferrals.map((d) => d.receiveCount))], ['1'], JSON.stringify(deferrals));
    assert.ok(deferrals.every((d) => d.delaySeconds >= 1 && d.delaySeconds <= 900));
    assert.equal(await everything(stack.dlqUrl), 0, 'nothing was dead-lettered');

    // Every window holds exactly, counted where the events land.
    const perWindowSeen = new Map<number, number>();
    for (const { at, events } of capture.log) perWindowSeen.set(Math.floor(at / windowMs), (perWindowSeen.get(Math.floor(at / windowMs)) ?? 0) + events);
    const peak = Math.max(...perWindowSeen.values());
    assert.ok(peak <= perWindow, `peak ${peak} events in one window, budget ${perWindow}: ${JSON.stringify([...perWindowSeen])}`);
    assert.ok(seconds >= ((valid / perWindow - 1) * windowMs) / 1000, `took ${seconds.toFixed(1)} s for ${valid} events at ${perWindow} per ${windowMs} ms`);

    // Every request that reached capture paid, retries included: what the windows counted is at
    // least 100 events for each accepted, 503'd and reset request (a batch is 100 events).
    assert.ok(capture.injected.status503 > 0 && capture.injected.reset > 0, JSON.stringify(capture.injected));
    const ddb = DynamoDBDocumentClient.from(clients().ddb);
    const rows = (await ddb.send(new QueryCommand({ TableName: stack.env.CHECKPOINT_TABLE, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': 'rate' } }))).Items ?? [];
    const paid = rows.reduce((n, r) => n + Number(r.used), 0);
    const attempts = capture.log.length + capture.injected.status503 + capture.injected.reset;
    t.diagnostic(`deferrals ${deferrals.length}; peak ${peak}/${perWindow} per window; paid ${paid} events for ${attempts} requests; injected ${JSON.stringify(capture.injected)}; ${seconds.toFixed(1)} s`);
    assert.ok(paid >= attempts * 100, `windows counted ${paid} events, requests that reached capture carried ${attempts * 100}`);
  });
});
