import { join } from 'node:path';
import { awsClients } from '../adapters/aws/clients';
import { DynamoStateStore, FileStateStore, type SourceState, type StateStore } from './state';
import { rateMs } from './windows';

export interface SourceStatus {
  name: string;
  type?: string;
  watermark?: string;
  lastRunAt?: string;
  lastSuccessAt?: string;
  /** The next scheduled run (rate schedules), or the cron expression. */
  nextRun?: string;
  /** How far the watermark is behind now (ms). */
  lagMs?: number;
  lastError?: string;
  /** Whether the last run ended in an error (a later success clears it). */
  failing: boolean;
}

/** Each pull source's standing, for `backfill status`. */
export async function sourceStatuses(store: StateStore, now = Date.now()): Promise<SourceStatus[]> {
  return (await store.list()).map((s) => statusOf(s, now));
}

export function statusOf(s: SourceState, now: number): SourceStatus {
  const rate = rateMs(s.schedule);
  const failing = Boolean(s.lastErrorAt && (!s.lastSuccessAt || s.lastErrorAt > s.lastSuccessAt));
  return {
    name: s.name,
    ...(s.type ? { type: s.type } : {}),
    ...(s.watermark ? { watermark: s.watermark, lagMs: Math.max(0, now - Date.parse(s.watermark)) } : {}),
    ...(s.lastRunAt ? { lastRunAt: s.lastRunAt } : {}),
    ...(s.lastSuccessAt ? { lastSuccessAt: s.lastSuccessAt } : {}),
    ...(rate && s.lastRunAt ? { nextRun: new Date(Date.parse(s.lastRunAt) + rate).toISOString() } : s.schedule ? { nextRun: s.schedule } : {}),
    ...(s.lastError ? { lastError: s.lastError } : {}),
    failing,
  };
}

const human = (ms: number) => (ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : ms < 172_800_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${(ms / 86_400_000).toFixed(1)} days`);

/** One line per source, plus its error when the last run failed. */
export function formatSourceStatuses(list: SourceStatus[]): string {
  const lines = ['pull sources:'];
  for (const s of list) {
    lines.push(
      `  ${s.name} [${s.type ?? '?'}] watermark ${s.watermark ?? 'none'}` +
        (s.lagMs !== undefined ? ` (lag ${human(s.lagMs)})` : '') +
        `, last success ${s.lastSuccessAt ?? 'never'}` +
        (s.nextRun ? `, next run ${s.nextRun}` : ''),
    );
    if (s.failing && s.lastError) lines.push(`    last error: ${s.lastError}`);
  }
  return lines.join('\n');
}

/** The pull sources a local state folder or the deployed checkpoint table knows. */
export async function sourceStatusFor(where: { stateDir?: string; table?: string }, now = Date.now()): Promise<SourceStatus[]> {
  if (where.table) return sourceStatuses(new DynamoStateStore(awsClients().ddb, where.table), now);
  return sourceStatuses(new FileStateStore(join(where.stateDir ?? '.backfill', 'sources')), now);
}
