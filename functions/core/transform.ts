import { reject, type PostHogEvent, type Rejection } from './event';
import type { Format, IdentityLink, TransformContext } from './formats/types';
import { applyMapping } from './apply-mapping';
import { MAX_EVENT_BYTES } from './settings';

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
}

export interface TransformResult {
  events: PostHogEvent[];
  /** Each event's serialized size in bytes, aligned with `events`. */
  eventBytes: number[];
  /** The record (line) each event came from, aligned with `events`. */
  eventLines: number[];
  links: IdentityLink[];
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
  const out: TransformResult = { events: [], eventBytes: [], eventLines: [], links: [], rejected: [], filtered: {}, duplicates: 0, read: 0 };
  const seen = new Set<string>();
  for (const { n, text, invalidUtf8 } of records) {
    out.read++;
    const res = invalidUtf8 ? reject('invalid_utf8', 'the line is not valid UTF-8') : transformOne(text, format, ctx);
    if ('code' in res) out.rejected.push({ n, code: res.code, reason: res.message, record: clipRecord(text) });
    else if ('filtered' in res) out.filtered[res.filtered] = (out.filtered[res.filtered] ?? 0) + 1;
    else {
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
      if (res.events.length && !fresh) {
        out.duplicates++;
        continue;
      }
      if (res.links) out.links.push(...res.links);
    }
  }
  return out;
}

function transformOne(text: string, format: Format, ctx: TransformContext): { events: PostHogEvent[]; bytes: number[]; links?: IdentityLink[] } | Rejection | { filtered: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject('invalid_json', `not valid JSON (${(err as Error).message.replace(/ in JSON at.*$/, '').slice(0, 80)})`);
  }
  const res = format.toEvents(value, ctx);
  if ('code' in res || 'filtered' in res) return res;
  const events: PostHogEvent[] = [];
  const bytes: number[] = [];
  let rule: string | undefined;
  for (const e of res.events) {
    const mapped = applyMapping(e, ctx.mapping);
    if ('filtered' in mapped) {
      rule = mapped.filtered;
      continue;
    }
    const size = Buffer.byteLength(JSON.stringify(mapped));
    if (size > MAX_EVENT_BYTES) return reject('event_too_large', `event is ${size} bytes; capture accepts at most ${MAX_EVENT_BYTES}`);
    events.push(mapped);
    bytes.push(size);
  }
  // A record whose every event was filtered counts as filtered; links still hold (same person).
  if (!events.length && rule) return { filtered: rule };
  return { events, bytes, ...(res.links ? { links: res.links } : {}) };
}

// Keep rejected reports readable: a record over 64 KiB is reported by its head only.
function clipRecord(text: string): string {
  return text.length > 65_536 ? `${text.slice(0, 65_536)}…` : text;
}
