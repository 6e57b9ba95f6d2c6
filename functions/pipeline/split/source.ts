import { Readable } from 'node:stream';
import type { ByteSource } from '../../core/input';

/** How hard the source stage tries before a read error fails the file. */
export interface ReadRetry {
  /** Reads per byte range (the first one included) before giving up. */
  attempts: number;
  /** Backoff before the second read; doubled each time, capped at 20 s. */
  backoffMs: number;
  /** Told about each retry (ids and counts only). */
  onRetry?: (info: { attempt: number; at: number; reason: string }) => void;
}

export const DEFAULT_READ_RETRY: ReadRetry = { attempts: 6, backoffMs: 500 };

/**
 * The source stage: the same object as `src`, but a read cut short (connection reset, 503
 * SlowDown, a body shorter than promised) is re-opened from the last byte consumed, after a
 * backoff, up to `attempts` times; then the error goes on, with the attempts in its message.
 * Bytes are never repeated or skipped, so the decoder downstream never sees the fault.
 */
export function resumingSource(src: ByteSource, retry: ReadRetry = DEFAULT_READ_RETRY): ByteSource {
  return {
    uri: src.uri,
    size: src.size,
    open: async (from = 0) => readResuming((at) => src.open(at), from, src.size, retry),
    range: (start, end) => Readable.from(readResuming(async (at) => src.range(at, end), start, end, retry), { objectMode: false }),
  };
}

async function* readResuming(
  open: (at: number) => Promise<AsyncIterable<Buffer>>,
  from: number,
  end: number,
  retry: ReadRetry,
): AsyncGenerator<Buffer> {
  let at = from;
  for (let attempt = 1; ; attempt++) {
    try {
      if (at >= end) return;
      for await (const b of await open(at)) {
        const buf = Buffer.isBuffer(b) ? b : Buffer.from(b as Uint8Array);
        at += buf.length;
        yield buf;
      }
      if (at < end) throw new Error(`short read: the body ended at byte ${at} of ${end}`);
      return;
    } catch (err) {
      if (permanent(err)) throw err;
      const reason = (err as Error).message || (err as Error).name;
      if (attempt >= retry.attempts) throw new Error(`${reason} (read failed ${attempt} attempts, last at byte ${at})`, { cause: err });
      retry.onRetry?.({ attempt, at, reason });
      await new Promise((r) => setTimeout(r, Math.min(20_000, retry.backoffMs * 2 ** (attempt - 1))));
    }
  }
}

// The object is gone, changed or forbidden: reading again cannot help.
const PERMANENT = new Set(['NoSuchKey', 'NoSuchVersion', 'NotFound', 'AccessDenied', 'PreconditionFailed', 'InvalidRange', 'InvalidObjectState']);

function permanent(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  if (e.name && PERMANENT.has(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}
