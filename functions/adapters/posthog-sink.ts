import { PostHog } from 'posthog-node';
import type { PostHogEvent } from '../core/event';
import type { EventSink } from '../pipeline/ports';

type CaptureProps = Parameters<PostHog['capture']>[0];

export interface PostHogSinkOptions {
  host: string;
  apiKey: string;
  /** Events per /batch/ request. */
  batchSize: number;
  /** Retries of one request on 408/429/5xx and network errors (posthog-node's own retry). */
  retries?: number;
  retryDelayMs?: number;
  requestTimeoutMs?: number;
}

// posthog-node stamps `$lib: posthog-node` and `$is_server` over every event's own values;
// imported events keep theirs (the transform adds `$lib` only where a record had none).
class ImportClient extends PostHog {
  protected override getCommonEventProperties() {
    return {};
  }
}

/**
 * Sends events through posthog-node with `historicalMigration: true`, configured so that it
 * can never lose one silently: the queue holds the whole chunk (a full queue drops the oldest),
 * nothing flushes on a timer, and an error from any batch (posthog-node only emits those from
 * background flushes) fails the whole send so the caller retries the chunk.
 */
export class PostHogSink implements EventSink {
  constructor(private readonly opts: PostHogSinkOptions) {}

  async send(events: PostHogEvent[]): Promise<void> {
    if (!events.length) return;
    const client = new ImportClient(this.opts.apiKey, {
      host: this.opts.host,
      historicalMigration: true,
      flushAt: this.opts.batchSize,
      maxBatchSize: this.opts.batchSize,
      maxQueueSize: events.length + this.opts.batchSize,
      flushInterval: 0,
      fetchRetryCount: this.opts.retries ?? 3,
      fetchRetryDelay: this.opts.retryDelayMs ?? 3000,
      requestTimeout: this.opts.requestTimeoutMs ?? 30_000,
      disableGeoip: true,
      preloadFeatureFlags: false,
      enableExceptionAutocapture: false,
    });
    const errors: unknown[] = [];
    client.on('error', (err) => errors.push(err));
    try {
      for (const e of events) {
        client.capture({
          uuid: e.uuid,
          event: e.event,
          distinctId: e.distinct_id,
          properties: e.properties as CaptureProps['properties'],
          // posthog-node adds $geoip_disable: true unless told otherwise; a record's own choice wins.
          disableGeoip: e.properties.$geoip_disable !== false,
          ...(e.timestamp ? { timestamp: new Date(e.timestamp) } : {}),
        });
      }
      await client.flush();
    } catch (err) {
      errors.push(err);
    } finally {
      await client.shutdown(1_000).catch(() => undefined);
    }
    if (errors.length) throw new SendError(errors);
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
  if (err && typeof err === 'object' && 'status' in err) return `HTTP ${(err as { status: number }).status}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
