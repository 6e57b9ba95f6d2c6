import { createHash } from 'node:crypto';

/** Epoch ms from 2001 on: an id below this is a counter or seconds, not a session start. */
const MIN_START_MS = 1e12;
/** A session start this far after the event is a broken client clock, not a start. */
const MAX_AHEAD_MS = 24 * 3600 * 1000;

/**
 * PostHog's `$session_id` for a vendor session: a UUIDv7 whose 48-bit time part is the
 * session's start (epoch ms) and whose other bits come from a hash of the source, the scope
 * (device, else user) and the start, so every event of one session gets the same id in any
 * chunk, file or run. Undefined when `startMs` is not a plausible session start for an event
 * at `eventMs` (missing, -1, seconds, or after the event by more than a day).
 */
export function sessionUuid(source: string, scope: string, startMs: unknown, eventMs: number): string | undefined {
  if (!scope || typeof startMs !== 'number' || !Number.isInteger(startMs)) return undefined;
  if (startMs < MIN_START_MS || startMs > eventMs + MAX_AHEAD_MS) return undefined;
  const hash = createHash('sha256').update(`${source}\u0000${scope}\u0000${startMs}`).digest();
  const b = Buffer.alloc(16);
  b.writeUIntBE(startMs, 0, 6);
  hash.copy(b, 6, 0, 10);
  b[6] = 0x70 | (b[6]! & 0x0f); // version 7
  b[8] = 0x80 | (b[8]! & 0x3f); // RFC 4122 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The epoch ms a UUIDv7 carries in its first 48 bits. */
export function uuidv7Time(uuid: string): number {
  return Number.parseInt(uuid.replace(/-/g, '').slice(0, 12), 16);
}
