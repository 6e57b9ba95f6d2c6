import { reject, type PostHogEvent, type Rejection } from './event';
import type { Format, IdentityLink, OnceEvent, TransformContext } from './formats/types';
import { applyMapping } from './apply-mapping';
import { settleGeoip } from './formats/build';
import { MAX_EVENT_BYTES } from './settings';
import { MalformedText } from './uuid';

/** One record of a chunk: its 1-based position in the file (or zip member) and its raw text. */
export interface RawRecord {
  n: number;
  text: string;
  invalidUtf8?: true;
}

export interface RejectedRecord {
  /** 1-based line, JSON array element or CSV row in the source file (or zip member). */
  n: number;
  code: Rejection['code'];
  reason: string;
  /** The raw record, so the user can fix and re-drop it. Reports only, never logs. */
  record?: string;
  /**
   * Set when the row is about an event derived from the record (a device link's `$identify`, a
   * once-event), not the record itself: such rows are not counted as rejected records.
   */
  derived?: 'link' | 'once';
}

/** Something a record showed (a link, a once-event), with the record's line. */
export type Seen<T> = T & { n: number };

export interface TransformResult {
  events: PostHogEvent[];
  /** Each event's size in bytes for packing requests, aligned with `events` (see `sizeOf`). */
  eventBytes: number[];
  /** The record (line) each event came from, aligned with `events`. */
  eventLines: number[];
  /** Device links shown by records that were sent, filtered by the mapping or duplicates. */
  links: Array<Seen<IdentityLink>>;
  /** Once-ever events of records that were sent (or duplicates). */
  once: Array<Seen<OnceEvent>>;
  rejected: RejectedRecord[];
  /** Records dropped on purpose, by rule. */
  filtered: Record<string, number>;
  /** Records whose events repeat, uuid for uuid, events already in this chunk (not sent twice). */
  duplicates: number;
  /** Records read (non-blank) in this chunk. */
  read: number;
}

/**
 * Parses, transforms and maps a chunk's records: every record ends up sent (as one or more
 * events), rejected with its line and reason, or filtered by a named rule.
 */
export function transformRecords(records: Iterable<RawRecord>, format: Format, ctx: TransformContext): TransformResult {
  const out: TransformResult = { events: [], eventBytes: [], eventLines: [], links: [], once: [], rejected: [], filtered: {}, duplicates: 0, read: 0 };
  const seen = new Set<string>();
  const added = addedBytes(ctx);
  for (const { n, text, invalidUtf8 } of records) {
    out.read++;
    const res = invalidUtf8 ? reject('invalid_utf8', 'the line is not valid UTF-8') : transformOne(text, format, ctx, added);
    if ('code' in res) out.rejected.push({ n, code: res.code, reason: res.message, record: clipRecord(text) });
    else if ('filtered' in res) {
      out.filtered[res.filtered] = (out.filtered[res.filtered] ?? 0) + 1;
      // A record the mapping filters still shows who is who: its links are kept (same person).
      if (res.links) for (const l of res.links) out.links.push(seenAt(l, n));
    } else {
      // Links and once-events hold whatever the record's own events: a duplicate shows the same.
      if (res.links) for (const l of res.links) out.links.push(seenAt(l, n));
      if (res.once) for (const o of res.once) out.once.push(seenAt(o, n));
      let fresh = 0;
      for (let i = 0; i < res.events.length; i++) {
        const e = res.events[i]!;
        if (seen.has(e.uuid)) continue;
        fresh++;
        seen.add(e.uuid);
        out.events.push(e);
        out.eventBytes.push(res.bytes[i]!);
        out.eventLines.push(n);
      }
      if (res.events.length && !fresh) out.duplicates++;
    }
  }
  return out;
}

/** Marks what a record showed with its line, in place: formats build these fresh per record. */
function seenAt<T extends object>(item: T, n: number): Seen<T> {
  (item as Seen<T>).n = n;
  return item as Seen<T>;
}

type Transformed = { events: PostHogEvent[]; bytes: number[]; links?: IdentityLink[]; once?: OnceEvent[] };

function transformOne(text: string, format: Format, ctx: TransformContext, added: number): Transformed | Rejection | { filtered: string; links?: IdentityLink[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject('invalid_json', `not valid JSON (${(err as Error).message.replace(/ in JSON at.*$/, '').slice(0, 80)})`);
  }
  let res: ReturnType<Format['toEvents']>;
  try {
    res = format.toEvents(value, ctx);
  } catch (err) {
    // One record must never fail its whole chunk (it would be retried into the DLQ): whatever a
    // format could not handle is this record's rejection, with the reason.
    return reject(err instanceof MalformedText ? 'invalid_utf8' : 'invalid_record', `cannot be read: ${(err as Error).message.slice(0, 200)}`);
  }
  if ('code' in res || 'filtered' in res) return res;
  const events: PostHogEvent[] = [];
  const bytes: number[] = [];
  const own = Buffer.byteLength(text);
  let rule: string | undefined;
  for (const e of res.events) {
    const mapped = applyMapping(e, ctx.mapping);
    if ('filtered' in mapped) {
      rule = mapped.filtered;
      continue;
    }
    if (mapped !== e) settleGeoip(e.properties, mapped.properties); // a renamed or dropped $ip
    const size = sizeOf(mapped, own, added);
    if (size > MAX_EVENT_BYTES) return reject('event_too_large', `event is ${size} bytes; capture accepts at most ${MAX_EVENT_BYTES}`);
    events.push(mapped);
    bytes.push(size);
  }
  // A record whose every event was filtered counts as filtered; links still hold (same person).
  const links = res.links?.length ? res.links : undefined;
  if (!events.length && rule) return { filtered: rule, links };
  const once = res.once?.length ? checkOnce(res.once) : undefined;
  if (once && 'code' in once) return once;
  return { events, bytes, links, once };
}

/**
 * What every event of a chunk may carry beyond its record's own content: the mapping's extra
 * properties, the origin tag, and 1 KB for what a format adds itself (`$lib`, uuid, session id).
 */
function addedBytes(ctx: TransformContext): number {
  return Buffer.byteLength(JSON.stringify(ctx.mapping.properties.extra)) + Buffer.byteLength(ctx.origin) + 1_024;
}

// No format makes an event more than a few times its record's text (a URL into its parts, a
// property into `$set_once`), plus what the chunk adds to every event. An event that could come
// near capture's limit is serialized and measured; below that the record's bytes stand in, which
// spares a JSON.stringify per event (posthog-node serializes it anyway) and only packs requests
// (a test holds it above the serialized size for every format); should one ever fall short, a
// request capture finds too large is halved by posthog-node and bisected by the sink.
const EXPANSION = 8;

/** `own`: the record's bytes. */
function sizeOf(event: PostHogEvent, own: number, added: number): number {
  return EXPANSION * own + added <= MAX_EVENT_BYTES ? own + added : Buffer.byteLength(JSON.stringify(event));
}

// Once-events skip the mapping (a rename or allow list must not lose a `$groupidentify`), but
// they meet the same geolocation rule and size limit as every event.
function checkOnce(once: OnceEvent[]): OnceEvent[] | Rejection {
  for (const o of once) {
    settleGeoip(o.event.properties, o.event.properties);
    const size = Buffer.byteLength(JSON.stringify(o.event));
    if (size > MAX_EVENT_BYTES) return reject('event_too_large', `${o.event.event} event is ${size} bytes; capture accepts at most ${MAX_EVENT_BYTES}`);
  }
  return once;
}

// Keep rejected reports readable: a record over 64 KiB is reported by its head only.
function clipRecord(text: string): string {
  return text.length > 65_536 ? `${text.slice(0, 65_536)}…` : text;
}
