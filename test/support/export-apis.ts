import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { zipOf } from './vendors';

/**
 * Stand-ins of the vendors' export APIs on loopback, shaped from their docs: Amplitude's Export
 * API, Mixpanel's raw export and PostHog's query API. Each checks credentials, answers "no data"
 * the vendor's way, and meets scripted faults: a status (429 with Retry-After, 5xx), or a reset
 * after half of a body was sent.
 */
export type ExportFault = { kind: 'status'; status: number; retryAfter?: number } | { kind: 'midBodyReset' } | { kind: 'pass' };

abstract class StandIn {
  private server: Server;
  private faults: ExportFault[] = [];
  private always: ExportFault | undefined;
  url = '';
  requests = 0;
  /** Answers that carried data, in order: what each request asked for. */
  served: string[] = [];
  injected = { status: 0, reset: 0 };
  inFlight = 0;
  maxInFlight = 0;

  constructor() {
    this.server = createServer((req, res) => void this.entry(req, res));
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

  fail(...f: ExportFault[]): void {
    this.faults.push(...f);
  }

  outage(f: ExportFault | undefined): void {
    this.always = f;
  }

  private async entry(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.on('close', () => this.inFlight--);
    let body = '';
    for await (const b of req) body += String(b);
    const fault = this.always ?? this.faults.shift();
    if (fault?.kind === 'status') {
      this.injected.status++;
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}) });
      res.end(JSON.stringify({ error: `injected ${fault.status}` }));
      return;
    }
    const answer = await this.answer(req, body);
    if (answer.status !== 200 || !answer.body) {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.status === 200 ? '' : JSON.stringify({ error: answer.error ?? 'error' }));
      return;
    }
    this.served.push(answer.what ?? '');
    res.writeHead(200, { 'content-type': answer.type, 'content-length': answer.body.length, ...(answer.encoding ? { 'content-encoding': answer.encoding } : {}) });
    if (fault?.kind === 'midBodyReset') {
      this.injected.reset++;
      res.write(answer.body.subarray(0, Math.floor(answer.body.length / 2)), () => setTimeout(() => req.socket.destroy(), 10));
      return;
    }
    res.end(answer.body);
  }

  protected abstract answer(req: IncomingMessage, body: string): Promise<{ status: number; body?: Buffer; type?: string; encoding?: string; error?: string; what?: string }>;

  protected basicOk(req: IncomingMessage, user: string, secret: string): boolean {
    return req.headers.authorization === `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Amplitude Export API: `GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH`, both hours
 * inclusive, by upload time; HTTP Basic (API key : secret key); a zip of one gzipped JSON file per
 * hour (`<project>/<project>_<YYYY-MM-DD>_<H>#0.json.gz`); 404 when the range has no data;
 * 400 for a malformed range.
 */
export class AmplitudeExportStandIn extends StandIn {
  /** Records by upload hour (epoch ms of the hour). */
  readonly hours = new Map<number, Array<Record<string, unknown>>>();
  constructor(readonly creds = { apiKey: 'amp-key', secretKey: 'amp-secret' }, readonly project = '187520') {
    super();
  }

  /** Adds records uploaded in the hour starting at `hourMs` (late data: add to a past hour). */
  add(hourMs: number, records: Array<Record<string, unknown>>): void {
    this.hours.set(hourMs, [...(this.hours.get(hourMs) ?? []), ...records]);
  }

  protected async answer(req: IncomingMessage) {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/api/2/export') return { status: 404, error: 'not found' };
    if (!this.basicOk(req, this.creds.apiKey, this.creds.secretKey)) return { status: 401, error: 'Invalid API key' };
    const hour = (s: string | null) => {
      const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})$/.exec(s ?? '');
      return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!) : undefined;
    };
    const start = hour(u.searchParams.get('start'));
    const end = hour(u.searchParams.get('end'));
    if (start === undefined || end === undefined || end < start) return { status: 400, error: 'start and end must be YYYYMMDDTHH' };
    const members: Array<{ name: string; lines: string[] }> = [];
    for (let h = start; h <= end; h += 3_600_000) {
      const recs = this.hours.get(h);
      if (!recs?.length) continue;
      const d = new Date(h);
      const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
      members.push({ name: `${this.project}/${this.project}_${day}_${d.getUTCHours()}#0.json.gz`, lines: recs.map((r) => JSON.stringify(r)) });
    }
    if (!members.length) return { status: 404, error: 'Raw data files were not found.' };
    return { status: 200, body: await zipOf(members), type: 'application/zip', what: `${u.searchParams.get('start')}-${u.searchParams.get('end')}` };
  }
}

/**
 * Mixpanel raw export: `GET /api/2.0/export?project_id&from_date&to_date` (days, inclusive),
 * service account over HTTP Basic, NDJSON (gzipped when the client accepts gzip), an empty body
 * for a day without events. Rate limits as documented, answered with 429: at most
 * `maxConcurrent` queries at once and `perHour` per hour.
 */
export class MixpanelExportStandIn extends StandIn {
  readonly days = new Map<string, string[]>();
  private hourly = 0;
  /** Requests refused by the rate limits. */
  rateLimited = 0;
  private limitedSince: number | undefined;
  constructor(
    readonly creds = { username: 'sa.user', secret: 'sa-secret' },
    readonly projectId = '3141',
    readonly limits: { maxConcurrent?: number; perHour?: number; hourMs?: number; delayMs?: number } = {},
  ) {
    super();
  }

  add(lines: string[]): void {
    for (const l of lines) {
      const t = Number((JSON.parse(l) as { properties: { time: number } }).properties.time);
      const day = new Date(t > 1e10 ? t : t * 1000).toISOString().slice(0, 10);
      this.days.set(day, [...(this.days.get(day) ?? []), l]);
    }
  }

  protected async answer(req: IncomingMessage) {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/api/2.0/export') return { status: 404, error: 'not found' };
    if (!this.basicOk(req, this.creds.username, this.creds.secret)) return { status: 401, error: 'Unauthorized' };
    if (u.searchParams.get('project_id') !== this.projectId) return { status: 400, error: 'project_id is required' };
    // The hour is played in `hourMs`: once over the quota, it frees up that long after the first refusal.
    if (this.limitedSince !== undefined && Date.now() - this.limitedSince >= (this.limits.hourMs ?? Infinity)) this.newHour();
    if ((this.limits.maxConcurrent && this.inFlight > this.limits.maxConcurrent) || (this.limits.perHour && ++this.hourly > this.limits.perHour)) {
      this.rateLimited++;
      this.limitedSince ??= Date.now();
      return { status: 429, error: 'rate limit' };
    }
    if (this.limits.delayMs) await new Promise((r) => setTimeout(r, this.limits.delayMs));
    const from = u.searchParams.get('from_date') ?? '';
    const to = u.searchParams.get('to_date') ?? '';
    if (!/^\d{4}-\d{2}-\d{2}$/.test(from) || !/^\d{4}-\d{2}-\d{2}$/.test(to)) return { status: 400, error: 'from_date and to_date are required' };
    const lines = [...this.days.entries()].filter(([d]) => d >= from && d <= to).sort().flatMap(([, l]) => l);
    const text = Buffer.from(lines.map((l) => `${l}\n`).join(''));
    const gzip = /gzip/.test(String(req.headers['accept-encoding'] ?? ''));
    if (!lines.length) return { status: 200, body: Buffer.alloc(0), type: 'text/plain' };
    return { status: 200, body: gzip ? gzipSync(text) : text, type: 'text/plain', ...(gzip ? { encoding: 'gzip' } : {}), what: `${from}..${to}` };
  }

  /** Resets the hourly quota (a new hour). */
  newHour(): void {
    this.hourly = 0;
    this.limitedSince = undefined;
  }
}

/** `2024-03-01T05:00:00.123Z` or with 6 digits → a string that sorts by time (µs). */
const norm = (ts: string) => {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?/.exec(ts);
  return m ? `${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(6, '0')}` : ts;
};

export interface PostHogRow {
  uuid: string;
  event: string;
  distinct_id: string;
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as HogQL gives DateTime64 values. */
  timestamp: string;
  properties: Record<string, unknown>;
  elements_chain?: string;
  created_at?: string;
}

/**
 * PostHog's query API: `POST /api/projects/:id/query/` with `{"query": {"kind": "HogQLQuery",
 * "query", "values"}}`, a personal API key as Bearer; `{results, columns, hasMore, types}`.
 * It understands the two queries the puller sends (events by time window with a keyset, person
 * distinct ids after one), reading the SELECT list, the values and the LIMIT. `properties` come
 * back as JSON text, as HogQL returns them.
 */
export class PostHogQueryStandIn extends StandIn {
  events: PostHogRow[] = [];
  persons: Array<{ distinct_id: string; properties: Record<string, unknown> }> = [];
  queries: Array<Record<string, string>> = [];
  constructor(readonly personalApiKey = 'phx_personal', readonly projectId = '42') {
    super();
  }

  protected async answer(req: IncomingMessage, raw: string) {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'POST' || u.pathname !== `/api/projects/${this.projectId}/query/`) return { status: 404, error: 'Not found.' };
    if (req.headers.authorization !== `Bearer ${this.personalApiKey}`) return { status: 401, error: 'Invalid personal API key.' };
    let q: { kind?: string; query?: string; values?: Record<string, string> };
    try {
      q = (JSON.parse(raw) as { query: typeof q }).query;
    } catch {
      return { status: 400, error: 'invalid JSON' };
    }
    if (q?.kind !== 'HogQLQuery' || typeof q.query !== 'string') return { status: 400, error: 'query.kind must be HogQLQuery' };
    const sel = /^SELECT (.+?) FROM (\w+)/.exec(q.query);
    const limit = Number(/LIMIT (\d+)\s*$/.exec(q.query)?.[1] ?? 100);
    if (!sel) return { status: 400, error: 'unsupported query' };
    const columns = sel[1]!.split(',').map((c) => c.trim().split(/\s+AS\s+/i).pop()!.split('.').pop()!);
    const v = q.values ?? {};
    this.queries.push(v);
    let rows: Array<Record<string, unknown>>;
    if (sel[2] === 'events') {
      const [start, end, ts, id] = [norm(v.start!), norm(v.end!), norm(v.after_ts!), v.after_uuid ?? ''];
      rows = this.events
        .map((e) => ({ ...e, k: norm(e.timestamp) }))
        .filter((e) => e.k >= start && e.k < end && (e.k > ts || (e.k === ts && e.uuid > id)))
        .sort((a, b) => (a.k === b.k ? (a.uuid < b.uuid ? -1 : 1) : a.k < b.k ? -1 : 1))
        .map((e) => ({ ...e, properties: JSON.stringify(e.properties), elements_chain: e.elements_chain ?? '', created_at: e.created_at ?? e.timestamp }));
    } else if (sel[2] === 'person_distinct_ids') {
      rows = this.persons
        .filter((p) => p.distinct_id > (v.after ?? ''))
        .sort((a, b) => (a.distinct_id < b.distinct_id ? -1 : 1))
        .map((p) => ({ ...p, properties: JSON.stringify(p.properties) }));
    } else return { status: 400, error: `unknown table ${sel[2]}` };
    const page = rows.slice(0, limit);
    const body = Buffer.from(JSON.stringify({ columns, types: columns.map(() => 'String'), results: page.map((r) => columns.map((c) => r[c])), hasMore: rows.length > limit }));
    return { status: 200, body, type: 'application/json', what: `${sel[2]}:${page.length}` };
  }
}

/** PostHog events for a stand-in: `n` per hour from `startMs`, spread over the hour. */
export function posthogRows(n: number, startMs: number, hours = 1, tag = 'e'): PostHogRow[] {
  const out: PostHogRow[] = [];
  for (let h = 0; h < hours; h++) {
    for (let i = 0; i < n; i++) {
      const t = startMs + h * 3_600_000 + Math.floor((i * 3_600_000) / n);
      const k = h * n + i;
      const hex = (k + (tag.charCodeAt(0) << 20)).toString(16).padStart(12, '0');
      out.push({
        uuid: `0190a1b2-c3d4-7e5f-8a9b-${hex}`,
        event: k % 5 === 0 ? '$pageview' : 'clicked',
        distinct_id: `user-${k % 37}`,
        timestamp: new Date(t).toISOString().replace('Z', '000Z'),
        properties: { $current_url: `https://example.com/${k}`, n: k },
        elements_chain: '',
      });
    }
  }
  return out;
}
