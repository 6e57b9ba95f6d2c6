import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { PostHog } from 'posthog-node';
import type { PostHogEvent } from '../core/event';
import { DEFAULT_GZIP_LEVEL } from '../core/settings';
import { httpFetch, retryOnStaleSocket } from './http-fetch';
import { METRIC, noMetrics, type MetricsPort } from '../pipeline/metrics';
import type { EventSink, SendResult } from '../pipeline/ports';

const gzipAsync = promisify(gzip);

type FetchLike = NonNullable<ConstructorParameters<typeof PostHog>[1]>['fetch'];

export interface PostHogSinkOptions {
  host: string;
  apiKey: string;
  /** Events per /batch/ request. */
  batchSize: number;
  /** Batches in flight at once. */
  inFlight?: number;
  /** Retries of one request on 408/429/5xx and network errors (posthog-node's own retry). */
  retries?: number;
  retryDelayMs?: number;
  requestTimeoutMs?: number;
  /** zlib level of request bodies (default `DEFAULT_GZIP_LEVEL`). */
  gzipLevel?: number;
  /** Called before each request with its event count; resolves when the rate budget allows it. */
  acquire?: (events: number) => Promise<void>;
  /** Capture answers by status, retries, bisections, rate-budget waits. */
  metrics?: MetricsPort;
}

// Serialized event bytes per request: capture refuses bodies over about 10 MiB; PostHog's own
// importer packs 9 MiB, which leaves room for the envelope posthog-node adds to each event.
export const MAX_REQUEST_BYTES = 9 * 1024 * 1024;
// Longest Retry-After we wait inside one request before letting the chunk fail and retry later.
const MAX_RETRY_AFTER_MS = 60_000;

// posthog-node stamps `$lib: posthog-node` and `$is_server` over every event's own values;
// imported events keep theirs (the transform adds `$lib` only where a record had none).
class ImportClient extends PostHog {
  constructor(apiKey: string, options: ConstructorParameters<typeof PostHog>[1], private readonly gzipLevel: number) {
    super(apiKey, options);
  }

  protected override getCommonEventProperties() {
    return {};
  }

  // posthog-node's own hook for the body's compression; the Buffer goes to our fetch as it is.
  protected override compressPayload(payload: string): Promise<Uint8Array<ArrayBuffer>> {
    return gzipAsync(payload, { level: this.gzipLevel }) as Promise<Uint8Array<ArrayBuffer>>;
  }

  /**
   * `capture()` without its per-event context step (feature flags, before_send, async context),
   * none of which an import uses and which cost more CPU than the rest of the send path: the
   * event goes straight onto posthog-node's queue, through the same `enqueue` that `capture()`
   * ends in, so batching, gzip, retries and `historical_migration` are posthog-node's own.
   */
  captureImported(e: PostHogEvent): void {
    this.enqueue(
      'capture',
      // `distinct_id` as the wire has it: given `distinctId`, posthog-node renames it with a
      // `delete`, which turns every queued message into a slow dictionary-mode object.
      { distinct_id: e.distinct_id, event: e.event, properties: e.properties },
      // Geolocation is decided in the core (formats/build.ts) and carried by the event itself;
      // posthog-node's own default (its client option, true) is never consulted.
      { uuid: e.uuid, disableGeoip: e.properties.$geoip_disable === true, ...(e.timestamp ? { timestamp: new Date(e.timestamp) } : {}) },
    );
  }
}

/**
 * Sends events through posthog-node with `historicalMigration: true`, configured so that it can
 * never lose one silently: each request's events get a client of their own whose queue holds
 * them all (a full queue drops the oldest), nothing flushes on a timer, and any error it reports
 * fails the send so the caller retries the chunk. A batch capture refuses as a whole (400, or
 * 413 for one event) is bisected until the offending events are alone; those come back as
 * rejected with the server's reason and everything else is delivered.
 */
export class PostHogSink implements EventSink {
  private readonly base: FetchLike;
  private readonly metrics: MetricsPort;
  constructor(private readonly opts: PostHogSinkOptions) {
    assertSupportedEnvironment();
    // posthog-node disables itself on an empty key and then "sends" nothing, successfully.
    if (typeof opts.apiKey !== 'string' || !opts.apiKey.trim()) throw new Error('PostHog project API key is empty: nothing could be sent');
    this.base = httpFetch as unknown as FetchLike;
    this.metrics = opts.metrics ?? noMetrics;
  }

  async send(events: PostHogEvent[], bytes?: number[]): Promise<SendResult> {
    const rejected: SendResult['rejected'] = [];
    const batches = split(events, this.opts.batchSize, bytes);
    let next = 0;
    const worker = async () => {
      while (next < batches.length) await this.deliver(batches[next++]!, rejected);
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.inFlight ?? 8, batches.length) }, worker));
    return { rejected };
  }

  private async deliver(batch: PostHogEvent[], rejected: SendResult['rejected']): Promise<void> {
    const res = await this.post(batch);
    if (res === 'ok') return;
    if (batch.length === 1) {
      rejected.push({ uuid: batch[0]!.uuid, status: res.status, reason: res.reason });
      return;
    }
    this.metrics.add(METRIC.bisections, 1);
    const half = Math.ceil(batch.length / 2);
    await this.deliver(batch.slice(0, half), rejected);
    await this.deliver(batch.slice(half), rejected);
  }

  /** One request (posthog-node may halve it on 413 by itself). 'ok', a refusal to bisect, or throws. */
  private async post(batch: PostHogEvent[]): Promise<'ok' | { status: number; reason: string }> {
    // The first attempt's budget is taken before posthog-node's request timer starts; every
    // further attempt (its retries, a 429 waited out) takes its own inside the fetch.
    const acquire = this.opts.acquire;
    await this.waitForBudget(batch.length);
    let attempts = 0;
    const counted = this.counted(() => attempts++);
    const client = new ImportClient(this.opts.apiKey, {
      host: this.opts.host,
      historicalMigration: true,
      flushAt: batch.length + 1,
      maxBatchSize: batch.length,
      maxQueueSize: batch.length + 1,
      flushInterval: 0,
      fetchRetryCount: this.opts.retries ?? 3,
      fetchRetryDelay: this.opts.retryDelayMs ?? 3000,
      requestTimeout: this.opts.requestTimeoutMs ?? 30_000,
      preloadFeatureFlags: false,
      enableExceptionAutocapture: false,
      fetch: honourRetryAfter(retryOnStaleSocket((acquire ? paidPerAttempt(counted, () => acquire(batch.length)) : counted)!)),
    }, this.opts.gzipLevel ?? DEFAULT_GZIP_LEVEL);
    const errors: unknown[] = [];
    client.on('error', (err) => errors.push(err));
    // What posthog-node reports as delivered (2xx), message by message: checked against what
    // went onto its queue, so a dropped or re-ided event fails the send instead of vanishing.
    const delivered: string[] = [];
    client.on('flush', (sent: Array<{ uuid?: unknown }>) => {
      for (const m of sent) delivered.push(String(m?.uuid));
    });
    try {
      for (const e of batch) client.captureImported(e);
      await client.flush();
    } catch (err) {
      errors.push(err);
    } finally {
      await client.shutdown(1_000).catch(() => undefined);
      if (attempts > 1) this.metrics.add(METRIC.captureRetries, attempts - 1);
    }
    if (!errors.length) {
      checkDelivered(batch, delivered);
      return 'ok';
    }
    const refused = errors.find((e) => statusOf(e) === 400 || statusOf(e) === 413);
    if (refused) return { status: statusOf(refused)!, reason: await reasonOf(refused) };
    throw new SendError(errors);
  }

  private async waitForBudget(events: number): Promise<void> {
    if (!this.opts.acquire) return;
    const start = Date.now();
    await this.opts.acquire(events);
    const waited = Date.now() - start;
    // A budget that answers at once is not a wait; one that held the request back is.
    if (waited >= 100) {
      this.metrics.add(METRIC.rateBudgetWaits, 1);
      this.metrics.add(METRIC.rateBudgetWaitTime, waited, 'Milliseconds');
    }
  }

  /** The plain fetch, counting each attempt and capture's answers by status. */
  private counted(onAttempt: () => void): FetchLike {
    return async (url, options) => {
      onAttempt();
      try {
        const res = await this.base!(url, options);
        this.metrics.add(METRIC.captureResponses, 1, 'Count', { Status: String(res.status) });
        return res;
      } catch (err) {
        this.metrics.add(METRIC.captureResponses, 1, 'Count', { Status: 'network_error' });
        throw err;
      }
    };
  }
}

/**
 * `POSTHOG_CAPTURE_MODE=v1` makes posthog-node post to another endpoint with other answers than
 * the `/batch/` whose behaviour this sink (bisection, 413 halving, historical_migration) relies on.
 */
export function assertSupportedEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const mode = env.POSTHOG_CAPTURE_MODE?.trim();
  if (mode && mode !== 'v0') throw new Error(`POSTHOG_CAPTURE_MODE=${mode.slice(0, 20)} is not supported by the importer (it posts to /batch/); unset it`);
}

/** Every event enqueued must have been delivered, each under its own uuid. */
function checkDelivered(batch: PostHogEvent[], delivered: string[]): void {
  const got = new Set(delivered);
  const missing = batch.filter((e) => !got.has(e.uuid)).length;
  if (missing || delivered.length < batch.length) {
    throw new DeliveryShortfall(`posthog-node delivered ${delivered.length} of ${batch.length} events (${missing} enqueued uuids not among them)`);
  }
}

/** posthog-node resolved its flush without delivering everything it was given. */
export class DeliveryShortfall extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryShortfall';
  }
}

/** Cuts events into requests by count and serialized size. */
function split(events: PostHogEvent[], size: number, sizes?: number[]): PostHogEvent[][] {
  const out: PostHogEvent[][] = [];
  let cur: PostHogEvent[] = [];
  let bytes = 0;
  for (const [i, e] of events.entries()) {
    const b = sizes?.[i] ?? Buffer.byteLength(JSON.stringify(e));
    if (cur.length && (cur.length >= size || bytes + b > MAX_REQUEST_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(e);
    bytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** A fetch whose every call after the first (paid before it) first takes its events from the budget. */
function paidPerAttempt(inner: FetchLike, acquire: () => Promise<void>): FetchLike {
  let paid = true;
  return async (url, options) => {
    if (!paid) await acquire();
    paid = false;
    return inner!(url, options);
  };
}

/** A fetch that waits out a 429's Retry-After (bounded) before posthog-node sees the answer. */
export function honourRetryAfter(inner: FetchLike): FetchLike {
  return async (url, options) => {
    let waited = 0;
    for (;;) {
      const res = await inner!(url, options);
      const after = res.status === 429 ? retryAfterMs(res.headers?.get('retry-after') ?? null) : undefined;
      if (after === undefined || waited + after > MAX_RETRY_AFTER_MS) return res;
      await res.text().catch(() => undefined);
      await new Promise((r) => setTimeout(r, after));
      waited += after;
    }
  };
}

function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function statusOf(err: unknown): number | undefined {
  return err && typeof err === 'object' && 'status' in err && typeof err.status === 'number' ? err.status : undefined;
}

async function reasonOf(err: unknown): Promise<string> {
  const status = statusOf(err);
  try {
    const text = await (err as { text: Promise<string> }).text;
    return `capture answered ${status}: ${text.slice(0, 300)}`;
  } catch {
    return `capture answered ${status}`;
  }
}

export class SendError extends Error {
  constructor(readonly causes: unknown[]) {
    super(`PostHog capture failed: ${describe(causes[0])}${causes.length > 1 ? ` (+${causes.length - 1} more)` : ''}`);
    this.name = 'SendError';
  }
}

// Errors carry status codes and sizes, never request bodies: keeps record contents out of logs.
function describe(err: unknown): string {
  const status = statusOf(err);
  if (status !== undefined) return `HTTP ${status}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
