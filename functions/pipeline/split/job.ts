import type { MappingConfig } from '../../core/mapping';
import type { ChunkMessage, FileRef } from '../../core/messages';
import type { Limits } from '../../core/settings';
import type { Checkpoints, Manifest, PausePoint, SplitPosition } from '../ports';

/** Where a run was asked to start: a fresh S3 event (chunk 0) or a continuation. */
export interface SplitStart {
  fromChunk: number;
  /** Hand-overs before this run (continuations count them; a fresh event is 0). */
  hop?: number;
  /** `backfill resume`: carry the chain on from its pause point even if a hand-over was recorded. */
  takeover?: boolean;
}

/** What this run does: skip, or split from a position (with what the manifest froze). */
export type Begin =
  | { skip: 'already-split'; manifest: Manifest }
  | { skip: 'superseded'; manifest: Manifest }
  | { skip?: undefined; at?: SplitPosition; hop: number; mapping?: MappingConfig; format?: string; limits?: ChunkLimits };

/** What chunk cuts depend on. */
export type ChunkLimits = Pick<Limits, 'chunkRecords' | 'chunkBytes' | 'maxRecordBytes'>;

// Progress is written to the manifest at most this often while a split runs (status: stalled).
const PROGRESS_EVERY_MS = 60_000;

/**
 * The job stage: the file's manifest, its chunk rows, the pause point and the hand-over rules.
 * A pause point is recorded before the hand-over and marked handed over after it, so a run that
 * died or failed between the two is picked up by whichever run comes next (the retried S3
 * event or continuation, or `backfill resume`) instead of being "superseded" into silence; a
 * continuation that arrives twice finds the chain already past it and forks nothing.
 */
export class SplitJob {
  private opened = false;
  private lastProgress = Date.now();
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly file: FileRef,
    readonly fileId: string,
    private readonly checkpoints: Checkpoints,
  ) {}

  async begin(start: SplitStart): Promise<Begin> {
    const m = await this.checkpoints.getManifest(this.fileId);
    if (m && m.status !== 'splitting') return { skip: 'already-split', manifest: m };
    const frozen = {
      ...(m?.mapping ? { mapping: m.mapping as MappingConfig } : {}),
      ...(m?.limits ? { limits: m.limits } : {}),
      ...(m ? { format: m.format } : {}),
    };
    const p = m?.pause;
    if (!m || !p) return { hop: start.hop ?? 0, ...frozen };
    this.opened = true;
    // The chain is past this run's start and its next run was handed the rest: nothing to do.
    if (p.chunk > start.fromChunk && p.handedOver && !start.takeover) return { skip: 'superseded', manifest: m };
    // This run is that next run, or the hand-over never happened: carry on from the pause point.
    return { at: p, hop: p.hop, ...frozen };
  }

  /** Creates the manifest (once) with the format and the mapping frozen for every later run. */
  async open(format: string, unit: ChunkMessage['unit'], mapping: MappingConfig | undefined, limits: ChunkLimits): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    const { chunkRecords, chunkBytes, maxRecordBytes } = limits;
    const stored = await this.checkpoints.openFile({
      fileId: this.fileId,
      file: this.file,
      format,
      unit,
      startedAt: this.startedAt,
      limits: { chunkRecords, chunkBytes, maxRecordBytes },
      ...(mapping ? { mapping } : {}),
    });
    // The first run's start, whichever run this is: what events without a timestamp are sent at.
    this.importedAt = stored.startedAt;
  }

  /** Frozen time for events without a timestamp (set by `open`). */
  importedAt: string | undefined;

  get isOpen(): boolean {
    return this.opened;
  }

  /** Records the chunk (with its message, minus the mapping, for `backfill resume`); 'done' if it needs nothing. */
  async addChunk(message: ChunkMessage): Promise<'pending' | 'done'> {
    const { mapping: _inManifest, ...row } = message;
    const status = await this.checkpoints.addChunk(this.fileId, message.chunk, row);
    if (Date.now() - this.lastProgress > PROGRESS_EVERY_MS) {
      this.lastProgress = Date.now();
      await this.checkpoints.progress?.(this.fileId);
    }
    return status;
  }

  /** Records the pause point; false when another run already paused at or past it. */
  pause(at: SplitPosition, nextHop: number): Promise<boolean> {
    const point: PausePoint = { ...at, hop: nextHop, at: new Date().toISOString() };
    return this.checkpoints.recordPause(this.fileId, point);
  }

  async finish(totals: { chunks: number; records: number; error?: string }): Promise<void> {
    await this.checkpoints.finishSplit(this.fileId, totals);
  }
}
