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
  /** Events sent without a timestamp: PostHog stamps them with the time of ingestion. */
  noTimestamp: number;
  /** Device-to-user links sent (each pair once, ever). */
  links: number;
  byReason: Record<string, number>;
  byFilter: Record<string, number>;
}

export const emptyStats = (): ChunkStats => ({ read: 0, sent: 0, rejected: 0, filtered: 0, duplicates: 0, events: 0, noTimestamp: 0, links: 0, byReason: {}, byFilter: {} });

function addCounts(a: Record<string, number>, b: Record<string, number> | undefined): Record<string, number> {
  const out = { ...a };
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
    byReason: addCounts(a.byReason, b.byReason),
    byFilter: addCounts(a.byFilter, b.byFilter),
  };
}

export function countReasons(rejected: RejectedRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rejected) out[r.code] = (out[r.code] ?? 0) + 1;
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
  return rows.map((r) => JSON.stringify({ file: fileUri, ...(part ? { member: part } : {}), line: r.n, code: r.code, reason: r.reason, record: r.record })).join('\n') + '\n';
}
