import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { compact, idOf, isPlainObject } from '../properties';
import { parseTimestamp } from '../timestamp';
import { deriveUuid } from '../uuid';
import { buildEvent } from './build';
import type { Format } from './types';

const EVENT_NAMES: Record<string, string> = { $mp_web_page_view: '$pageview' };

const RENAMES: Record<string, string> = {
  $city: '$geoip_city_name',
  $region: '$geoip_subdivision_1_name',
  mp_country_code: '$geoip_country_code',
  mp_lib: '$lib',
  $lib_version: '$lib_version',
};

// Mixpanel bookkeeping that means nothing in PostHog.
const DROP = new Set([
  'time',
  'distinct_id',
  '$insert_id',
  '$distinct_id_before_identity',
  'mp_processing_time_ms',
  '$mp_api_endpoint',
  '$mp_api_timestamp_ms',
  '$mp_event_size',
  'mp_sent_by_lib_version',
  '$mp_autocapture',
  '$import',
  'token',
]);

/**
 * Mixpanel raw export (`/api/2.0/export`): {"event","properties":{"time","distinct_id",
 * "$insert_id",…}}. `time` in seconds or milliseconds. The uuid comes from `$insert_id`, so the
 * duplicates raw exports contain collapse in PostHog.
 */
export const mixpanelFormat: Format = {
  name: 'mixpanel',
  toEvents(raw, ctx) {
    if (!isPlainObject(raw)) return reject('not_an_object', 'record is not a JSON object');
    const name = typeof raw.event === 'string' ? raw.event.trim() : '';
    if (!name) return reject('missing_event', 'event is missing or empty');
    if (!isPlainObject(raw.properties)) return reject('invalid_properties', 'properties is missing or not an object');
    const p = raw.properties;

    // Export rewrites distinct_id to the merged identity; an anonymous $device: id is better
    // replaced by the id the event was sent with.
    let distinctId = idOf(p.distinct_id);
    const before = idOf(p.$distinct_id_before_identity);
    if (distinctId.startsWith('$device:') && before) distinctId = before;
    if (!distinctId) return reject('missing_distinct_id', 'properties.distinct_id is missing or empty');

    if (p.time === undefined || p.time === null) return reject('invalid_timestamp', 'properties.time is missing');
    const timestamp = parseTimestamp(p.time, ctx.now);
    if (typeof timestamp !== 'string') return timestamp;

    const props: Record<string, unknown> = { $geoip_disable: true };
    for (const [k, v] of Object.entries(p)) if (!DROP.has(k)) props[RENAMES[k] ?? k] = v;

    const insertId = typeof p.$insert_id === 'string' && p.$insert_id ? p.$insert_id : undefined;
    const uuid = insertId ? deriveUuid('mixpanel', insertId) : deriveUuid('mixpanel', stringify(raw) ?? '');

    const user = idOf(p.$user_id);
    const device = idOf(p.$device_id);
    const anon = device ? `$device:${device}` : '';
    const links = user && anon && user !== anon ? [{ anon, user, timestamp }] : [];
    return { events: [buildEvent({ uuid, event: EVENT_NAMES[name] ?? name, distinctId, timestamp, properties: compact(props) }, ctx)], links };
  },
};
