// The local sent-alias table as it was before the journal and fingerprints (version 1: a pread
// and a pwrite per key per step, keys hashed), kept only so the bench can run old and new side
// by side in one run. Not used by the tool.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const MAGIC = 0x42464454; // "BFDT"
const HEADER = 32;
const SLOT = 32;
const KEY = 16;
const VALUE_BYTES = 15;
const USED = SLOT - 1;
const MAX_LOAD = 0.7;
const FIRST_CAPACITY = 1 << 14;

class DiskTable {
  private fd: number;
  private capacity: number;
  private count: number;
  private readonly slot = Buffer.alloc(SLOT);

  private constructor(
    private readonly path: string,
    fd: number,
    capacity: number,
    count: number,
  ) {
    this.fd = fd;
    this.capacity = capacity;
    this.count = count;
  }

  /** Opens the table at `path`, creating an empty one if there is none. */
  static open(path: string): DiskTable {
    rmSync(`${path}.grow`, { force: true }); // a growth cut short; the table itself is whole
    if (!existsSync(path)) return DiskTable.create(path, FIRST_CAPACITY);
    const fd = openSync(path, 'r+');
    const h = Buffer.alloc(HEADER);
    readSync(fd, h, 0, HEADER, 0);
    const capacity = h.readUInt32LE(8);
    if (h.readUInt32LE(0) !== MAGIC || h.readUInt32LE(4) !== 1 || fstatSync(fd).size < HEADER + capacity * SLOT) {
      closeSync(fd);
      throw new Error(`${path}: not a sent-alias table of this version`);
    }
    return new DiskTable(path, fd, capacity, h.readUInt32LE(12));
  }

  private static create(path: string, capacity: number): DiskTable {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'w+');
    // A sparse file: the slots read as zeros (empty) until written.
    writeSync(fd, Buffer.alloc(1), 0, 1, HEADER + capacity * SLOT - 1);
    const t = new DiskTable(path, fd, capacity, 0);
    t.writeHeader();
    return t;
  }

  get size(): number {
    return this.count;
  }

  /** The value stored for `key`, or undefined. */
  get(key: string): Buffer | undefined {
    this.find(digest(key));
    return this.slot[USED] ? Buffer.from(this.slot.subarray(KEY, KEY + VALUE_BYTES)) : undefined;
  }

  /** Stores `value` (at most 15 bytes) for `key`. */
  set(key: string, value: Buffer): void {
    if (value.length > VALUE_BYTES) throw new Error(`value over ${VALUE_BYTES} bytes`);
    const k = digest(key);
    let at = this.find(k);
    if (!this.slot[USED]) {
      if ((this.count + 1) / this.capacity > MAX_LOAD) {
        this.grow();
        at = this.find(k);
      }
      // The count only steers growth; written every so often and on close, not per entry.
      if (++this.count % 1024 === 0) this.writeHeader();
    }
    this.slot.fill(0);
    k.copy(this.slot, 0);
    value.copy(this.slot, KEY);
    this.slot[USED] = 1;
    writeSync(this.fd, this.slot, 0, SLOT, HEADER + at * SLOT);
  }

  close(): void {
    this.writeHeader();
    closeSync(this.fd);
  }

  // The slot holding `k`, or the empty slot where it would go; leaves that slot in this.slot.
  private find(k: Buffer): number {
    let i = k.readUInt32LE(0) % this.capacity;
    for (;;) {
      readSync(this.fd, this.slot, 0, SLOT, HEADER + i * SLOT);
      if (!this.slot[USED] || this.slot.compare(k, 0, KEY, 0, KEY) === 0) return i;
      i = (i + 1) % this.capacity;
    }
  }

  // Rehashes into a table twice the size, written beside this one and renamed over it.
  private grow(): void {
    const next = DiskTable.create(`${this.path}.grow`, this.capacity * 2);
    const page = Buffer.alloc(SLOT * 4096);
    for (let base = 0; base < this.capacity; base += 4096) {
      const n = Math.min(4096, this.capacity - base);
      readSync(this.fd, page, 0, n * SLOT, HEADER + base * SLOT);
      for (let j = 0; j < n; j++) {
        const rec = page.subarray(j * SLOT, (j + 1) * SLOT);
        if (!rec[USED]) continue;
        const at = next.find(Buffer.from(rec.subarray(0, KEY)));
        writeSync(next.fd, rec, 0, SLOT, HEADER + at * SLOT);
        next.count++;
      }
    }
    next.writeHeader();
    closeSync(this.fd);
    renameSync(next.path, this.path);
    this.fd = next.fd;
    this.capacity = next.capacity;
    this.count = next.count;
  }

  private writeHeader(): void {
    const h = Buffer.alloc(HEADER);
    h.writeUInt32LE(MAGIC, 0);
    h.writeUInt32LE(1, 4);
    h.writeUInt32LE(this.capacity, 8);
    h.writeUInt32LE(this.count, 12);
    writeSync(this.fd, h, 0, HEADER, 0);
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, KEY);
}

/** claim and confirm as FileLinks did them on the version-1 table. */
export class BaselineLinks {
  private constructor(private readonly table: DiskTable) {}

  static open(path: string): BaselineLinks {
    return new BaselineLinks(DiskTable.open(path));
  }

  async claim(keys: string[], owner: string): Promise<string[]> {
    const me = ownerId(owner);
    const mine: string[] = [];
    for (const key of keys) {
      const r = this.table.get(key);
      if (!r) {
        this.table.set(key, row(owner, 1));
        mine.push(key);
      } else if (r.compare(me, 0, 8, 0, 8) === 0 && r[8] === 1) mine.push(key);
    }
    return mine;
  }

  async confirm(keys: string[], owner: string): Promise<void> {
    const me = ownerId(owner);
    for (const key of keys) {
      const r = this.table.get(key);
      if (r && r.compare(me, 0, 8, 0, 8) === 0 && r[8] === 1) this.table.set(key, row(owner, 2));
    }
  }

  get size(): number {
    return this.table.size;
  }

  close(): void {
    this.table.close();
  }
}

function ownerId(owner: string): Buffer {
  return createHash('sha256').update(owner).digest().subarray(0, 8);
}

function row(owner: string, status: number): Buffer {
  const b = Buffer.alloc(9);
  ownerId(owner).copy(b, 0);
  b[8] = status;
  return b;
}
