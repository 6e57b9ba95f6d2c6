import { detectBrowser, detectBrowserVersion, detectDevice, detectDeviceType, detectOS } from '@posthog/core/utils';

/**
 * What posthog-js derives from a user agent, with posthog-js's own detector (@posthog/core,
 * which posthog-js and posthog-node share), so imported browsers, OSes and device types
 * carry exactly the names and values live web events do.
 */
export function userAgentProperties(ua: string): Record<string, unknown> {
  let parsed = cache.get(ua);
  if (!parsed) {
    if (cache.size >= CACHE_SIZE) cache.clear();
    parsed = parse(ua);
    cache.set(ua, parsed);
  }
  return { ...parsed };
}

// Exports repeat the same few user agents; the detector runs dozens of regexes per call.
const CACHE_SIZE = 2_000;
const cache = new Map<string, Record<string, unknown>>();

function parse(ua: string): Record<string, unknown> {
  const out: Record<string, unknown> = { $raw_user_agent: ua };
  const [os, osVersion] = detectOS(ua);
  const browser = detectBrowser(ua, undefined);
  const version = detectBrowserVersion(ua, undefined);
  const device = detectDevice(ua);
  if (browser) out.$browser = browser;
  if (version !== null && Number.isFinite(version)) out.$browser_version = version;
  if (os) out.$os = os;
  if (osVersion) out.$os_version = osVersion;
  if (device) out.$device = device;
  out.$device_type = detectDeviceType(ua);
  return out;
}
