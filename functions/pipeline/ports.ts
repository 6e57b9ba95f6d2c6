import type { PostHogEvent } from '../core/event';
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
  /** The chunk the latest paused split run stopped before (same as `pause.chunk`). */
  nextChunk?: number;
  /** Where the latest paused split run stopped, and whether its hand-over went out. */
  pause?: PausePoint;
  /** The mapping config, read once by the first run and frozen here for every later one. */
  mapping?: unknown;
  /** The chunk limits of the first run: re-planning a chunk (continuations, resume) cuts the same. */
  limits?: { chunkRecords: number; chunkBytes: number; maxRecordBytes: number };
  error?: string;
  startedAt: string;
  /** ISO time of the last progress: opened, split progress or pause, split end, a chunk done. */
  updatedAt?: string;
  /** Set by `backfill cancel`: senders skip the file's remaining chunks. */
  cancelled?: boolean;
}

/** A point between two chunks of a file, from which a split run can go on. */
export interface SplitPosition {
  /** The next chunk's index. */
  chunk: number;
  /** Records in the chunks before it. */
  records: number;
  /** The zip member it lies in. */
  part?: string;
  /** Lines and bytes of the member's (or file's) decoded line stream before it. */
  line: number;
  byte: number;
  /** The object's byte offset of the same point, when the bytes are untransformed (plain text). */
  seek?: number;
}

export interface PausePoint extends SplitPosition {
  /** The hop number of the run that goes on from here. */
  hop: number;
  /** When the pause was recorded. */
  at: string;
  /** Set once the next run was invoked; until then any run for the file takes over from here. */
  handedOver?: boolean;
}

/** What a chunk row keeps of its message (the mapping lives in the manifest), for `backfill resume`. */
export type ChunkRow = Omit<ChunkMessage, 'mapping'>;

export interface Checkpoints {
  /** Creates the manifest unless it exists; returns the stored one. */
  openFile(m: Omit<Manifest, 'doneChunks' | 'status'>): Promise<Manifest>;
  /** Records a chunk as pending (with its message) unless it exists; returns its status. */
  addChunk(fileId: string, chunk: number, row?: ChunkRow): Promise<'pending' | 'done'>;
  chunkStatus(fileId: string, chunk: number): Promise<'pending' | 'done' | undefined>;
  finishSplit(fileId: string, totals: { chunks: number; records: number; error?: string }): Promise<void>;
  /** Records a pause point; false if a run already paused at or past its chunk. */
  recordPause(fileId: string, point: PausePoint): Promise<boolean>;
  /** Marks the pause point at `chunk` as handed over (the next run was invoked). */
  handedOver?(fileId: string, chunk: number): Promise<void>;
  /** Notes split progress (updatedAt) without changing anything else. */
  progress?(fileId: string): Promise<void>;
  /** Every chunk row not done yet, with the message it was queued with when the store keeps it. */
  pendingChunks?(fileId: string): Promise<Array<{ chunk: number; row?: ChunkRow }>>;
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
 * The sent-alias table: what must reach PostHog once, ever (a device↔user link's `$identify`, a
 * format's once-event), by its table key (`linkKey` / `onceKey`). A chunk claims its keys before
 * sending (so no other chunk or file sends them), then confirms those PostHog took and marks
 * refused those capture refused for themselves. A retry of the same chunk sends its
 * claimed-but-unconfirmed keys again. Every claim ends `sent` or `refused`: neither is claimed
 * again (a refusal is decided by the event's content, so sending it again would be refused again).
 */
export interface IdentityLinks {
  /** Returns the keys this owner (file#chunk) must send now. */
  claim(keys: string[], owner: string): Promise<string[]>;
  confirm(keys: string[], owner: string): Promise<void>;
  /** Final: capture refused the event; `reason` is what it said. */
  refuse(refused: Array<{ key: string; reason: string }>, owner: string): Promise<void>;
}

/** An events-per-window budget shared by every sender: resolves when `events` may be sent. */
export interface RateBudget {
  acquire(events: number): Promise<void>;
}
