import { basename } from 'node:path';
import type { DayCounts, FileReport } from './report';

/** One (day, event) where PostHog and our report disagree. `day` is `all days` for pooled events. */
export interface Difference {
  day: string;
  event: string;
  ours: number;
  posthog: number;
}

/**
 * The origin property's value on a file's events: the sender tags the object's s3:// uri, local
 * mode the file's name (see the `origin` of each in sender/handler.ts and cli/import.ts).
 */
export function originOf(report: Pick<FileReport, 'file'>): string {
  return report.file.startsWith('s3://') ? report.file : basename(report.file);
}

/**
 * Compares our sent counts with PostHog's distinct uuids, day by day and event by event. Events
 * we sent without a timestamp land on the day PostHog ingested them, which we cannot know: for
 * an event name that has any, the totals over all days are compared instead.
 */
export function compareCounts(ours: DayCounts, posthog: DayCounts): Difference[] {
  const undated = ours.none ?? {};
  const diffs: Difference[] = [];
  const days = new Set([...Object.keys(ours), ...Object.keys(posthog)].filter((d) => d !== 'none'));
  for (const day of [...days].sort()) {
    const names = new Set([...Object.keys(ours[day] ?? {}), ...Object.keys(posthog[day] ?? {})]);
    for (const event of [...names].sort()) {
      if (undated[event]) continue;
      const a = ours[day]?.[event] ?? 0;
      const b = posthog[day]?.[event] ?? 0;
      if (a !== b) diffs.push({ day, event, ours: a, posthog: b });
    }
  }
  for (const event of Object.keys(undated).sort()) {
    const total = (c: DayCounts) => Object.values(c).reduce((n, byName) => n + (byName[event] ?? 0), 0);
    const a = total(ours);
    const b = total(posthog);
    if (a !== b) diffs.push({ day: 'all days', event, ours: a, posthog: b });
  }
  return diffs;
}

/** The UTC day range [from, to) that holds every dated event of these counts. */
export function dayRange(counts: DayCounts[]): { from: string; to: string } | undefined {
  const days = counts.flatMap((c) => Object.keys(c)).filter((d) => d !== 'none').sort();
  if (!days.length) return undefined;
  const last = new Date(`${days[days.length - 1]}T00:00:00Z`);
  last.setUTCDate(last.getUTCDate() + 1);
  return { from: days[0]!, to: last.toISOString().slice(0, 10) };
}
