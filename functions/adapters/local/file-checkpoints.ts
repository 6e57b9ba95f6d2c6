import { readFile } from 'node:fs/promises';
import { AtomicFile } from './atomic-file';
import type { ChunkStats } from '../../core/report';
import type { Checkpoints, Manifest, PausePoint } from '../../pipeline/ports';

interface State {
  manifest?: Manifest;
  chunks: Record<string, { status: 'pending' | 'done'; stats?: ChunkStats }>;
  /** Local mode only: bytes of the --out file that belong to done chunks. */
  outBytes?: number;
}

/**
 * Checkpoints for one machine: a JSON file per imported file, rewritten atomically (write +
 * rename) on every change, so an interrupted run resumes from the last done chunk.
 */
export class FileCheckpoints implements Checkpoints {
  private state: State = { chunks: {} };
  private readonly file: AtomicFile;
  private constructor(path: string) {
    this.file = new AtomicFile(path);
  }

  static async load(path: string): Promise<FileCheckpoints> {
    const cp = new FileCheckpoints(path);
    try {
      cp.state = JSON.parse(await readFile(path, 'utf8')) as State;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: unreadable checkpoint file: ${(err as Error).message}`);
    }
    return cp;
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
    this.state.manifest!.doneChunks++;
    this.state.manifest!.updatedAt = new Date().toISOString();
    if (this.outSize) this.state.outBytes = await this.outSize();
    await this.save();
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

  private save(): Promise<void> {
    return this.file.save(() => JSON.stringify(this.state));
  }
}
