import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { S3Drop } from '../../functions/sources/drop';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createPuller, PullerEnv } from '../../functions/puller/handler';
import type { FileReport } from '../../functions/core/report';
import { DynamoStateStore } from '../../functions/sources/state';
import { sourceStatuses } from '../../functions/sources/status';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, lambdaContext, listKeys, readJson, s3Event, type Stack } from '../support/aws-env';
import { AmplitudeExportStandIn, PostHogQueryStandIn, posthogRows } from '../support/export-apis';
import { startMoto, type Moto } from '../support/moto';
import { amplitudeRecords } from '../support/vendors';

const API_KEY = 'phc_pull_e2e';
const H = 3_600_000;
const FAST = { attempts: 3, baseDelayMs: 20, maxDelayMs: 2_000 };

describe('scheduled pull → drop bucket → splitter → senders → capture, on moto', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;
  let amp: AmplitudeExportStandIn;
  let ph: PostHogQueryStandIn;

  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: API_KEY }).start();
    amp = await new AmplitudeExportStandIn().start();
    ph = await new PostHogQueryStandIn().start();
    // The puller Lambdas of these sources, from the template: each runs as its own role.
    stack = await createStack(capture.url, API_KEY, { DROP_PREFIX: 'posthog/' }, { context: { sources: JSON.stringify(SOURCES()) } });
  });
  after(async () => {
    await Promise.all([capture?.stop(), amp?.stop(), ph?.stop()]);
    await moto?.stop();
  });

  // The scheduled run's clock: half past the hour, so the planned windows do not shift mid-test.
  const hourNow = Math.floor(Date.now() / H) * H;
  const now = () => hourNow + H / 2;
  // CDK context `sources` for the stack: one puller Lambda (and role, and secret) each.
  const SOURCES = () => [
    { name: 'amp', type: 'amplitude', baseUrl: amp.url, startDate: new Date(hourNow - 6 * H).toISOString(), schedule: 'rate(1 hour)', latenessHours: 0 },
    ...['ph', 'ph-wrong'].map((name) => ({ name, type: 'posthog', projectId: 42, baseUrl: ph.url, startDate: new Date(hourNow - 3 * H).toISOString(), pageSize: 100, latenessHours: 0 })),
  ];

  async function pullerFor(name: string, secret: Record<string, string>) {
    const role = Object.values(stack.roles).find((r) => r.env.PULL_SOURCE && (JSON.parse(r.env.PULL_SOURCE) as { name: string }).name === name)!;
    // The credentials go into the source's own secret, as a user puts them after deploy.
    await clients().secrets.send(new PutSecretValueCommand({ SecretId: role.env.PULL_SECRET, SecretString: JSON.stringify(secret) }));
    return createPuller(PullerEnv.parse(role.env), { retry: FAST, now, credentials: role.credentials });
  }

  /** What S3 would do on each new object: an ObjectCreated event to the splitter. */
  async function splitAll(prefix: string) {
    const splitter = stack.splitter();
    const keys = await listKeys(stack.bucket, prefix);
    for (const key of keys) {
      const head = await clients().s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
      await splitter(s3Event(stack.bucket, key, { versionId: head.VersionId, eTag: head.ETag?.replace(/"/g, '') }, head.ContentLength));
    }
    await drain(stack.queueUrl, stack.sender());
    return keys;
  }

  const store = () => new DynamoStateStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), stack.env.CHECKPOINT_TABLE);

  test('Amplitude on a schedule: two invocations at once pull once; the pipeline imports every record exactly once', async () => {
    const start = hourNow - 6 * H; // windows start .. now - 2 h (Amplitude's export delay): 4 hours
    const { records, pairs } = amplitudeRecords(900, start);
    amp.add(start, records.slice(0, 300));
    amp.add(start + H, records.slice(300, 700));
    amp.add(start + 3 * H, records.slice(700));
    const puller = await pullerFor('amp', { apiKey: 'amp-key', secretKey: 'amp-secret' });
    // As the scheduler would invoke it; a second, overlapping run finds the lock taken.
    const outcomes = await Promise.all([puller({ source: 'amp' }, lambdaContext), puller({ source: 'amp' }, lambdaContext)]);
    assert.deepEqual(outcomes.map((o) => o.status).sort(), ['busy', 'pulled']);
    const done = outcomes.find((o) => o.status === 'pulled')!;
    assert.deepEqual([done.windows, done.withData, done.watermark], [4, 3, new Date(hourNow - 2 * H).toISOString()]);
    assert.equal(amp.served.length, 3, 'each hour with data requested once');

    const keys = await splitAll('posthog/amp/');
    assert.equal(keys.length, 3);
    assert.equal(capture.unique, 900 + pairs.length);
    assert.equal(capture.received, capture.unique, 'no event sent twice');
    for (const key of keys) {
      const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
      assert.equal(report.format, 'amplitude');
      assert.equal(report.reconciled, true);
    }

    // The next scheduled run has nothing new: no window, no object, nothing sent.
    const again = await puller({ source: 'amp' }, lambdaContext);
    assert.equal(again.windows, 0);
    assert.equal((await listKeys(stack.bucket, 'posthog/amp/')).length, 3);

    const [st] = (await sourceStatuses(store())).filter((s) => s.name === 'amp');
    assert.equal(st!.watermark, done.watermark);
    assert.equal(st!.failing, false);
    assert.equal(Date.parse(st!.nextRun!) - Date.parse(st!.lastSuccessAt!) <= H, true, 'next run one hour after the last');
  });

  test('PostHog on a schedule: events land in the posthog-export shape and keep their uuids; a refused key is stored as the last error', async () => {
    const start = hourNow - 3 * H;
    ph.events = posthogRows(250, start, 3);
    const before = capture.unique;
    const puller = await pullerFor('ph', { personalApiKey: 'phx_personal' });
    const out = await puller({ source: 'ph' }, lambdaContext);
    assert.deepEqual([out.status, out.windows, out.withData], ['pulled', 3, 3]);
    const keys = await splitAll('posthog/ph/');
    assert.equal(keys.length, 3);
    assert.equal(capture.unique - before, 750);
    for (const e of ph.events) assert.ok(capture.events.has(e.uuid));
    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${keys[0]}.report.json`);
    assert.equal(report.format, 'posthog-export');

    const wrong = await pullerFor('ph-wrong', { personalApiKey: 'phx_wrong' });
    await assert.rejects(wrong({ source: 'ph-wrong' }, lambdaContext), /HTTP 401/);
    const [st] = (await sourceStatuses(store())).filter((s) => s.name === 'ph-wrong');
    assert.equal(st!.failing, true);
    assert.match(st!.lastError!, /401/);
    assert.equal(st!.watermark, undefined);
  });

  test('S3 drop: a body that fails after 5.5 MB (multipart) leaves no object and no open upload; a whole one lands with its exact size', async () => {
    const s3 = clients().s3;
    const commands: string[] = [];
    s3.middlewareStack.add((next, ctx) => async (args) => (commands.push(String(ctx.commandName)), next(args)), { step: 'initialize' });
    const drop = new S3Drop(s3, stack.bucket, 'posthog/');
    const body = (failAt?: number) =>
      Readable.from(
        (async function* () {
          for (let sent = 0; sent < 6 * 1024 * 1024; sent += 256 * 1024) {
            if (failAt !== undefined && sent >= failAt) throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
            yield Buffer.alloc(256 * 1024, 97);
          }
        })(),
      );
    await assert.rejects(drop.write('big/window.jsonl', body(5.5 * 1024 * 1024)), /aborted/);
    assert.deepEqual(await listKeys(stack.bucket, 'posthog/big/'), []);
    const open = await clients().s3.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket, Prefix: 'posthog/big/' }));
    assert.ok(commands.includes('CreateMultipartUploadCommand') && commands.includes('AbortMultipartUploadCommand'), `the fault hit a multipart upload: ${commands.join(', ')}`);
    assert.equal(open.Uploads?.length ?? 0, 0, 'the multipart upload was aborted');
    const ok = await drop.write('big/window.jsonl', body());
    assert.equal(ok.bytes, 6 * 1024 * 1024);
    const head = await clients().s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: 'posthog/big/window.jsonl' }));
    assert.equal(head.ContentLength, 6 * 1024 * 1024);
  });
});
