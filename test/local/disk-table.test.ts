import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskTable } from '../../functions/adapters/local/disk-table';

const value = (i: number) => Buffer.from(`v${i}`.padEnd(15, '.'));

test('a disk table keeps every entry across growth and reopening, in a file, not in memory', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'disk-table-')), 'links.table');
  const t = DiskTable.open(path);
  const n = 40_000; // past the first capacity (16,384 slots) twice: the table grows twice
  for (let i = 0; i < n; i++) t.set(`pair-${i}`, value(i));
  t.set('pair-7', value(7_000_007)); // overwriting keeps one entry
  assert.equal(t.size, n);
  t.close();
  assert.ok(statSync(path).size >= 32 * (n / 0.7), 'the table grew on disk');

  const again = DiskTable.open(path);
  assert.equal(again.size, n);
  for (let i = 0; i < n; i += 97) assert.deepEqual(again.get(`pair-${i}`), i === 7 ? value(7_000_007) : value(i));
  assert.deepEqual(again.get('pair-7'), value(7_000_007));
  assert.equal(again.get('pair-missing'), undefined);
  assert.throws(() => again.set('x', Buffer.alloc(16)), /over 15 bytes/);
  again.close();
});
