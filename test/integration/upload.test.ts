import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { PostHogQuery } from '../../functions/adapters/posthog-query';
import { previewFile } from '../../functions/cli/preview';
import { uploadFiles } from '../../functions/cli/upload';
import { bucketReports, verifyReports } from '../../functions/cli/verify';
import { Limits } from '../../functions/core/settings';
import { clients, createStack, drain, s3Event, upload, type Stack } from '../support/aws-env';
import { CaptureStandIn } from '../support/capture-stand-in';
import { startMoto, type Moto } from '../support/moto';
import { QueryStandIn } from '../support/query-stand-in';
import { S3FaultProxy } from '../support/s3-faults';
import { amplitudeRecords, mixpanelLines, segmentLines } from '../support/vendors';

const KEY = 'phc_upload_test';
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const run = promisify(execFile);
const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('upload, S3 preview and deployed verify on moto', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;
  const dir = mkdtempSync(join(tmpdir(), 'upload-'));
  const files: Record<string, string> = {};

  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    stack = await createStack(capture.url, KEY);
    // An Amplitude file large enough for two 5 MiB parts, a Mixpanel and a Segment file.
    const amp = amplitudeRecords(5_000).records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    files.amplitude = join(dir, 'export-amp.jsonl');
    writeFileSync(files.amplitude, amp);
    files.mixpanel = join(dir, 'mp.jsonl');
    writeFileSync(files.mixpanel, mixpanelLines(40).lines.join('\n') + '\n');
    files.segment = join(dir, 'seg.gz');
    writeFileSync(files.segment, gzipSync(segmentLines(30).lines.join('\n') + '\n'));
    assert.ok(readFileSync(files.amplitude).length > 5 * MiB, 'big enough for two parts');
  });
  after(async () => {
    await capture.stop();
    await moto.stop();
  });

  const versions = async (prefix: string) => (await clients().s3.send(new ListObjectVersionsCommand({ Bucket: stack.bucket, Prefix: prefix }))).Versions?.length ?? 0;
  const pendingUploads = async () => (await clients().s3.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket }))).Uploads?.length ?? 0;
  const opts = { prefix: 'posthog/', partSize: 5 * MiB, progress: false };

  test('each file goes under the folder its format is detected by, multipart, byte for byte; a re-run skips them all', async () => {
    const res = await uploadFiles([files.amplitude!, files.mixpanel!, files.segment!], { ...opts, bucket: stack.bucket });
    assert.deepEqual(
      res.map((r) => [r.key, r.format, r.status]),
      [
        ['posthog/amplitude/export-amp.jsonl', 'amplitude', 'uploaded'],
        ['posthog/mixpanel/mp.jsonl', 'mixpanel', 'uploaded'],
        ['posthog/segment-logs/seg.gz', 'segment', 'uploaded'],
      ],
    );
    for (const r of res) {
      const got = await clients().s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: r.key }));
      assert.equal(sha(Buffer.from(await got.Body!.transformToByteArray())), sha(readFileSync(r.file)), r.key);
    }
    const head = await clients().s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: res[0]!.key }));
    assert.match(head.ETag ?? '', /-2"$/, 'two parts');

    const before = await versions('posthog/');
    const again = await uploadFiles([files.amplitude!, files.mixpanel!, files.segment!], { ...opts, bucket: stack.bucket });
    assert.deepEqual(again.map((r) => r.status), ['skipped', 'skipped', 'skipped']);
    assert.equal(await versions('posthog/'), before, 'no new object versions, so no second import');

    // The command line, as a user runs it (moto's endpoint and credentials are in the environment).
    const { stdout } = await run(process.execPath, [BIN, 'upload', files.mixpanel!, files.segment!, '--bucket', stack.bucket, '--prefix', 'posthog', '--json']);
    assert.deepEqual(JSON.parse(stdout).map((r: { key: string; status: string }) => [r.key, r.status]), [
      ['posthog/mixpanel/mp.jsonl', 'skipped'],
      ['posthog/segment-logs/seg.gz', 'skipped'],
    ]);
  });

  test('an upload interrupted halfway leaves no parts behind, and a re-run uploads the file from its start', async () => {
    const bucket = stack.bucket;
    const interrupt = new AbortController();
    const file = join(dir, 'amplitude-2.jsonl');
    writeFileSync(file, readFileSync(files.amplitude!));
    // Stop as soon as S3 has taken the first part: watched at a proxy in front of moto, so the
    // interruption falls between the parts whatever the machine's speed (a timed poll did not).
    const proxy = await new S3FaultProxy(moto.endpoint).start();
    let partsIn = 0;
    let completes = 0;
    proxy.onAnswer = (method, target, status) => {
      if (method === 'PUT' && target.searchParams.has('partNumber') && status === 200 && partsIn++ === 0) interrupt.abort();
      if (method === 'POST' && target.searchParams.has('uploadId')) completes++;
    };
    try {
      await proxy.route(() => assert.rejects(uploadFiles([file], { ...opts, bucket, signal: interrupt.signal })));
    } finally {
      await proxy.stop();
    }
    assert.ok(partsIn > 0, 'the upload was under way when it was interrupted');
    assert.equal(completes, 0, 'the multipart upload was never completed');
    assert.equal(await pendingUploads(), 0, 'the interrupted multipart upload was aborted');
    assert.equal(await versions('posthog/amplitude/amplitude-2.jsonl'), 0, 'no object: the splitter never saw a half file');

    const res = await uploadFiles([file], { ...opts, bucket });
    assert.equal(res[0]!.status, 'uploaded');
    assert.equal(res[0]!.abortedStale, 0);
  });

  test('a run killed mid-upload leaves a multipart upload; the next run aborts it and uploads cleanly', async () => {
    const s3 = clients().s3;
    const key = 'posthog/mixpanel/killed.jsonl';
    const file = join(dir, 'killed.jsonl');
    writeFileSync(file, readFileSync(files.mixpanel!));
    // What `kill -9` during an upload leaves: a created multipart upload with a part in it.
    const mpu = await s3.send(new CreateMultipartUploadCommand({ Bucket: stack.bucket, Key: key }));
    await s3.send(new UploadPartCommand({ Bucket: stack.bucket, Key: key, UploadId: mpu.UploadId, PartNumber: 1, Body: Buffer.alloc(5 * MiB, 1) }));
    assert.equal(await pendingUploads(), 1);
    const res = await uploadFiles([file], { ...opts, bucket: stack.bucket });
    assert.deepEqual([res[0]!.key, res[0]!.status, res[0]!.abortedStale], [key, 'uploaded', 1]);
    assert.equal(await pendingUploads(), 0);
  });

  test('preview of an s3:// object reads its head with the mapping the splitter would use, and writes nothing', async () => {
    await upload(stack.bucket, 'posthog/amplitude/backfill.config.json', JSON.stringify({ events: { rename: { 'Property Drop Purchased': 'purchase' } } }));
    const before = (await clients().s3.send(new ListObjectVersionsCommand({ Bucket: stack.bucket }))).Versions?.length;
    const p = await previewFile(`s3://${stack.bucket}/posthog/amplitude/export-amp.jsonl`, { records: 2, sample: 500, limits: Limits.parse({}), dropPrefix: 'posthog/' });
    assert.equal(p.format, 'amplitude');
    assert.equal(p.origin, `s3://${stack.bucket}/posthog/amplitude/export-amp.jsonl`);
    assert.equal(p.records[1]!.events[0]!.event, 'purchase', 'the folder config applied');
    assert.equal(p.records[1]!.events[0]!.properties.$import_source, p.origin);
    assert.equal(p.records[0]!.links.length, 1, 'the device↔user link beside its record');
    assert.equal(p.sample.read, 500);
    assert.equal(p.sample.complete, false);
    assert.ok(p.sample.bytesRead < p.size);
    assert.equal((await clients().s3.send(new ListObjectVersionsCommand({ Bucket: stack.bucket }))).Versions?.length, before);
  });

  test('verify --bucket: reports of the deployed pipeline against what capture accepted', async () => {
    const key = 'posthog/mixpanel/mp.jsonl';
    const head = await clients().s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
    await stack.splitter()(s3Event(stack.bucket, key, { versionId: head.VersionId!, eTag: head.ETag!.replace(/"/g, '') }));
    await drain(stack.queueUrl, stack.sender());
    const reports = await bucketReports(stack.bucket);
    assert.equal(reports.length, 1);
    assert.ok(reports[0]!.records.sentByDay, 'the deployed report carries per-day counts');
    const query = await new QueryStandIn({ apiKey: 'phx_p', projectId: 7, events: () => capture.events.values() }).start();
    try {
      const client = new PostHogQuery({ host: query.url, projectId: 7, personalApiKey: 'phx_p' });
      const ok = await verifyReports(reports, client, { originProperty: '$import_source' });
      assert.deepEqual(ok.map((v) => [v.origin, v.status]), [[`s3://${stack.bucket}/${key}`, 'agrees']]);
      assert.equal(ok[0]!.ours, capture.unique);
    } finally {
      await query.stop();
    }
  });
});
