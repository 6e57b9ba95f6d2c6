import { createHash } from 'node:crypto';
import type { PostHogEvent } from './event';
import type { IdentityLink, TransformContext } from './formats/types';
import { tagOrigin } from './properties';
import { deriveUuid } from './uuid';

/** The sent-alias table key of a (device, user) pair: fixed length whatever the ids. */
export function linkKey(l: Pick<IdentityLink, 'anon' | 'user'>): string {
  return createHash('sha256').update(`${l.anon}\u0000${l.user}`).digest('hex');
}

/** One link per pair, with the earliest timestamp a record of this chunk shows it at. */
export function uniqueLinks(links: IdentityLink[]): IdentityLink[] {
  const byKey = new Map<string, IdentityLink>();
  for (const l of links) {
    const key = `${l.anon}\u0000${l.user}`;
    const seen = byKey.get(key);
    if (!seen || (l.timestamp && (!seen.timestamp || l.timestamp < seen.timestamp))) byKey.set(key, l);
  }
  return [...byKey.values()];
}

/**
 * The `$identify` that merges a device's anonymous person into the user's: distinct_id is the
 * user, `$anon_distinct_id` the device. Its uuid depends on the pair alone.
 */
export function identifyEvent(l: IdentityLink, ctx: TransformContext): PostHogEvent {
  const e: PostHogEvent = {
    uuid: deriveUuid('identify', l.anon, l.user),
    event: '$identify',
    distinct_id: l.user,
    properties: tagOrigin({ $anon_distinct_id: l.anon, $geoip_disable: true }, ctx.origin, ctx.mapping.originProperty),
  };
  if (l.timestamp) e.timestamp = l.timestamp;
  return e;
}
