import { recordsOf } from '../core/chunks';
import type { PostHogEvent } from '../core/event';
import type { Format, TransformContext } from '../core/formats/types';
import { identifyEvent, uniqueLinks } from '../core/links';
import { parseMapping } from '../core/mapping';
import type { ChunkMessage } from '../core/messages';
import { countReasons, type ChunkStats } from '../core/report';
import { transformRecords, type RejectedRecord } from '../core/transform';
import { finishFile } from './finish';
import type { Checkpoints, EventSink, IdentityLinks, Reports, Staging } from './ports';

export interface SendDeps {
  checkpoints: Checkpoints;
  staging: Staging;
  reports: Reports;
  sink: EventSink;
  links: IdentityLinks;
  format(name: string): Format;
  /** Where the chunk came from, as the origin property shows it. */
  origin(msg: ChunkMessage): string;
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
  const ctx: TransformContext = { origin: deps.origin(msg), now: Date.now(), mapping: parseMapping(msg.mapping, `chunk ${msg.chunk}`) };
  const body = await deps.staging.get(msg.staged);
  const result = transformRecords(recordsOf(body, msg.firstLine), deps.format(msg.format), ctx);
  const rejected: RejectedRecord[] = [
    ...msg.oversize.map((o) => ({ n: o.n, code: 'record_too_large' as const, reason: `record is ${o.bytes} bytes, over the per-record limit` })),
    ...result.rejected,
  ].sort((a, b) => a.n - b.n);

  // Device-to-user links: claimed in the sent-alias table first, so no other chunk sends them.
  const owner = `${msg.fileId}#${msg.chunk}`;
  const links = result.links.length ? await deps.links.claim(uniqueLinks(result.links), owner) : [];
  await deps.sink.send([...links.map((l) => identifyEvent(l, ctx)), ...result.events]);
  if (links.length) await deps.links.confirm(links, owner);
  if (rejected.length) await deps.reports.putRejected(msg.file, msg.fileId, msg.chunk, rejected, msg.part);

  const filtered = Object.values(result.filtered).reduce((a, b) => a + b, 0);
  const stats: ChunkStats = {
    read: result.read + msg.oversize.length,
    sent: result.read - result.rejected.length - filtered,
    rejected: rejected.length,
    filtered,
    events: result.events.length,
    noTimestamp: countNoTimestamp(result.events),
    links: links.length,
    byReason: countReasons(rejected),
    byFilter: result.filtered,
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
