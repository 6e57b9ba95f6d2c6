import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UpdateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, s3Event, upload } from '../support/aws-env';
import { startMoto, type Moto } from '../support/moto';

const SECRET = 'phc_PLANTED_SECRET_KEY_5f1e2d';
const VALUE = 'PLANTED-PROPERTY-VALUE-7c9a';
const USER = 'planted-user-id-31b8';

/** Everything written to stdout and stderr while `fn` runs (still passed through). */
async function captureOutput(fn: () => Promise<void>): Promise<string> {
  const seen: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const tap = (orig: typeof out) => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    seen.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (orig as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof out;
  process.stdout.write = tap(out);
  process.stderr.write = tap(err);
  const log = console.log;
  try {
    await fn();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    console.log = log;
  }
  return seen.join('');
}

describe('logs carry ids and counts, never record contents or keys', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: SECRET, refuse: (e) => (e.event === 'refused' ? 'refused by rule' : undefined) }).start();
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  test('an import with failures, rejections and refusals at DEBUG level leaks neither', async () => {
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    try {
      const stack = await createStack(capture.url, 'phc_WRONG_KEY_FIRST', { POSTHOG_RETRIES: 0 });
      const lines = [
        ...Array.from({ length: 50 }, (_, i) => ({ event: 'e', distinct_id: USER, timestamp: '2024-01-01T00:00:00Z', properties: { secret: VALUE, i } })),
        { event: 'e', properties: { secret: VALUE } }, // rejected: no distinct_id
        { event: 'refused', distinct_id: USER, properties: { secret: VALUE } }, // refused by capture
        '{"event": "broken", "secret": "' + VALUE,
      ].map((l) => (typeof l === 'string' ? l : JSON.stringify(l)));
      const logs = await captureOutput(async () => {
        const obj = await upload(stack.bucket, 'posthog/planted.jsonl', lines.join('\n'));
        await stack.splitter()(s3Event(stack.bucket, 'posthog/planted.jsonl', obj));
        // First with the wrong key (chunks fail and are logged), then with the right one.
        await drain(stack.queueUrl, stack.sender(), { maxRounds: 1 });
        await clients().secrets.send(new UpdateSecretCommand({ SecretId: stack.env.POSTHOG_API_KEY_SECRET, SecretString: JSON.stringify({ apiKey: SECRET }) }));
        await new Promise((r) => setTimeout(r, 10));
        await drain(stack.queueUrl, stack.sender());
      });
      assert.equal(capture.unique, 50);
      assert.match(logs, /"message":"chunk failed"/, 'the failure was logged');
      assert.match(logs, /"message":"split"/);
      assert.ok(!logs.includes(SECRET), 'the API key is not in the logs');
      assert.ok(!logs.includes('phc_WRONG_KEY_FIRST'), 'nor a wrong one');
      assert.ok(!logs.includes(VALUE), 'no property value is in the logs');
      assert.ok(!logs.includes(USER), 'no distinct id is in the logs');
    } finally {
      process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
    }
  });
});
