import type { PostHogEvent } from '../core/event';
import type { IdentityLink } from '../core/formats/types';
import type { RecordUnit } from '../core/input';
import type { ChunkMessage, FileRef } from '../core/messages';
import type { ChunkStats, FileReport } from '../core/report';
import type { RejectedRecord } from '../core/transform';

// The pipeline talks to the outside only through these; AWS and local mode each implement them.

export interface Manifest {
  fileId: string;
  file: FileRef;
  format: string;
  unit: RecordUnit;
  status: 'splitting' | 'split' | 'reported';
  /** Known once the split is over. */
  chunks?: number;
  records?: number;
  doneChunks: number;
  /** Where the latest paused split run handed over (continuations). */
  nextChunk?: number;
  error?: string;
  startedAt: string;
  /** Last progress (split or chunk done); `stalled` in core/progress reads it. */
  updatedAt?: string;
  /** Set by `backfill cancel`: senders skip the file's remaining chunks. */
  cancelled?: boolean;
}

export interface Checkpoints {
  /** Creates the manifest unless it exists; returns the stored one. */
  openFile(m: Omit<Manifest, 'doneChunks' | 'status'>): Promise<Manifest>;
  /** Records a chunk as pending unless it exists; returns its status. */
  addChunk(fileId: string, chunk: number): Promise<'pending' | 'done'>;
  chunkStatus(fileId: string, chunk: number): Promise<'pending' | 'done' | undefined>;
  finishSplit(fileId: string, totals: { chunks: number; records: number; error?: string }): Promise<void>;
  /** Records a hand-over at `nextChunk`; false if a run already handed over at or past it. */
  recordPause(fileId: string, nextChunk: number): Promise<boolean>;
  /** Marks a pending chunk done with its stats, once: false if it was already done. */
  completeChunk(fileId: string, chunk: number, stats: ChunkStats): Promise<boolean>;
  getManifest(fileId: string): Promise<Manifest | undefined>;
  /** The stats of every done chunk, one entry each. */
  chunkStats(fileId: string): Promise<ChunkStats[]>;
  markReported(fileId: string): Promise<void>;
}

/** Chunk bodies between splitter and sender (claim check). */
export interface Staging {
  /** Puts worth overlapping with reading the next chunks (default 1: each put is awaited). */
  readonly inFlight?: number;
  put(key: string, body: Buffer): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** Frees a done chunk's body (a later delivery of the chunk skips it without reading). */
  remove?(key: string): Promise<void>;
}

/** Rejected records and file reports, where the user reads them. */
export interface Reports {
  putRejected(file: FileRef, fileId: string, chunk: number, rows: RejectedRecord[], part?: string): Promise<string>;
  putReport(file: FileRef, report: FileReport): Promise<string>;
  /** Where this file's rejected records are written, for the report. */
  rejectedLocation(file: FileRef, fileId: string): string;
}

export interface ChunkQueue {
  send(messages: ChunkMessage[]): Promise<void>;
  /** Messages per `send` (SQS: 10); a queue that consumes in-process takes them one by one. */
  readonly maxBatch?: number;
}

/**
 * Delivers events. Resolves when every event was either accepted or refused by capture for
 * itself (bisected down to the single event, with the server's reason); rejects otherwise, and
 * the caller retries the whole chunk.
 */
export interface EventSink {
  /** `bytes[i]`, when given, is the serialized size of `events[i]` (saves measuring it again). */
  send(events: PostHogEvent[], bytes?: number[]): Promise<SendResult>;
}

export interface SendResult {
  rejected: Array<{ uuid: string; status: number; reason: string }>;
}

/**
 * The sent-alias table: a (device, user) link is sent once, ever. A chunk claims its links
 * before sending (so no other chunk or file sends them), then confirms them once PostHog took
 * them. A retry of the same chunk sends its claimed-but-unconfirmed links again.
 */
export interface IdentityLinks {
  /** Returns the links this owner (file#chunk) must send now. */
  claim(links: IdentityLink[], owner: string): Promise<IdentityLink[]>;
  confirm(links: IdentityLink[], owner: string): Promise<void>;
}

/** An events-per-window budget shared by every sender: resolves when `events` may be sent. */
export interface RateBudget {
  acquire(events: number): Promise<void>;
}
