import { recordsOf } from '../core/chunks';
import type { Format, TransformContext } from '../core/formats/types';
import { identifyEvent, uniqueLinks } from '../core/links';
import { parseMapping } from '../core/mapping';
import type { ChunkMessage } from '../core/messages';
import { countReasons, emptyStats, type ChunkStats } from '../core/report';
import { transformRecords, type RejectedRecord } from '../core/transform';
import { finishFile } from './finish';
import { METRIC, noMetrics, recordChunk, type MetricsPort } from './metrics';
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
  metrics?: MetricsPort;
}

export type ChunkOutcome = { status: 'sent'; stats: ChunkStats } | { status: 'already-done' } | { status: 'cancelled' };

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
  const started = Date.now();
  // A cancelled file's chunks are closed unread, so its report comes out (status cancelled).
  if ((await deps.checkpoints.getManifest(msg.fileId))?.cancelled) {
    await deps.checkpoints.completeChunk(msg.fileId, msg.chunk, emptyStats());
    (deps.metrics ?? noMetrics).add(METRIC.chunksCancelled, 1);
    await finishFile(msg.fileId, deps);
    return { status: 'cancelled' };
  }
  const ctx: TransformContext = { origin: deps.origin(msg), now: Date.now(), mapping: parseMapping(msg.mapping, `chunk ${msg.chunk}`) };
  const body = await deps.staging.get(msg.staged);
  const result = transformRecords(recordsOf(body, msg.firstLine), deps.format(msg.format), ctx);

  // Device-to-user links: claimed in the sent-alias table first, so no other chunk sends them.
  const owner = `${msg.fileId}#${msg.chunk}`;
  const claimed = result.links.length ? await deps.links.claim(uniqueLinks(result.links), owner) : [];
  const identifies = claimed.map((l) => identifyEvent(l, ctx));
  const { rejected: refused } = await deps.sink.send([...identifies, ...result.events], [...identifies.map((e) => Buffer.byteLength(JSON.stringify(e))), ...result.eventBytes]);

  // Events capture refused for themselves (after bisection) turn their records into rejections.
  const refusedBy = new Map(refused.map((r) => [r.uuid, r]));
  const refusedLines = new Map<number, string>();
  let events = 0;
  let noTimestamp = 0;
  result.events.forEach((e, i) => {
    const r = refusedBy.get(e.uuid);
    if (r) refusedLines.set(result.eventLines[i]!, r.reason);
    else {
      events++;
      if (e.timestamp === undefined) noTimestamp++;
    }
  });
  // The texts of refused records, read again from the body only when there are any (keeping
  // every record's text for the whole send would double a chunk's memory).
  const textOf = new Map(refusedLines.size ? recordsOf(body, msg.firstLine).filter((r) => refusedLines.has(r.n)).map((r) => [r.n, r.text]) : []);
  const links = claimed.filter((_, i) => !refusedBy.has(identifies[i]!.uuid));
  if (links.length) await deps.links.confirm(links, owner);

  const rejected: RejectedRecord[] = [
    ...msg.oversize.map((o) => ({ n: o.n, code: 'record_too_large' as const, reason: `record is ${o.bytes} bytes, over the per-record limit` })),
    ...result.rejected,
    ...[...refusedLines].map(([n, reason]) => ({ n, code: 'refused_by_capture' as const, reason, record: textOf.get(n) })),
  ].sort((a, b) => a.n - b.n);
  if (rejected.length) await deps.reports.putRejected(msg.file, msg.fileId, msg.chunk, rejected, msg.part);

  const filtered = Object.values(result.filtered).reduce((a, b) => a + b, 0);
  const stats: ChunkStats = {
    read: result.read + msg.oversize.length,
    sent: result.read - result.rejected.length - filtered - result.duplicates - refusedLines.size,
    rejected: rejected.length,
    filtered,
    duplicates: result.duplicates,
    events,
    noTimestamp,
    links: links.length,
    byReason: countReasons(rejected),
    byFilter: result.filtered,
  };
  await deps.checkpoints.completeChunk(msg.fileId, msg.chunk, stats);
  recordChunk(deps.metrics ?? noMetrics, msg.file, stats, Date.now() - started);
  // The body is not needed any more; if this fails, the staging lifecycle rule removes it later.
  await deps.staging.remove?.(msg.staged).catch(() => undefined);
  await finishFile(msg.fileId, deps);
  return { status: 'sent', stats };
}
