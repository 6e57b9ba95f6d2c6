import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { awsClients } from '../adapters/aws/clients';
import { WORK_PREFIX } from '../adapters/aws/s3';
import { hogqlProperty, hogqlString, type PostHogQuery } from '../adapters/posthog-query';
import type { DayCounts, FileReport } from '../core/report';
import { compareCounts, dayRange, originOf, type Difference } from '../core/verify';

export interface FileVerdict {
  file: string;
  origin: string;
  status: 'agrees' | 'differs' | 'unverifiable';
  /** Events our report says PostHog accepted. */
  ours: number;
  /** Distinct uuids PostHog holds for the file. */
  posthog: number;
  differences: Difference[];
  note?: string;
}

export interface VerifyOptions {
  originProperty: string;
  /** Files per query (their origins go into one IN list). */
  filesPerQuery?: number;
  pageSize?: number;
}

/** The reports of every finished local import that posted to PostHog (not to an --out file). */
export async function localReports(stateDir: string): Promise<FileReport[]> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch {
    return [];
  }
  const out: FileReport[] = [];
  for (const name of names.filter((n) => /^[0-9a-f]{32}\.json$/.test(n)).sort()) {
    const state = JSON.parse(await readFile(join(stateDir, name), 'utf8')) as { manifest?: { status: string }; outBytes?: number };
    // An --out import records its output file's size with every chunk: nothing went to PostHog.
    if (state.manifest?.status !== 'reported' || state.outBytes !== undefined) continue;
    try {
      out.push(JSON.parse(await readFile(join(stateDir, 'reports', `${name.slice(0, -5)}.report.json`), 'utf8')) as FileReport);
    } catch {
      /* reported but its report is gone: nothing to compare */
    }
  }
  return out;
}

/** The reports of every finished file of a deployed stack (`_backfill/reports/` in the drop bucket). */
export async function bucketReports(bucket: string): Promise<FileReport[]> {
  const { s3 } = awsClients();
  const out: FileReport[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${WORK_PREFIX}reports/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (!o.Key?.endsWith('.report.json')) continue;
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
      out.push(JSON.parse(await res.Body!.transformToString()) as FileReport);
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

/**
 * The HogQL that counts, per file (origin), UTC day and event name, the distinct uuids PostHog
 * holds. Distinct uuids, because PostHog drops repeats eventually, not at once.
 */
export function countsQuery(originProperty: string, origins: string[], range: { from: string; to: string } | undefined, limit: number, offset: number): string {
  const origin = hogqlProperty(originProperty);
  const where = [`${origin} IN (${origins.map(hogqlString).join(', ')})`];
  if (range) where.push(`timestamp >= toDateTime(${hogqlString(`${range.from}T00:00:00Z`)})`, `timestamp < toDateTime(${hogqlString(`${range.to}T00:00:00Z`)})`);
  return [
    `SELECT ${origin} AS origin, toString(toDate(toTimeZone(timestamp, 'UTC'))) AS day, event, count(DISTINCT uuid) AS events`,
    'FROM events',
    `WHERE ${where.join(' AND ')}`,
    'GROUP BY origin, day, event',
    'ORDER BY origin, day, event',
    `LIMIT ${limit} OFFSET ${offset}`,
  ].join('\n');
}

/** Compares each finished file's report with what PostHog holds for it. */
export async function verifyReports(reports: FileReport[], client: PostHogQuery, opts: VerifyOptions): Promise<FileVerdict[]> {
  // The latest report per origin: a file imported again (new version) has the same events.
  const byOrigin = new Map<string, FileReport>();
  for (const r of reports) {
    const o = originOf(r);
    const seen = byOrigin.get(o);
    if (!seen || seen.completedAt < r.completedAt) byOrigin.set(o, r);
  }
  const verdicts: FileVerdict[] = [];
  const checkable: Array<[string, FileReport]> = [];
  for (const [origin, r] of byOrigin) {
    if (r.records.sentByDay) checkable.push([origin, r]);
    else verdicts.push({ file: r.file, origin, status: 'unverifiable', ours: r.records.events, posthog: 0, differences: [], note: 'the report has no per-day counts (written by an older version): import it again to check it' });
  }
  const size = opts.filesPerQuery ?? 50;
  for (let i = 0; i < checkable.length; i += size) {
    const batch = checkable.slice(i, i + size);
    const counts = batch.map(([, r]) => r.records.sentByDay!);
    // Events without a timestamp are dated by ingestion: no range can hold them.
    const range = counts.some((c) => c.none) ? undefined : dayRange(counts);
    const held = new Map<string, DayCounts>();
    const origins = batch.map(([o]) => o);
    for await (const row of client.rows((limit, offset) => countsQuery(opts.originProperty, origins, range, limit, offset), opts.pageSize)) {
      const [origin, day, event, n] = row as [string, string, string, number | string];
      const c = held.get(origin) ?? held.set(origin, {}).get(origin)!;
      const d = (c[day] ??= {});
      d[event] = (d[event] ?? 0) + Number(n);
    }
    for (const [origin, r] of batch) {
      const ours = r.records.sentByDay!;
      const theirs = held.get(origin) ?? {};
      const differences = compareCounts(ours, theirs);
      verdicts.push({ file: r.file, origin, status: differences.length ? 'differs' : 'agrees', ours: total(ours), posthog: total(theirs), differences });
    }
  }
  return verdicts.sort((a, b) => a.file.localeCompare(b.file));
}

const total = (c: DayCounts) => Object.values(c).reduce((n, byName) => n + Object.values(byName).reduce((a, b) => a + b, 0), 0);
const num = (v: number) => v.toLocaleString('en-US');

export function formatVerify(verdicts: FileVerdict[], originProperty: string): string {
  if (!verdicts.length) return 'no finished imports found to verify';
  const out: string[] = [];
  for (const v of verdicts) {
    const head = `${v.file} (${originProperty} = "${v.origin}")`;
    if (v.status === 'agrees') out.push(`${head}: PostHog agrees, ${num(v.ours)} events`);
    else if (v.status === 'unverifiable') out.push(`${head}: cannot verify: ${v.note}`);
    else {
      out.push(`${head}: ${v.differences.length} difference${v.differences.length === 1 ? '' : 's'} (ours ${num(v.ours)} events, PostHog ${num(v.posthog)})`);
      for (const d of v.differences) {
        const gap = d.posthog - d.ours;
        out.push(`  ${d.day} ${d.event}: ours ${num(d.ours)}, PostHog ${num(d.posthog)} (${gap < 0 ? `${num(-gap)} missing in PostHog` : `${num(gap)} more in PostHog`})`);
      }
    }
  }
  const bad = verdicts.filter((v) => v.status !== 'agrees').length;
  out.push(bad ? `${bad} of ${verdicts.length} files differ from PostHog or cannot be checked` : `PostHog agrees with all ${verdicts.length} files`);
  return out.join('\n');
}
