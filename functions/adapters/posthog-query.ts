import { z } from 'zod';

/**
 * PostHog's query API (`POST /api/projects/:id/query/` with a HogQLQuery), authenticated with a
 * personal API key (scope `query:read`). Waits out 429s as Retry-After says, retries 5xx and
 * network errors a few times, and fails at once on 401/403 (a wrong key does not get better).
 */
export interface QueryClientOptions {
  host: string;
  projectId: string | number;
  personalApiKey: string;
  /** Tries per request (429s and 5xx). */
  attempts?: number;
  /** First backoff for 5xx and network errors (doubles each time). */
  retryDelayMs?: number;
  /** Longest Retry-After honoured; a longer one is waited only this long. */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
}

/** The part of PostHog's HogQLQueryResponse we read. */
const HogQLResponse = z.object({
  results: z.array(z.array(z.unknown())),
  columns: z.array(z.string()).optional(),
  types: z.array(z.unknown()).optional(),
  hasMore: z.boolean().nullish(),
  limit: z.number().nullish(),
  offset: z.number().nullish(),
});
export type HogQLResponse = z.infer<typeof HogQLResponse>;

export class QueryAuthError extends Error {}

export class PostHogQuery {
  /** Requests answered 429, and the time waited for them (for the user, and for tests). */
  throttled = 0;
  requests = 0;
  constructor(private readonly o: QueryClientOptions) {}

  async hogql(query: string): Promise<HogQLResponse> {
    const url = `${this.o.host.replace(/\/+$/, '')}/api/projects/${encodeURIComponent(String(this.o.projectId))}/query/`;
    const body = JSON.stringify({ query: { kind: 'HogQLQuery', query } });
    const attempts = this.o.attempts ?? 6;
    let delay = this.o.retryDelayMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        this.requests++;
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.o.personalApiKey}` },
          body,
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 120_000),
        });
      } catch (err) {
        if (attempt >= attempts) throw new Error(`PostHog query API unreachable at ${url}: ${(err as Error).message}`);
        await sleep(delay);
        delay *= 2;
        continue;
      }
      if (res.ok) {
        const parsed = HogQLResponse.safeParse(await res.json());
        if (!parsed.success) throw new Error(`PostHog query API answered an unexpected shape: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        return parsed.data;
      }
      const detail = await errorDetail(res);
      if (res.status === 401 || res.status === 403) {
        throw new QueryAuthError(`PostHog refused the personal API key (${res.status}${detail ? `: ${detail}` : ''}); it needs the query:read scope on project ${this.o.projectId}`);
      }
      const retryable = res.status === 429 || res.status >= 500;
      if (!retryable || attempt >= attempts) throw new Error(`PostHog query API answered ${res.status}${detail ? `: ${detail}` : ''}`);
      if (res.status === 429) {
        this.throttled++;
        await sleep(Math.min(retryAfterMs(res.headers.get('retry-after')) ?? delay, this.o.maxRetryAfterMs ?? 300_000));
      } else {
        await sleep(delay);
      }
      delay *= 2;
    }
  }

  /**
   * Every row of a query, page by page: `build(limit, offset)` must return the query with that
   * LIMIT and OFFSET (and an ORDER BY, so pages do not overlap). PostHog returns at most 50,000
   * rows per query, so a page size above that would end the listing early.
   */
  async *rows(build: (limit: number, offset: number) => string, pageSize = 10_000): AsyncGenerator<unknown[]> {
    if (pageSize > 50_000) throw new Error('page size over PostHog\'s 50,000-row limit');
    for (let offset = 0; ; offset += pageSize) {
      const page = await this.hogql(build(pageSize, offset));
      yield* page.results;
      if (page.results.length < pageSize && !page.hasMore) return;
    }
  }
}

/** Retry-After as seconds or an HTTP date. */
function retryAfterMs(v: string | null): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

async function errorDetail(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const j = JSON.parse(text) as { detail?: unknown };
    if (typeof j.detail === 'string') return j.detail.slice(0, 300);
  } catch {
    /* not JSON */
  }
  return text.slice(0, 200);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A HogQL string literal. */
export function hogqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `properties.<name>`, quoted when the name is not a plain identifier. */
export function hogqlProperty(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `properties.${name}` : `properties.\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}
