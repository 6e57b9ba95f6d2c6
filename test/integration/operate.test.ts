import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CreateEventSourceMappingCommand, CreateFunctionCommand, GetEventSourceMappingCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { ControlledRateBudget } from '../../functions/adapters/aws/control';
import { deployedStatus } from '../../functions/cli/status';
import { liftPause } from '../../functions/cli/steer';
import type { FileReport } from '../../functions/core/report';
import { createMonitor } from '../../functions/monitor/handler';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { emfOf } from '../support/emf';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';

const KEY = 'phc_operate';
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const cli = (args: string[], env: Record<string, string> = {}) => promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });

/** The senders' function and its SQS event source mapping, as the stack has them (moto records them; it cannot run the function). */
async function senderMapping(): Promise<string> {
  const { sqs } = clients();
  // An IAM role Lambda may assume (moto checks it exists); IAM's query API, as the SDK would send it.
  await fetch(process.env.AWS_ENDPOINT_URL!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x' },
    body: new URLSearchParams({
      Action: 'CreateRole',
      Version: '2010-05-08',
      RoleName: 'sender-role',
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
    }),
  });
  const lambda = new LambdaClient({});
  const emptyZip = Buffer.from('504b0506000000000000000000000000000000000000', 'hex');
  await lambda.send(new CreateFunctionCommand({ FunctionName: 'sender', Runtime: 'nodejs20.x', Role: 'arn:aws:iam::123456789012:role/sender-role', Handler: 'index.handler', Code: { ZipFile: emptyZip } }));
  // A queue of its own: moto would try to run the function for messages on a mapped queue.
  const q = await sqs.send(new CreateQueueCommand({ QueueName: 'mapped-chunks' }));
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const m = await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: 'sender', EventSourceArn: arn, BatchSize: 2, ScalingConfig: { MaximumConcurrency: 4 } }));
  return m.UUID!;
}

describe('operating a deployed import: status, metrics, stalled files, pause, set, cancel (moto)', () => {
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

  const tableEnv = () => ({ BACKFILL_CHECKPOINT_TABLE: stack.env.CHECKPOINT_TABLE });

  test('senders publish EMF metrics per import; status --json shows each file and import, done and waiting', async () => {
    const a = posthogRecords(600, { seed: 'a', badEvery: 50 });
    const b = posthogRecords(400, { seed: 'b' });
    const objA = await upload(stack.bucket, 'posthog/amplitude/a.jsonl', a.text);
    await stack.splitter()(s3Event(stack.bucket, 'posthog/amplitude/a.jsonl', objA));
    const { docs } = await emfOf(() => drain(stack.queueUrl, stack.sender()));
    const objB = await upload(stack.bucket, 'posthog/mixpanel/b.jsonl', b.text);
    await stack.splitter()(s3Event(stack.bucket, 'posthog/mixpanel/b.jsonl', objB)); // split, not sent yet

    // EMF: records by import, rejections by reason, capture answers by status, chunk timing.
    const sum = (name: string, pred: (d: Record<string, any>) => boolean = () => true) =>
      docs.filter((d) => pred(d) && d[name] !== undefined).reduce((n, d) => n + (Array.isArray(d[name]) ? d[name].length : d[name]), 0);
    const inImport = (d: Record<string, any>) => d.Import === 'posthog/amplitude';
    assert.equal(sum('RecordsRead', inImport), 600);
    assert.equal(sum('RecordsSent', inImport), a.valid);
    assert.equal(sum('RecordsRejected', inImport), a.invalid);
    assert.equal(sum('RejectedByReason', (d) => d.Reason !== undefined), a.invalid);
    assert.equal(sum('EventsSent', inImport), a.valid);
    assert.equal(sum('ChunksDone', inImport), 3);
    assert.equal(sum('ChunkDuration'), 3, 'one duration per chunk');
    assert.ok(sum('CaptureResponses', (d) => d.Status === '200') >= 3);
    assert.ok(docs.every((d) => d.service === 'backfill-sender' && d._aws.CloudWatchMetrics[0].Namespace === 'PosthogBackfill'));

    const { stdout } = await cli(['status', '--json'], tableEnv());
    const s = JSON.parse(stdout);
    assert.equal(s.files.length, 2);
    const [fa, fb] = s.files;
    assert.deepEqual([fa.file, fa.import, fa.state, fa.recordsDone, fa.recordsTotal, fa.chunksDone, fa.chunksTotal, fa.fraction, fa.reconciled], [
      `s3://${stack.bucket}/posthog/amplitude/a.jsonl`, 'posthog/amplitude', 'done', 600, 600, 3, 3, 1, true,
    ]);
    assert.equal(fa.etaSeconds, undefined, 'a finished file has no ETA');
    assert.deepEqual([fb.import, fb.state, fb.recordsDone, fb.recordsTotal, fb.chunksDone, fb.chunksTotal], ['posthog/mixpanel', 'sending', 0, 400, 0, 2]);
    assert.deepEqual(s.imports.map((i: { import: string; files: number; finished: number }) => [i.import, i.files, i.finished]), [['posthog/amplitude', 1, 1], ['posthog/mixpanel', 1, 0]]);
    assert.deepEqual([s.all.files, s.all.records.read, s.all.records.sent, s.all.stalled], [2, 600, a.valid, 0]);

    // The text form says the same, per file and per import.
    const text = (await cli(['status'], tableEnv())).stdout;
    assert.match(text, /posthog\/amplitude\/a.jsonl \[posthog\] done, 3\/3 chunks; 600\/600 records/);
    assert.match(text, /posthog\/mixpanel\/b.jsonl \[posthog\] sending, 0\/2 chunks; 0\/400 records/);
    assert.match(text, /import posthog\/mixpanel: 0\/1 files finished/);
  });

  test('a file without progress is stalled: status flags it and the monitor publishes FilesStalled', async () => {
    const later = Date.now() + 2 * 3600_000;
    const files = await deployedStatus(stack.env.CHECKPOINT_TABLE, { now: later, stalledAfterMs: 30 * 60_000 });
    const waiting = files.find((f) => f.manifest.file.key === 'posthog/mixpanel/b.jsonl')!;
    assert.match(waiting.stalled ?? '', /^2 chunks pending, none done since .* \(\d+ h\)/);
    assert.equal(waiting.progress.etaSeconds, undefined, 'no ETA for a stalled file');
    assert.equal(files.find((f) => f.manifest.file.key === 'posthog/amplitude/a.jsonl')!.stalled, undefined, 'a finished file is never stalled');

    const fresh = await emfOf(() => createMonitor(stack.env, 30 * 60_000, { credentials: stack.roles.monitor!.credentials })());
    assert.deepEqual(fresh.result, { active: 1, stalled: [] });
    assert.equal(fresh.docs[0]!.FilesStalled, 0);
    const old = await emfOf(() => createMonitor(stack.env, 1, { credentials: stack.roles.monitor!.credentials })());
    assert.deepEqual(old.result, { active: 1, stalled: [waiting.manifest.fileId] });
    assert.equal(old.docs[0]!.FilesStalled, 1);
    assert.equal(old.docs[0]!.service, 'backfill-monitor');
  });

  test('cancel one file: its remaining chunks are skipped and its report says cancelled', async () => {
    const c = posthogRecords(1_000, { seed: 'c' });
    const key = 'posthog/amplitude/c.jsonl';
    const obj = await upload(stack.bucket, key, c.text);
    // Drain what is queued (b's chunks) first, so the next chunks on the queue are c's.
    await drain(stack.queueUrl, stack.sender());
    await stack.splitter()(s3Event(stack.bucket, key, obj));
    const before = capture.unique;
    await drain(stack.queueUrl, stack.sender(), { batchSize: 1, maxRounds: 1 }); // one chunk goes
    assert.equal(capture.unique - before, 200);

    const out = await cli(['cancel', `s3://${stack.bucket}/${key}`], tableEnv());
    assert.match(out.stdout, /cancelled; senders skip its remaining chunks/);
    const { docs } = await emfOf(() => drain(stack.queueUrl, stack.sender()));
    assert.equal(capture.unique - before, 200, 'nothing more of the cancelled file was sent');
    assert.equal(docs.reduce((n, d) => n + (d.ChunksCancelled ?? 0), 0), 4);

    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
    assert.deepEqual([report.status, report.records.read, report.records.sent, report.notRead, report.reconciled], ['cancelled', 200, 200, 800, true]);
    const st = JSON.parse((await cli(['status', '--json'], tableEnv())).stdout);
    assert.equal(st.files.find((f: { file: string }) => f.file.endsWith(key)).state, 'cancelled');
    // A finished file cannot be cancelled.
    await assert.rejects(cli(['cancel', `s3://${stack.bucket}/posthog/amplitude/a.jsonl`], tableEnv()), /no unfinished file/);
  });

  test('pause, resume and sender concurrency act on the senders\' event source mapping, without a redeploy', async () => {
    const id = await senderMapping();
    const lambda = new LambdaClient({});
    const state = async () => (await lambda.send(new GetEventSourceMappingCommand({ UUID: id })));
    const env = { BACKFILL_EVENT_SOURCE_MAPPING: id };
    assert.match((await cli(['pause'], env)).stdout, /senders paused \(event source Disabled\)/);
    assert.equal((await state()).State, 'Disabled');
    assert.equal((await liftPause({ mappingId: id })).state, 'Enabled');
    assert.equal((await state()).State, 'Enabled');
    assert.match((await cli(['set', '--sender-concurrency', '9'], env)).stdout, /at most 9 senders/);
    assert.equal((await state()).ScalingConfig?.MaximumConcurrency, 9);
    await assert.rejects(cli(['set', '--sender-concurrency', '1'], env), /2-1000|positive|must be/);
  });

  test('set --events-per-minute: the senders\' budget follows the control row (0 lifts it)', async () => {
    const ddb = DynamoDBDocumentClient.from(clients().ddb);
    const table = stack.env.CHECKPOINT_TABLE;
    const windowRow = async (windowMs: number) =>
      (await ddb.send(new GetCommand({ TableName: table, Key: { pk: 'rate', sk: `w#${Math.floor(Date.now() / windowMs)}` } }))).Item?.used as number | undefined;
    // No control row yet: the deployed budget (none) applies, nothing is counted.
    const windowMs = 3_600_000;
    await new ControlledRateBudget(ddb, table, 0, windowMs, 0).acquire(10);
    assert.equal(await windowRow(windowMs), undefined);

    assert.match((await cli(['set', '--events-per-minute', '600'], tableEnv())).stdout, /events per minute: 600/);
    const budget = new ControlledRateBudget(ddb, table, 0, windowMs, 0);
    await budget.acquire(10);
    assert.equal(await windowRow(windowMs), 10, 'the budget now counts');
    const settings = JSON.parse((await cli(['set'], tableEnv())).stdout);
    assert.equal(settings.control.eventsPerMinute, 600);

    await cli(['set', '--events-per-minute', '0'], tableEnv());
    await budget.acquire(10);
    assert.equal(await windowRow(windowMs), 10, 'lifted: nothing more counted');
  });
});
