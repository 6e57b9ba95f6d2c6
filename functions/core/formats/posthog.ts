import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { idOf, isPlainObject } from '../properties';
import { parseTimestamp } from '../timestamp';
import { deriveUuid, isValidUuid } from '../uuid';
import { buildEvent } from './build';
import type { Format, FormatOutput, TransformContext } from './types';

/**
 * PostHog's historical-import JSON: {"event","distinct_id","properties","timestamp"}, optional
 * uuid. Shared by `posthog-export`, which cleans an export record into this shape first.
 */
export function posthogRecord(raw: unknown, ctx: TransformContext, source = 'posthog'): FormatOutput {
  if (!isPlainObject(raw)) return reject('not_an_object', 'record is not a JSON object');
  const r = raw;
  if (r.event !== undefined && typeof r.event !== 'string') return reject('invalid_record', 'event is not a string');
  const event = typeof r.event === 'string' ? r.event.trim() : '';
  if (!event) return reject('missing_event', 'event is missing or empty');
  if (r.distinct_id !== undefined && r.distinct_id !== null && typeof r.distinct_id !== 'string' && typeof r.distinct_id !== 'number') {
    return reject('invalid_record', 'distinct_id is not a string or number');
  }
  const distinctId = idOf(r.distinct_id);
  if (!distinctId) return reject('missing_distinct_id', 'distinct_id is missing or empty');
  if (r.properties !== undefined && r.properties !== null && !isPlainObject(r.properties)) {
    return reject('invalid_properties', 'properties is not an object');
  }
  const props: Record<string, unknown> = { ...((r.properties as Record<string, unknown> | undefined) ?? {}) };
  // Top-level $set / $set_once are accepted by capture; keep them with the other person updates.
  for (const key of ['$set', '$set_once'] as const) {
    if (r[key] === undefined) continue;
    if (!isPlainObject(r[key])) return reject('invalid_properties', `${key} is not an object`);
    props[key] = { ...r[key], ...((props[key] as object | undefined) ?? {}) };
  }
  for (const key of ['$set', '$set_once'] as const) {
    if (props[key] !== undefined && !isPlainObject(props[key])) return reject('invalid_properties', `properties.${key} is not an object`);
  }

  let timestamp: string | undefined;
  if (r.timestamp !== undefined && r.timestamp !== null && r.timestamp !== '') {
    const ts = parseTimestamp(r.timestamp, ctx.now);
    if (typeof ts !== 'string') return ts;
    timestamp = ts;
  }

  let uuid: string;
  if (r.uuid !== undefined && r.uuid !== null && r.uuid !== '') {
    if (!isValidUuid(r.uuid)) return reject('invalid_uuid', 'uuid is not a valid UUID');
    uuid = r.uuid.toLowerCase();
  } else {
    // Identity = the record's own content (before anything is added), so a re-import matches.
    uuid = deriveUuid(source, stringify({ event, distinct_id: distinctId, timestamp: timestamp ?? null, properties: props }) ?? '');
  }
  const geoipOptOut = props.$geoip_disable === true;
  return { events: [buildEvent({ uuid, event, distinctId, timestamp, properties: props, geoipOptOut }, ctx)] };
}

export const posthogFormat: Format = { name: 'posthog', toEvents: (raw, ctx) => posthogRecord(raw, ctx) };
