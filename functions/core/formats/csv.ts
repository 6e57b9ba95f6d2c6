import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { idOf, isPlainObject } from '../properties';
import { parseTimestamp } from '../timestamp';
import { deriveUuid, isValidUuid } from '../uuid';
import { buildEvent } from './build';
import type { Format } from './types';

const NUMBER = /^-?(0|[1-9]\d{0,14})(\.\d+)?$/;

/** CSV cells arrive as strings: numbers and booleans get their types, empty cells are absent. */
export function typed(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (value === '') return undefined;
  if (NUMBER.test(value)) return Number(value); // "007" and 20-digit ids stay strings
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return value;
}

/**
 * CSV with a header row; the mapping's `csv` section names the event (or one constant name),
 * distinct id, timestamp and uuid columns. Every other column becomes a property.
 */
export const csvFormat: Format = {
  name: 'csv',
  toEvents(raw, ctx) {
    if (!isPlainObject(raw)) return reject('not_an_object', 'row is not a record');
    const c = ctx.mapping.csv;
    const event = c.eventName ?? (typeof raw[c.event] === 'string' ? (raw[c.event] as string).trim() : '');
    if (!event) return reject('missing_event', `column "${c.event}" is missing or empty`);
    const distinctId = idOf(raw[c.distinctId]);
    if (!distinctId) return reject('missing_distinct_id', `column "${c.distinctId}" is missing or empty`);
    let timestamp: string | undefined;
    const when = raw[c.timestamp];
    if (when !== undefined && when !== '') {
      const ts = parseTimestamp(typeof when === 'string' && NUMBER.test(when) ? Number(when) : when, ctx.now);
      if (typeof ts !== 'string') return ts;
      timestamp = ts;
    }
    const taken = new Set([c.event, c.distinctId, c.timestamp, c.uuid]);
    const props: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) {
      const t = typed(v);
      if (!taken.has(k) && t !== undefined) props[k] = t;
    }
    const own = raw[c.uuid];
    if (own !== undefined && own !== '' && !isValidUuid(own)) return reject('invalid_uuid', `column "${c.uuid}" is not a valid UUID`);
    // The row as read (every column by its header, sorted): the mapping (`eventName`, which column
    // is which) never changes a uuid, so re-importing with another csv config adds nothing twice.
    const uuid = isValidUuid(own) ? own.toLowerCase() : deriveUuid('csv', stringify(raw) ?? '');
    const geoipOptOut = props.$geoip_disable === true;
    return { events: [buildEvent({ uuid, event, distinctId, timestamp, properties: props, geoipOptOut }, ctx)] };
  },
};
