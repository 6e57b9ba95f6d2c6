import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PageCache } from '../../functions/adapters/local/page-cache';

const PAGE = 16;
const HEADER = 8;

/** A file of `pages` pages after an 8-byte header, page p filled with the byte 0x40 + p. */
function fileOf(pages: number): { path: string; fd: number } {
  const path = join(mkdtempSync(join(tmpdir(), 'page-cache-')), 'table');
  const body = Buffer.alloc(HEADER + pages * PAGE);
  body.fill(0xee, 0, HEADER);
  for (let p = 0; p < pages; p++) body.fill(0x40 + p, HEADER + p * PAGE, HEADER + (p + 1) * PAGE);
  writeFileSync(path, body);
  return { path, fd: openSync(path, 'r+') };
}
const onDisk = (path: string, page: number) => readFileSync(path).subarray(HEADER + page * PAGE, HEADER + (page + 1) * PAGE);

describe('the disk table page cache', () => {
  test('trim writes back the least recently used dirty pages, drops them, and keeps the rest cached', () => {
    const { path, fd } = fileOf(8);
    const cache = new PageCache(fd, PAGE, 3, 3, HEADER);
    for (const p of [0, 1, 2, 3, 4]) {
      const at = cache.frame(p);
      assert.equal(cache.arena[at], 0x40 + p, `page ${p} read from its place in the file`);
      cache.arena.fill(0x10 + p, at, at + PAGE);
      if (p !== 1) cache.dirty(p);
    }
    cache.frame(0); // used again: now the most recent
    assert.equal(cache.pages, 5);
    const header = readFileSync(path).subarray(0, HEADER);

    cache.trim();
    assert.equal(cache.pages, 3, 'trimmed to its limit');
    // Least recently used first: 1 (clean), 2 (dirty) went; 3, 4, 0 stay.
    assert.deepEqual(onDisk(path, 2), Buffer.alloc(PAGE, 0x12), 'a dirty page is written back before it is dropped');
    assert.deepEqual(onDisk(path, 1), Buffer.alloc(PAGE, 0x41), 'a clean page is dropped without a write (its change was never marked)');
    for (const p of [0, 3, 4]) {
      assert.notEqual(cache.peek(p), -1, `page ${p} still cached`);
      assert.deepEqual(onDisk(path, p), Buffer.alloc(PAGE, 0x40 + p), `page ${p} not written while cached`);
    }
    assert.equal(cache.peek(1), -1);
    assert.equal(cache.peek(2), -1);
    assert.deepEqual(readFileSync(path).subarray(0, HEADER), header, 'the bytes before page 0 are never touched');

    cache.flush();
    for (const p of [0, 3, 4]) assert.deepEqual(onDisk(path, p), Buffer.alloc(PAGE, 0x10 + p), `page ${p} written by flush`);
    assert.equal(cache.pages, 3, 'flush keeps the pages cached');
    // Read again after being dropped: the written-back content comes back.
    assert.equal(cache.arena[cache.frame(2)], 0x12);
    closeSync(fd);
  });

  test('a batch that needs more pages than the limit and its room is refused, not silently evicted', () => {
    const { fd } = fileOf(8);
    const cache = new PageCache(fd, PAGE, 2, 1, HEADER);
    cache.frame(0);
    cache.frame(1);
    cache.frame(2);
    assert.throws(() => cache.frame(3), /more pages in one batch than it holds/);
    closeSync(fd);
  });

  test('a page of a new sparse file that was never written reads as zeros without reading the file', () => {
    const { path, fd } = fileOf(4); // the file holds non-zero bytes: a read would show them
    const fresh = new Uint8Array(4);
    const cache = new PageCache(fd, PAGE, 4, 0, HEADER, fresh);
    assert.deepEqual(cache.arena.subarray(cache.frame(1), cache.frame(1) + PAGE), Buffer.alloc(PAGE), 'zeros, not the file');
    const at = cache.frame(2);
    cache.arena.fill(7, at, at + PAGE);
    cache.dirty(2);
    cache.flush();
    assert.equal(fresh[2], 1, 'written once, the page is read from the file from now on');
    cache.reset(fd);
    assert.equal(cache.pages, 0);
    assert.deepEqual(cache.arena.subarray(cache.frame(2), cache.frame(2) + PAGE), Buffer.alloc(PAGE, 7));
    assert.deepEqual(onDisk(path, 2), Buffer.alloc(PAGE, 7));
    closeSync(fd);
  });
});
