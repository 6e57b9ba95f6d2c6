import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FileCheckpoints } from '../../functions/adapters/local/file-checkpoints';
import type { ChunkStats } from '../../functions/core/report';

const stats = (n: number): ChunkStats => ({
  read: n,
  sent: n,
  rejected: 0,
  filtered: 0,
  duplicates: 0,
  events: n,
  noTimestamp: 0,
  links: 0,
  linksRefused: 0,
  onceEvents: 0,
  onceRefused: 0,
  byReason: {},
  byFilter: {},
});
const manifest = { fileId: 'f1', file: { uri: '/data/f1.jsonl' }, format: 'posthog', startedAt: '2026-01-01T00:00:00.000Z' } as Parameters<FileCheckpoints['openFile']>[0];

describe('local checkpoints: a file for the manifest, a journal line per done chunk', () => {
  const path = () => join(mkdtempSync(join(tmpdir(), 'checkpoints-')), 'f1.json');

  test('a done chunk appends one line of its own; nothing is rewritten, so the cost per chunk does not grow with the file', async () => {
    const p = path();
    const cp = await FileCheckpoints.load(p);
    await cp.openFile(manifest);
    for (let i = 0; i < 600; i++) await cp.addChunk('f1', i);
    await cp.finishSplit('f1', { chunks: 600, records: 600 * 10 });
    const fileBefore = readFileSync(p, 'utf8');
    const mtime = statSync(p).mtimeMs;
    const sizes: number[] = [];
    for (let i = 0; i < 600; i++) {
      await cp.completeChunk('f1', i, stats(10));
      sizes.push(statSync(`${p}.log`).size);
    }
    assert.equal(readFileSync(p, 'utf8'), fileBefore, 'the checkpoint file was not rewritten');
    assert.equal(statSync(p).mtimeMs, mtime);
    const growth = (i: number) => sizes[i]! - (sizes[i - 1] ?? 0);
    assert.ok(growth(599) <= growth(1) + 2, `bytes per chunk: ${growth(1)} at the start, ${growth(599)} at the end`);
    assert.equal(readFileSync(`${p}.log`, 'utf8').split('\n').length, 601);

    const again = await FileCheckpoints.load(p);
    const m = await again.getManifest();
    assert.equal(m!.doneChunks, 600);
    assert.equal(m!.status, 'split');
    assert.deepEqual(await again.pendingChunks(), []);
    assert.equal((await again.chunkStats()).length, 600);
    assert.equal(await again.chunkStatus('f1', 599), 'done');
    assert.equal(await again.completeChunk('f1', 3, stats(10)), false, 'a done chunk is not counted twice');
  });

  test('after a crash mid-append the torn line is not read (that chunk is pending again) and is cut off by the next append, not by a reader', async () => {
    const p = path();
    const cp = await FileCheckpoints.load(p);
    await cp.openFile(manifest);
    for (let i = 0; i < 4; i++) await cp.addChunk('f1', i);
    await cp.finishSplit('f1', { chunks: 4, records: 40 });
    cp.trackOutput(async () => 100);
    await cp.completeChunk('f1', 0, stats(10));
    cp.trackOutput(async () => 200);
    await cp.completeChunk('f1', 1, stats(10));
    appendFileSync(`${p}.log`, '{"chunk":2,"at":"2026-01-01T00:00:0'); // the run died here

    // A reader (backfill status, while the import runs) leaves the journal as it is.
    const torn = readFileSync(`${p}.log`, 'utf8');
    const reader = await FileCheckpoints.load(p);
    assert.equal((await reader.getManifest())!.doneChunks, 2);
    assert.equal(readFileSync(`${p}.log`, 'utf8'), torn, 'loading alone does not cut the journal');

    const resumed = await FileCheckpoints.load(p);
    assert.equal((await resumed.getManifest())!.doneChunks, 2);
    assert.equal(resumed.outBytes, 200, 'the --out file is cut back to the last whole line');
    assert.deepEqual((await resumed.pendingChunks()).map((c) => c.chunk), [2, 3]);
    await resumed.completeChunk('f1', 2, stats(10));
    assert.doesNotMatch(readFileSync(`${p}.log`, 'utf8'), /:0\{/, 'the torn tail was cut off before the next line');
    await resumed.completeChunk('f1', 3, stats(10));
    await resumed.markReported();

    const last = await FileCheckpoints.load(p);
    assert.equal((await last.getManifest())!.doneChunks, 4);
    assert.equal((await last.getManifest())!.status, 'reported');
    assert.deepEqual(await last.pendingChunks(), []);
  });

  test('a journal line that cannot be read in the middle is an error that names the journal', async () => {
    const p = path();
    const cp = await FileCheckpoints.load(p);
    await cp.openFile(manifest);
    await cp.addChunk('f1', 0);
    await cp.completeChunk('f1', 0, stats(1));
    writeFileSync(`${p}.log`, `not json\n${readFileSync(`${p}.log`, 'utf8')}`);
    await assert.rejects(FileCheckpoints.load(p), /f1\.json\.log: unreadable checkpoint journal/);
  });

  test('a checkpoint file of the previous version (done chunks inside it, no journal) loads and keeps them', async () => {
    const p = path();
    const old = {
      manifest: { ...manifest, status: 'split', chunks: 3, records: 30, doneChunks: 2, updatedAt: '2026-01-01T00:01:00.000Z' },
      chunks: { 0: { status: 'done', stats: stats(10) }, 1: { status: 'done', stats: stats(10) }, 2: { status: 'pending' } },
      outBytes: 50,
    };
    writeFileSync(p, JSON.stringify(old));
    const cp = await FileCheckpoints.load(p);
    assert.equal(existsSync(`${p}.log`), false);
    assert.deepEqual((await cp.pendingChunks()).map((c) => c.chunk), [2]);
    assert.equal(cp.outBytes, 50);
    await cp.completeChunk('f1', 2, stats(10));
    await cp.markReported(); // rewrites the file: the old done chunks must stay in it
    const again = await FileCheckpoints.load(p);
    assert.equal((await again.getManifest())!.doneChunks, 3);
    assert.equal((await again.chunkStats()).length, 3);
    assert.deepEqual(await again.pendingChunks(), []);
  });
});
