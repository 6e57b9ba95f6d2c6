import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PageCache } from './page-cache';

// A hash table in a file: 16-byte keys (a digest of the caller's key) to 15-byte values, open
// addressing with linear probing, slots of 32 bytes. Memory is bounded whatever it holds:
//
// - a fingerprint of each slot (one byte; 0 = empty) while the table has at most 32 M slots
//   (about 23 M keys), so a key that is not there is known absent, and its slot found, without
//   reading the file; made when the table is built or grown, read 64 KB at a time as a lookup
//   first needs it in a table opened again;
// - the slots changed since they were last written (at most 128 Ki), written out together:
//   neighbours within 64 KB of each other in one read and one write;
// - a cache of 1 KB pages (4 MB, and room for one batch's pages) for the rest: keys of a table
//   too large to fingerprint, or a fingerprint that matches.
//
// Each batch of keys (`update`) appends its changes to a journal (`<path>.log`, 32-byte slot
// images) in one write before the call returns; only then may they reach the table file, so the
// file never holds a change the journal lacks. Opening replays the journal over the file (each
// record overwrites its key: replaying twice is harmless), then checkpoints: the changed slots
// written, the journal emptied. Like the table it replaced, nothing is fsynced: what a call wrote
// is in the OS when it returns and survives the process being killed (kill -9), not a power cut.
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
const PAGE = 1024;
const SLOTS_PER_PAGE = PAGE / SLOT;
const CACHE_PAGES = 4096;
const FINGERPRINTED = 1 << 25; // slots: a 32 MB fingerprint array at most
const LEARN_PAGES = 64; // an opened table's fingerprints are read 64 KB at a time, as needed
const CHANGED_MAX = 1 << 17; // changed slots held before they are written out (4 MB)
const RECORDS = 1 << 18; // more than CHANGED_MAX + BATCH
const WINDOW = 2048; // slots (64 KB): changed slots this close are written by one read and one write
const BATCH = 2048; // keys per journal write
const JOURNAL_MAX = 8 << 20; // checkpoint past this: replay after a crash stays short
const GROW_PAGE = 64 << 10; // growth writes the new table through a cache of larger pages
const GROW_PAGES = 32;
// How keys become digests (header byte 16): 0 = sha256 of the key, 1 = a 64-hex-digit key (a
// sha256 already, as the sent-alias keys are) is its own digest, anything else is hashed.
const DIGEST_SHA = 0;
const DIGEST_HEX = 1;

export interface TableOptions {
  /** Tables of more slots than this run without fingerprints (tests). */
  fingerprinted?: number;
  /** Pages of 1 KB the cache holds (tests). */
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
  private readonly cached: Int32Array;
  private fingerprints: Uint8Array | undefined;
  private known: Uint8Array | undefined; // pages whose fingerprints are filled in
  private readonly changed = new SlotMap(CHANGED_MAX + BATCH); // slot -> its record in `changes`
  private readonly changes = Buffer.alloc((CHANGED_MAX + BATCH) * SLOT);
  private readonly changesI32 = new Int32Array(this.changes.buffer, this.changes.byteOffset, this.changes.length >> 2);
  private readonly current = Buffer.alloc(VALUE_BYTES); // what `decide` is shown
  private readonly digest = Buffer.alloc(KEY);
  private readonly pending = Buffer.alloc(BATCH * SLOT);
  private readonly pendingI32 = new Int32Array(this.pending.buffer, this.pending.byteOffset, this.pending.length >> 2);
  // Where `find` left the record it found: a buffer and offset, or -1 for an empty slot.
  private hit: Buffer = this.changes;
  private hitAt = -1;
  private learning: Buffer | undefined;
  // writeOut's working space, kept: it runs every 128 Ki changes.
  private readonly order = new Float64Array(CHANGED_MAX + BATCH);
  private readonly orderSlots = new Uint32Array(CHANGED_MAX + BATCH);
  private readonly orderRecords = new Uint32Array(CHANGED_MAX + BATCH);
  private readonly window = Buffer.alloc(WINDOW * SLOT);
  // The fingerprints' memory: reserved up to the largest table fingerprinted, taken as the table
  // grows, so a growth never holds the old array and the new one at once.
  private prints: Resizable | undefined;

  private constructor(
    private readonly path: string,
    fd: number,
    capacity: number,
    count: number,
    private readonly digestKind: number,
    private readonly fingerprinted: number,
    empty: boolean,
    cachePages: number,
  ) {
    this.fd = fd;
    this.capacity = capacity;
    this.count = count;
    this.counted = count;
    // Room past its bound for the pages of one batch (trimmed after it): two per key at most.
    this.cache = new PageCache(fd, PAGE, cachePages, 2 * BATCH, HEADER);
    this.cached = new Int32Array(this.cache.arena.buffer, this.cache.arena.byteOffset, this.cache.arena.length >> 2);
    this.fingerprint(empty);
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
    const t = new DiskTable(path, fd, capacity, h.readUInt32LE(12), version === 1 ? DIGEST_SHA : h[16]!, opts.fingerprinted ?? FINGERPRINTED, false, opts.cachePages ?? CACHE_PAGES);
    if (version === 1) t.writeHeader();
    return t;
  }

  private static create(path: string, capacity: number, digestKind: number, opts: TableOptions): DiskTable {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'w+');
    // A sparse file: the slots read as zeros (empty) until written.
    writeSync(fd, Buffer.alloc(1), 0, 1, HEADER + capacity * SLOT - 1);
    const t = new DiskTable(path, fd, capacity, 0, digestKind, opts.fingerprinted ?? FINGERPRINTED, true, opts.cachePages ?? CACHE_PAGES);
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
          const found = this.hitAt >= 0;
          if (found) for (let j = 0; j < VALUE_BYTES; j++) this.current[j] = this.hit[this.hitAt + KEY + j]!;
          const value = decide(i, found ? this.current : undefined);
          if (!value) continue;
          if (value.length > VALUE_BYTES) throw new Error(`value over ${VALUE_BYTES} bytes`);
          const at = this.store(slot, this.digest, 0, value, !found) >> 2;
          const to = journaled * (SLOT >> 2);
          for (let w = 0; w < SLOT >> 2; w++) this.pendingI32[to + w] = this.changesI32[at + w]!;
          this.pending[journaled * SLOT + USED] = found ? 1 : 2;
          journaled++;
        }
      } finally {
        this.journal(journaled * SLOT); // what was changed before a throw, too
      }
    }
  }

  /** Writes every change to the file and empties the journal. */
  close(): void {
    this.checkpoint();
    closeSync(this.fd);
    closeSync(this.log);
  }

  private digestOf(key: string): void {
    if (this.digestKind !== DIGEST_HEX || !hexDigest(key, this.digest)) createHash('sha256').update(key).digest().copy(this.digest, 0, 0, KEY);
  }

  // The slot holding the key at `k[o..o+16]` (its record left in hit/hitAt), or the empty slot
  // where it would go (hitAt -1).
  private find(k: Buffer, o: number): number {
    const k0 = k.readInt32LE(o), k1 = k.readInt32LE(o + 4), k2 = k.readInt32LE(o + 8), k3 = k.readInt32LE(o + 12);
    const fp = fingerprintOf(k1);
    const prints = this.fingerprints;
    let slot = (k0 >>> 0) % this.capacity;
    for (;; slot = slot + 1 === this.capacity ? 0 : slot + 1) {
      const page = Math.floor(slot / SLOTS_PER_PAGE);
      if (prints) {
        if (!this.known![page]) this.learn(page);
        const f = prints[slot]!;
        if (f === 0) return this.empty(slot);
        if (f !== fp) continue;
      }
      let words: Int32Array;
      let w: number;
      const r = this.changed.get(slot);
      if (r >= 0) {
        words = this.changesI32;
        w = r * (SLOT >> 2);
        this.hit = this.changes;
      } else {
        const at = this.cache.frame(page);
        words = this.cached;
        w = (at >> 2) + (slot % SLOTS_PER_PAGE) * (SLOT >> 2);
        this.hit = this.cache.arena;
      }
      if (!(words[w + 7]! >>> 24)) return this.empty(slot);
      if (words[w] === k0 && words[w + 1] === k1 && words[w + 2] === k2 && words[w + 3] === k3) {
        this.hitAt = w << 2;
        return slot;
      }
    }
  }

  private empty(slot: number): number {
    this.hitAt = -1;
    return slot;
  }

  // Fingerprints of the pages around `page` not known yet, read from the file in one go (64 KB).
  // The file is right for them: a slot changes only after a lookup, which learns its page first.
  private learn(page: number): void {
    const first = page - (page % LEARN_PAGES);
    const pages = Math.min(LEARN_PAGES, this.capacity / SLOTS_PER_PAGE - first);
    this.learning ??= Buffer.alloc(LEARN_PAGES * PAGE);
    const a = this.learning;
    readSync(this.fd, a, 0, pages * PAGE, HEADER + first * PAGE);
    for (let p = 0; p < pages; p++) {
      if (this.known![first + p]) continue;
      for (let s = 0; s < SLOTS_PER_PAGE; s++) {
        const o = p * PAGE + s * SLOT;
        this.fingerprints![(first + p) * SLOTS_PER_PAGE + s] = a[o + USED] ? fingerprintOf(a.readInt32LE(o + 4)) : 0;
      }
      this.known![first + p] = 1;
    }
  }

  // Writes the record into the changed slots; returns its offset in `changes`.
  private store(slot: number, k: Buffer, o: number, value: Buffer, added: boolean): number {
    let r = this.changed.get(slot);
    if (r < 0) r = this.changed.add(slot);
    const at = r * SLOT;
    const c = this.changes;
    for (let j = 0; j < KEY; j++) c[at + j] = k[o + j]!;
    for (let j = 0; j < VALUE_BYTES; j++) c[at + KEY + j] = j < value.length ? value[j]! : 0;
    c[at + USED] = 1;
    if (this.fingerprints) this.fingerprints[slot] = fingerprintOf(c.readInt32LE(at + 4));
    if (added) this.count++;
    return at;
  }

  // The commit point of a batch: its slot images appended in one write. Only after it may the
  // slots it changed be written to the table.
  private journal(bytes: number): void {
    if (bytes) {
      writeSync(this.log, this.pending, 0, bytes, this.logBytes);
      this.logBytes += bytes;
    }
    if (this.logBytes >= JOURNAL_MAX) this.checkpoint();
    else if (this.changed.size >= CHANGED_MAX) this.writeOut();
    this.cache.trim(); // clean pages: the changes are kept apart, in `changed`
  }

  // The changed slots into the file, in order: a group within a window by one read and one
  // write, a lone slot by one write. Cached pages get the same bytes.
  private writeOut(): void {
    if (!this.changed.size) return;
    // Slot and record in one number (slot * 2^18 + record: exact in a double), sorted by slot.
    const n = this.changed.size;
    const order = this.order.subarray(0, n);
    for (let r = 0; r < n; r++) order[r] = this.changed.slotOf(r) * RECORDS + r;
    order.sort();
    const slots = this.orderSlots;
    const recs = this.orderRecords;
    for (let x = 0; x < n; x++) {
      slots[x] = Math.floor(order[x]! / RECORDS);
      recs[x] = order[x]! % RECORDS;
    }
    const c = this.changes;
    const window = this.window;
    for (let i = 0; i < n; ) {
      let j = i + 1;
      while (j < n && slots[j]! < slots[i]! + WINDOW) j++;
      const first = slots[i]!;
      if (j - i >= 3) {
        const bytes = (slots[j - 1]! - first + 1) * SLOT;
        readSync(this.fd, window, 0, bytes, HEADER + first * SLOT);
        for (let x = i; x < j; x++) {
          const r = recs[x]!;
          copySlot(c, r * SLOT, window, (slots[x]! - first) * SLOT);
        }
        writeSync(this.fd, window, 0, bytes, HEADER + first * SLOT);
      } else for (let x = i; x < j; x++) writeSync(this.fd, c, recs[x]! * SLOT, SLOT, HEADER + slots[x]! * SLOT);
      i = j;
    }
    for (let r = 0; r < n; r++) {
      const slot = this.changed.slotOf(r);
      const page = this.cache.peek(Math.floor(slot / SLOTS_PER_PAGE));
      if (page >= 0) copySlot(c, r * SLOT, this.cache.arena, page + (slot % SLOTS_PER_PAGE) * SLOT);
    }
    this.changed.clear();
  }

  // Every change is in the table file: the journal is no longer needed.
  private checkpoint(): void {
    this.writeOut();
    this.counted = this.count;
    this.writeHeader();
    if (this.logBytes) {
      ftruncateSync(this.log, 0);
      this.logBytes = 0;
    }
  }

  // The journal's whole records over the table (a torn last record was never returned to a caller).
  private replay(): void {
    const records = Buffer.alloc(BATCH * SLOT);
    for (let pos = 0; pos + SLOT <= this.logBytes; ) {
      const got = readSync(this.log, records, 0, records.length, pos);
      const whole = Math.floor(got / SLOT);
      if (!whole) break;
      this.reserve(whole);
      for (let r = 0; r < whole; r++) {
        const o = r * SLOT;
        const kind = records[o + USED];
        if (kind !== 1 && kind !== 2) return this.checkpoint(); // garbled: the end of what was written
        const slot = this.find(records, o);
        this.store(slot, records, o, records.subarray(o + KEY, o + KEY + VALUE_BYTES), kind === 2);
      }
      pos += whole * SLOT;
      if (this.changed.size >= CHANGED_MAX) this.writeOut(); // journaled already
      this.cache.trim();
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

  // `capacity` zeroed fingerprints, in the one resizable buffer.
  private fingerprintsFor(capacity: number): Uint8Array {
    this.prints ??= new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(0, { maxByteLength: this.fingerprinted });
    this.prints.resize(capacity);
    return new Uint8Array(this.prints, 0, capacity).fill(0);
  }

  // Fingerprints for this capacity, if it is small enough: all known for an empty table, else
  // learnt page by page.
  private fingerprint(empty: boolean): void {
    const on = this.capacity <= this.fingerprinted;
    this.fingerprints = on ? this.fingerprintsFor(this.capacity) : undefined;
    this.known = on ? new Uint8Array(this.capacity / SLOTS_PER_PAGE).fill(empty ? 1 : 0) : undefined;
  }

  // Rehashes into a larger table written beside this one and renamed over it, fingerprinting it
  // on the way. Every change is journaled here, so they are written out first. The journal
  // stays: its records are in the new table too, and the header keeps the count the journal
  // starts from, so replaying it over the new table (also in the middle of a replay) is exact.
  private grow(capacity: number): void {
    this.writeOut();
    const next = `${this.path}.grow`;
    const fd = openSync(next, 'w+');
    writeSync(fd, Buffer.alloc(1), 0, 1, HEADER + capacity * SLOT - 1);
    const fresh = new Uint8Array(Math.ceil((capacity * SLOT) / GROW_PAGE));
    const into = new PageCache(fd, GROW_PAGE, GROW_PAGES, 4, HEADER, fresh);
    const ints = new Int32Array(into.arena.buffer, into.arena.byteOffset, into.arena.length >> 2);
    this.fingerprints = this.known = undefined; // the old ones may go before the new are made
    const prints = capacity <= this.fingerprinted ? this.fingerprintsFor(capacity) : undefined;
    const perPage = GROW_PAGE / SLOT;
    const block = Buffer.alloc(1 << 20);
    for (let base = 0; base < this.capacity; base += block.length / SLOT) {
      const got = readSync(this.fd, block, 0, Math.min(block.length, (this.capacity - base) * SLOT), HEADER + base * SLOT);
      for (let o = 0; o < got; o += SLOT) {
        if (block[o + USED] !== 1) continue;
        let slot = (block.readInt32LE(o) >>> 0) % capacity;
        for (;;) {
          const page = Math.floor(slot / perPage);
          const at = into.frame(page) + (slot % perPage) * SLOT;
          if (!(ints[(at >> 2) + 7]! >>> 24)) {
            copySlot(block, o, into.arena, at);
            into.dirty(page);
            if (prints) prints[slot] = fingerprintOf(block.readInt32LE(o + 4));
            break;
          }
          slot = slot + 1 === capacity ? 0 : slot + 1;
        }
        into.trim();
      }
    }
    into.flush();
    writeSync(fd, this.header(capacity), 0, HEADER, 0);
    closeSync(this.fd);
    renameSync(next, this.path);
    this.fd = fd;
    this.capacity = capacity;
    this.cache.reset(fd);
    this.fingerprints = prints;
    this.known = prints ? new Uint8Array(capacity / SLOTS_PER_PAGE).fill(1) : undefined;
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

// An ArrayBuffer that can grow in place (ES2024; Node 20 has it, this project's lib does not).
type Resizable = ArrayBuffer & { resize(bytes: number): void };

/**
 * Slot numbers to records 0, 1, 2 ... in the order they were added: an open-addressing table in
 * typed arrays (no heap per entry), emptied all at once.
 */
class SlotMap {
  private readonly keys: Uint32Array; // slot + 1; 0 empty
  private readonly vals: Int32Array;
  private readonly slots: Uint32Array; // record -> slot
  private readonly mask: number;
  size = 0;

  constructor(private readonly max: number) {
    const n = 1 << Math.ceil(Math.log2(max * 2));
    this.keys = new Uint32Array(n);
    this.vals = new Int32Array(n);
    this.slots = new Uint32Array(max);
    this.mask = n - 1;
  }

  /** The record of `slot`, or -1. */
  get(slot: number): number {
    for (let h = Math.imul(slot, 0x9e3779b1) & this.mask; ; h = (h + 1) & this.mask) {
      const k = this.keys[h]!;
      if (k === 0) return -1;
      if (k === slot + 1) return this.vals[h]!;
    }
  }

  /** Adds `slot` (not in the map) as the next record; returns it. */
  add(slot: number): number {
    if (this.size === this.max) throw new Error('slot map full');
    let h = Math.imul(slot, 0x9e3779b1) & this.mask;
    while (this.keys[h] !== 0) h = (h + 1) & this.mask;
    this.keys[h] = slot + 1;
    this.vals[h] = this.size;
    this.slots[this.size] = slot;
    return this.size++;
  }

  slotOf(record: number): number {
    return this.slots[record]!;
  }

  clear(): void {
    this.keys.fill(0);
    this.size = 0;
  }
}

// 32 bytes, without Buffer.copy's cost per call (it shows at millions of slots).
function copySlot(from: Buffer, at: number, to: Buffer, where: number): void {
  for (let j = 0; j < SLOT; j++) to[where + j] = from[at + j]!;
}

// One byte of the key that does not pick its home slot, never 0 (0 marks an empty slot).
function fingerprintOf(word: number): number {
  return ((word >>> 0) % 255) + 1;
}

// A key of 64 lowercase hex digits: its first 16 bytes into `out`; false for any other key.
function hexDigest(key: string, out: Buffer): boolean {
  if (key.length !== 64) return false;
  for (let i = 0; i < 64; i += 2) {
    const hi = nibble(key.charCodeAt(i));
    const lo = nibble(key.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return false;
    if (i < KEY * 2) out[i >> 1] = (hi << 4) | lo;
  }
  return true;
}

function nibble(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
}
