import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import type { Continuation } from '../../functions/adapters/aws/continuation';
import { DynamoCheckpoints } from '../../functions/adapters/aws/dynamo-checkpoints';
import { fileIdentity } from '../../functions/core/identity';
import type { ChunkMessage } from '../../functions/core/messages';
import type { FileReport } from '../../functions/core/report';
import { type createSplitter, type SplitterEvent } from '../../functions/splitter/handler';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, lambdaContext, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';
import { S3FaultProxy } from '../support/s3-faults';
import { amplitudeRecords, amplitudeZip } from '../support/vendors';

const KEY = 'phc_handover';
const isHeader = (r: string) => {
  const [a, b] = r.slice(6).split('-').map(Number);
  return b! - a! === 29;
};

describe('hand-overs between splitter runs', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let proxy: S3FaultProxy;
  let stack: Stack;
  let checkpoints: DynamoCheckpoints;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    proxy = await new S3FaultProxy(moto.endpoint).start();
    process.env.AWS_ENDPOINT_URL_S3 = proxy.url; // S3 through the proxy, which counts the source reads
    stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 200 });
    checkpoints = new DynamoCheckpoints(DynamoDBDocumentClient.from(clients().ddb), stack.env.CHECKPOINT_TABLE);
  });
  after(async () => {
    delete process.env.AWS_ENDPOINT_URL_S3;
    await proxy?.stop();
    await capture?.stop();
    await moto?.stop();
  });

  /** A splitter whose every run queues one chunk and hands over; `invoke` may fail a hand-over. */
  function pausingSplitter(hops: Continuation[], invoke: (c: Continuation) => void = () => undefined) {
    return stack.splitter({ SPLIT_TIME_BUDGET_MS: 0 }, { continueWith: async (c) => (invoke(c), void hops.push(c)) });
  }

  /** Runs every continuation handed over until the chain ends. */
  async function runChain(split: ReturnType<typeof createSplitter>, hops: Continuation[], from = 0) {
    for (let i = from; i < hops.length; i++) await split({ continuation: hops[i]! }, lambdaContext);
  }

  async function drainNoting(): Promise<ChunkMessage[]> {
    const seen: ChunkMessage[] = [];
    const sender = stack.sender();
    await drain(stack.queueUrl, async (event: SQSEvent, ctx) => {
      for (const r of event.Records) seen.push(JSON.parse(r.body) as ChunkMessage);
      return sender(event, ctx);
    });
    return seen.sort((a, b) => a.chunk - b.chunk);
  }

  async function expectComplete(key: string, n: number, valid: number, seen: ChunkMessage[], chunks: number) {
    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
    assert.deepEqual([report.chunks, report.records.read, report.records.sent, report.reconciled, report.error], [chunks, n, valid, true, undefined]);
    assert.deepEqual(seen.map((m) => m.chunk), Array.from({ length: chunks }, (_, i) => i), 'each chunk queued once');
  }

  test('a failed Lambda Invoke is retried by the retried event, never superseded into silence', async () => {
    const { text, valid } = posthogRecords(1_000, { seed: 'invoke' });
    const key = 'posthog/invoke-fails.jsonl';
    const o = await upload(stack.bucket, key, text);
    const hops: Continuation[] = [];
    let failures = 0;
    const split = pausingSplitter(hops, (c) => {
      if (c.fromChunk === 2 && failures < 3) {
        failures++;
        throw new Error('TooManyRequestsException: Rate exceeded');
      }
    });
    await split(s3Event(stack.bucket, key, o), lambdaContext);
    const failing: SplitterEvent = { continuation: hops[0]! };
    await assert.rejects(split(failing, lambdaContext), /Rate exceeded/);
    assert.equal(failures, 3, 'the hand-over was tried three times');
    const fileId = fileIdentity(`s3://${stack.bucket}/${key}`, o.versionId);
    const m = await checkpoints.getManifest(fileId);
    assert.deepEqual([m?.status, m?.pause?.chunk, m?.pause?.handedOver], ['splitting', 2, undefined], 'the pause point is recorded, not handed over');
    // Lambda retries the failed async invocation: it carries the chain on from the pause point.
    const [retried] = await split(failing, lambdaContext);
    assert.equal(retried!.skipped, undefined, 'not superseded');
    assert.deepEqual(retried!.pausedAt, { fromChunk: 3, hop: 3 });
    await runChain(split, hops, 1);
    const seen = await drainNoting();
    await expectComplete(key, 1_000, valid, seen, 5);
  });

  test('a splitter that dies between its pause point and the hand-over: the retried S3 event picks the chain up', async () => {
    const { text, valid } = posthogRecords(1_000, { seed: 'dies' });
    const key = 'posthog/dies.jsonl';
    const o = await upload(stack.bucket, key, text);
    const hops: Continuation[] = [];
    // The first run never gets its hand-over out (as if killed right after recording its pause point).
    const split = pausingSplitter(hops, (c) => {
      if (c.hop === 1 && hops.length === 0 && !recorded) throw new Error('Runtime exited with error: signal: killed');
    });
    let recorded = false;
    const event = s3Event(stack.bucket, key, o);
    await assert.rejects(split(event, lambdaContext), /killed/);
    assert.equal(hops.length, 0);
    recorded = true;
    const [again] = await split(event, lambdaContext); // Lambda's retry of the S3 event
    assert.equal(again!.skipped, undefined);
    assert.deepEqual(again!.pausedAt, { fromChunk: 2, hop: 2 }, 'went on from the pause point, chunk 0 not queued again');
    await runChain(split, hops);
    // Later duplicates of the S3 event and of the first continuation find the file split.
    assert.equal((await split(event, lambdaContext))[0]!.skipped, 'already-split');
    const seen = await drainNoting();
    await expectComplete(key, 1_000, valid, seen, 5);
  });

  test('a continuation that arrives twice, the second while the chain is handed on, forks nothing', async () => {
    const { text, valid } = posthogRecords(800, { seed: 'fork' });
    const key = 'posthog/fork.jsonl';
    const o = await upload(stack.bucket, key, text);
    const hops: Continuation[] = [];
    const split = pausingSplitter(hops);
    await split(s3Event(stack.bucket, key, o), lambdaContext);
    await split({ continuation: hops[0]! }, lambdaContext);
    const [dup] = await split({ continuation: hops[0]! }, lambdaContext);
    assert.equal(dup!.skipped, 'superseded');
    const [dupEvent] = await split(s3Event(stack.bucket, key, o), lambdaContext);
    assert.equal(dupEvent!.skipped, 'superseded', 'a repeated S3 event does not restart a chain in progress');
    await runChain(split, hops, 1);
    assert.equal(hops.length, 4, 'one chain');
    await expectComplete(key, 800, valid, await drainNoting(), 4);
  });

  test('uncompressed input: each continuation reads on from the byte offset of its next chunk; the mapping is frozen in the manifest', async () => {
    const { text, valid } = posthogRecords(2_000, { seed: 'offset' });
    const withBlanks = Buffer.from(`\uFEFF${text.replace(/\n/g, '\r\n\r\n')}`); // BOM, CRLF, blank lines
    const key = 'posthog/offset/offset.jsonl';
    await upload(stack.bucket, 'posthog/offset/backfill.config.json', JSON.stringify({ events: { rename: { $pageview: 'first_config' } } }));
    const o = await upload(stack.bucket, key, withBlanks);
    const hops: Continuation[] = [];
    const split = pausingSplitter(hops, (c) => {
      // Between hops the config changes: later hops must keep the first one.
      if (c.hop === 1) void upload(stack.bucket, 'posthog/offset/backfill.config.json', JSON.stringify({ events: { rename: { $pageview: 'second_config' } } }));
    });
    proxy.match = key;
    proxy.ranges = [];
    await split(s3Event(stack.bucket, key, o), lambdaContext);
    await runChain(split, hops);
    assert.equal(hops.length, 10, 'ten chunks, a hand-over after each (the last run finds nothing left)');
    assert.equal(proxy.ranges.length, 10, 'one GET per run with bytes left to read');
    assert.equal(proxy.ranges[0], '', 'the first run reads from the start');
    const starts = proxy.ranges.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r)?.[1]));
    // Each run starts where the one before stopped: the file is read about once in all, not 10 times over.
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! > starts[i - 1]!, `range starts ${starts.join(', ')}`);
    assert.ok(starts[0]! > withBlanks.length * 0.05 && starts.at(-1)! > withBlanks.length * 0.85, `range starts ${starts.join(', ')} of ${withBlanks.length}`);
    const seenA = await drainNoting();
    await expectComplete(key, 2_000, valid, seenA, 10);
    const renames = new Set(seenA.map((m) => JSON.stringify((m.mapping as { events: { rename: unknown } }).events.rename)));
    assert.deepEqual([...renames], ['{"$pageview":"first_config"}'], 'every hop used the mapping of the first run');

    // The same bytes split in one run: identical chunks, line numbers and counts.
    await upload(stack.bucket, 'posthog/offset/backfill.config.json', JSON.stringify({ events: { rename: { $pageview: 'first_config' } } }));
    const b = await upload(stack.bucket, 'posthog/offset/one-run.jsonl', withBlanks);
    await stack.splitter()(s3Event(stack.bucket, 'posthog/offset/one-run.jsonl', b), lambdaContext);
    const seenB = await drainNoting();
    const shape = (ms: ChunkMessage[]) => ms.map((m) => [m.chunk, m.firstLine, m.records, m.oversize.length]);
    assert.deepEqual(shape(seenA), shape(seenB));
  });

  test('gzip: each continuation decodes from the start but plans only past its offset; same chunks as one run', async () => {
    const { text, valid } = posthogRecords(1_000, { seed: 'gz-offset' });
    const key = 'posthog/offset.jsonl.gz';
    const o = await upload(stack.bucket, key, gzipSync(text));
    const hops: Continuation[] = [];
    const split = pausingSplitter(hops);
    proxy.match = key;
    proxy.ranges = [];
    await split(s3Event(stack.bucket, key, o), lambdaContext);
    await runChain(split, hops);
    assert.deepEqual(proxy.ranges, Array(hops.length + 1).fill(''), 'gzip cannot be entered mid-stream: every run reads from byte 0');
    const seen = await drainNoting();
    await expectComplete(key, 1_000, valid, seen, 5);
    assert.deepEqual(seen.map((m) => m.firstLine), [1, 201, 401, 601, 801]);
  });

  test('zip: a continuation opens no member before its pause point and reads on inside its member; same chunks as one run', async () => {
    const { records } = amplitudeRecords(1_200);
    const zip = await amplitudeZip(records, 500); // members of 500, 500 and 200 records
    const key = 'posthog/amplitude/hops.zip';
    const o = await upload(stack.bucket, key, zip);
    const hops: Continuation[] = [];
    const split = pausingSplitter(hops);
    proxy.match = key;
    proxy.ranges = [];
    await split(s3Event(stack.bucket, key, o), lambdaContext);
    await runChain(split, hops);
    // Member data is the ranged read after each member's 30-byte local header: count each member's reads.
    const dataReads = proxy.ranges.filter((r, i) => /^bytes=\d+-\d+$/.test(r) && /^bytes=\d+-\d+$/.test(proxy.ranges[i - 1] ?? '') && Number(r.slice(6).split('-')[0]) > 0 && isHeader(proxy.ranges[i - 1]!));
    const counts = [...new Set(dataReads)].map((r) => dataReads.filter((x) => x === r).length);
    assert.equal(hops.length + 1, 8);
    assert.deepEqual(counts, [4, 4, 2], 'each member is read only by the runs that split it (or start at its end), not by all 8');
    const seenA = await drainNoting();
    const b = await upload(stack.bucket, 'posthog/amplitude/one-run.zip', zip);
    await stack.splitter()(s3Event(stack.bucket, 'posthog/amplitude/one-run.zip', b), lambdaContext);
    const seenB = await drainNoting();
    const shape = (ms: ChunkMessage[]) => ms.map((m) => [m.chunk, m.part, m.firstLine, m.records]);
    assert.equal(seenA.length, 7, 'chunks of 200: 3 + 3 + 1');
    assert.deepEqual(shape(seenA), shape(seenB));
    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
    assert.deepEqual([report.chunks, report.records.read, report.reconciled], [7, 1_200, true]);
  });
});
