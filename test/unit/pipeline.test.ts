import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DirReports } from '../../functions/adapters/local/dir-reports';
import { FileCheckpoints } from '../../functions/adapters/local/file-checkpoints';
import { MemoryStaging } from '../../functions/adapters/local/memory';
import type { PostHogEvent } from '../../functions/core/event';
import { formatByName } from '../../functions/core/formats';
import type { ChunkMessage } from '../../functions/core/messages';
import { Limits } from '../../functions/core/settings';
import { sendChunk, type SendDeps } from '../../functions/pipeline/send';
import { splitFile } from '../../functions/pipeline/split';
import { posthogRecords } from '../support/fixtures';
import { FileLinks } from '../../functions/adapters/local/file-links';
import { DEFAULT_MAPPING } from '../../functions/core/mapping';
import { brokenSource, bufferSource } from '../support/sources';

const mapping = async () => DEFAULT_MAPPING;

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'pipeline-'));
  const checkpoints = await FileCheckpoints.load(join(dir, 'cp.json'));
  const staging = new MemoryStaging();
  const reports = new DirReports(join(dir, 'reports'));
  const sent: PostHogEvent[] = [];
  const deps: SendDeps = {
    checkpoints,
    staging,
    reports,
    sink: { send: async (events) => (sent.push(...events), { rejected: [] }) },
    links: await FileLinks.load(join(dir, 'links.json')),
    format: formatByName,
    origin: () => 'f',
  };
  return { dir, checkpoints, staging, reports, sent, deps };
}

const limits = Limits.parse({ chunkRecords: 100 });
const file = { uri: '/data/f.jsonl' };

describe('split and send with local adapters', () => {
  test('a split that dies halfway is re-run to the same chunks; done chunks are not queued again', async () => {
    const { text, valid } = posthogRecords(1_000);
    const s = await setup();
    const queued: ChunkMessage[] = [];
    let failAfter = 4;
    const queue = {
      send: async (msgs: ChunkMessage[]) => {
        for (const m of msgs) {
          if (failAfter-- <= 0) throw new Error('queue down');
          queued.push(m);
          await sendChunk(m, s.deps); // deliver at once, like the local queue
        }
      },
    };
    const deps = { checkpoints: s.checkpoints, staging: s.staging, queue, reports: s.reports, limits, stagingKey: (id: string, i: number) => `${id}/${i}` };
    // SQS batches of 10: the first batch fails after 4 deliveries, and the split throws.
    await assert.rejects(splitFile(file, 'f1', bufferSource(text), mapping, deps), /queue down/);
    assert.equal(queued.length, 4);
    assert.equal((await s.checkpoints.getManifest())?.status, 'splitting');

    failAfter = Number.POSITIVE_INFINITY;
    const res = await splitFile(file, 'f1', bufferSource(text), mapping, deps);
    assert.equal(res.chunks, 10);
    assert.equal(res.queued, 6, 'the four done chunks are not queued again');
    assert.equal(new Set(s.sent.map((e) => e.uuid)).size, valid);
    assert.equal(s.sent.length, valid, 'no event sent twice');
    const report = await s.reports.read('f1');
    assert.equal(report?.records.read, 1_000);
    assert.equal(report?.records.sent, valid);
    assert.equal(report?.reconciled, true);

    const again = await splitFile(file, 'f1', bufferSource(text), mapping, deps);
    assert.equal(again.skipped, 'already-split');
  });

  test('staging uploads overlap, yet chunks are queued in order; a failed upload fails the run, not the file', async () => {
    const { text, valid } = posthogRecords(1_000);
    const s = await setup();
    let puts = 0;
    let failAt = 3;
    // Like S3Staging: four puts at once, finishing out of order.
    const staging = {
      inFlight: 4,
      put: async (key: string, body: Buffer) => {
        const n = puts++;
        await new Promise((r) => setTimeout(r, (n * 7) % 5));
        if (n === failAt) throw new Error('S3 unavailable');
        await s.staging.put(key, body);
      },
      get: (key: string) => s.staging.get(key),
    };
    const queued: ChunkMessage[] = [];
    const queue = { send: async (msgs: ChunkMessage[]) => void queued.push(...msgs) };
    const deps = { checkpoints: s.checkpoints, staging, queue, reports: s.reports, limits, stagingKey: (id: string, i: number) => `${id}/${i}` };
    await assert.rejects(splitFile(file, 'f3', bufferSource(text), mapping, deps), /S3 unavailable/);
    assert.equal(await s.reports.read('f3'), undefined, 'no report: the split is retried, not failed');

    failAt = -1;
    queued.length = 0;
    const res = await splitFile(file, 'f3', bufferSource(text), mapping, deps);
    assert.equal(res.error, undefined);
    assert.deepEqual(queued.map((m) => m.chunk), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'queued in chunk order');
    for (const m of queued) await sendChunk(m, s.deps);
    assert.equal(new Set(s.sent.map((e) => e.uuid)).size, valid);
    assert.equal((await s.reports.read('f3'))?.reconciled, true);
  });

  test('a chunk delivered twice is sent once and counted once', async () => {
    const s = await setup();
    const msgs: ChunkMessage[] = [];
    const deps = { checkpoints: s.checkpoints, staging: s.staging, queue: { send: async (m: ChunkMessage[]) => void msgs.push(...m) }, reports: s.reports, limits, stagingKey: (id: string, i: number) => `${id}/${i}` };
    await splitFile(file, 'f2', bufferSource(posthogRecords(150).text), mapping, deps);
    assert.equal(msgs.length, 2);
    const bodies = await Promise.all(msgs.map((m) => s.staging.get(m.staged)));
    const put = () => Promise.all(msgs.map((m, i) => s.staging.put(m.staged, bodies[i]!)));
    await put();
    assert.equal((await sendChunk(msgs[0]!, s.deps)).status, 'sent');
    await put();
    assert.equal((await sendChunk(msgs[0]!, s.deps)).status, 'already-done');
    assert.equal(s.sent.length, 100);
    await sendChunk(msgs[1]!, s.deps);
    const report = await s.reports.read('f2');
    assert.equal(report?.records.sent, 150);
  });

  test('a failing sink leaves the chunk pending, so it is retried whole', async () => {
    const s = await setup();
    const msgs: ChunkMessage[] = [];
    await splitFile(file, 'f3', bufferSource(posthogRecords(50).text), mapping, {
      checkpoints: s.checkpoints, staging: s.staging, queue: { send: async (m) => void msgs.push(...m) }, reports: s.reports, limits, stagingKey: (id, i) => `${id}/${i}`,
    });
    const body = await s.staging.get(msgs[0]!.staged);
    await s.staging.put(msgs[0]!.staged, body);
    await assert.rejects(sendChunk(msgs[0]!, { ...s.deps, sink: { send: async () => Promise.reject(new Error('503')) } }), /503/);
    assert.equal(await s.checkpoints.chunkStatus('f3', 0), 'pending');
    await s.staging.put(msgs[0]!.staged, body);
    await sendChunk(msgs[0]!, s.deps);
    assert.equal(await s.checkpoints.chunkStatus('f3', 0), 'done');
    assert.equal((await s.reports.read('f3'))?.records.sent, 50);
  });

  test('an unreadable rest of file ends the split with a failed report; what was read is still sent', async () => {
    const s = await setup();
    const { text } = posthogRecords(250);
    const broken = brokenSource(text.slice(0, text.indexOf('\n', 20_000) + 1), 'unexpected end of file');
    const queue = { send: async (m: ChunkMessage[]) => { for (const x of m) await sendChunk(x, s.deps); } };
    const read = { attempts: 3, backoffMs: 1 };
    const res = await splitFile(file, 'f4', broken, mapping, { checkpoints: s.checkpoints, staging: s.staging, queue, reports: s.reports, limits, read, stagingKey: (id, i) => `${id}/${i}` });
    assert.match(res.error ?? '', /\/data\/f.jsonl: reading stopped after \d+ records: unexpected end of file \(read failed 3 attempts/);
    const report = await s.reports.read('f4');
    assert.equal(report?.status, 'failed');
    assert.equal(report?.records.sent, s.sent.length);
    assert.ok(s.sent.length > 100);
  });
});
