import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { countryName } from '../geo';
import { idOf, isPlainObject, own, put } from '../properties';
import { deviceTypeOf } from '../vocabulary';
import { parseTimestamp } from '../timestamp';
import { deriveUuid } from '../uuid';
import { buildEvent } from './build';
import type { Format } from './types';

const EVENT_NAMES: Record<string, string> = { $mp_web_page_view: '$pageview' };

// Mixpanel's default properties under the names posthog-js and PostHog's mobile SDKs use.
// $browser, $browser_version, $os, $os_version, $device, $current_url, $referrer,
// $referring_domain, $search_engine, $screen_height / $screen_width, $device_id and utm_* are
// already spelled (and valued) alike: posthog-js's browser detection descends from Mixpanel's.
const RENAMES: Record<string, string> = {
  $city: '$geoip_city_name',
  $region: '$geoip_subdivision_1_name',
  mp_country_code: '$geoip_country_code',
  mp_lib: '$lib',
  current_domain: '$host',
  current_url_path: '$pathname',
  current_page_title: 'title',
  $model: '$device_model',
  $manufacturer: '$device_manufacturer',
  $app_version_string: '$app_version',
  $app_build_number: '$app_build',
  $carrier: '$network_carrier',
  $wifi: '$network_wifi',
};

// Mixpanel's mobile libraries (mp_lib): their $os is the OS PostHog's mobile SDKs send as $os_name.
const MOBILE_LIBS = new Set(['iphone', 'swift', 'android', 'react-native', 'flutter', 'unity']);

// First touch, which Mixpanel's JS SDK repeats on every event; PostHog keeps it on the person.
const FIRST_TOUCH = new Set(['$initial_referrer', '$initial_referring_domain']);

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
 * "$insert_id",…}}. `time` in seconds or milliseconds. The uuid comes from what Mixpanel
 * deduplicates on, so the duplicates raw exports contain collapse in PostHog and two different
 * events that share an insert id do not.
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

    const props = mixpanelProperties(p);

    // Mixpanel's own dedup key: event, time, distinct_id and $insert_id all equal (its docs); the
    // export's own distinct_id, so the same exported record always gives the same uuid.
    const insertId = typeof p.$insert_id === 'string' && p.$insert_id ? p.$insert_id : undefined;
    const uuid = insertId
      ? deriveUuid('mixpanel', name, String(Date.parse(timestamp)), idOf(p.distinct_id), insertId)
      : deriveUuid('mixpanel', stringify(raw) ?? '');

    const user = idOf(p.$user_id);
    const device = idOf(p.$device_id);
    const anon = device ? `$device:${device}` : '';
    const links = user && anon && user !== anon ? [{ anon, user, timestamp }] : [];
    return { events: [buildEvent({ uuid, event: own(EVENT_NAMES, name) ?? name, distinctId, timestamp, properties: props }, ctx)], links };
  },
};

/** Event properties: bookkeeping dropped, names mapped, geo and first touch completed. */
function mixpanelProperties(p: Record<string, unknown>): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  const firstTouch: Record<string, unknown> = {};
  for (const k in p) {
    const v = p[k];
    if (DROP.has(k) || v === null || v === undefined || v === '') continue;
    if (FIRST_TOUCH.has(k)) firstTouch[k] = v;
    else props[own(RENAMES, k) ?? k] = v;
  }
  if (props.$app_build === undefined) put(props, '$app_build', p.$app_release);
  const mobile = typeof p.mp_lib === 'string' && MOBILE_LIBS.has(p.mp_lib);
  if (mobile) put(props, '$os_name', props.$os);
  if (props.$device_type === undefined) put(props, '$device_type', deviceTypeOf(props.$os as string | undefined, p.$device, p.$model) ?? (mobile ? 'Mobile' : undefined));
  if (props.$geoip_country_code !== undefined && props.$geoip_country_name === undefined) put(props, '$geoip_country_name', countryName(props.$geoip_country_code));
  if (Object.keys(firstTouch).length) props.$set_once = firstTouch;
  return props;
}
