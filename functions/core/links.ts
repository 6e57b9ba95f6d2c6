import { hash } from 'node:crypto';
import type { PostHogEvent } from './event';
import { applyGeoipRule } from './formats/build';
import type { IdentityLink, OnceEvent, TransformContext } from './formats/types';
import { tagOrigin } from './properties';
import type { Seen } from './transform';
import { deriveUuid } from './uuid';

/** The sent-alias table key of a (device, user) pair: fixed length whatever the ids. */
export function linkKey(l: Pick<IdentityLink, 'anon' | 'user'>): string {
  return hash('sha256', `${l.anon}\u0000${l.user}`, 'hex');
}

/** The sent-alias table key of a once-event: its own namespace, so it never meets a pair's. */
export function onceKey(key: string): string {
  return hash('sha256', `once\u0000${key}`, 'hex');
}

/**
 * Something sent once, ever, through the sent-alias table: a device link's `$identify` or a
 * format's once-event. One mechanism for both: claim `tableKey`, send, then confirm (accepted)
 * or mark refused (capture refused it for itself; reported with `n`, the first record showing it).
 */
export interface OnceItem {
  tableKey: string;
  kind: 'link' | 'once';
  event: PostHogEvent;
  n: number;
}

/** One link per pair: the earliest timestamp a record of this chunk shows it at, the first line. */
export function uniqueLinks<T extends IdentityLink & { n?: number }>(links: T[]): T[] {
  const byKey = new Map<string, T>();
  for (const l of links) {
    const key = `${l.anon}\u0000${l.user}`;
    const seen = byKey.get(key);
    if (!seen) byKey.set(key, { ...l });
    else {
      if (l.timestamp && (!seen.timestamp || l.timestamp < seen.timestamp)) seen.timestamp = l.timestamp;
      if (l.n !== undefined && (seen.n === undefined || l.n < seen.n)) seen.n = l.n;
    }
  }
  return [...byKey.values()];
}

/** A chunk's links and once-events as once-items, each key once (the first record showing it). */
export function onceItems(links: Array<Seen<IdentityLink>>, once: Array<Seen<OnceEvent>>, ctx: TransformContext): OnceItem[] {
  const items: OnceItem[] = uniqueLinks(links).map((l) => linkItem(l, ctx));
  const seen = new Set<string>();
  for (const o of [...once].sort((a, b) => a.n - b.n)) {
    if (seen.has(o.key)) continue;
    seen.add(o.key);
    items.push({ tableKey: onceKey(o.key), kind: 'once', event: o.event, n: o.n });
  }
  return items;
}

// Most of a chunk's pairs were claimed by an earlier chunk and are never sent: a link's
// `$identify` (a uuid hash and an object) is built when first asked for, then kept.
function linkItem(l: Seen<IdentityLink>, ctx: TransformContext): OnceItem {
  let event: PostHogEvent | undefined;
  return {
    tableKey: linkKey(l),
    kind: 'link',
    n: l.n,
    get event() {
      return (event ??= identifyEvent(l, ctx));
    },
  };
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
    properties: tagOrigin({ $anon_distinct_id: l.anon }, ctx.origin, ctx.mapping.originProperty),
  };
  applyGeoipRule(e.properties, false);
  if (l.timestamp) e.timestamp = l.timestamp;
  return e;
}
