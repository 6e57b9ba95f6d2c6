import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for PostHog's query API (`POST /api/projects/:id/query/`, HogQLQuery) on loopback.
 * It answers the one HogQL query `backfill verify` sends (distinct uuids per origin, UTC day and
 * event) from a list of stored events, in PostHog's response shape (`results`, `columns`,
 * `types`, `hasMore`, `limit`, `offset`), with its failure modes: 401 for a wrong personal key,
 * 404 for another project, 429 with Retry-After, 400 for a query it cannot read, LIMIT capped at
 * 50,000 rows, and a default of 100 rows with `hasMore` when the query has no LIMIT.
 */
export interface StoredEvent {
  uuid: string;
  event: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
}

export interface QueryStandInOptions {
  apiKey: string;
  projectId: number;
  /** What PostHog holds; repeats of a uuid stand for rows not merged yet. */
  events: () => Iterable<StoredEvent>;
  /** PostHog's cap on rows per query. */
  maxRows?: number;
}

export type QueryFault = { status: number; retryAfter?: string };

export class QueryStandIn {
  readonly queries: string[] = [];
  /** Answers by status. */
  answered: Record<number, number> = {};
  private faults: QueryFault[] = [];
  private server: Server;
  url = '';

  constructor(private readonly o: QueryStandInOptions) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** The next requests meet these answers, in order. */
  fail(...faults: QueryFault[]): void {
    this.faults.push(...faults);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const b of req) parts.push(b as Buffer);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.answered[status] = (this.answered[status] ?? 0) + 1;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const m = /^\/api\/projects\/([^/]+)\/query\/?$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return send(404, { type: 'invalid_request', code: 'not_found', detail: 'Not found.' });
    if (req.headers.authorization !== `Bearer ${this.o.apiKey}`) {
      return send(401, { type: 'authentication_error', code: 'authentication_failed', detail: 'Personal API key found in request Authorization header is invalid.', attr: null });
    }
    if (m[1] !== String(this.o.projectId)) return send(404, { type: 'invalid_request', code: 'not_found', detail: 'Not found.' });
    const fault = this.faults.shift();
    if (fault) {
      const detail = fault.status === 429 ? `Request was throttled. Expected available in ${fault.retryAfter ?? 1} seconds.` : 'Server error';
      return send(fault.status, { type: fault.status === 429 ? 'throttled_error' : 'server_error', detail }, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
    }
    let body: { query?: { kind?: string; query?: string } };
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      return send(400, { type: 'validation_error', detail: 'Malformed JSON' });
    }
    if (body.query?.kind !== 'HogQLQuery' || typeof body.query.query !== 'string') return send(400, { type: 'validation_error', detail: 'query.kind must be HogQLQuery' });
    this.queries.push(body.query.query);
    const parsed = parseCountsQuery(body.query.query);
    if (typeof parsed === 'string') return send(400, { type: 'validation_error', code: 'invalid_input', detail: parsed });
    send(200, this.answer(parsed, body.query.query));
  }

  private answer(q: CountsQuery, hogql: string) {
    const counts = new Map<string, Set<string>>();
    const now = new Date().toISOString();
    for (const e of this.o.events()) {
      const origin = e.properties?.[q.property];
      if (typeof origin !== 'string' || !q.origins.includes(origin)) continue;
      const ts = e.timestamp ?? now; // no timestamp: PostHog stamps the time of ingestion
      if (q.from && ts < q.from) continue;
      if (q.to && ts >= q.to) continue;
      const key = JSON.stringify([origin, ts.slice(0, 10), e.event]);
      (counts.get(key) ?? counts.set(key, new Set()).get(key)!).add(e.uuid);
    }
    const rows = [...counts].map(([k, uuids]) => [...(JSON.parse(k) as string[]), uuids.size]).sort((a, b) => cmp(a, b));
    const cap = this.o.maxRows ?? 50_000;
    const paginated = q.limit === undefined;
    const limit = Math.min(q.limit ?? 100, cap);
    // Without a LIMIT, PostHog's paginator asks for one more row than it returns to set hasMore.
    const page = rows.slice(q.offset, q.offset + limit);
    return {
      results: page,
      columns: ['origin', 'day', 'event', 'events'],
      types: [
        ['origin', 'String'],
        ['day', 'String'],
        ['event', 'String'],
        ['events', 'UInt64'],
      ],
      hasMore: paginated ? rows.length > q.offset + limit : null,
      ...(paginated ? { limit, offset: q.offset } : {}),
      hogql,
      is_cached: false,
      timings: [],
      modifiers: {},
      query_status: null,
    };
  }
}

interface CountsQuery {
  property: string;
  origins: string[];
  from?: string;
  to?: string;
  limit?: number;
  offset: number;
}

const STRING = /'((?:\\.|[^'\\])*)'/g;
const unescape = (s: string) => s.replace(/\\(.)/g, '$1');

/** Reads just enough of the query verify generates; anything else is a 400, as in PostHog. */
export function parseCountsQuery(q: string): CountsQuery | string {
  const select = /^SELECT properties\.(?:([A-Za-z_$][\w$]*)|`((?:\\.|[^`\\])*)`) AS origin, toString\(toDate\(toTimeZone\(timestamp, 'UTC'\)\)\) AS day, event, count\(DISTINCT uuid\) AS events\nFROM events\nWHERE /.exec(q);
  if (!select) return 'Syntax error: unexpected SELECT';
  const property = select[1] ?? unescape(select[2]!);
  const inList = /AS origin[\s\S]*?WHERE properties\.(?:[\w$]+|`(?:\\.|[^`\\])*`) IN \(((?:'(?:\\.|[^'\\])*'(?:, )?)+)\)/.exec(q);
  if (!inList) return 'Syntax error: expected IN list of origins';
  const origins = [...inList[1]!.matchAll(STRING)].map((m) => unescape(m[1]!));
  const from = /timestamp >= toDateTime\('([^']+)'\)/.exec(q)?.[1];
  const to = /timestamp < toDateTime\('([^']+)'\)/.exec(q)?.[1];
  if (!/\nGROUP BY origin, day, event\nORDER BY origin, day, event(\n|$)/.test(q)) return 'Syntax error: expected GROUP BY and ORDER BY origin, day, event';
  const lim = /\nLIMIT (\d+) OFFSET (\d+)$/.exec(q);
  return {
    property,
    origins,
    ...(from ? { from: new Date(from).toISOString() } : {}),
    ...(to ? { to: new Date(to).toISOString() } : {}),
    ...(lim ? { limit: Number(lim[1]) } : {}),
    offset: lim ? Number(lim[2]) : 0,
  };
}

function cmp(a: unknown[], b: unknown[]): number {
  for (let i = 0; i < 3; i++) {
    const x = String(a[i]);
    const y = String(b[i]);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
