import { hash } from 'node:crypto';

/** Epoch ms from 2001 on: an id below this is a counter or seconds, not a session start. */
const MIN_START_MS = 1e12;
/** A session start this far after the event is a broken client clock, not a start. */
const MAX_AHEAD_MS = 24 * 3600 * 1000;

// Every event of a session asks for the same id: the last session of each scope is remembered,
// which spares the hash for all but a session's first event (bounded: cleared when full).
const MEMO_SIZE = 4_096;
const memo = new Map<string, { source: string; startMs: number; id: string }>();

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
  const last = memo.get(scope);
  if (last && last.startMs === startMs && last.source === source) return last.id;
  const id = v7(startMs, hash('sha256', `${source}\u0000${scope}\u0000${startMs}`, 'hex'));
  if (memo.size >= MEMO_SIZE) memo.clear();
  memo.set(scope, { source, startMs, id });
  return id;
}

/** UUIDv7 text: 48 bits of `ms`, then the first 80 bits of `hex` under the version and variant. */
function v7(ms: number, hex: string): string {
  if (ms > 0xffff_ffff_ffff) throw new RangeError(`session start ${ms} does not fit 48 bits`);
  const t = ms.toString(16).padStart(12, '0');
  const variant = (8 | (Number.parseInt(hex[4]!, 16) & 3)).toString(16); // RFC 4122: 10xx
  return `${t.slice(0, 8)}-${t.slice(8)}-7${hex.slice(1, 4)}-${variant}${hex.slice(5, 8)}-${hex.slice(8, 20)}`;
}

/** The epoch ms a UUIDv7 carries in its first 48 bits. */
export function uuidv7Time(uuid: string): number {
  return Number.parseInt(uuid.replace(/-/g, '').slice(0, 12), 16);
}
