import { reject } from '../event';
import { countryCode } from '../geo';
import { compact, idOf, isPlainObject, personUpdate, put } from '../properties';
import { sessionUuid } from '../session';
import { userAgentProperties } from '../user-agent';
import { browserLanguage, deviceTypeOf, hostOf, mobileOsName, referringDomain } from '../vocabulary';
import { parseTimestamp } from '../timestamp';
import { deriveUuid, isValidUuid } from '../uuid';
import { buildEvent } from './build';
import type { Format } from './types';

const CALLS = new Set(['track', 'page', 'screen', 'identify', 'group', 'alias']);

// Context fields mapped to PostHog properties; the rest of context is kept under a prefix.
const CONTEXT_MAPPED = new Set(['ip', 'os', 'userAgent', 'library', 'campaign', 'page', 'screen', 'device', 'app', 'locale', 'timezone', 'network', 'location']);

const obj = (v: unknown): Record<string, unknown> => (isPlainObject(v) ? v : {});

/**
 * Segment's S3 destination archive (gzipped NDJSON under segment-logs/<source>/<day>/). Calls
 * map as PostHog's Segment destination does: page → $pageview, screen → $screen, identify →
 * $identify, group → $groupidentify, alias → $create_alias. Transport fields are not kept.
 */
export const segmentFormat: Format = {
  name: 'segment',
  toEvents(raw, ctx) {
    if (!isPlainObject(raw)) return reject('not_an_object', 'record is not a JSON object');
    const type = typeof raw.type === 'string' ? raw.type : '';
    if (!CALLS.has(type)) return reject('invalid_record', `unknown Segment call type ${JSON.stringify(type).slice(0, 40)}`);
    if (disabledForPostHog(raw.integrations)) return { filtered: 'segment_integrations' };

    const userId = idOf(raw.userId);
    const anonymousId = idOf(raw.anonymousId);
    const distinctId = userId || anonymousId;
    if (!distinctId) return reject('missing_distinct_id', 'neither userId nor anonymousId is set');

    const when = raw.timestamp ?? raw.originalTimestamp ?? raw.receivedAt;
    if (when === undefined || when === null || when === '') return reject('invalid_timestamp', 'no timestamp, originalTimestamp or receivedAt');
    const timestamp = parseTimestamp(when, ctx.now);
    if (typeof timestamp !== 'string') return timestamp;

    if (raw.properties !== undefined && raw.properties !== null && !isPlainObject(raw.properties)) return reject('invalid_properties', 'properties is not an object');
    if (raw.traits !== undefined && raw.traits !== null && !isPlainObject(raw.traits)) return reject('invalid_properties', 'traits is not an object');
    const properties = obj(raw.properties);
    const context = obj(raw.context);
    let props: Record<string, unknown> = { ...contextProperties(context), ...properties };
    let event: string;
    let eventDistinct = distinctId;
    const traits = { ...obj(context.traits), ...obj(raw.traits) };

    switch (type) {
      case 'track': {
        event = typeof raw.event === 'string' ? raw.event.trim() : '';
        if (!event) return reject('missing_event', 'track call without an event name');
        break;
      }
      case 'page': {
        event = '$pageview';
        const page = obj(context.page);
        props = {
          ...props,
          ...compact({
            $current_url: properties.url ?? page.url,
            $host: hostOf(properties.url ?? page.url),
            $pathname: properties.path ?? page.path,
            $referrer: properties.referrer || undefined,
            $referring_domain: properties.referrer ? referringDomain(properties.referrer) : undefined,
            title: properties.title ?? page.title,
            name: raw.name,
          }),
        };
        break;
      }
      case 'screen':
        event = '$screen';
        props = { ...props, ...compact({ $screen_name: raw.name ?? properties.name }) };
        break;
      case 'identify':
        event = '$identify';
        if (userId && anonymousId && userId !== anonymousId) props.$anon_distinct_id = anonymousId;
        props = personUpdate(props, compact(traits), ctx.mapping.personMode);
        break;
      case 'group': {
        const groupId = idOf(raw.groupId);
        if (!groupId) return reject('invalid_record', 'group call without a groupId');
        event = '$groupidentify';
        props = { ...props, $group_type: ctx.mapping.segment.groupType, $group_key: groupId, $group_set: compact(obj(raw.traits)) };
        break;
      }
      default: {
        // alias: previousId becomes an alias of userId.
        const previousId = idOf(raw.previousId);
        if (!userId || !previousId) return reject('invalid_record', 'alias call needs userId and previousId');
        event = '$create_alias';
        eventDistinct = userId;
        props = { ...props, alias: previousId };
      }
    }
    const sessionStart = amplitudeSessionStart(raw.integrations);
    const session = sessionUuid('segment-amplitude', anonymousId || userId, sessionStart, Date.parse(timestamp));
    if (session) {
      props.$session_id = session;
      props.amplitude_session_id = sessionStart;
    }

    const messageId = idOf(raw.messageId);
    const uuid = isValidUuid(messageId) ? messageId.toLowerCase() : deriveUuid('segment', messageId || `${type}\u0000${distinctId}\u0000${timestamp}\u0000${JSON.stringify(raw)}`);
    return { events: [buildEvent({ uuid, event, distinctId: eventDistinct, timestamp, properties: props }, ctx)] };
  },
};

/** `integrations` turning PostHog off: `PostHog: false`, or `All: false` without PostHog on. */
function disabledForPostHog(integrations: unknown): boolean {
  if (!isPlainObject(integrations)) return false;
  const key = Object.keys(integrations).find((k) => k.toLowerCase() === 'posthog');
  const posthog = key === undefined ? undefined : integrations[key];
  if (posthog === false) return true;
  return integrations.All === false && !posthog;
}

/**
 * Segment's `context` under the names posthog-js and PostHog's mobile SDKs use: the user agent
 * parsed as posthog-js parses it; `os`, `device`, `app`, `screen`, `network`, `locale`,
 * `timezone`; `location` only without an IP (with one, PostHog geolocates it).
 */
function contextProperties(context: Record<string, unknown>): Record<string, unknown> {
  const os = obj(context.os);
  const library = obj(context.library);
  const campaign = obj(context.campaign);
  const page = obj(context.page);
  const screen = obj(context.screen);
  const device = obj(context.device);
  const app = obj(context.app);
  const network = obj(context.network);
  const location = obj(context.location);
  const out: Record<string, unknown> = typeof context.userAgent === 'string' && context.userAgent ? userAgentProperties(context.userAgent) : {};
  // The OS the library reports (mobile: "iOS", "Android") wins over one read from a user agent.
  const osName = typeof os.name === 'string' && os.name ? mobileOsName(os.name) : undefined;
  const mobile = osName !== undefined && MOBILE_OS.has(osName);
  // Field by field into one object (a compact() literal per record was a fifth of Segment's transform).
  put(out, '$ip', context.ip);
  put(out, '$os', osName);
  put(out, '$os_name', mobile ? osName : undefined);
  put(out, '$os_version', os.version);
  put(out, '$lib', library.name);
  put(out, '$lib_version', library.version);
  put(out, 'utm_source', campaign.source);
  put(out, 'utm_medium', campaign.medium);
  put(out, 'utm_campaign', campaign.name);
  put(out, 'utm_term', campaign.term);
  put(out, 'utm_content', campaign.content);
  put(out, '$current_url', page.url);
  put(out, '$host', hostOf(page.url));
  put(out, '$pathname', page.path);
  put(out, '$screen_width', screen.width);
  put(out, '$screen_height', screen.height);
  put(out, '$screen_density', screen.density);
  put(out, '$device_id', device.id);
  put(out, '$device_manufacturer', device.manufacturer);
  put(out, '$device_model', device.model);
  put(out, '$device_name', device.name);
  put(out, '$app_name', app.name);
  put(out, '$app_version', app.version);
  put(out, '$app_build', app.build);
  put(out, '$app_namespace', app.namespace);
  put(out, '$network_carrier', network.carrier);
  put(out, '$network_wifi', network.wifi);
  put(out, '$network_cellular', network.cellular);
  put(out, '$network_bluetooth', network.bluetooth);
  put(out, '$locale', context.locale);
  put(out, '$timezone', context.timezone);
  if (page.referrer !== undefined) {
    // posthog-js: an empty referrer is "$direct".
    out.$referrer = page.referrer === '' ? '$direct' : page.referrer;
    put(out, '$referring_domain', referringDomain(page.referrer));
  }
  if (out.$device_type === undefined) put(out, '$device_type', deviceTypeOf(osName, device.model, device.type) ?? (mobile ? 'Mobile' : undefined));
  if (out.$browser !== undefined) Object.assign(out, browserLanguage(context.locale));
  if (out.$ip === undefined) {
    put(out, '$geoip_city_name', location.city);
    put(out, '$geoip_subdivision_1_name', location.region);
    put(out, '$geoip_country_name', location.country);
    put(out, '$geoip_country_code', countryCode(location.country));
    put(out, '$geoip_latitude', location.latitude);
    put(out, '$geoip_longitude', location.longitude);
  }
  for (const k in context) {
    const v = context[k];
    if (!CONTEXT_MAPPED.has(k) && k !== 'traits' && v !== null && v !== undefined) out[`segment_context_${k}`] = v;
  }
  return out;
}

const MOBILE_OS = new Set(['iOS', 'iPadOS', 'Android', 'tvOS', 'watchOS']);

/**
 * The session id Amplitude's Segment destinations keep in `integrations` (epoch ms of the
 * session start): `Actions Amplitude` (analytics.js) or `Amplitude` (classic device mode).
 */
function amplitudeSessionStart(integrations: unknown): unknown {
  if (!isPlainObject(integrations)) return undefined;
  for (const key of ['Actions Amplitude', 'Amplitude']) {
    const v = integrations[key];
    if (isPlainObject(v) && v.session_id !== undefined) return typeof v.session_id === 'string' ? Number(v.session_id) : v.session_id;
  }
  return undefined;
}
