import { reject, type PostHogEvent, type Rejection } from './event';
import type { Format, TransformContext } from './formats/types';
import { MAX_EVENT_BYTES } from './settings';

/** One record of a chunk: its 1-based position in the file and its raw text. */
export interface RawRecord {
  n: number;
  text: string;
}

export interface RejectedRecord {
  /** 1-based line (or JSON array element) in the source file. */
  n: number;
  code: Rejection['code'];
  reason: string;
  /** The raw record, so the user can fix and re-drop it. Reports only, never logs. */
  record?: string;
}

export interface TransformResult {
  events: PostHogEvent[];
  rejected: RejectedRecord[];
  /** Records read (non-blank) in this chunk. */
  read: number;
}

/** Parses and transforms a chunk's records; every record ends up as events or a rejection. */
export function transformRecords(records: Iterable<RawRecord>, format: Format, ctx: TransformContext): TransformResult {
  const events: PostHogEvent[] = [];
  const rejected: RejectedRecord[] = [];
  let read = 0;
  for (const { n, text } of records) {
    read++;
    const out = transformOne(text, format, ctx);
    if ('code' in out) rejected.push({ n, code: out.code, reason: out.message, record: clipRecord(text) });
    else events.push(...out);
  }
  return { events, rejected, read };
}

function transformOne(text: string, format: Format, ctx: TransformContext): PostHogEvent[] | Rejection {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject('invalid_json', `not valid JSON (${(err as Error).message.replace(/ in JSON at.*$/, '').slice(0, 80)})`);
  }
  const out = format.toEvents(value, ctx);
  if ('code' in out) return out;
  for (const e of out) {
    const size = Buffer.byteLength(JSON.stringify(e));
    if (size > MAX_EVENT_BYTES) return reject('event_too_large', `event is ${size} bytes; capture accepts at most ${MAX_EVENT_BYTES}`);
  }
  return out;
}

// Keep rejected reports readable: a record over 64 KiB is reported by its head only.
function clipRecord(text: string): string {
  return text.length > 65_536 ? `${text.slice(0, 65_536)}…` : text;
}
