import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PageCache } from './page-cache';

// A hash table in a file: 16-byte keys (a digest of the caller's key) to 15-byte values, open
// addressing with linear probing, slots of 32 bytes. Memory stays bounded whatever it holds: a
// cache of 16 MB of pages in front of the file, and a journal beside it.
//
// A batch of keys (`update`) is looked up through the cache (one read per page not cached),
// changed in the cached pages, and its changes appended to the journal (`<path>.log`, 32-byte
// slot images) in one write before the call returns. Only then may changed pages reach the
// table file (when the cache is over its bound, at a checkpoint, on close), so the file never
// holds a change the journal lacks. Opening replays the journal over the file (each record
// overwrites its key: replaying twice is harmless), then checkpoints: every cached page written,
// the journal emptied. Like the table it replaced, nothing is fsynced: what a call wrote is in
// the OS when it returns, and survives the process being killed (kill -9), not a power cut.
// The header's count is the count when the journal was last emptied; a journal record's last
// byte says whether it added a key (2) or changed one (1), so a replay counts exactly.

const MAGIC = 0x42464454; // "BFDT"
const VERSION = 2; // 1: the same slots, keys always hashed, written in place without a journal
const HEADER = 32;
const SLOT = 32;
const KEY = 16;
export const VALUE_BYTES = 15;
const USED = SLOT - 1;
const MAX_LOAD = 0.7;
const FIRST_CAPACITY = 1 << 14;
const PAGE = 1024; // 32 slots: a read per key not cached, small enough to be cheap
const SLOTS_PER_PAGE = PAGE / SLOT;
const CACHE_PAGES = 16_384; // 16 MB
const BATCH = 2048; // keys per journal write; a batch's pages stay cached until it is journaled
const JOURNAL_MAX = 8 << 20; // checkpoint past this: replay after a crash stays short
const GROW_PAGE = 64 << 10; // growth writes the new table through a cache of larger pages
const GROW_PAGES = 64;
// How keys become digests (header byte 16): 0 = sha256 of the key, 1 = a 64-hex-digit key (a
// sha256 already, as the sent-alias keys are) is its own digest, anything else is hashed.
const DIGEST_SHA = 0;
const DIGEST_HEX = 1;
const HEX64 = /^[0-9a-f]{64}$/;

export interface TableOptions {
  /** Pages of 1 KB kept in memory (16,384 unless told). */
  cachePages?: number;
}

export class DiskTable {
  private fd: number;
  private readonly log: number;
  private logBytes: number;
  private capacity: number;
  private count: number;
  private counted: number; // the count the journal starts from
  private readonly cache: PageCache;
  private readonly i32: Int32Array;
  private readonly digest = Buffer.alloc(KEY);
  private readonly pending = Buffer.alloc(BATCH * SLOT);

  private constructor(
    private readonly path: string,
    fd: number,
    capacity: number,
    count: number,
    private readonly digestKind: number,
    cachePages: number,
  ) {
    this.fd = fd;
    this.capacity = capacity;
    this.count = count;
    this.counted = count;
    this.cache = new PageCache(fd, PAGE, cachePages, 2 * BATCH, HEADER);
    this.i32 = new Int32Array(this.cache.arena.buffer, this.cache.arena.byteOffset, this.cache.arena.length >> 2);
    this.log = openSync(`${path}.log`, 'a+');
    this.logBytes = fstatSync(this.log).size;
  }

  /** Opens the table at `path`, creating an empty one if there is none, and replays its journal. */
  static open(path: string, opts: TableOptions = {}): DiskTable {
    rmSync(`${path}.grow`, { force: true }); // a growth cut short; the table itself is whole
    const t = existsSync(path) ? DiskTable.openFile(path, opts) : DiskTable.create(path, FIRST_CAPACITY, DIGEST_HEX, opts);
    t.replay();
    return t;
  }

  private static openFile(path: string, opts: TableOptions): DiskTable {
    const fd = openSync(path, 'r+');
    const h = Buffer.alloc(HEADER);
    readSync(fd, h, 0, HEADER, 0);
    const version = h.readUInt32LE(4);
    const capacity = h.readUInt32LE(8);
    if (h.readUInt32LE(0) !== MAGIC || (version !== 1 && version !== VERSION) || capacity % SLOTS_PER_PAGE || fstatSync(fd).size < HEADER + capacity * SLOT) {
      closeSync(fd);
      throw new Error(`${path}: not a sent-alias table of this version`);
    }
    // A version-1 table is taken over as it is: its keys were hashed, so they stay hashed. Its
    // header says version 2 from now on, so the older code, which knows no journal, refuses it.
    const t = new DiskTable(path, fd, capacity, h.readUInt32LE(12), version === 1 ? DIGEST_SHA : h[16]!, opts.cachePages ?? CACHE_PAGES);
    if (version === 1) t.writeHeader();
    return t;
  }

  private static create(path: string, capacity: number, digestKind: number, opts: TableOptions): DiskTable {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'w+');
    // A sparse file: the slots read as zeros (empty) until written.
    writeSync(fd, Buffer.alloc(1), 0, 1, HEADER + capacity * SLOT - 1);
    const t = new DiskTable(path, fd, capacity, 0, digestKind, opts.cachePages ?? CACHE_PAGES);
    t.writeHeader();
    return t;
  }

  get size(): number {
    return this.count;
  }

  /** The value stored for `key`, or undefined. */
  get(key: string): Buffer | undefined {
    let out: Buffer | undefined;
    this.update([key], (_, cur) => void (out = cur && Buffer.from(cur)));
    return out;
  }

  /** Stores `value` (at most 15 bytes) for `key`. */
  set(key: string, value: Buffer): void {
    this.update([key], () => value);
  }

  /**
   * Reads each key's value in turn (a view valid only during the call, undefined if absent) and
   * stores what `decide` returns for it, if anything. Keys are taken in order: a key given twice
   * sees what its first turn stored. The changes are in the journal when this returns.
   */
  update(keys: string[], decide: (i: number, current: Buffer | undefined) => Buffer | undefined): void {
    for (let from = 0; from < keys.length; from += BATCH) {
      const n = Math.min(BATCH, keys.length - from);
      this.reserve(n);
      let journaled = 0;
      try {
        for (let i = from; i < from + n; i++) {
          this.digestOf(keys[i]!);
          const slot = this.find(this.digest, 0);
          const at = this.offsetOf(slot);
          const arena = this.cache.arena;
          const used = arena[at + USED] === 1;
          const value = decide(i, used ? arena.subarray(at + KEY, at + KEY + VALUE_BYTES) : undefined);
          if (!value) continue;
          if (value.length > VALUE_BYTES) throw new Error(`value over ${VALUE_BYTES} bytes`);
          this.store(slot, at, this.digest, 0, value, !used);
          arena.copy(this.pending, journaled * SLOT, at, at + SLOT);
          this.pending[journaled * SLOT + USED] = used ? 1 : 2;
          journaled++;
        }
      } finally {
        this.journal(this.pending, journaled * SLOT); // what was changed before a throw, too
      }
    }
  }

  /** Writes what is cached to the file and empties the journal. */
  close(): void {
    this.checkpoint();
    closeSync(this.fd);
    closeSync(this.log);
  }

  private digestOf(key: string): void {
    if (this.digestKind === DIGEST_HEX && key.length === 64 && HEX64.test(key)) this.digest.write(key.slice(0, KEY * 2), 0, KEY, 'hex');
    else createHash('sha256').update(key).digest().copy(this.digest, 0, 0, KEY);
  }

  private offsetOf(slot: number): number {
    const page = Math.floor(slot / SLOTS_PER_PAGE);
    return this.cache.frame(page) + (slot % SLOTS_PER_PAGE) * SLOT;
  }

  // The slot holding the key at `k[o..o+16]`, or the empty slot where it would go.
  private find(k: Buffer, o: number): number {
    const k0 = k.readInt32LE(o), k1 = k.readInt32LE(o + 4), k2 = k.readInt32LE(o + 8), k3 = k.readInt32LE(o + 12);
    let slot = (k0 >>> 0) % this.capacity;
    for (;;) {
      const w = this.offsetOf(slot) >> 2;
      const i32 = this.i32;
      if (!(i32[w + 7]! >>> 24) || (i32[w] === k0 && i32[w + 1] === k1 && i32[w + 2] === k2 && i32[w + 3] === k3)) return slot;
      slot = slot + 1 === this.capacity ? 0 : slot + 1;
    }
  }

  private store(slot: number, at: number, k: Buffer, o: number, value: Buffer, added: boolean): void {
    const arena = this.cache.arena;
    arena.fill(0, at, at + SLOT);
    k.copy(arena, at, o, o + KEY);
    value.copy(arena, at + KEY);
    arena[at + USED] = 1;
    this.cache.dirty(Math.floor(slot / SLOTS_PER_PAGE));
    if (added) this.count++;
  }

  // The commit point of a batch: its slot images appended in one write. Only after it may the
  // pages it changed be written to the table.
  private journal(records: Buffer, bytes: number): void {
    if (bytes) {
      writeSync(this.log, records, 0, bytes, this.logBytes);
      this.logBytes += bytes;
    }
    if (this.logBytes >= JOURNAL_MAX) this.checkpoint();
    else this.cache.trim();
  }

  // Every change is in the table file: the journal is no longer needed.
  private checkpoint(): void {
    this.cache.flush();
    this.cache.trim();
    this.counted = this.count;
    this.writeHeader();
    if (this.logBytes) {
      ftruncateSync(this.log, 0);
      this.logBytes = 0;
    }
  }

  // The journal's whole records over the table (a torn last record never returned to a caller).
  private replay(): void {
    if (!this.logBytes) return;
    const records = Buffer.alloc(Math.min(this.logBytes, BATCH * SLOT));
    for (let pos = 0; pos + SLOT <= this.logBytes; ) {
      const got = readSync(this.log, records, 0, records.length, pos);
      const whole = Math.floor(got / SLOT);
      this.reserve(whole);
      for (let r = 0; r < whole; r++) {
        const o = r * SLOT;
        const kind = records[o + USED];
        if (kind !== 1 && kind !== 2) return this.checkpoint(); // garbled: the end of what was written
        const slot = this.find(records, o);
        this.store(slot, this.offsetOf(slot), records, o, records.subarray(o + KEY, o + KEY + VALUE_BYTES), kind === 2);
      }
      pos += whole * SLOT;
      if (!whole) break;
      this.cache.trim(); // journaled already
    }
    this.checkpoint();
  }

  // Room for `n` more keys under the load limit, growing before a batch (never inside one).
  private reserve(n: number): void {
    if (this.count + n <= MAX_LOAD * this.capacity) return;
    let capacity = this.capacity * 2;
    while (this.count + n > MAX_LOAD * capacity) capacity *= 2;
    this.grow(capacity);
  }

  // Rehashes into a larger table written beside this one and renamed over it. Every change is
  // journaled here, so the cache is written out first. The journal stays: its records are in the
  // new table too, and the header keeps the count the journal starts from, so replaying it over
  // the new table (also in the middle of a replay) is exact.
  private grow(capacity: number): void {
    this.cache.flush();
    const next = `${this.path}.grow`;
    const fd = openSync(next, 'w+');
    writeSync(fd, Buffer.alloc(1), 0, 1, HEADER + capacity * SLOT - 1);
    const fresh = new Uint8Array(Math.ceil((capacity * SLOT) / GROW_PAGE));
    const into = new PageCache(fd, GROW_PAGE, GROW_PAGES, 4, HEADER, fresh);
    const ints = new Int32Array(into.arena.buffer, into.arena.byteOffset, into.arena.length >> 2);
    const perPage = GROW_PAGE / SLOT;
    const block = Buffer.alloc(1 << 20);
    for (let base = 0; base < this.capacity; base += block.length / SLOT) {
      const got = readSync(this.fd, block, 0, Math.min(block.length, (this.capacity - base) * SLOT), HEADER + base * SLOT);
      for (let o = 0; o < got; o += SLOT) {
        if (block[o + USED] !== 1) continue;
        const k0 = block.readInt32LE(o);
        let slot = (k0 >>> 0) % capacity;
        for (;;) {
          const page = Math.floor(slot / perPage);
          const at = into.frame(page) + (slot % perPage) * SLOT;
          if (!(ints[(at >> 2) + 7]! >>> 24)) {
            block.copy(into.arena, at, o, o + SLOT);
            into.dirty(page);
            break;
          }
          slot = slot + 1 === capacity ? 0 : slot + 1;
        }
        into.trim();
      }
    }
    into.flush();
    const h = this.header(capacity);
    writeSync(fd, h, 0, HEADER, 0);
    closeSync(this.fd);
    renameSync(next, this.path);
    this.fd = fd;
    this.capacity = capacity;
    this.cache.reset(fd);
  }

  private header(capacity = this.capacity): Buffer {
    const h = Buffer.alloc(HEADER);
    h.writeUInt32LE(MAGIC, 0);
    h.writeUInt32LE(VERSION, 4);
    h.writeUInt32LE(capacity, 8);
    h.writeUInt32LE(this.counted, 12);
    h[16] = this.digestKind;
    return h;
  }

  private writeHeader(): void {
    writeSync(this.fd, this.header(), 0, HEADER, 0);
  }
}
