import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { idOf, isPlainObject, own, personUpdate, put } from '../properties';
import { sessionUuid } from '../session';
import { parseTimestamp } from '../timestamp';
import { deriveUuid, isValidUuid } from '../uuid';
import { buildEvent } from './build';
import { amplitudeDevice, amplitudeGeo, cleanAmplitude, isValue, pageProperties } from './amplitude-fields';
import { groupIdentifies, groupsOf } from './amplitude-groups';
import type { Format, FormatResult, OnceEvent, TransformContext } from './types';

// Amplitude's own event names with a PostHog equivalent.
const EVENT_NAMES: Record<string, string> = {
  '[Amplitude] Page Viewed': '$pageview',
  '[Amplitude] Screen Viewed': '$screen',
  // Mobile lifecycle events under the names posthog-ios / posthog-android capture them.
  '[Amplitude] Application Installed': 'Application Installed',
  '[Amplitude] Application Updated': 'Application Updated',
  '[Amplitude] Application Opened': 'Application Opened',
  '[Amplitude] Application Backgrounded': 'Application Backgrounded',
  '[Amplitude] Deep Link Opened': 'Deep Link Opened',
  '$identify': '$set',
};

// Amplitude's session bookkeeping: not user actions (PostHog's importer drops them too).
const SESSION_MARKERS = new Set(['session_start', 'session_end']);

// Amplitude's first-touch user properties (`initial_<name>`); PostHog keeps first touch as `$initial_<name>`.
const FIRST_TOUCH = new Map([
  'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'utm_id',
  'referrer', 'referring_domain',
  'gclid', 'gbraid', 'wbraid', 'gad_source', 'fbclid', 'dclid', 'msclkid', 'ttclid', 'twclid',
  'li_fat_id', 'rdt_cid', 'ko_click_id', 'igshid', 'mc_cid', 'epik', 'qclid', 'sccid',
].map((name) => [`initial_${name}`, `$initial_${name}`]));

/**
 * Amplitude Export API / S3 export records, mapped to what PostHog's own SDKs send (see the
 * README's Amplitude table). Times carry no zone and are UTC. distinct_id = user_id ||
 * device_id; every (device, user) pair becomes an identity link; each state of a group's
 * properties becomes one `$groupidentify`, sent once ever.
 */
export const amplitudeFormat: Format = {
  name: 'amplitude',
  toEvents(raw, ctx) {
    if (!isPlainObject(raw)) return reject('not_an_object', 'record is not a JSON object');
    const r = raw;
    const type = typeof r.event_type === 'string' ? r.event_type.trim() : '';
    if (!type) return reject('missing_event', 'event_type is missing or empty');
    if (SESSION_MARKERS.has(type) && !ctx.mapping.amplitude.keepSessionEvents) return { filtered: 'amplitude_session_event' };
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
    const groups = groupsOf(r.groups, r.group_properties, ctx.mapping.amplitude.groupTypes);
    if ('code' in groups) return groups;

    // Built field by field into one object: no intermediate copies (this runs per record).
    const props: Record<string, unknown> = {};
    pageProperties(props, r.event_properties as Record<string, unknown> | undefined);
    put(props, '$device_id', deviceId);
    amplitudeDevice(props, r);
    amplitudeGeo(props, r);
    const session = sessionUuid('amplitude', deviceId || userId, r.session_id, Date.parse(timestamp));
    if (session) props.$session_id = session;
    if (typeof r.session_id === 'number' && r.session_id > 0) props.amplitude_session_id = r.session_id;
    put(props, 'amplitude_id', r.amplitude_id);
    put(props, 'amplitude_event_id', r.event_id);
    put(props, 'amplitude_platform', r.platform);
    put(props, 'amplitude_library', r.library);
    put(props, 'amplitude_insert_id', r.$insert_id);
    if (groups.keys) props.$groups = groups.keys;
    Object.assign(props, groups.plain);
    personProperties(props, r, ctx);

    // Amplitude's uuid is per event; else device + $insert_id (Amplitude's own dedup key); else content.
    const uuid = isValidUuid(r.uuid)
      ? r.uuid.toLowerCase()
      : typeof r.$insert_id === 'string' && r.$insert_id
        ? deriveUuid('amplitude', deviceId, r.$insert_id)
        : deriveUuid('amplitude', stringify(r) ?? '');

    const once: OnceEvent[] = groupIdentifies(groups, timestamp, ctx);
    const event = type === '$groupidentify' ? groupIdentifyRecord(once, props) : (own(EVENT_NAMES, type) ?? type);
    const main = buildEvent({ uuid, event, distinctId, timestamp, properties: props }, ctx);
    const links = userId && deviceId && userId !== deviceId ? [{ anon: deviceId, user: userId, timestamp }] : [];
    const out: FormatResult = { events: [main], links };
    if (once.length) out.once = once;
    return out;
  },
};

/**
 * Person properties: user properties plus group properties (as PostHog's Amplitude guide
 * sends them) under `$set_once`, or `$set` with personMode "set"; first-touch properties
 * always under `$set_once` as PostHog's `$initial_*`.
 */
function personProperties(props: Record<string, unknown>, r: Record<string, unknown>, ctx: TransformContext): void {
  const person: Record<string, unknown> = {};
  let initial: Record<string, unknown> | undefined;
  const user = isPlainObject(r.user_properties) ? r.user_properties : undefined;
  for (const k in user) {
    const v = user[k];
    if (!isValue(v)) continue; // as cleanAmplitude, without its copy
    const first = FIRST_TOUCH.get(k);
    if (first) (initial ??= {})[first] = v;
    else person[k] = v;
  }
  if (isPlainObject(r.group_properties)) Object.assign(person, cleanAmplitude(r.group_properties, true));
  personUpdate(props, person, ctx.mapping.personMode);
  if (initial) props.$set_once = { ...initial, ...((props.$set_once as object | undefined) ?? {}) };
}

/**
 * An Amplitude `$groupidentify` record is itself the group update: the event becomes PostHog's
 * `$groupidentify` for its first listed group (the once event for that state is then redundant);
 * without a listed group it keeps a plain name, since PostHog ignores a `$groupidentify`
 * without a type.
 */
function groupIdentifyRecord(once: OnceEvent[], props: Record<string, unknown>): string {
  const first = once.shift();
  if (!first) return 'amplitude_group_identify';
  const p = first.event.properties;
  props.$group_type = p.$group_type;
  props.$group_key = p.$group_key;
  props.$group_set = p.$group_set;
  return '$groupidentify';
}
