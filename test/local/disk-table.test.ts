import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DiskTable } from '../../functions/adapters/local/disk-table';
import { FileLinks } from '../../functions/adapters/local/file-links';
import { batchKeys } from '../support/links-keys';

const value = (i: number) => Buffer.from(`v${i}`.padEnd(15, '.'));
const tablePath = () => join(mkdtempSync(join(tmpdir(), 'disk-table-')), 'links.table');
// A 64-hex-digit key (as the sent-alias keys are; its first 16 bytes are its digest) whose
// digest starts with `prefix` (hex), then `i`.
const hexKey = (prefix: string, i: number) => (prefix + i.toString(16).padStart(8, '0')).padEnd(64, '0');

// Both ways a lookup runs: with slot fingerprints in memory, and reading pages (a table too
// large to fingerprint) through a cache far smaller than the table.
for (const [mode, opts] of [
  ['fingerprinted', {}],
  ['read from pages', { fingerprinted: 0, cachePages: 64 }],
] as const) {
  describe(`a disk table (${mode})`, () => {
    test('keeps every entry across growth and reopening, in a file, not in memory', () => {
      const path = tablePath();
      const t = DiskTable.open(path, opts);
      const n = 40_000; // past the first capacity (16,384 slots) twice: the table grows twice
      const keys = Array.from({ length: n }, (_, i) => (i % 2 ? `pair-${i}` : createHash('sha256').update(`pair-${i}`).digest('hex')));
      t.update(keys, (i) => value(i));
      t.set(keys[7]!, value(7_000_007)); // overwriting keeps one entry
      assert.equal(t.size, n);
      t.close();
      assert.ok(statSync(path).size >= 32 * (n / 0.7), 'the table grew on disk');
      assert.equal(statSync(`${path}.log`).size, 0, 'closed: the journal is empty');

      const again = DiskTable.open(path, opts);
      assert.equal(again.size, n);
      for (let i = 0; i < n; i += 97) assert.deepEqual(again.get(keys[i]!), i === 7 ? value(7_000_007) : value(i));
      assert.deepEqual(again.get(keys[7]!), value(7_000_007));
      assert.equal(again.get('pair-missing'), undefined);
      assert.throws(() => again.set('x', Buffer.alloc(16)), /over 15 bytes/);
      again.close();
    });

    test('keys sharing a home slot, a fingerprint, and the end of the table', () => {
      const path = tablePath();
      const t = DiskTable.open(path, opts);
      // Same first 8 bytes: one home slot (the first 4) and one fingerprint (the next 4), so
      // 100 keys probe past each other across pages; then keys whose home is the last slot
      // (16,383, little-endian ff3f0000) wrap to slot 0.
      const same = Array.from({ length: 100 }, (_, i) => hexKey('0a0000000b000000', i));
      const last = Array.from({ length: 40 }, (_, i) => hexKey('ff3f0000', i));
      t.update([...same, ...last], (i) => value(i));
      const check = (tt: DiskTable) => {
        [...same, ...last].forEach((k, i) => assert.deepEqual(tt.get(k), value(i), `key ${i}`));
        assert.equal(tt.get(hexKey('0a0000000b000000', 100)), undefined, 'a fingerprint match that is not the key');
        assert.equal(tt.get(hexKey('ff3f0000', 40)), undefined);
        assert.equal(tt.size, 140);
      };
      check(t);
      t.close();
      const again = DiskTable.open(path, opts);
      check(again);
      again.close();
    });

    test('a table never closed is whole when opened again: its journal is replayed, counted exactly', () => {
      const path = tablePath();
      const t = DiskTable.open(path, opts);
      const keys = Array.from({ length: 30_000 }, (_, i) => createHash('sha256').update(`k${i}`).digest('hex'));
      t.update(keys, (i) => value(i));
      t.update(keys.slice(0, 1000), (i) => value(i + 1));
      // Not closed, as a killed process leaves it; the journal holds what the file may not.
      assert.ok(statSync(`${path}.log`).size > 0, 'the journal holds changes');
      const again = DiskTable.open(path, opts);
      assert.equal(again.size, 30_000);
      keys.forEach((k, i) => i % 13 || assert.deepEqual(again.get(k), value(i < 1000 ? i + 1 : i)));
      assert.equal(statSync(`${path}.log`).size, 0, 'replayed into the table');
      again.close();
      // Replayed twice (as after a crash during the replay): the same table.
      const third = DiskTable.open(path, opts);
      assert.equal(third.size, 30_000);
      third.close();
    });
  });
}

test('a table of the first version (hashed keys, no journal) is taken over in place', () => {
  const path = tablePath();
  // Written as version 1 wrote it: header, then 16,384 slots of 32 bytes, a key's sha256 at its
  // home slot.
  const fd = openSync(path, 'w+');
  const h = Buffer.alloc(32);
  h.writeUInt32LE(0x42464454, 0);
  h.writeUInt32LE(1, 4);
  h.writeUInt32LE(16_384, 8);
  h.writeUInt32LE(2, 12);
  writeSync(fd, h, 0, 32, 0);
  writeSync(fd, Buffer.alloc(1), 0, 1, 32 + 16_384 * 32 - 1);
  for (const [i, key] of [createHash('sha256').update('x').digest('hex'), 'pair-1'].entries()) {
    const slot = Buffer.alloc(32);
    createHash('sha256').update(key).digest().copy(slot, 0, 0, 16);
    value(i).copy(slot, 16);
    slot[31] = 1;
    writeSync(fd, slot, 0, 32, 32 + (slot.readUInt32LE(0) % 16_384) * 32);
  }
  closeSync(fd);
  const t = DiskTable.open(path);
  assert.deepEqual(t.get(createHash('sha256').update('x').digest('hex')), value(0), 'a hex key of version 1 was hashed, and still is');
  assert.deepEqual(t.get('pair-1'), value(1));
  t.set('pair-2', value(2));
  t.close();
  assert.equal(readFileSync(path).readUInt32LE(4), 2, 'now version 2: older code refuses it rather than miss its journal');
  const again = DiskTable.open(path);
  assert.equal(again.size, 3);
  again.close();
});

test('killed (SIGKILL) in the middle of claiming, the table loses no claim and gives none twice', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'links-kill-')), 'sent-aliases.json');
  const per = 5000;
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'support', 'links-process.ts'), path, String(per)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const claimed = new Map<number, number>();
  const confirmed = new Set<number>();
  let text = '';
  await new Promise<void>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const l of lines) {
        const [what, b, got] = l.split(' ');
        if (what === 'claimed') claimed.set(Number(b), Number(got));
        else confirmed.add(Number(b));
      }
      // Past the table's first growth and a few batches in flight: kill it, mid-batch most likely.
      if (claimed.size >= 9 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.once('exit', () => resolve());
  });
  assert.equal(child.signalCode, 'SIGKILL', 'the child was killed, not finished');
  assert.ok(existsSync(`${path}.table.log`));

  const links = await FileLinks.load(path);
  const last = Math.max(...claimed.keys());
  for (const [b, got] of claimed) {
    assert.equal(got, per, `batch ${b}: every key was new`);
    for (const k of batchKeys(b, per)) assert.equal(links.status(k), confirmed.has(b) ? 'sent' : 'claimed', `batch ${b}`);
  }
  // The batch it was in when killed may be partly claimed: whatever is claimed stays its own,
  // nobody else gets it, and its owner gets it back on a retry.
  const cut = batchKeys(last + 1, per);
  const before = cut.map((k) => links.status(k));
  const other = new Set(await links.claim(cut, 'other#0'));
  cut.forEach((k, i) => assert.equal(other.has(k), before[i] === undefined, 'another chunk gets only what nobody had claimed'));
  for (const b of claimed.keys()) assert.deepEqual(await links.claim(batchKeys(b, per), 'other#1'), [], `batch ${b} is nobody else's`);
  const retry = await links.claim(batchKeys(last, per), `child#${last}`);
  assert.equal(retry.length, confirmed.has(last) ? 0 : per, 'the owner retries its own unsent claims');
  links.close();
});
