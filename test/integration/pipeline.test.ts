import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { deployedStatus } from '../../functions/cli/status';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { clients, createStack, drain, listKeys, rejectedRows, queueDepth, readJson, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoCheckpoints } from '../../functions/adapters/aws/dynamo-checkpoints';
import { DynamoLinks } from '../../functions/adapters/aws/dynamo-links';
import { emptyStats } from '../../functions/core/report';
import { linkKey, onceKey } from '../../functions/core/links';

const API_KEY = 'phc_test_key_0123456789';
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');

describe('S3 drop → splitter → SQS → sender → capture, on moto', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;

  before(async () => {
    moto = await startMoto();
  });
  after(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    await capture?.stop();
    capture = await new CaptureStandIn({ apiKey: API_KEY }).start();
    stack = await createStack(capture.url, API_KEY);
  });
  after(async () => capture?.stop());

  async function dropFile(key: string, body: Buffer) {
    const obj = await upload(stack.bucket, key, body);
    return { event: s3Event(stack.bucket, key, obj, body.length), obj };
  }

  test('imports every valid record exactly once and writes the report and rejected records', async () => {
    const { text, valid, invalid } = posthogRecords(2_300, { badEvery: 100 });
    // A key with spaces arrives URL-encoded in the S3 event.
    const key = 'posthog/2024 export/events part 1.jsonl.gz';
    const { event } = await dropFile(key, gzipSync(text));
    const split = await stack.splitter()(event);
    assert.equal(split[0]!.chunks, 5); // 2,300 records / 500 per chunk
    assert.equal(split[0]!.records, 2_300);

    await drain(stack.queueUrl, stack.sender());
    assert.equal(capture.unique, valid);
    assert.equal(capture.received, valid, 'no event sent twice on a clean run');
    assert.deepEqual([...capture.historicalFlags], [true], 'every batch is a historical migration');
    assert.deepEqual([...new Set(capture.wire.map((w) => w.xfl))], [4], 'every body gzipped at the sender\'s default level, 1');
    assert.equal(await queueDepth(stack.queueUrl), 0);
    assert.deepEqual(await listKeys(stack.bucket, '_backfill/staging/'), [], 'staged bodies are removed once their chunk is done');

    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/${key}.report.json`);
    assert.equal(report.status, 'complete');
    assert.equal(report.reconciled, true);
    assert.equal(report.file, `s3://${stack.bucket}/${key}`);
    assert.deepEqual(
      { read: report.records.read, sent: report.records.sent, rejected: report.records.rejected },
      { read: 2_300, sent: valid, rejected: invalid },
    );
    assert.deepEqual(report.records.byReason, { missing_distinct_id: 8, invalid_timestamp: 8, future_timestamp: 7 });

    const rejected = await listKeys(stack.bucket, `_backfill/rejected/${key}/`);
    assert.ok(rejected.length >= 1);
    const obj = await clients().s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: rejected[0]! }));
    const row = JSON.parse((await obj.Body!.transformToString()).split('\n')[0]!);
    assert.equal(row.line, 100);
    assert.equal(row.code, 'missing_distinct_id');
    assert.equal(row.file, `s3://${stack.bucket}/${key}`);

    // `backfill status` against the deployed table reconciles the same numbers.
    const files = await deployedStatus(stack.env.CHECKPOINT_TABLE);
    assert.equal(files.length, 1);
    assert.deepEqual([files[0]!.totals.read, files[0]!.totals.sent, files[0]!.totals.rejected, files[0]!.reconciled], [2_300, valid, invalid, true]);
    const cli = await promisify(execFile)(process.execPath, [BIN, 'status'], { env: { ...process.env, BACKFILL_CHECKPOINT_TABLE: stack.env.CHECKPOINT_TABLE } });
    assert.match(cli.stdout, new RegExp(`posthog/2024 export/events part 1.jsonl.gz \\[posthog\\] done, 5/5 chunks`));
    assert.match(cli.stdout, new RegExp(`read 2300 = sent ${valid} \\+ rejected ${invalid} \\(`));

    // Every event carries the origin and a valid timestamp from the record.
    const one = [...capture.events.values()][0]!;
    assert.equal(one.properties?.$import_source, `s3://${stack.bucket}/${key}`);
    assert.match(one.timestamp!, /^2024-01-01T/);
  });

  test('duplicate delivery of every message and a repeated S3 event add no uuid and no count', async () => {
    const { text, valid } = posthogRecords(1_200);
    const { event } = await dropFile('posthog/dup.jsonl', Buffer.from(text));
    const splitter = stack.splitter();
    const first = await splitter(event);
    const again = await splitter(event); // S3 delivers the same notification twice
    assert.equal(again[0]!.skipped, 'already-split');
    assert.equal(await queueDepth(stack.queueUrl), first[0]!.chunks, 'no second set of chunk messages');

    // (A sender told GZIP_LEVEL=9 by its environment: zlib marks level 9 as XFL 2.)
    await drain(stack.queueUrl, stack.sender({ GZIP_LEVEL: 9 }), { copies: 2 });
    assert.equal(capture.unique, valid);
    assert.deepEqual([...new Set(capture.wire.map((w) => w.xfl))], [2]);
    const report = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/dup.jsonl.report.json');
    assert.equal(report.records.sent, valid, 'a chunk processed twice is counted once');
    assert.equal(report.records.read, 1_200);

    // After completion the same event is a no-op: no new messages, no new uuids.
    const third = await splitter(event);
    assert.equal(third[0]!.skipped, 'already-split');
    assert.equal(await queueDepth(stack.queueUrl), 0);
    const before = capture.received;
    await drain(stack.queueUrl, stack.sender());
    assert.equal(capture.received, before);
    assert.equal(capture.unique, valid);
  });

  test('a sender that fails after part of a chunk was accepted retries to exactly N unique', async () => {
    const { text, valid } = posthogRecords(1_000);
    const env = { POSTHOG_RETRIES: 0 };
    const { event } = await dropFile('posthog/partial.jsonl', Buffer.from(text));
    await stack.splitter(env)(event);
    // First chunk: two batches of 200 accepted, then a 500 and a reset; the chunk fails and is retried.
    capture.fail({ kind: 'pass' }, { kind: 'pass' }, { kind: 'status', status: 500 }, { kind: 'reset' });
    const { failures } = await drain(stack.queueUrl, stack.sender(env));
    assert.ok(failures >= 1, 'the chunk failed at least once');
    assert.ok(capture.received > valid, 'part of the chunk was sent twice');
    assert.equal(capture.unique, valid);
    const report = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/partial.jsonl.report.json');
    assert.equal(report.records.sent, valid);
    assert.equal(report.reconciled, true);
  });

  test('events capture refuses on its own are isolated by bisection and reported; the rest arrive', async () => {
    await capture.stop();
    capture = await new CaptureStandIn({ apiKey: API_KEY, refuse: (e) => (e.distinct_id === 'user_13' ? 'distinct_id is blocked on this project' : undefined) }).start();
    const env = { POSTHOG_HOST: capture.url };
    const { text, valid } = posthogRecords(970); // user_13 is every 97th record
    const { event } = await dropFile('posthog/refused.jsonl', Buffer.from(text));
    await stack.splitter(env)(event);
    await drain(stack.queueUrl, stack.sender(env));
    const report = await readJson<FileReport>(stack.bucket, '_backfill/reports/posthog/refused.jsonl.report.json');
    assert.equal(report.records.byReason.refused_by_capture, 10);
    assert.equal(report.records.sent, valid - 10);
    assert.equal(report.reconciled, true);
    assert.equal(capture.unique, valid - 10);
    const rows = await rejectedRows(stack.bucket, 'posthog/refused.jsonl');
    assert.deepEqual(rows.map((r) => r.line).slice(0, 2), [14, 111]);
    assert.match(String(rows[0]!.reason), /capture answered 400: .*distinct_id is blocked/);
    assert.match(String(rows[0]!.record), /"distinct_id":"user_13"/);
  });

  test('the secret is read from Secrets Manager and a wrong key fails the chunk instead of losing it', async () => {
    await capture.stop();
    capture = await new CaptureStandIn({ apiKey: 'phc_other' }).start();
    const env = { POSTHOG_HOST: capture.url, POSTHOG_RETRIES: 0 };
    const { event } = await dropFile('posthog/key.jsonl', Buffer.from(posthogRecords(10).text));
    await stack.splitter(env)(event);
    const out = await drain(stack.queueUrl, stack.sender(env), { maxRounds: 2 });
    assert.ok(out.failures >= 1);
    assert.equal(capture.unique, 0);
  });

  test('two deliveries of one chunk racing: both own its links, the chunk counts once', async () => {
    const ddb = DynamoDBDocumentClient.from(clients().ddb);
    const links = new DynamoLinks(ddb, stack.env.ALIAS_TABLE!);
    const pairs = Array.from({ length: 20 }, (_, i) => linkKey({ anon: `dev-${i}`, user: `user-${i}` }));
    // Same owner twice at once: each must come away with every link (either may be the one
    // that finishes), and a different chunk gets none.
    const [a, b] = await Promise.all([links.claim(pairs, 'f#0'), links.claim(pairs, 'f#0')]);
    assert.equal(a.length, 20);
    assert.equal(b.length, 20);
    assert.equal((await links.claim(pairs, 'f#1')).length, 0);
    await links.confirm(pairs, 'f#0');
    assert.equal((await links.claim(pairs, 'f#0')).length, 0, 'a sent link is not sent again, even by its owner');

    const checkpoints = new DynamoCheckpoints(ddb, stack.env.CHECKPOINT_TABLE);
    const file = { uri: 's3://b/k', bucket: 'b', key: 'k' };
    await checkpoints.openFile({ fileId: 'race', file, format: 'posthog', unit: 'line', startedAt: new Date().toISOString() });
    for (let c = 0; c < 10; c++) await checkpoints.addChunk('race', c);
    const stats = { ...emptyStats(), read: 1, sent: 1, events: 1 };
    const won = await Promise.all(Array.from({ length: 10 }, (_, c) => [checkpoints.completeChunk('race', c, stats), checkpoints.completeChunk('race', c, stats)]).flat());
    assert.equal(won.filter(Boolean).length, 10, 'each chunk completes once');
    assert.equal((await checkpoints.getManifest('race'))!.doneChunks, 10);
    assert.equal((await checkpoints.chunkStats('race')).length, 10);
  });

  test('a refused link or once-event is final in DynamoDB: marked refused with the reason, never claimed again', async () => {
    const ddb = DynamoDBDocumentClient.from(clients().ddb);
    const links = new DynamoLinks(ddb, stack.env.ALIAS_TABLE!);
    const keys = [linkKey({ anon: 'dev-r', user: 'user-r' }), onceKey('company\u0000acme\u0000v1')];
    assert.deepEqual(await links.claim(keys, 'g#0'), keys);
    await links.refuse([{ key: keys[0]!, reason: 'capture answered 400: blocked' }], 'g#0');
    await links.confirm([keys[1]!], 'g#0');
    const row = (await ddb.send(new GetCommand({ TableName: stack.env.ALIAS_TABLE!, Key: { pair: keys[0] } }))).Item;
    assert.deepEqual([row?.status, row?.reason, row?.owner], ['refused', 'capture answered 400: blocked', 'g#0']);
    assert.ok(row?.refusedAt);
    assert.deepEqual(await links.claim(keys, 'g#0'), [], 'neither its own chunk nor');
    assert.deepEqual(await links.claim(keys, 'g#1'), [], 'another chunk sends it again');
  });
});
