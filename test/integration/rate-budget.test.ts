import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CaptureStandIn } from '../support/capture-stand-in';
import { createStack, drain, s3Event, upload } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';

const KEY = 'phc_rate';

describe('a rate budget shared by all senders, through DynamoDB', () => {
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

  test('four concurrent senders together stay within the budget per window', async () => {
    const perWindow = 400;
    const stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 300, BATCH_SIZE: 100, RATE_LIMIT_EVENTS: perWindow, RATE_WINDOW_MS: 1000 });
    const { text, valid } = posthogRecords(2_400, { seed: 'rate' });
    const obj = await upload(stack.bucket, 'posthog/rate.jsonl', text);
    await stack.splitter()(s3Event(stack.bucket, 'posthog/rate.jsonl', obj));

    const start = Date.now();
    // Four senders, each taking one chunk at a time, like four concurrent Lambdas.
    await Promise.all(Array.from({ length: 4 }, () => drain(stack.queueUrl, stack.sender(), { batchSize: 1 })));
    const seconds = (Date.now() - start) / 1000;
    assert.equal(capture.unique, valid);

    const perSecond = new Map<number, number>();
    for (const { at, events } of capture.log) perSecond.set(Math.floor(at / 1000), (perSecond.get(Math.floor(at / 1000)) ?? 0) + events);
    const peak = Math.max(...perSecond.values());
    // A request takes its budget just before it leaves; one may land a few ms into the next second.
    assert.ok(peak <= perWindow + 100, `peak ${peak} events in one second, budget ${perWindow}`);
    // Six windows' worth: at least five whole windows apart (the first may start late in its second).
    assert.ok(seconds >= valid / perWindow - 2, `took ${seconds.toFixed(1)} s for ${valid} events at ${perWindow}/s`);
  });
});
