/**
 * PostHog's SDK vocabulary: the property values posthog-js, posthog-ios and posthog-android
 * send, for vendor values that mean the same thing under another spelling. Pure lookups.
 */
import { own } from './properties';

/** Mobile OS names as PostHog's mobile SDKs spell `$os_name` (and posthog-js `$os`). */
const MOBILE_OS: Record<string, string> = {
  ios: 'iOS',
  ipados: 'iPadOS',
  android: 'Android',
  tvos: 'tvOS',
  watchos: 'watchOS',
  macos: 'macOS',
  'mac os x': 'macOS',
};

export function mobileOsName(v: unknown): string | undefined {
  if (typeof v !== 'string' || !v.trim()) return undefined;
  return own(MOBILE_OS, v.trim().toLowerCase()) ?? v.trim();
}

/**
 * An OS family (from a device family, model or type such as Amplitude's "Windows", "Mac",
 * "Apple iPhone", "Samsung Galaxy Tab") as posthog-js names it in `$os`.
 */
export function webOsName(...candidates: unknown[]): string | undefined {
  for (const c of candidates) {
    if (typeof c !== 'string' || !c.trim()) continue;
    const v = c.toLowerCase();
    if (/windows phone/.test(v)) return 'Windows Phone';
    if (/windows/.test(v)) return 'Windows';
    if (/iphone|ipad|ipod|\bios\b/.test(v)) return 'iOS';
    if (/android|samsung|galaxy|pixel|xiaomi|huawei|oneplus|motorola|oppo|vivo|nokia/.test(v)) return 'Android';
    if (/chrome ?os|cros|chromebook/.test(v)) return 'Chrome OS';
    if (/mac|os x|macintosh/.test(v)) return 'Mac OS X';
    if (/linux|ubuntu|debian|fedora|red hat|suse/.test(v)) return 'Linux';
  }
  return undefined;
}

/**
 * posthog-js's `$device_type` (Desktop, Mobile, Tablet) from what a vendor says about the
 * device and OS. Undefined when nothing tells.
 */
export function deviceTypeOf(os: string | undefined, ...hints: unknown[]): string | undefined {
  const text = hints.filter((h): h is string => typeof h === 'string').join(' ').toLowerCase();
  if (/ipad|tablet|\btab\b|kindle/.test(text) || os === 'iPadOS') return 'Tablet';
  if (/iphone|ipod|phone|mobile/.test(text)) return 'Mobile';
  if (os === 'iOS' || os === 'Android' || os === 'Windows Phone') return 'Mobile';
  if (os === 'Windows' || os === 'Mac OS X' || os === 'Linux' || os === 'Chrome OS' || os === 'macOS') return 'Desktop';
  return undefined;
}

// Browser names from ua-parser-js (which Amplitude's browser SDK uses) → posthog-js's.
const BROWSERS: Record<string, string> = {
  edge: 'Microsoft Edge',
  'samsung browser': 'Samsung Internet',
  ie: 'Internet Explorer',
  iemobile: 'Internet Explorer Mobile',
  'chrome webview': 'Android Mobile',
  'android browser': 'Android Mobile',
  facebook: 'Facebook Mobile',
  'mobile firefox': 'Firefox',
  'mobile chrome': 'Chrome',
  'opera mini': 'Opera Mini',
  'opera mobi': 'Opera',
  yandex: 'Yandex',
  ucbrowser: 'UC Browser',
};

/** A browser name as posthog-js reports it (Chrome and Firefox on iOS have their own names). */
export function browserName(v: unknown, os: string | undefined): string | undefined {
  if (typeof v !== 'string' || !v.trim()) return undefined;
  const name = own(BROWSERS, v.trim().toLowerCase()) ?? v.trim();
  if (os === 'iOS' && (name === 'Chrome' || name === 'Firefox')) return `${name} iOS`;
  return name;
}

/** posthog-js sends `$browser_version` as a number: major.minor ("125.0.1" → 125, "17.4.1" → 17.4). */
export function browserVersion(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(\.\d+)?)/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** `$referring_domain` as posthog-js derives it from a referrer URL; "$direct" when there is none. */
export function referringDomain(referrer: unknown): string | undefined {
  if (referrer === '' || referrer === '$direct') return '$direct';
  return hostOf(referrer);
}

export function hostOf(url: unknown): string | undefined {
  if (typeof url !== 'string' || !url) return undefined;
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

/** posthog-js's `$browser_language` and `$browser_language_prefix` from a language tag. */
export function browserLanguage(tag: unknown): Record<string, string> {
  if (typeof tag !== 'string' || !tag.trim()) return {};
  const t = tag.trim();
  return { $browser_language: t, $browser_language_prefix: t.split(/[-_]/)[0]! };
}

// posthog-js's campaign parameters, read from the page URL into event properties.
const CAMPAIGN_PARAMS = [
  'utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term',
  'gclid', 'gad_source', 'gclsrc', 'dclid', 'gbraid', 'wbraid', 'fbclid', 'msclkid', 'twclid',
  'li_fat_id', 'mc_cid', 'igshid', 'ttclid', 'rdt_cid', 'epik', 'qclid', 'sccid', 'irclid',
];

/** The campaign parameters of a URL's query string, as posthog-js sends them with an event. */
export function campaignParams(url: unknown): Record<string, string> {
  if (typeof url !== 'string' || !url.includes('?')) return {};
  let search: URLSearchParams;
  try {
    search = new URL(url).searchParams;
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const k of CAMPAIGN_PARAMS) {
    const v = search.get(k);
    if (v) out[k] = v;
  }
  return out;
}
