import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { awsClients } from '../../functions/adapters/aws/clients';
import { replayDlq } from '../../functions/adapters/aws/dlq';
import { DynamoCheckpoints } from '../../functions/adapters/aws/dynamo-checkpoints';
import { SqsChunkQueue } from '../../functions/adapters/aws/sqs';
import { deployedStatus } from '../../functions/cli/status';
import type { ChunkMessage } from '../../functions/core/messages';
import type { ChunkStats, FileReport } from '../../functions/core/report';
import type { SplitterEvent } from '../../functions/splitter/handler';
import { AwsFaults, type AwsFaultRates } from '../support/aws-faults';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, lambdaContext, queueDepth, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';
import { amplitudeCrowd, zipOf } from '../support/vendors';

const KEY = 'phc_aws_chaos';
const SPLITTER_CHILD = join(import.meta.dirname, '..', 'support', 'splitter-process.ts');
const OFF: AwsFaultRates = { s3Reset: 0, s3SlowDown: 0, ddbThrottle: 0, ddbConflict: 0, sqsEntryFail: 0, lambdaInvoke: 0 };

const stats = (n: number): ChunkStats => ({ read: n, sent: n, rejected: 0, filtered: 0, duplicates: 0, events: n, noTimestamp: 0, links: 0, linksRefused: 0, onceEvents: 0, onceRefused: 0, byReason: {}, byFilter: {} });
const message = (chunk: number): ChunkMessage =>
  ({ v: 1, fileId: 'f', file: { uri: 's3://b/k' }, chunk, format: 'posthog', mapping: {}, unit: 'line', firstLine: 1, records: 1, staged: `s/${chunk}`, oversize: [] }) as unknown as ChunkMessage;


/** Every kind on; rates picked so each kind happens several times in one run. */
const CHAOS: AwsFaultRates = { s3Reset: 0.1, s3SlowDown: 0.15, ddbThrottle: 0.02, ddbConflict: 0.15, sqsEntryFail: 0.1, lambdaInvoke: 0.3 };

const BIG = 8_000;
const GZ = 6_000;

const keyOf = (e: SplitterEvent) => ('continuation' in e ? e.continuation.key : decodeURIComponent(e.Records[0]!.s3.object.key.replace(/\+/g, ' ')));

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

  test('SendMessageBatch with failed entries: only those are sent again, bounded, then the send fails', async () => {
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

  /**
   * One splitter invocation in a child process, SIGKILLed either as soon as it queued its first
   * chunks (killed mid-file) or when it asks Lambda to continue (after recording its pause point,
   * before the hand-over is accepted).
   */
  function splitInChild(stack: Stack, env: Partial<Stack['env']>, event: SplitterEvent, killWhen: 'queued' | 'invoke'): Promise<{ killed: boolean; error?: string }> {
    const child: ChildProcess = fork(SPLITTER_CHILD, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    return new Promise((resolve) => {
      let watch: NodeJS.Timeout | undefined;
      const done = (r: { killed: boolean; error?: string }) => {
        clearInterval(watch);
        onInvokeHook = undefined;
        resolve(r);
      };
      const kill = () => {
        child.kill('SIGKILL');
        done({ killed: true });
      };
      if (killWhen === 'queued') {
        const before = faults.calls.get('sqs.SendMessageBatch') ?? 0;
        watch = setInterval(() => (faults.calls.get('sqs.SendMessageBatch') ?? 0) > before && kill(), 1);
      } else {
        onInvokeHook = () => {
          kill();
          return 'drop';
        };
      }
      child.once('message', (m: { error?: string }) => done({ killed: false, ...(m.error ? { error: m.error } : {}) }));
      child.once('exit', () => done({ killed: false, error: 'exited' }));
      // The child runs as the splitter's role, with the function's own name for its hand-over.
      child.send({ env: { ...stack.env, ...env }, event, credentials: stack.roles.splitter!.credentials, context: { functionName: stack.context('splitter').functionName } });
    });
  }

  test('tens of thousands of records through S3 resets and SlowDowns, DynamoDB throttles and conflicts, failed SQS entries and Lambda invokes, killed splitters', async (t) => {
    const started = Date.now();
    restore = faults.use();
    const stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 500, BATCH_SIZE: 500, POSTHOG_RETRIES: 2, POSTHOG_RETRY_DELAY_MS: 5 });
    // The proxy signs a SendMessageBatch again after taking entries out: it needs the roles' keys.
    faults.addSecrets(Object.fromEntries(Object.values(stack.roles).map((r) => [r.credentials.accessKeyId, r.credentials.secretAccessKey])));
    const context = stack.context('splitter');
    // 60 users (80 device links): moto takes tens of ms per DynamoDB write, and every link is two.
    const crowd = amplitudeCrowd(6, 1000, 60);
    const ampKey = 'posthog/amplitude/export 2024-02.zip'; // under the drop prefix, where the splitter role may read
    const big = posthogRecords(BIG, { badEvery: 400, seed: 'aws-big' });
    const bigKey = 'posthog/big.jsonl';
    const gz = posthogRecords(GZ, { badEvery: 300, seed: 'aws-gz' });
    const gzKey = 'posthog/more events.jsonl.gz';
    const objects = new Map<string, { versionId?: string; eTag?: string }>();
    for (const [key, body] of [[ampKey, await zipOf(crowd.members)], [bigKey, big.text], [gzKey, gzipSync(gz.text)]] as const) objects.set(key, await upload(stack.bucket, key, body));

    // The big file hands over after every chunk (8 runs of 1,000 records); the others split in one run each.
    const hopping = { SPLIT_TIME_BUDGET_MS: 0, CHUNK_RECORDS: 1000 };
    const splitters = { hopping: stack.splitter(hopping), plain: stack.splitter() };
    const splitterFor = (key: string) => (key === bigKey ? splitters.hopping : splitters.plain);

    /** Lambda's async invocation: the event is tried up to three times, then goes to the splitter's DLQ. */
    const splitterDlq: SplitterEvent[] = [];
    let splitterErrors = 0;
    const splitterErrorMessages: string[] = [];
    const invokeAsync = async (event: SplitterEvent, first?: () => Promise<unknown>) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          if (attempt === 0 && first) await first();
          else await splitterFor(keyOf(event))(event, context);
          return;
        } catch (err) {
          splitterErrors++;
          splitterErrorMessages.push(`${keyOf(event)}: ${(err as Error).name}: ${(err as Error).message}`.slice(0, 200));
        }
      }
      splitterDlq.push(event);
    };
    const kills: Array<{ killed: boolean; error?: string }> = [];
    const killed = (env: Partial<Stack['env']>, event: SplitterEvent, when: 'queued' | 'invoke') => async () => {
      const r = await splitInChild(stack, env, event, when);
      kills.push(r);
      if (r.killed) throw new Error('splitter died');
      if (r.error) throw new Error(r.error);
    };

    faults.set(CHAOS);
    const ev = (key: string) => s3Event(stack.bucket, key, objects.get(key)!);
    // The zip's splitter is killed mid-file, and Lambda retries the S3 event.
    await invokeAsync(ev(ampKey), killed({}, ev(ampKey), 'queued'));
    // At least one body cut off mid-way whatever the seed: the source stage must resume it.
    faults.force('s3Reset', 1);
    await invokeAsync(ev(gzKey));
    await invokeAsync(ev(bigKey));
    let hops = 0;
    while (invoked.length) {
      const next = invoked.shift()!;
      hops++;
      // Every attempt of one hand-over fails (the SDK's three): that run fails and Lambda retries it.
      if (hops === 4) faults.force('lambdaInvoke', 3);
      // A later run dies between recording its pause point and the hand-over.
      await invokeAsync(next, hops === 6 ? killed(hopping, next, 'invoke') : undefined);
    }
    const splitDone = Date.now();

    const sender = stack.sender();
    let replayed = 0;
    const sqs = new SQSClient({});
    for (let pass = 0; pass < 8; pass++) {
      await drain(stack.queueUrl, sender, { batchSize: 4 });
      if ((await queueDepth(stack.dlqUrl)) === 0) break;
      replayed += (await replayDlq(sqs, { dlqUrl: stack.dlqUrl, queueUrl: stack.queueUrl })).moved;
    }
    faults.set(OFF);
    t.diagnostic(
      `injected ${JSON.stringify(faults.injected)}; kills ${JSON.stringify(kills)}; hops ${hops}; splitter errors ${splitterErrors} ${JSON.stringify(splitterErrorMessages)}; replayed ${replayed}; ` +
        `split ${((splitDone - started) / 1000).toFixed(1)} s, sent ${((Date.now() - splitDone) / 1000).toFixed(1)} s; calls ${JSON.stringify([...faults.calls])}; busy ${JSON.stringify([...faults.busy])}`,
    );

    // Every check runs and all failures are listed together: faults, nothing stuck, reports, uuids.
    const problems: string[] = [];
    const check = (ok: boolean, what: string, seen?: unknown) => void (ok || problems.push(`${what}${seen === undefined ? '' : `: ${JSON.stringify(seen)}`}`));
    const same = isDeepStrictEqual;

    // Every kind of fault really happened, and both splitters died.
    for (const [kind, n] of Object.entries(faults.injected)) check(n > 0, `${kind} was injected`, n);
    check(same(kills.map((k) => k.killed), [true, true]), 'a splitter was killed mid-file and one between its pause point and the hand-over', kills);

    // Nothing stuck: queues empty, no splitter event given up, no file left splitting, no chunk pending.
    check(splitterDlq.length === 0, 'no splitter event ended in its DLQ', splitterDlq.map(keyOf));
    check((await queueDepth(stack.queueUrl)) === 0, 'the queue is drained');
    check((await queueDepth(stack.dlqUrl)) === 0, 'the DLQ is empty');
    const ddb = DynamoDBDocumentClient.from(clients().ddb);
    const rows = (await ddb.send(new ScanCommand({ TableName: stack.env.CHECKPOINT_TABLE }))).Items ?? [];
    const manifests = rows.filter((r) => r.sk === 'manifest');
    check(same(manifests.map((m) => m.status), ['reported', 'reported', 'reported']), 'every file reported, none left splitting', manifests.map((m) => [m.file?.key, m.status, m.nextChunk]));
    const pending = rows.filter((r) => String(r.sk).startsWith('chunk#') && r.status !== 'done');
    check(pending.length === 0, 'no chunk pending', pending.length);

    // Every file reported and reconciled, with the exact counts.
    const report = (key: string) => readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`).catch(() => undefined);
    const amp = await report(ampKey);
    check(
      same(
        amp && { read: amp.records.read, sent: amp.records.sent, duplicates: amp.records.duplicates, rejected: amp.records.byReason, reconciled: amp.reconciled, error: amp.error },
        { read: crowd.lines, sent: crowd.valid, duplicates: crowd.duplicates, rejected: crowd.rejected, reconciled: true, error: undefined },
      ),
      `${ampKey} reported exactly`,
      amp && { records: amp.records, error: amp.error },
    );
    for (const [key, f, lines] of [[bigKey, big, BIG], [gzKey, gz, GZ]] as const) {
      const r = await report(key);
      check(
        same(r && { read: r.records.read, sent: r.records.sent, rejected: r.records.rejected, reconciled: r.reconciled, error: r.error }, { read: lines, sent: f.valid, rejected: f.invalid, reconciled: true, error: undefined }),
        `${key} reported exactly`,
        r && { records: r.records, error: r.error },
      );
    }
    const status = await deployedStatus(stack.env.CHECKPOINT_TABLE);
    check(status.length === 3 && status.every((s) => s.reconciled), 'backfill status: three files, all reconciled');

    // Unique uuids at capture == valid records; every device↔user pair linked once.
    const events = [...capture.events.values()];
    const data = events.filter((e) => e.event !== '$identify');
    check(data.length === crowd.valid + big.valid + gz.valid, 'unique uuids == valid records', { unique: data.length, valid: crowd.valid + big.valid + gz.valid });
    const identifies = events.filter((e) => e.event === '$identify');
    const linked = new Set(identifies.map((e) => `${e.properties!.$anon_distinct_id}:${e.distinct_id}`));
    check(identifies.length === crowd.pairs.size && [...crowd.pairs].every((p) => linked.has(p)), 'every device↔user pair linked once', { identifies: identifies.length, pairs: crowd.pairs.size });
    assert.deepEqual(problems, []);
    restore();
  });
});
