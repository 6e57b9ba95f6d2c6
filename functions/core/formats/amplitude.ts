import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { compact, idOf, isPlainObject, personUpdate, put } from '../properties';
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
    // Built field by field into one object: no intermediate copies (this runs per record).
    const props: Record<string, unknown> = {};
    const ep = r.event_properties as Record<string, unknown> | undefined;
    if (ep) for (const k in ep) props[PAGE_PROPERTIES[k] ?? k] = ep[k];
    put(props, '$device_id', deviceId);
    put(props, '$os', r.os_name);
    put(props, '$os_version', r.os_version);
    put(props, '$device_type', r.device_type);
    put(props, '$device_manufacturer', r.device_manufacturer);
    put(props, '$device_model', r.device_model);
    put(props, '$device_brand', r.device_brand);
    put(props, '$carrier', r.device_carrier);
    put(props, '$app_version', r.version_name);
    put(props, '$browser_language', r.language);
    put(props, '$ip', r.ip_address);
    put(props, '$geoip_city_name', r.city);
    put(props, '$geoip_country_name', r.country);
    put(props, '$geoip_subdivision_1_name', r.region);
    put(props, '$geoip_latitude', r.location_lat);
    put(props, '$geoip_longitude', r.location_lng);
    if (isPlainObject(r.groups) && Object.keys(r.groups).length) props.$groups = r.groups;
    if (typeof r.session_id === 'number' && r.session_id > 0) props.amplitude_session_id = r.session_id;
    put(props, 'amplitude_id', r.amplitude_id);
    put(props, 'amplitude_event_id', r.event_id);
    put(props, 'amplitude_platform', r.platform);
    put(props, 'amplitude_library', r.library);
    put(props, 'amplitude_insert_id', r.$insert_id);
    // The export already carries the location; geo-locating by the sender's IP would be wrong.
    props.$geoip_disable = true;
    if (isPlainObject(r.user_properties)) personUpdate(props, compact(r.user_properties), ctx.mapping.personMode);

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
