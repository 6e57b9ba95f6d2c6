// The rules moto forgives and AWS does not, held by the strict layer (test/support/strict-aws.ts):
// each handler runs with only its role's policies from the synthesized template, and S3 hides a
// missing key behind 403 from a caller without s3:ListBucket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { createStack, drain, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords, sampleLines } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';

const KEY = 'phc_aws_rules';

/** Grants the Lambda service uses with the function's role, not our code: no test call uses them. */
const SERVICE_USED: Record<string, Array<{ action: string; why: string }>> = {
  splitter: [
    { action: 'logs:CreateLogStream', why: 'the Lambda runtime writes the function logs' },
    { action: 'logs:PutLogEvents', why: 'the Lambda runtime writes the function logs' },
    { action: 'sqs:SendMessage', why: 'Lambda puts a failed async invocation into the splitter DLQ with the function role (on the SplitterDlq ARN only)' },
  ],
  sender: [
    { action: 'logs:CreateLogStream', why: 'the Lambda runtime writes the function logs' },
    { action: 'logs:PutLogEvents', why: 'the Lambda runtime writes the function logs' },
    { action: 'sqs:ReceiveMessage', why: 'the SQS event source mapping polls with the function role' },
    { action: 'sqs:DeleteMessage', why: 'the event source mapping deletes what succeeded' },
    { action: 'sqs:ChangeMessageVisibility', why: 'the event source mapping returns partial batch failures' },
    { action: 'sqs:GetQueueAttributes', why: 'the event source mapping reads the queue' },
    { action: 'sqs:GetQueueUrl', why: 'part of CDK\'s grantConsumeMessages for the event source' },
    // Our code, on a path this import does not take: a chunk short of rate budget is queued again
    // with a delay (integration/rate-budget runs it as this role and sees it deferred).
    { action: 'sqs:SendMessage', why: 'rate-budget deferral (integration/rate-budget)' },
  ],
};

describe('real AWS rules: IAM as deployed, 403 for a hidden missing key', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 200, RATE_LIMIT_EVENTS: 100_000, RATE_WINDOW_MS: 60_000 });
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  const as = (role: string) => ({ credentials: stack.roles[role]!.credentials, forcePathStyle: true });

  test('a missing key: 404 to a caller with s3:ListBucket, 403 AccessDenied to the sender (none)', async () => {
    const miss = { Bucket: stack.bucket, Key: '_backfill/staging/none/000000.ndjson.gz' };
    const admin = new S3Client({ forcePathStyle: true });
    await assert.rejects(admin.send(new GetObjectCommand(miss)), (e: Error) => e.name === 'NoSuchKey');
    const sender = new S3Client(as('sender'));
    await assert.rejects(sender.send(new GetObjectCommand(miss)), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.name === 'AccessDenied' && e.$metadata?.httpStatusCode === 403);
    await assert.rejects(sender.send(new HeadObjectCommand(miss)), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 403);
    // An existing key reads fine: the 403 is for the miss, not the grant.
    await upload(stack.bucket, '_backfill/staging/some/000000.ndjson.gz', 'x');
    await sender.send(new GetObjectCommand({ Bucket: stack.bucket, Key: '_backfill/staging/some/000000.ndjson.gz' }));
    assert.equal(moto.strict!.hiddenMisses.filter((m) => m.role === 'sender').length, 2);
    assert.deepEqual(moto.strict!.takeDenials(), [], 'a hidden miss is AWS behaviour, not a missing grant');
  });

  test('probing for a mapping config by GetObject fails on AWS (why mappingFor lists instead)', async () => {
    // The splitter may list the drop prefix; its GetObject of a missing key still answers 403,
    // because the request has no s3:prefix for the conditional s3:ListBucket grant to match.
    const splitter = new S3Client(as('splitter'));
    // The old probe read each candidate and took only NoSuchKey for "no config": on AWS it fails.
    await assert.rejects(splitter.send(new GetObjectCommand({ Bucket: stack.bucket, Key: 'posthog/backfill.config.json' })), (e: Error) => e.name === 'AccessDenied');
  });

  test('a file with no mapping config anywhere, and one with a config in a parent folder, import as the splitter role', async () => {
    const plain = posthogRecords(300, { seed: 'plain' });
    const a = await upload(stack.bucket, 'posthog/a/b/plain.jsonl', plain.text);
    await upload(stack.bucket, 'posthog/c/backfill.config.json', JSON.stringify({ properties: { extra: { migrated: 'yes' } } }));
    const conf = posthogRecords(100, { seed: 'conf' });
    const c = await upload(stack.bucket, 'posthog/c/d/conf.jsonl', conf.text);
    const splitter = stack.splitter();
    await splitter(s3Event(stack.bucket, 'posthog/a/b/plain.jsonl', a));
    await splitter(s3Event(stack.bucket, 'posthog/c/d/conf.jsonl', c));
    await drain(stack.queueUrl, stack.sender());
    const r1 = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/a/b/plain.jsonl.report.json');
    const r2 = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/c/d/conf.jsonl.report.json');
    assert.equal(r1.records.sent, plain.valid);
    assert.equal(r2.records.sent, conf.valid);
    assert.equal([...capture.events.values()].filter((e) => e.properties?.migrated === "yes").length, conf.valid);
    assert.deepEqual(moto.strict!.takeDenials(), []);
  });

  test('a call the role lacks is refused and recorded (so a swallowed AccessDenied still fails)', async () => {
    const splitterSecrets = new SecretsManagerClient({ credentials: stack.roles.splitter!.credentials });
    await assert.rejects(splitterSecrets.send(new GetSecretValueCommand({ SecretId: stack.env.POSTHOG_API_KEY_SECRET! })), (e: Error) => e.name === 'AccessDeniedException');
    const senderS3 = new S3Client(as('sender'));
    await upload(stack.bucket, 'posthog/secret-export.jsonl', '{}');
    await assert.rejects(senderS3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: 'posthog/secret-export.jsonl' })), (e: Error) => e.name === 'AccessDenied');
    assert.deepEqual(
      moto.strict!.takeDenials().map((d) => `${d.role} ${d.action}`),
      ['splitter secretsmanager:GetSecretValue', 'sender s3:GetObject'],
    );
  });

  test('every action a role is granted is used by its handler (or by the Lambda service)', async () => {
    // One import through every path: a versioned object, device links (sent-alias table), the
    // rate budget, reports, and the continuation's self-invoke.
    const lines = sampleLines('amplitude-export-line.json');
    const amp = Array.from({ length: 30 }, (_, i) => JSON.stringify({ ...JSON.parse(lines[0]!), $insert_id: `ins-${i}`, user_id: `u${i % 3}`, device_id: `d${i % 4}` })).join('\n');
    const obj = await upload(stack.bucket, 'posthog/amplitude/all-paths.json', amp);
    assert.ok(obj.versionId, 'the drop bucket is versioned as in the template');
    await stack.splitter()(s3Event(stack.bucket, 'posthog/amplitude/all-paths.json', obj), stack.context('splitter'));
    await drain(stack.queueUrl, stack.sender());
    const report = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/amplitude/all-paths.json.report.json');
    assert.equal(report.reconciled, true);
    // An empty file has no chunk: the splitter itself finishes it (reads the chunk rows, reports).
    const empty = await upload(stack.bucket, 'posthog/amplitude/empty.json', '');
    await stack.splitter()(s3Event(stack.bucket, 'posthog/amplitude/empty.json', empty));
    assert.equal((await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/amplitude/empty.json.report.json')).records.read, 0);
    // The continuation is an async Invoke of the splitter by name; moto has no such function, so
    // only the authorisation is checked here (the invoke itself is tested in continuation).
    const lambda = new LambdaClient({ credentials: stack.roles.splitter!.credentials });
    await assert.rejects(lambda.send(new InvokeCommand({ FunctionName: stack.roles.splitter!.functionName, InvocationType: 'Event', Payload: Buffer.from('{}') })), (e: Error) => e.name !== 'AccessDeniedException');
    assert.deepEqual(moto.strict!.takeDenials(), []);

    for (const role of ['splitter', 'sender']) {
      const unused = moto.strict!.unused(stack.roles[role]!.policies, role).filter((g) => !SERVICE_USED[role]!.some((s) => s.action === g.action));
      assert.deepEqual(unused, [], `${role} is granted actions it never uses`);
    }
  });
});
