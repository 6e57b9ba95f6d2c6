import { readFile, truncate } from 'node:fs/promises';
import { AtomicFile } from './atomic-file';
import type { ChunkStats } from '../../core/report';
import type { Checkpoints, Manifest, PausePoint } from '../../pipeline/ports';

interface State {
  manifest?: Manifest;
  chunks: Record<string, { status: 'pending' | 'done'; stats?: ChunkStats }>;
  /** Local mode only: bytes of the --out file that belong to done chunks. */
  outBytes?: number;
}

/** One done chunk, a line of the journal. */
interface DoneLine {
  chunk: number;
  at: string;
  stats: ChunkStats;
  outBytes?: number;
}

/**
 * Checkpoints for one machine: a JSON file per imported file with the manifest and the chunks
 * not yet done, rewritten atomically (write + rename) when the manifest changes, and beside it
 * a journal (`<file>.log`) that gets one line per done chunk. A done chunk costs one append of
 * its own line, not a rewrite of every chunk so far (which grew with the file: quadratic over a
 * large one). Loading replays the journal over the file; a last line torn by a crash is not read
 * (that chunk is sent again, and PostHog drops the repeats by uuid) and is cut off before the
 * next append, never by a mere reader such as `status`.
 */
export class FileCheckpoints implements Checkpoints {
  private state: State = { chunks: {} };
  private readonly file: AtomicFile;
  private readonly journal: AtomicFile;
  /** Done chunks whose journal line is written: the file need not hold them. */
  private readonly journaled = new Set<string>();
  /** Where the journal's last whole line ends, when a torn line follows it. */
  private tornAt?: number;
  private constructor(path: string) {
    this.file = new AtomicFile(path);
    this.journal = new AtomicFile(`${path}.log`);
  }

  static async load(path: string): Promise<FileCheckpoints> {
    const cp = new FileCheckpoints(path);
    try {
      cp.state = JSON.parse(await readFile(path, 'utf8')) as State;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: unreadable checkpoint file: ${(err as Error).message}`);
    }
    await cp.replay();
    return cp;
  }

  private async replay(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.journal.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const end = text.lastIndexOf('\n') + 1;
    // A line without its newline: the run that wrote it died mid-append (or, seen by `status`,
    // is appending it now). It is not read; the next run cuts it off before its first append.
    if (end < text.length) this.tornAt = Buffer.byteLength(text.slice(0, end));
    const m = this.state.manifest;
    for (const line of text.slice(0, end).split('\n')) {
      if (!line) continue;
      let d: DoneLine;
      try {
        d = JSON.parse(line) as DoneLine;
      } catch (err) {
        throw new Error(`${this.journal.path}: unreadable checkpoint journal: ${(err as Error).message}`);
      }
      this.state.chunks[d.chunk] = { status: 'done', stats: d.stats };
      this.journaled.add(String(d.chunk));
      if (d.outBytes !== undefined) this.state.outBytes = d.outBytes;
      if (m && (!m.updatedAt || d.at > m.updatedAt)) m.updatedAt = d.at;
    }
    if (m) m.doneChunks = Object.values(this.state.chunks).filter((c) => c.status === 'done').length;
  }

  private outSize?: () => Promise<number>;

  /** Bytes of the --out file that belonged to done chunks at the last checkpoint. */
  get outBytes(): number | undefined {
    return this.state.outBytes;
  }

  /** Records the --out file's size with every done chunk, in the same write. */
  trackOutput(size: () => Promise<number>): void {
    this.outSize = size;
  }

  async openFile(m: Omit<Manifest, 'doneChunks' | 'status'>): Promise<Manifest> {
    if (!this.state.manifest) {
      this.state.manifest = { ...m, status: 'splitting', doneChunks: 0, updatedAt: new Date().toISOString() };
      await this.save();
    }
    return this.state.manifest;
  }

  async addChunk(_fileId: string, chunk: number): Promise<'pending' | 'done'> {
    const c = (this.state.chunks[chunk] ??= { status: 'pending' });
    return c.status;
  }

  async chunkStatus(_fileId: string, chunk: number): Promise<'pending' | 'done' | undefined> {
    return this.state.chunks[chunk]?.status;
  }

  async finishSplit(_fileId: string, totals: { chunks: number; records: number; error?: string }): Promise<void> {
    const m = this.state.manifest!;
    if (m.status !== 'splitting') return;
    Object.assign(m, { status: 'split', chunks: totals.chunks, records: totals.records, updatedAt: new Date().toISOString() }, totals.error ? { error: totals.error } : {});
    await this.save();
  }

  async recordPause(_fileId: string, point: PausePoint): Promise<boolean> {
    const m = this.state.manifest!;
    if (m.status !== 'splitting' || (m.nextChunk ?? 0) >= point.chunk) return false;
    Object.assign(m, { nextChunk: point.chunk, pause: point, updatedAt: point.at });
    await this.save();
    return true;
  }

  async handedOver(_fileId: string, chunk: number): Promise<void> {
    const m = this.state.manifest!;
    if (m.pause?.chunk !== chunk) return;
    m.pause.handedOver = true;
    m.updatedAt = new Date().toISOString();
    await this.save();
  }

  async progress(): Promise<void> {
    if (!this.state.manifest) return;
    this.state.manifest.updatedAt = new Date().toISOString();
    await this.save();
  }

  async pendingChunks(): Promise<Array<{ chunk: number }>> {
    return Object.entries(this.state.chunks).flatMap(([k, c]) => (c.status === 'done' ? [] : [{ chunk: Number(k) }]));
  }

  async completeChunk(_fileId: string, chunk: number, stats: ChunkStats): Promise<boolean> {
    const c = (this.state.chunks[chunk] ??= { status: 'pending' });
    if (c.status === 'done') return false;
    c.status = 'done';
    c.stats = stats;
    const m = this.state.manifest!;
    m.doneChunks++;
    m.updatedAt = new Date().toISOString();
    if (this.outSize) this.state.outBytes = await this.outSize();
    const line: DoneLine = { chunk, at: m.updatedAt, stats, ...(this.state.outBytes !== undefined ? { outBytes: this.state.outBytes } : {}) };
    if (this.tornAt !== undefined) {
      const at = this.tornAt;
      this.tornAt = undefined;
      await truncate(this.journal.path, at);
    }
    await this.journal.append(`${JSON.stringify(line)}\n`);
    this.journaled.add(String(chunk));
    return true;
  }

  async getManifest(): Promise<Manifest | undefined> {
    return this.state.manifest;
  }

  async chunkStats(): Promise<ChunkStats[]> {
    return Object.values(this.state.chunks).flatMap((c) => (c.stats ? [c.stats] : []));
  }

  async markReported(): Promise<void> {
    this.state.manifest!.status = 'reported';
    await this.save();
  }

  /** The manifest and the chunks the journal does not hold (those not done, in practice). */
  private save(): Promise<void> {
    return this.file.save(() => {
      const chunks: State['chunks'] = {};
      for (const [k, c] of Object.entries(this.state.chunks)) if (!this.journaled.has(k)) chunks[k] = c;
      return JSON.stringify({ ...this.state, chunks });
    });
  }
}
