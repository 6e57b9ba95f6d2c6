import type { FileRef } from '../core/messages';
import type { ChunkStats } from '../core/report';

// The pipeline and the sink count what they do through this port; the Lambdas publish it as
// CloudWatch metrics (EMF, Powertools), local mode counts in memory or ignores it.

export type MetricUnit = 'Count' | 'Milliseconds' | 'Count/Second';
export type Dimensions = Record<string, string>;

export interface MetricsPort {
  add(name: string, value: number, unit?: MetricUnit, dims?: Dimensions): void;
}

/** Every metric name, in one place: the dashboard and alarms read the same names. */
export const METRIC = {
  recordsRead: 'RecordsRead',
  recordsSent: 'RecordsSent',
  recordsRejected: 'RecordsRejected',
  rejectedByReason: 'RejectedByReason',
  recordsFiltered: 'RecordsFiltered',
  duplicates: 'Duplicates',
  eventsSent: 'EventsSent',
  linksSent: 'LinksSent',
  chunksDone: 'ChunksDone',
  chunksFailed: 'ChunksFailed',
  chunksCancelled: 'ChunksCancelled',
  chunkDuration: 'ChunkDuration',
  eventsPerSecond: 'EventsPerSecond',
  captureResponses: 'CaptureResponses',
  captureRetries: 'CaptureRetries',
  bisections: 'Bisections',
  rateBudgetWaits: 'RateBudgetWaits',
  rateBudgetWaitTime: 'RateBudgetWaitTime',
  filesStalled: 'FilesStalled',
  filesActive: 'FilesActive',
  filesSplit: 'FilesSplit',
  chunksQueued: 'ChunksQueued',
  splitHandOvers: 'SplitHandOvers',
} as const;

export const noMetrics: MetricsPort = { add: () => undefined };

/** Counts in memory (local mode, tests): totals by name and dimensions. */
export class CountingMetrics implements MetricsPort {
  readonly totals = new Map<string, number>();
  add(name: string, value: number, _unit?: MetricUnit, dims: Dimensions = {}): void {
    const key = [name, ...Object.entries(dims).map(([k, v]) => `${k}=${v}`)].join(' ');
    this.totals.set(key, (this.totals.get(key) ?? 0) + value);
  }
  get(name: string, dims: Dimensions = {}): number {
    return this.totals.get([name, ...Object.entries(dims).map(([k, v]) => `${k}=${v}`)].join(' ')) ?? 0;
  }
}

/**
 * The import a file belongs to, as the dashboard groups progress: the folder its key sits in
 * (`posthog/amplitude/2024`), or the local file's name.
 */
export function importOf(file: FileRef): string {
  const path = file.key ?? file.uri;
  const slash = path.lastIndexOf('/');
  return (slash > 0 ? path.slice(0, slash) : path) || '/';
}

/** What one done chunk did, by import; rejections also by reason (a small, fixed set). */
export function recordChunk(m: MetricsPort, file: FileRef, stats: ChunkStats, ms: number): void {
  const dims = { Import: importOf(file) };
  m.add(METRIC.chunksDone, 1, 'Count', dims);
  m.add(METRIC.recordsRead, stats.read, 'Count', dims);
  m.add(METRIC.recordsSent, stats.sent, 'Count', dims);
  m.add(METRIC.recordsRejected, stats.rejected, 'Count', dims);
  m.add(METRIC.recordsFiltered, stats.filtered, 'Count', dims);
  m.add(METRIC.duplicates, stats.duplicates, 'Count', dims);
  m.add(METRIC.eventsSent, stats.events, 'Count', dims);
  m.add(METRIC.linksSent, stats.links, 'Count', dims);
  m.add(METRIC.chunkDuration, ms, 'Milliseconds');
  if (ms > 0) m.add(METRIC.eventsPerSecond, Math.round((stats.events * 1000) / ms), 'Count/Second');
  for (const [reason, n] of Object.entries(stats.byReason)) m.add(METRIC.rejectedByReason, n, 'Count', { Reason: reason });
}
