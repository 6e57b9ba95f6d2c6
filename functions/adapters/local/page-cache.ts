import { readSync, writeSync, writevSync } from 'node:fs';

/**
 * A bounded write-back cache of fixed-size pages of one file, in one preallocated arena (no
 * heap per page). `frame(page)` gives the arena offset of a page, read on a miss; `dirty(page)`
 * marks it to be written back. Nothing is written except by `trim` and `flush`, so the owner
 * decides when the file may change (the disk table only after the change is in its journal).
 */
export class PageCache {
  readonly arena: Buffer;
  private readonly where = new Map<number, number>(); // page -> frame, least recently used first
  private readonly pageOf: Int32Array;
  private readonly isDirty: Uint8Array;
  private readonly free: number[] = [];

  /**
   * `offset`: where page 0 starts in the file. `fresh`: the file is new and sparse, so a page
   * never written reads as zeros without asking the file.
   */
  constructor(
    private fd: number,
    readonly pageBytes: number,
    private readonly limit: number,
    room: number,
    private readonly offset: number,
    private readonly fresh?: Uint8Array,
  ) {
    // `room` frames past the limit: the pages one batch may add before it is trimmed.
    const frames = limit + room;
    this.arena = Buffer.alloc(pageBytes * frames);
    this.pageOf = new Int32Array(frames);
    this.isDirty = new Uint8Array(frames);
    for (let f = frames - 1; f >= 0; f--) this.free.push(f);
  }

  /** The arena offset holding `page`, read from the file if it is not cached. */
  frame(page: number): number {
    const f = this.where.get(page);
    if (f !== undefined) {
      this.where.delete(page); // most recently used now
      this.where.set(page, f);
      return f * this.pageBytes;
    }
    const g = this.free.pop();
    if (g === undefined) throw new Error('page cache: more pages in one batch than it holds');
    const at = g * this.pageBytes;
    if (this.fresh && !this.fresh[page]) this.arena.fill(0, at, at + this.pageBytes);
    else readSync(this.fd, this.arena, at, this.pageBytes, this.offset + page * this.pageBytes);
    this.pageOf[g] = page;
    this.isDirty[g] = 0;
    this.where.set(page, g);
    return at;
  }

  /** The arena offset of `page` if it is cached, else -1; not counted as a use. */
  peek(page: number): number {
    const f = this.where.get(page);
    return f === undefined ? -1 : f * this.pageBytes;
  }

  dirty(page: number): void {
    this.isDirty[this.where.get(page)!] = 1;
  }

  get pages(): number {
    return this.where.size;
  }

  /** Writes back and drops the least recently used pages until at most `keep` are cached. */
  trim(keep = this.limit): void {
    if (this.where.size <= keep) return;
    const out: number[] = [];
    for (const [, f] of this.where) {
      if (this.where.size - out.length <= keep) break;
      out.push(f);
    }
    this.writeBack(out);
    for (const f of out) {
      this.where.delete(this.pageOf[f]!);
      this.free.push(f);
    }
  }

  /** Writes back every dirty page; they stay cached, clean. */
  flush(): void {
    this.writeBack([...this.where.values()]);
  }

  /** Forgets every page and caches `fd` from now on (the file was replaced; flushed before). */
  reset(fd: number): void {
    for (const f of this.where.values()) this.free.push(f);
    this.where.clear();
    this.fd = fd;
  }

  // Dirty frames in file order, neighbouring pages in one write.
  private writeBack(frames: number[]): void {
    const dirty = frames.filter((f) => this.isDirty[f]).sort((a, b) => this.pageOf[a]! - this.pageOf[b]!);
    for (let i = 0; i < dirty.length; ) {
      let j = i + 1;
      while (j < dirty.length && this.pageOf[dirty[j]!] === this.pageOf[dirty[j - 1]!]! + 1 && j - i < 64) j++;
      const first = this.pageOf[dirty[i]!]!;
      const views = dirty.slice(i, j).map((f) => this.arena.subarray(f * this.pageBytes, (f + 1) * this.pageBytes));
      const at = this.offset + first * this.pageBytes;
      if (views.length === 1) writeSync(this.fd, views[0]!, 0, this.pageBytes, at);
      else writevSync(this.fd, views, at);
      for (let k = i; k < j; k++) {
        this.isDirty[dirty[k]!] = 0;
        if (this.fresh) this.fresh[this.pageOf[dirty[k]!]!] = 1;
      }
      i = j;
    }
  }
}
