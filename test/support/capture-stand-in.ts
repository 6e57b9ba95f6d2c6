import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A stand-in for PostHog's capture `/batch/` endpoint on loopback: gzip bodies, the 20 MB body
 * limit (413), a 400 for the whole batch when any one event is invalid, 429 with Retry-After,
 * 5xx and connection resets on demand. It counts what it accepted by uuid.
 */
export const BODY_LIMIT = 20 * 1024 * 1024;
export const EVENT_LIMIT = 1_000_000;

/**
 * `pass` lets one request through untouched, to script a failure after some batches were
 * accepted; `hang` reads the request and never answers (counted in `hungClosed` once the client
 * gives up and closes the connection).
 */
export type Fault = { kind: 'status'; status: number; retryAfter?: number } | { kind: 'reset' } | { kind: 'hang' } | { kind: 'pass' };

export interface CaptureOptions {
  apiKey?: string;
  /** Largest body accepted, before and after gunzip (default BODY_LIMIT); capture today: ~10 MiB. */
  bodyLimit?: number;
  /** An extra server-side rule: a reason to refuse the whole batch an event is in. */
  refuse?: (e: Accepted) => string | undefined;
  /** Added to every answer: a network round trip to PostHog, which loopback does not have. */
  latencyMs?: number;
  /** Keep each accepted event (default), or only its uuid (benchmarks with millions of events). */
  keepEvents?: boolean;
  /**
   * Answer every body that passed the faults 200 unread, and check and count it only at
   * `settle()`: for benchmarks, where capture's own work (gunzip, parse, per-event checks) would
   * otherwise take CPU from the importer measured on the same cores; a real capture runs elsewhere.
   */
  deferChecks?: boolean;
  /** Chance per request of a 503 / a reset / a 429 burst start; a seeded PRNG keeps runs repeatable. */
  random?: { status503?: number; reset?: number; burst429?: number; seed?: number };
}

export interface Accepted {
  uuid: string;
  event: string;
  distinct_id: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
}

export class CaptureStandIn {
  readonly events = new Map<string, Accepted>();
  private readonly uuids = new Set<string>();
  /** Every event accepted, repeats included. */
  received = 0;
  /** Events accepted per request, with the time each request arrived. */
  log: Array<{ at: number; events: number }> = [];
  requests = 0;
  /** Size of each body read (after gunzip) that was within the limit. */
  bodyBytes: number[] = [];
  /**
   * Each such body as it came over the wire: its size and, gzipped, the header's XFL byte, which
   * zlib sets from the level (4: level 0-1, 2: level 9, 0: the levels between).
   */
  wire: Array<{ bytes: number; xfl?: number }> = [];
  rejectedBatches: Array<{ status: number; reason: string }> = [];
  historicalFlags = new Set<boolean>();
  /** Faults answered so far, by kind. */
  injected = { status503: 0, status429: 0, otherStatus: 0, reset: 0, hang: 0 };
  /** Hung requests whose connection the client closed. */
  hungClosed = 0;
  /** Requests being answered now, and the most at once so far (settable, to measure a phase). */
  active = 0;
  maxActive = 0;
  private deferred: Array<{ raw: Buffer; gzip: boolean; at: number }> = [];
  private queue: Fault[] = [];
  private down: Fault | undefined;
  private burst = 0;
  private rand: () => number;
  private server: Server;
  private get limit(): number {
    return this.opts.bodyLimit ?? BODY_LIMIT;
  }
  url = '';

  constructor(private readonly opts: CaptureOptions = {}) {
    this.rand = mulberry32(opts.random?.seed ?? 42);
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

  /** Every request meets this fault until `outage(undefined)`. */
  outage(fault: Fault | undefined): void {
    this.down = fault;
  }

  /** The next requests meet these faults, in order. */
  fail(...faults: Fault[]): void {
    this.queue.push(...faults);
  }

  get unique(): number {
    return this.uuids.size;
  }

  private nextFault(): Fault | undefined {
    if (this.down) return this.down;
    const f = this.queue.shift();
    if (f) return f;
    const r = this.opts.random;
    if (!r) return undefined;
    if (this.burst > 0) {
      this.burst--;
      return { kind: 'status', status: 429, retryAfter: 1 };
    }
    const x = this.rand();
    if (x < (r.reset ?? 0)) return { kind: 'reset' };
    if (x < (r.reset ?? 0) + (r.status503 ?? 0)) return { kind: 'status', status: 503 };
    if (x < (r.reset ?? 0) + (r.status503 ?? 0) + (r.burst429 ?? 0)) {
      this.burst = 2;
      return { kind: 'status', status: 429, retryAfter: 1 };
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    this.maxActive = Math.max(this.maxActive, ++this.active);
    res.once('close', () => this.active--);
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    if (req.method !== 'POST' || !req.url?.startsWith('/batch')) return reply(res, 404, { error: 'not found' });
    const next = this.nextFault();
    const fault = next?.kind === 'pass' ? undefined : next;
    if (fault?.kind === 'reset') {
      this.injected.reset++;
      req.socket.destroy();
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, this.limit);
    } catch {
      return reply(res, 413, { type: 'validation_error', code: 'payload_too_large' });
    }
    if (fault?.kind === 'hang') {
      this.injected.hang++;
      res.on('close', () => this.hungClosed++);
      return;
    }
    if (fault?.kind === 'status') {
      if (fault.status === 503) this.injected.status503++;
      else if (fault.status === 429) this.injected.status429++;
      else this.injected.otherStatus++;
      if (fault.retryAfter) res.setHeader('Retry-After', String(fault.retryAfter));
      return reply(res, fault.status, { error: 'injected' });
    }
    const gzip = req.headers['content-encoding'] === 'gzip';
    if (this.opts.deferChecks) {
      this.deferred.push({ raw, gzip, at: Date.now() });
      return reply(res, 200, { status: 'Ok' });
    }
    const refused = this.take(raw, gzip, Date.now());
    if (refused) return this.bad(res, refused.status, refused.reason);
    reply(res, 200, { status: 'Ok' });
  }

  /**
   * With `deferChecks`: checks and counts the bodies answered 200 unread so far, as capture
   * would have (a refused one lands in `rejectedBatches`, its events uncounted).
   */
  settle(): void {
    for (const d of this.deferred.splice(0)) {
      const refused = this.take(d.raw, d.gzip, d.at);
      if (refused) this.rejectedBatches.push(refused);
    }
  }

  /** Checks one body as capture does; counts its events, or says why the whole batch is refused. */
  private take(raw: Buffer, gzip: boolean, at: number): { status: number; reason: string } | undefined {
    let body: Buffer;
    try {
      body = gzip ? gunzipSync(raw, { maxOutputLength: this.limit + 1 }) : raw;
    } catch (err) {
      // Capture answers a body that inflates past its limit with 413, like a large plain one.
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return { status: 413, reason: `body over ${this.limit} bytes` };
      return { status: 400, reason: 'body is not valid gzip' };
    }
    if (body.length > this.limit) return { status: 413, reason: `body over ${this.limit} bytes` };
    this.bodyBytes.push(body.length);
    this.wire.push({ bytes: raw.length, ...(gzip ? { xfl: raw[8] } : {}) });
    let payload: { api_key?: unknown; batch?: unknown; historical_migration?: unknown };
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return { status: 400, reason: 'body is not JSON' };
    }
    if (this.opts.apiKey && payload.api_key !== this.opts.apiKey) return { status: 401, reason: 'invalid api key' };
    if (!Array.isArray(payload.batch)) return { status: 400, reason: 'batch is not an array' };
    for (const [i, e] of payload.batch.entries()) {
      const why = invalid(e) ?? this.opts.refuse?.(e as Accepted);
      if (why) return { status: 400, reason: `event ${i}: ${why}` };
    }
    this.historicalFlags.add(payload.historical_migration === true);
    this.log.push({ at, events: payload.batch.length });
    for (const e of payload.batch as Accepted[]) {
      this.received++;
      this.uuids.add(e.uuid);
      if (this.opts.keepEvents !== false) this.events.set(e.uuid, e);
    }
    return undefined;
  }

  private bad(res: ServerResponse, status: number, reason: string): void {
    this.rejectedBatches.push({ status, reason });
    reply(res, status, { type: 'validation_error', code: 'invalid_payload', detail: reason });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The checks capture applies per event; any one failing rejects the whole batch.
function invalid(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'not an object';
  const ev = e as Record<string, unknown>;
  if (typeof ev.event !== 'string' || !ev.event) return 'missing event';
  if ((typeof ev.distinct_id !== 'string' && typeof ev.distinct_id !== 'number') || String(ev.distinct_id).trim() === '') return 'missing distinct_id';
  if (typeof ev.uuid !== 'string' || !UUID.test(ev.uuid)) return 'invalid uuid';
  if (ev.timestamp !== undefined && (typeof ev.timestamp !== 'string' || Number.isNaN(Date.parse(ev.timestamp)))) return 'invalid timestamp';
  if (ev.properties !== undefined && (typeof ev.properties !== 'object' || ev.properties === null || Array.isArray(ev.properties))) return 'properties not an object';
  if (Buffer.byteLength(JSON.stringify(e)) > EVENT_LIMIT) return 'event over 1 MB';
  return undefined;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let len = 0;
    req.on('data', (b: Buffer) => {
      len += b.length;
      if (len > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Error('too large'));
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A small seeded PRNG, so randomised faults (and generated data) repeat run to run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
