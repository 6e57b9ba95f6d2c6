import { Readable } from 'node:stream';
import { z } from 'zod';
import { send, DEFAULT_RETRY, type RetryPolicy } from './http';
import type { PullSource } from './types';
import { day, HOUR_MS, iso, stamp, type Window } from './windows';

export const PostHogConfig = z
  .object({
    type: z.literal('posthog'),
    projectId: z.coerce.string().regex(/^\d+$/, 'a numeric PostHog project id'),
    /** The app host of the source instance: https://us.posthog.com, https://eu.posthog.com or self-hosted. */
    baseUrl: z.string().url().default('https://us.posthog.com'),
    windowHours: z.number().int().min(1).max(24 * 31).default(1),
    /** PostHog ingests with a small delay: the last hour is pulled again on the next run. */
    latenessHours: z.number().int().min(0).default(1),
    /** Rows per query page. */
    pageSize: z.number().int().min(1).max(50_000).default(10_000),
    /** Also pull persons (in full) into a users file. */
    persons: z.boolean().default(false),
  })
  .strict();
export type PostHogConfig = z.infer<typeof PostHogConfig>;

export const PostHogCredentials = z.object({ personalApiKey: z.string().min(1) });
export type PostHogCredentials = z.infer<typeof PostHogCredentials>;

/** omniload's form: `posthog://?personal_api_key=…&project_id=…&base_url=…`. */
export function parsePostHogUri(uri: string): { personalApiKey: string; projectId?: string; baseUrl?: string } {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error('--source-uri is not a URI (expected posthog://?personal_api_key=…&project_id=…&base_url=…)');
  }
  if (u.protocol !== 'posthog:') throw new Error('--source-uri must start with posthog://');
  const key = u.searchParams.get('personal_api_key');
  if (!key) throw new Error('--source-uri has no personal_api_key');
  const projectId = u.searchParams.get('project_id') ?? undefined;
  const baseUrl = u.searchParams.get('base_url') ?? undefined;
  return { personalApiKey: key, ...(projectId ? { projectId } : {}), ...(baseUrl ? { baseUrl } : {}) };
}

// Exactly the columns the posthog-export format reads. Pages follow one another by keyset on
// (timestamp, uuid as text), the same order as ORDER BY, so no row is skipped or repeated.
// HogQL's toDateTime(text, 6) parses ISO 8601 (best effort) keeping microseconds.
const EVENT_COLUMNS = ['uuid', 'event', 'distinct_id', 'timestamp', 'properties', 'elements_chain', 'created_at'];
export const EVENTS_QUERY = (limit: number) =>
  `SELECT ${EVENT_COLUMNS.join(', ')} FROM events ` +
  `WHERE timestamp >= toDateTime({start}, 6) AND timestamp < toDateTime({end}, 6) ` +
  `AND (timestamp > toDateTime({after_ts}, 6) OR (timestamp = toDateTime({after_ts}, 6) AND toString(uuid) > {after_uuid})) ` +
  `ORDER BY timestamp, toString(uuid) LIMIT ${limit}`;
export const PERSONS_QUERY = (limit: number) =>
  `SELECT distinct_id, person.properties AS properties FROM person_distinct_ids WHERE distinct_id > {after} ORDER BY distinct_id LIMIT ${limit}`;

interface QueryAnswer {
  results: unknown[][];
  columns: string[];
  hasMore?: boolean;
}

/**
 * PostHog's query API (`POST /api/projects/:id/query/`, a HogQL query, personal API key as
 * Bearer): events by time window, page by page, written as one JSON object per line (the
 * columns zipped with each row, values untouched) so the posthog-export format reads them
 * with their own uuids. One page is held at a time.
 */
export function posthogSource(cfg: PostHogConfig, creds: PostHogCredentials, retry: RetryPolicy = DEFAULT_RETRY): PullSource {
  const base = cfg.baseUrl.replace(/\/+$/, '');
  const query = async (hogql: string, values: Record<string, string>, what: string): Promise<QueryAnswer> => {
    const res = await send(
      {
        url: `${base}/api/projects/${cfg.projectId}/query/`,
        method: 'POST',
        headers: { authorization: `Bearer ${creds.personalApiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: { kind: 'HogQLQuery', query: hogql, values } }),
        what,
      },
      retry,
    );
    let text = '';
    for await (const b of res!) text += String(b);
    const body = JSON.parse(text) as QueryAnswer;
    if (!Array.isArray(body.results) || !Array.isArray(body.columns)) throw new Error(`${what}: the answer has no results/columns`);
    return body;
  };
  const rowsToLines = (a: QueryAnswer, fix: (o: Record<string, unknown>) => unknown) =>
    a.results.map((row) => JSON.stringify(fix(Object.fromEntries(a.columns.map((c, i) => [c, row[i]]))))).join('\n') + '\n';

  // Runs the first page before answering, so an empty window writes no object and a refused key
  // fails the window before anything is written.
  const paged = async (
    first: QueryAnswer,
    next: (last: Record<string, unknown>) => Promise<QueryAnswer>,
    fix: (o: Record<string, unknown>) => unknown = (o) => o,
  ): Promise<Readable | undefined> => {
    if (!first.results.length) return undefined;
    async function* pages() {
      let page = first;
      for (;;) {
        yield Buffer.from(rowsToLines(page, fix));
        if (page.results.length < cfg.pageSize && !page.hasMore) return;
        const lastRow = page.results[page.results.length - 1]!;
        page = await next(Object.fromEntries(page.columns.map((c, i) => [c, lastRow[i]])));
        if (!page.results.length) return;
      }
    }
    return Readable.from(pages(), { objectMode: false });
  };

  return {
    type: 'posthog',
    windowMs: cfg.windowHours * HOUR_MS,
    wholeCells: false,
    availableAfterMs: 0,
    latenessMs: cfg.latenessHours * HOUR_MS,
    key: (w: Window) => `${day(w.start)}/posthog-events-${stamp(w.start)}-${stamp(w.end)}.jsonl`,
    async fetch(w) {
      const what = `PostHog events ${iso(w.start)}..${iso(w.end)}`;
      const values = (ts: string, uuid: string) => ({ start: iso(w.start), end: iso(w.end), after_ts: ts, after_uuid: uuid });
      const first = await query(EVENTS_QUERY(cfg.pageSize), values(iso(w.start - 1), ''), what);
      return paged(first, (last) => query(EVENTS_QUERY(cfg.pageSize), values(String(last.timestamp), String(last.uuid)), what));
    },
    ...(cfg.persons
      ? {
          snapshot: () => ({
            key: 'persons/posthog-persons.users.jsonl',
            async fetch() {
              const first = await query(PERSONS_QUERY(cfg.pageSize), { after: '' }, 'PostHog persons');
              // The users format wants person properties as an object; HogQL gives JSON text.
              const props = (o: Record<string, unknown>) => (typeof o.properties === 'string' ? { ...o, properties: JSON.parse(o.properties || '{}') } : o);
              return paged(first, (last) => query(PERSONS_QUERY(cfg.pageSize), { after: String(last.distinct_id) }, 'PostHog persons'), props);
            },
          }),
        }
      : {}),
  };
}
