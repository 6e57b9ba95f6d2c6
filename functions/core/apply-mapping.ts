import type { PostHogEvent } from './event';
import type { MappingConfig } from './mapping';
import { own } from './properties';

/**
 * Applies the mapping config to one event: event and property renames, keep / drop lists,
 * static extra properties, then the event allow / deny lists and the time window (on the
 * final name and the event's timestamp). `keep` never drops `$` properties (person updates,
 * PostHog's own) or the origin property.
 */
export function applyMapping(e: PostHogEvent, m: MappingConfig): PostHogEvent | { filtered: string } {
  const event = own(m.events.rename, e.event) ?? e.event;
  if (m.events.allow && !m.events.allow.includes(event)) return { filtered: 'event_not_allowed' };
  if (m.events.deny.includes(event)) return { filtered: 'event_denied' };
  if (e.timestamp) {
    const t = Date.parse(e.timestamp);
    if (m.after && t < Date.parse(m.after)) return { filtered: 'before_window' };
    if (m.before && t >= Date.parse(m.before)) return { filtered: 'after_window' };
  }
  const p = m.properties;
  if (isEmpty(p.rename) && !p.keep && !p.drop.length && isEmpty(p.extra) && event === e.event) return e;
  const keep = p.keep ? new Set(p.keep) : undefined;
  const drop = new Set(p.drop);
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e.properties)) {
    const name = own(p.rename, k) ?? k;
    if (drop.has(name)) continue;
    if (keep && !name.startsWith('$') && name !== m.originProperty && !keep.has(name)) continue;
    properties[name] = v;
  }
  Object.assign(properties, p.extra);
  return { ...e, event, properties };
}

// Runs per event: a key count without building a list of keys.
function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}
