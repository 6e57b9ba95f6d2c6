import { countryCode, languageTag } from '../geo';
import { isPlainObject, own, present, put } from '../properties';
import { TupleMemo } from '../tuple-memo';
import { browserLanguage, browserName, campaignParams, browserVersion, deviceTypeOf, mobileOsName, referringDomain, webOsName } from '../vocabulary';

/** Amplitude's placeholder for "no value" (e.g. an initial_utm_medium never seen): not a value. */
export const EMPTY = 'EMPTY';

/** Present and not Amplitude's "EMPTY". */
export const isValue = (v: unknown) => present(v) && v !== EMPTY;

/** A copy without null, empty and "EMPTY" values; `deep` cleans nested objects too. */
export function cleanAmplitude(obj: Record<string, unknown>, deep = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in obj) {
    const v = obj[k];
    if (!isValue(v)) continue;
    out[k] = deep && isPlainObject(v) ? cleanAmplitude(v, true) : v;
  }
  return out;
}

// Amplitude browser SDK page properties → posthog-js's. Page Location (the full URL, as
// posthog-js's $current_url) wins over Page URL (without the query string).
const PAGE: Record<string, string> = {
  '[Amplitude] Page Path': '$pathname',
  '[Amplitude] Page Domain': '$host',
  '[Amplitude] Page Title': 'title',
  '[Amplitude] Viewport Height': '$viewport_height',
  '[Amplitude] Viewport Width': '$viewport_width',
  referrer: '$referrer',
  referring_domain: '$referring_domain',
  // Mobile SDK screen and lifecycle properties.
  '[Amplitude] Screen Name': '$screen_name',
  '[Amplitude] Version': 'version',
  '[Amplitude] Build': 'build',
  '[Amplitude] Previous Version': 'previous_version',
  '[Amplitude] Previous Build': 'previous_build',
  '[Amplitude] From Background': 'from_background',
  '[Amplitude] Link URL': 'url',
  '[Amplitude] Link Referrer': 'referrer',
};

/** Event properties, with Amplitude's page, viewport and referrer names in posthog-js's. */
export function pageProperties(props: Record<string, unknown>, ep: Record<string, unknown> | undefined): void {
  if (!ep) return;
  for (const k in ep) {
    const v = ep[k];
    if (!isValue(v)) continue;
    if (k === '[Amplitude] Page Location') props.$current_url = v;
    else if (k === '[Amplitude] Page URL') {
      if (ep['[Amplitude] Page Location'] === undefined) props.$current_url = v;
    } else props[own(PAGE, k) ?? k] = v;
  }
  if (props.$referrer !== undefined && props.$referring_domain === undefined) put(props, '$referring_domain', referringDomain(props.$referrer));
  if (props.build !== undefined) props.$app_build = props.build;
  const campaign = campaignParams(props.$current_url);
  for (const k in campaign) if (props[k] === undefined) props[k] = campaign[k];
}

const MOBILE = new Set(['ios', 'ipados', 'android', 'tvos', 'watchos']);

/**
 * Device, OS, browser, app and language by platform. Amplitude's browser SDK puts the browser
 * in os_name / os_version and the OS family in the device fields; its mobile SDKs put the OS
 * in os_name. Raw device_family / device_type / device_brand stay as `amplitude_*`.
 */
export function amplitudeDevice(props: Record<string, unknown>, r: Record<string, unknown>): void {
  const platform = typeof r.platform === 'string' ? r.platform.trim().toLowerCase() : '';
  if (platform === 'web') {
    const fields = webFields(r);
    for (let i = 0; i < fields.length; i++) props[fields[i]![0]] = fields[i]![1];
    put(props, '$app_version', r.version_name); // the browser SDK's appVersion option
  } else if (MOBILE.has(platform)) {
    const os = mobileOsName(r.os_name) ?? mobileOsName(r.platform);
    put(props, '$os', os);
    put(props, '$os_name', os); // what posthog-ios / posthog-android send
    put(props, '$os_version', r.os_version);
    put(props, '$device_model', r.device_model);
    put(props, '$device_manufacturer', r.device_manufacturer);
    put(props, '$device_type', deviceTypeOf(os, r.device_type, r.device_family, r.device_model) ?? 'Mobile');
    put(props, '$app_version', r.version_name);
    put(props, '$network_carrier', r.device_carrier);
    put(props, '$locale', languageTag(r.language));
  } else {
    // Server-side or unknown platform: the fields mean what their names say.
    put(props, '$os', r.os_name);
    put(props, '$os_version', r.os_version);
    put(props, '$device_model', r.device_model);
    put(props, '$device_manufacturer', r.device_manufacturer);
    put(props, '$app_version', r.version_name);
    put(props, '$network_carrier', r.device_carrier);
    put(props, '$locale', languageTag(r.language));
  }
  put(props, 'amplitude_device_family', r.device_family);
  put(props, 'amplitude_device_type', r.device_type);
  put(props, 'amplitude_device_brand', r.device_brand);
}

// Exports repeat a few browser, OS and language combinations, and naming one runs a dozen
// regexes: each combination is named once (a bounded memo, cleared when full).
const webMemo = new TupleMemo<Array<[string, unknown]>>(1_000);

/** The web SDK's browser, OS, device type and language, as the properties to set, in order. */
function webFields(r: Record<string, unknown>): Array<[string, unknown]> {
  const key = [r.os_name, r.os_version, r.device_family, r.device_type, r.device_model, r.language];
  let fields = webMemo.get(key);
  if (fields) return fields;
  fields = [];
  const os = webOsName(r.device_family, r.device_type, r.device_model);
  for (const [k, v] of [
    ['$browser', browserName(r.os_name, os)],
    ['$browser_version', browserVersion(r.os_version)],
    ['$os', os],
    ['$device_type', deviceTypeOf(os, r.device_family, r.device_type, r.device_model)],
  ] as const) {
    if (present(v)) fields.push([k, v]); // as `put` would
  }
  fields.push(...Object.entries(browserLanguage(r.language)));
  webMemo.set(key, fields);
  return fields;
}

/**
 * With the user's IP, `$ip` only: PostHog geolocates it (every `$geoip_*` field). Without one,
 * Amplitude's own location under PostHog's names, the country code from the country name.
 */
export function amplitudeGeo(props: Record<string, unknown>, r: Record<string, unknown>): void {
  if (isValue(r.ip_address)) {
    props.$ip = r.ip_address;
    return;
  }
  put(props, '$geoip_city_name', r.city);
  put(props, '$geoip_subdivision_1_name', r.region);
  put(props, '$geoip_country_name', r.country);
  put(props, '$geoip_country_code', countryCode(r.country));
  put(props, '$geoip_latitude', r.location_lat);
  put(props, '$geoip_longitude', r.location_lng);
}
