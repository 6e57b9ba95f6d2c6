import { recordsOf } from '../core/chunks';
import type { PostHogEvent } from '../core/event';
import type { Format, TransformContext } from '../core/formats/types';
import type { ChunkMessage } from '../core/messages';
import { countReasons, type ChunkStats } from '../core/report';
import { transformRecords, type RejectedRecord } from '../core/transform';
import { finishFile } from './finish';
import type { Checkpoints, EventSink, Reports, Staging } from './ports';

export interface SendDeps {
  checkpoints: Checkpoints;
  staging: Staging;
  reports: Reports;
  sink: EventSink;
  format(name: string): Format;
  context(msg: ChunkMessage): TransformContext;
}

export type ChunkOutcome = { status: 'sent'; stats: ChunkStats } | { status: 'already-done' };

/**
 * Sends one chunk. Idempotent by chunk (never by message id): a done chunk is skipped; a chunk
 * that fails anywhere before its checkpoint is sent again whole, and PostHog drops the repeats
 * by their deterministic uuids.
 */
export async function sendChunk(msg: ChunkMessage, deps: SendDeps): Promise<ChunkOutcome> {
  if ((await deps.checkpoints.chunkStatus(msg.fileId, msg.chunk)) === 'done') {
    await finishFile(msg.fileId, deps);
    return { status: 'already-done' };
  }
  const body = await deps.staging.get(msg.staged);
  const result = transformRecords(recordsOf(body, msg.firstLine), deps.format(msg.format), deps.context(msg));
  const rejected: RejectedRecord[] = [
    ...msg.oversize.map((o) => ({ n: o.n, code: 'record_too_large' as const, reason: `record is ${o.bytes} bytes, over the per-record limit` })),
    ...result.rejected,
  ].sort((a, b) => a.n - b.n);

  await deps.sink.send(result.events);
  if (rejected.length) await deps.reports.putRejected(msg.file, msg.fileId, msg.chunk, rejected);

  const stats: ChunkStats = {
    read: result.read + msg.oversize.length,
    sent: result.read - result.rejected.length,
    rejected: rejected.length,
    filtered: 0,
    events: result.events.length,
    noTimestamp: countNoTimestamp(result.events),
    byReason: countReasons(rejected),
  };
  await deps.checkpoints.completeChunk(msg.fileId, msg.chunk, stats);
  await finishFile(msg.fileId, deps);
  return { status: 'sent', stats };
}

function countNoTimestamp(events: PostHogEvent[]): number {
  let n = 0;
  for (const e of events) if (e.timestamp === undefined) n++;
  return n;
}
