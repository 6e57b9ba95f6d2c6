import { recordsOf } from '../core/chunks';
import type { PostHogEvent } from '../core/event';
import type { Format, TransformContext } from '../core/formats/types';
import { onceItems, type OnceItem } from '../core/links';
import { parseMapping } from '../core/mapping';
import type { ChunkMessage } from '../core/messages';
import { countByDay, countReasons, emptyStats, type ChunkStats } from '../core/report';
import { transformRecords, type RejectedRecord } from '../core/transform';
import { finishFile } from './finish';
import { METRIC, noMetrics, recordChunk, type MetricsPort } from './metrics';
import type { Checkpoints, EventSink, IdentityLinks, Reports, SendResult, Staging } from './ports';

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

type Refusal = SendResult['rejected'][number];

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

  // Device links and once-events: claimed in the sent-alias table first, so no other chunk sends them.
  const owner = `${msg.fileId}#${msg.chunk}`;
  const items = onceItems(result.links, result.once, ctx);
  const mine = new Set(items.length ? await deps.links.claim(items.map((i) => i.tableKey), owner) : []);
  const claimed = items.filter((i) => mine.has(i.tableKey));

  // Events without a timestamp get the one frozen at split time, so a retry or replay on another
  // day sends the very same event (PostHog's dedup includes the day).
  const importedAt = await importedAtOf(msg, deps.checkpoints);
  const undated = new Set<PostHogEvent>();
  for (const e of result.events) if (e.timestamp === undefined) undated.add(e);
  for (const e of [...claimed.map((i) => i.event), ...result.events]) if (e.timestamp === undefined && importedAt) e.timestamp = importedAt;

  const { rejected: refused } = await deps.sink.send(
    [...claimed.map((i) => i.event), ...result.events],
    [...claimed.map((i) => Buffer.byteLength(JSON.stringify(i.event))), ...result.eventBytes],
  );

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
      if (undated.has(e)) noTimestamp++;
    }
  });
  const settled = await settleOnce(claimed, refusedBy, owner, deps.links);

  // The texts of refused records, read again from the body only when there are any (keeping
  // every record's text for the whole send would double a chunk's memory).
  const wanted = new Set([...refusedLines.keys(), ...settled.refused.map((r) => r.item.n)]);
  const textOf = new Map(wanted.size ? recordsOf(body, msg.firstLine).filter((r) => wanted.has(r.n)).map((r) => [r.n, r.text]) : []);

  const rejected: RejectedRecord[] = [
    ...msg.oversize.map((o) => ({ n: o.n, code: 'record_too_large' as const, reason: `record is ${o.bytes} bytes, over the per-record limit` })),
    ...result.rejected,
    ...[...refusedLines].map(([n, reason]) => ({ n, code: 'refused_by_capture' as const, reason, record: textOf.get(n) })),
  ];
  // A refused link or once-event is reported at the first record that showed it, marked as
  // derived: the record itself may well have been sent, so it is not a rejected record.
  const derived: RejectedRecord[] = settled.refused.map(({ item, refusal }) => ({
    n: item.n,
    code: 'refused_by_capture' as const,
    reason: `${item.kind === 'link' ? 'the $identify linking this record\'s device and user' : `the ${item.event.event} event this record gave`} was refused: ${refusal.reason}`,
    record: textOf.get(item.n),
    derived: item.kind,
  }));
  const report = [...rejected, ...derived].sort((a, b) => a.n - b.n);
  if (report.length) await deps.reports.putRejected(msg.file, msg.fileId, msg.chunk, report, msg.part);

  const filtered = Object.values(result.filtered).reduce((a, b) => a + b, 0);
  const count = (kind: OnceItem['kind'], list: OnceItem[]) => list.filter((i) => i.kind === kind).length;
  const refusedItems = settled.refused.map((r) => r.item);
  const stats: ChunkStats = {
    read: result.read + msg.oversize.length,
    sent: result.read - result.rejected.length - filtered - result.duplicates - refusedLines.size,
    rejected: rejected.length,
    filtered,
    duplicates: result.duplicates,
    events,
    noTimestamp,
    links: count('link', settled.sent),
    linksRefused: count('link', refusedItems),
    onceEvents: count('once', settled.sent),
    onceRefused: count('once', refusedItems),
    byReason: countReasons(rejected),
    byFilter: result.filtered,
    // What PostHog holds from this chunk, for `backfill verify`: every event it accepted.
    sentByDay: countByDay([...claimed.map((i) => i.event), ...result.events].filter((e) => !refusedBy.has(e.uuid))),
  };
  await deps.checkpoints.completeChunk(msg.fileId, msg.chunk, stats);
  recordChunk(deps.metrics ?? noMetrics, msg.file, stats, Date.now() - started);
  // The body is not needed any more; if this fails, the staging lifecycle rule removes it later.
  await deps.staging.remove?.(msg.staged).catch(() => undefined);
  await finishFile(msg.fileId, deps);
  return { status: 'sent', stats };
}

/** Every claimed link or once-event ends `sent` or `refused` (final, with capture's reason). */
async function settleOnce(claimed: OnceItem[], refusedBy: Map<string, Refusal>, owner: string, links: IdentityLinks) {
  const sent: OnceItem[] = [];
  const refused: Array<{ item: OnceItem; refusal: Refusal }> = [];
  for (const item of claimed) {
    const refusal = refusedBy.get(item.event.uuid);
    if (refusal) refused.push({ item, refusal });
    else sent.push(item);
  }
  if (sent.length) await links.confirm(sent.map((i) => i.tableKey), owner);
  if (refused.length) await links.refuse(refused.map((r) => ({ key: r.item.tableKey, reason: r.refusal.reason })), owner);
  return { sent, refused };
}

/** The split's frozen time; a message queued by an earlier version lacks it: the manifest's. */
async function importedAtOf(msg: ChunkMessage, checkpoints: Checkpoints): Promise<string | undefined> {
  return msg.importedAt ?? (await checkpoints.getManifest(msg.fileId))?.startedAt;
}
