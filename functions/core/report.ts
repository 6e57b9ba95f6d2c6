import type { RecordUnit } from './input';
import type { RejectedRecord } from './transform';

/** What happened to the records of one chunk; summed into the file's report. */
export interface ChunkStats {
  read: number;
  sent: number;
  rejected: number;
  filtered: number;
  /** Records repeating an earlier record of the same chunk (same uuid): not sent twice. */
  duplicates: number;
  /** Events posted (a record may become more than one event). */
  events: number;
  /** Events whose record had no timestamp: sent at the import's start, frozen when the file was split. */
  noTimestamp: number;
  /** Device-to-user links sent (each pair once, ever). */
  links: number;
  /** Links whose `$identify` capture refused: in the rejected report with the reason. */
  linksRefused: number;
  /** Once-events (e.g. `$groupidentify`) sent, each key once, ever. */
  onceEvents: number;
  /** Once-events capture refused: in the rejected report with the reason. */
  onceRefused: number;
  byReason: Record<string, number>;
  byFilter: Record<string, number>;
  /**
   * Events PostHog accepted, by UTC day of their timestamp and event name (`backfill verify`
   * compares them with PostHog); events without a timestamp are under day `none`. Absent in
   * stats written before it existed.
   */
  sentByDay?: DayCounts;
}

/** day (YYYY-MM-DD, or `none`) → event name → events. */
export type DayCounts = Record<string, Record<string, number>>;

/** The day key of an event: the UTC date of its timestamp, or `none` when PostHog stamps it. */
export const dayOf = (timestamp: string | undefined): string => (timestamp ? timestamp.slice(0, 10) : 'none');

/** Counts events by day and name. */
export function countByDay(events: Iterable<{ event: string; timestamp?: string }>): DayCounts {
  // Null-prototype: an event named `__proto__` or `constructor` is counted like any other.
  const out: DayCounts = Object.create(null);
  for (const e of events) {
    const day = (out[dayOf(e.timestamp)] ??= Object.create(null));
    day[e.event] = (day[e.event] ?? 0) + 1;
  }
  return out;
}

export function addDayCounts(a: DayCounts | undefined, b: DayCounts | undefined): DayCounts {
  const out: DayCounts = Object.create(null);
  for (const src of [a, b]) for (const [day, names] of Object.entries(src ?? {})) out[day] = addCounts(out[day], names);
  return out;
}

export const emptyStats = (): ChunkStats => ({ read: 0, sent: 0, rejected: 0, filtered: 0, duplicates: 0, events: 0, noTimestamp: 0, links: 0, linksRefused: 0, onceEvents: 0, onceRefused: 0, byReason: {}, byFilter: {} });

function addCounts(a: Record<string, number> | undefined, b: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = Object.assign(Object.create(null), a);
  for (const [k, v] of Object.entries(b ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

export function addStats(a: ChunkStats, b: ChunkStats): ChunkStats {
  return {
    read: a.read + b.read,
    sent: a.sent + b.sent,
    rejected: a.rejected + b.rejected,
    filtered: a.filtered + b.filtered,
    duplicates: a.duplicates + (b.duplicates ?? 0),
    events: a.events + b.events,
    noTimestamp: a.noTimestamp + b.noTimestamp,
    links: a.links + (b.links ?? 0),
    // Stats stored by an earlier version lack these.
    linksRefused: (a.linksRefused ?? 0) + (b.linksRefused ?? 0),
    onceEvents: (a.onceEvents ?? 0) + (b.onceEvents ?? 0),
    onceRefused: (a.onceRefused ?? 0) + (b.onceRefused ?? 0),
    byReason: addCounts(a.byReason, b.byReason),
    byFilter: addCounts(a.byFilter, b.byFilter),
    ...(a.sentByDay || b.sentByDay ? { sentByDay: addDayCounts(a.sentByDay, b.sentByDay) } : {}),
  };
}

export function countReasons(rejected: RejectedRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rejected) if (!r.derived) out[r.code] = (out[r.code] ?? 0) + 1;
  return out;
}

export interface FileReport {
  file: string;
  fileId: string;
  format: string;
  unit: RecordUnit;
  status: 'complete' | 'failed' | 'cancelled';
  chunks: number;
  records: ChunkStats;
  /** read = sent + rejected + filtered + duplicates; false would mean a bug, never silently. */
  reconciled: boolean;
  /** Set when the file could not be read to the end (e.g. truncated gzip). */
  error?: string;
  rejectedReport?: string;
  /** Cancelled: records of the file's chunks that were skipped unread. */
  notRead?: number;
  startedAt: string;
  completedAt: string;
}

export function buildReport(input: Omit<FileReport, 'reconciled' | 'status'> & { error?: string; cancelled?: boolean }): FileReport {
  const { cancelled, ...rest } = input;
  const r = input.records;
  return {
    ...rest,
    status: cancelled ? 'cancelled' : input.error ? 'failed' : 'complete',
    reconciled: r.read === r.sent + r.rejected + r.filtered + r.duplicates,
  };
}

/** The rejected report: one JSON line per record, with where it was and why. */
export function rejectedNdjson(fileUri: string, part: string | undefined, rows: RejectedRecord[]): string {
  return rows.map((r) => JSON.stringify({ file: fileUri, ...(part ? { member: part } : {}), line: r.n, ...(r.derived ? { derived: r.derived } : {}), code: r.code, reason: r.reason, record: r.record })).join('\n') + '\n';
}
