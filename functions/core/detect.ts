import type { RecordUnit } from './input';
import { isPlainObject } from './properties';
import type { FormatName } from './formats/names';

const SEGMENT_CALLS = new Set(['track', 'page', 'screen', 'identify', 'group', 'alias']);

/**
 * Tells a file's format from its first record (content first), with its path as a hint where
 * content alone cannot (a CSV of users vs of events). Undefined when it cannot tell.
 */
export function detectFormat(first: string | undefined, unit: RecordUnit, path: string): FormatName | undefined {
  const hint = pathHint(path);
  if (unit === 'row') return hint === 'users' ? 'users' : 'csv';
  let r: unknown;
  try {
    r = JSON.parse(first ?? '');
  } catch {
    return hint;
  }
  if (!isPlainObject(r)) return hint;
  if (typeof r.event_type === 'string' && ('amplitude_id' in r || 'event_time' in r || 'device_id' in r)) return 'amplitude';
  if (typeof r.type === 'string' && SEGMENT_CALLS.has(r.type) && ('messageId' in r || 'anonymousId' in r || 'userId' in r)) return 'segment';
  if (typeof r.event === 'string' && isPlainObject(r.properties) && 'time' in r.properties && !('distinct_id' in r)) return 'mixpanel';
  if (typeof r.event === 'string' && 'distinct_id' in r) {
    const exported = 'team_id' in r || 'elements_chain' in r || 'person_id' in r || 'created_at' in r || typeof r.properties === 'string';
    return exported ? 'posthog-export' : 'posthog';
  }
  if ('distinct_id' in r && !('event' in r)) return 'users';
  return hint;
}

/** Where the path names the source: `segment-logs/…`, `…/amplitude/…`, `users.csv`. */
export function pathHint(path: string): FormatName | undefined {
  const p = path.toLowerCase();
  if (/(^|\/)segment-logs\//.test(p) || /segment/.test(p)) return 'segment';
  if (/amplitude/.test(p)) return 'amplitude';
  if (/mixpanel/.test(p)) return 'mixpanel';
  if (/(^|[/_.-])users?([/_.-]|$)/.test(p)) return 'users';
  return undefined;
}
