import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { posthogRecords } from '../support/fixtures';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const run = promisify(execFile);

describe('backfill status on local checkpoints', () => {
  test('--json: per file and per import, records done, rate, reconciled; --watch ends when every file is done', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'status-'));
    const { text, valid, invalid } = posthogRecords(1_200, { badEvery: 100 });
    const file = join(dir, 'events.jsonl');
    writeFileSync(file, text);
    const state = join(dir, 'state');
    await run(process.execPath, [BIN, 'import', file, '--out', join(dir, 'out.ndjson'), '--state-dir', state, '--chunk-records', '500', '--no-progress']);

    const { stdout } = await run(process.execPath, [BIN, 'status', '--json', '--state-dir', state]);
    const s = JSON.parse(stdout);
    assert.equal(s.files.length, 1);
    const f = s.files[0];
    assert.deepEqual([f.file, f.state, f.recordsDone, f.recordsTotal, f.chunksDone, f.chunksTotal, f.fraction, f.reconciled], [file, 'done', 1_200, 1_200, 3, 3, 1, true]);
    assert.equal(f.records.sent, valid);
    assert.equal(f.records.rejected, invalid);
    assert.ok(f.recordsPerSecond > 0, 'a rate from start to the last checkpoint');
    assert.equal(f.stalled, undefined);
    assert.deepEqual(s.imports.map((i: { import: string; files: number; finished: number; recordsDone: number }) => [i.import, i.files, i.finished, i.recordsDone]), [[dir, 1, 1, 1_200]]);
    assert.equal(s.all.reconciled, true);

    // --watch on a pipe: draws the bars as plain lines and returns once everything is done.
    const watched = await run(process.execPath, [BIN, 'status', '--watch', '1', '--state-dir', state]);
    assert.match(watched.stderr, /events\.jsonl.*\[.*\] 100% \| 1200\/1200 records \| \d+\/s \| ETA - \| done/);
    assert.match(watched.stderr, /all of .*\[.*\] 100% \| 1200\/1200 records .*\| 1\/1 files finished/);
    assert.match(watched.stdout, /events\.jsonl \[posthog\] done, 3\/3 chunks; 1200\/1200 records/);
  });

  test('no state: "no imports found", and an empty JSON list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'status-empty-'));
    assert.match((await run(process.execPath, [BIN, 'status', '--state-dir', dir])).stdout, /no imports found/);
    assert.deepEqual(JSON.parse((await run(process.execPath, [BIN, 'status', '--json', '--state-dir', dir])).stdout).files, []);
  });
});
