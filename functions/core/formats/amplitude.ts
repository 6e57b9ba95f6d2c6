import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { compact, idOf, isPlainObject, personUpdate } from '../properties';
import { parseTimestamp } from '../timestamp';
import { deriveUuid, isValidUuid } from '../uuid';
import { buildEvent } from './build';
import type { Format } from './types';

// Amplitude's own event names with a PostHog equivalent.
const EVENT_NAMES: Record<string, string> = {
  '[Amplitude] Page Viewed': '$pageview',
  '$identify': '$set',
  '$groupidentify': '$groupidentify',
};

// Amplitude browser SDK page properties → PostHog's.
const PAGE_PROPERTIES: Record<string, string> = {
  '[Amplitude] Page URL': '$current_url',
  '[Amplitude] Page Location': '$current_url',
  '[Amplitude] Page Path': '$pathname',
  '[Amplitude] Page Domain': '$host',
  '[Amplitude] Page Title': 'title',
  referrer: '$referrer',
};

/**
 * Amplitude Export API / S3 export records, as PostHog's Amplitude migration guide maps them.
 * Times carry no zone and are UTC. distinct_id = user_id || device_id; every (device, user)
 * pair becomes an identity link.
 */
export const amplitudeFormat: Format = {
  name: 'amplitude',
  toEvents(raw, ctx) {
    if (!isPlainObject(raw)) return reject('not_an_object', 'record is not a JSON object');
    const r = raw;
    const type = typeof r.event_type === 'string' ? r.event_type.trim() : '';
    if (!type) return reject('missing_event', 'event_type is missing or empty');
    const userId = idOf(r.user_id);
    const deviceId = idOf(r.device_id);
    const distinctId = userId || deviceId;
    if (!distinctId) return reject('missing_distinct_id', 'neither user_id nor device_id is set');

    const when = r.event_time ?? r.client_event_time ?? r.server_received_time;
    if (when === undefined || when === null || when === '') return reject('invalid_timestamp', 'no event_time, client_event_time or server_received_time');
    const timestamp = parseTimestamp(when, ctx.now);
    if (typeof timestamp !== 'string') return timestamp;

    if (r.event_properties !== undefined && r.event_properties !== null && !isPlainObject(r.event_properties)) {
      return reject('invalid_properties', 'event_properties is not an object');
    }
    const eventProps: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((r.event_properties as Record<string, unknown> | undefined) ?? {})) eventProps[PAGE_PROPERTIES[k] ?? k] = v;

    const session = typeof r.session_id === 'number' && r.session_id > 0 ? r.session_id : undefined;
    const groups = isPlainObject(r.groups) && Object.keys(r.groups).length ? r.groups : undefined;
    let props: Record<string, unknown> = {
      ...eventProps,
      ...compact({
        $device_id: deviceId || undefined,
        $os: r.os_name,
        $os_version: r.os_version,
        $device_type: r.device_type,
        $device_manufacturer: r.device_manufacturer,
        $device_model: r.device_model,
        $device_brand: r.device_brand,
        $carrier: r.device_carrier,
        $app_version: r.version_name,
        $browser_language: r.language,
        $ip: r.ip_address,
        $geoip_city_name: r.city,
        $geoip_country_name: r.country,
        $geoip_subdivision_1_name: r.region,
        $geoip_latitude: r.location_lat,
        $geoip_longitude: r.location_lng,
        $groups: groups,
        amplitude_session_id: session,
        amplitude_id: r.amplitude_id,
        amplitude_event_id: r.event_id,
        amplitude_platform: r.platform,
        amplitude_library: r.library,
        amplitude_insert_id: r.$insert_id,
      }),
      // The export already carries the location; geo-locating by the sender's IP would be wrong.
      $geoip_disable: true,
    };
    const person = { ...(isPlainObject(r.user_properties) ? r.user_properties : {}) };
    props = personUpdate(props, compact(person), ctx.mapping.personMode);

    // Amplitude's uuid is per event; else device + $insert_id (Amplitude's own dedup key); else content.
    const uuid = isValidUuid(r.uuid)
      ? r.uuid.toLowerCase()
      : typeof r.$insert_id === 'string' && r.$insert_id
        ? deriveUuid('amplitude', deviceId, r.$insert_id)
        : deriveUuid('amplitude', stringify(r) ?? '');

    const event = buildEvent({ uuid, event: EVENT_NAMES[type] ?? type, distinctId, timestamp, properties: props }, ctx);
    const links = userId && deviceId && userId !== deviceId ? [{ anon: deviceId, user: userId, timestamp }] : [];
    return { events: [event], links };
  },
};
