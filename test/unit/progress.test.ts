import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FileCheckpoints } from '../../functions/adapters/local/file-checkpoints';
import { stalled, type ProgressView } from '../../functions/core/progress';
import type { ChunkStats } from '../../functions/core/report';

const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const MIN = 60_000;
const base: ProgressView = { status: 'splitting', doneChunks: 0, startedAt: '2025-03-01T10:00:00.000Z', updatedAt: '2025-03-01T10:00:00.000Z' };

describe('stalled', () => {
  test('a file with recent progress, or reported, is not stalled', () => {
    assert.equal(stalled(base, T0 + 10 * MIN, 30 * MIN), undefined);
    assert.equal(stalled({ ...base, status: 'reported', chunks: 3, doneChunks: 3 }, T0 + 999 * MIN, 30 * MIN), undefined);
  });

  test('says what a quiet file waits for', () => {
    const now = T0 + 45 * MIN;
    assert.match(stalled(base, now, 30 * MIN)!, /^splitting: no progress since 2025-03-01T10:00:00.000Z \(45 min\); the split run stopped before its first pause point/);
    assert.match(stalled({ ...base, pause: { chunk: 7, hop: 3 } }, now, 30 * MIN)!, /paused before chunk 7, the hand-over never went out/);
    assert.match(stalled({ ...base, pause: { chunk: 7, hop: 3, handedOver: true } }, now, 30 * MIN)!, /hand-over at chunk 7 \(hop 3\) not picked up/);
    assert.equal(stalled({ ...base, status: 'split', chunks: 10, doneChunks: 4 }, now, 30 * MIN), '6 chunks pending, none done since 2025-03-01T10:00:00.000Z (45 min); check the queue and the DLQ, or run `backfill resume`');
    assert.match(stalled({ ...base, status: 'split', chunks: 4, doneChunks: 4 }, T0 + 200 * MIN, 30 * MIN)!, /every chunk is done but the report was not written/);
  });

  test('falls back to startedAt for a manifest written before updatedAt existed', () => {
    const { updatedAt: _, ...old } = base;
    assert.match(stalled(old, T0 + 31 * MIN, 30 * MIN)!, /no progress since 2025-03-01T10:00:00.000Z/);
  });
});

describe('updatedAt in the local checkpoint store', () => {
  test('moves on open, pause, hand-over, split end and each done chunk', async () => {
    const cp = await FileCheckpoints.load(join(mkdtempSync(join(tmpdir(), 'progress-')), 'cp.json'));
    const stamps: string[] = [];
    const tick = async () => {
      await new Promise((r) => setTimeout(r, 5));
      stamps.push((await cp.getManifest())!.updatedAt!);
    };
    await cp.openFile({ fileId: 'f', file: { uri: 'f' }, format: 'posthog', unit: 'line', startedAt: new Date().toISOString() });
    await tick();
    await cp.addChunk('f', 0);
    assert.ok(await cp.recordPause('f', { chunk: 1, records: 10, line: 10, byte: 100, hop: 1, at: new Date().toISOString() }));
    await tick();
    await new Promise((r) => setTimeout(r, 5));
    await cp.handedOver('f', 1);
    await tick();
    await new Promise((r) => setTimeout(r, 5));
    await cp.finishSplit('f', { chunks: 1, records: 10 });
    await tick();
    await new Promise((r) => setTimeout(r, 5));
    await cp.completeChunk('f', 0, { read: 10 } as ChunkStats);
    await tick();
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! > stamps[i - 1]!, `updatedAt moved: ${stamps.join(' < ')}`);
    assert.equal((await cp.getManifest())!.pause?.handedOver, true);
  });
});
