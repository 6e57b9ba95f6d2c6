import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stalled } from '../../functions/core/progress';
import { duration, progressOf } from '../../functions/core/rate';
import type { Manifest } from '../../functions/pipeline/ports';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(t0 + ms).toISOString();
const manifest = (over: Partial<Manifest> = {}): Manifest => ({
  fileId: 'f',
  file: { uri: 's3://b/posthog/x.jsonl', bucket: 'b', key: 'posthog/x.jsonl' },
  format: 'posthog',
  unit: 'line',
  status: 'split',
  chunks: 10,
  records: 10_000,
  doneChunks: 4,
  startedAt: at(0),
  ...over,
});

describe('progress: rate, ETA, stalled (as status shows it)', () => {
  test('rate since the start, ETA for what is left', () => {
    const p = progressOf(manifest(), 4_000, at(40_000), t0 + 40_000);
    assert.deepEqual([p.recordsPerSecond, p.etaSeconds, p.fraction, p.recordsTotal], [100, 60, 0.4, 10_000]);
  });

  test('while splitting the total is unknown: no ETA, no fraction', () => {
    const p = progressOf(manifest({ status: 'splitting', chunks: undefined, records: undefined }), 500, at(10_000), t0 + 10_000);
    assert.deepEqual([p.recordsPerSecond, p.etaSeconds, p.fraction, p.recordsTotal], [50, undefined, undefined, undefined]);
  });

  test('a finished file: rate up to its last progress, no ETA, done', () => {
    const p = progressOf(manifest({ status: 'reported', doneChunks: 10 }), 10_000, at(20_000), t0 + 3_600_000);
    assert.deepEqual([p.recordsPerSecond, p.etaSeconds, p.fraction], [500, undefined, 1]);
  });

  test('stalled after the threshold without progress; never when finished or cancelled', () => {
    const m = manifest({ updatedAt: at(60_000) });
    assert.equal(stalled(m, t0 + 60_000 + 29 * 60_000, 30 * 60_000), undefined);
    assert.match(stalled(m, t0 + 60_000 + 31 * 60_000, 30 * 60_000)!, /^6 chunks pending, none done since .* \(31 min\)/);
    assert.equal(stalled({ ...m, status: 'reported' }, t0 + 86_400_000, 60_000), undefined);
    assert.equal(stalled({ ...m, cancelled: true }, t0 + 86_400_000, 60_000), undefined);
    assert.match(stalled(manifest({ status: 'splitting' }), t0 + 3_600_000, 60_000)!, /^splitting: no progress since/);
  });

  test('durations read like a clock', () => {
    assert.deepEqual([duration(42), duration(125), duration(3 * 3600 + 7 * 60), duration(3 * 86400 + 5 * 3600)], ['42s', '2m05s', '3h07m', '3d5h']);
  });
});
