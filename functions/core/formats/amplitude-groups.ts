import { createHash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import { reject, type Rejection } from '../event';
import { idOf, isPlainObject } from '../properties';
import { deriveUuid } from '../uuid';
import { cleanAmplitude, EMPTY } from './amplitude-fields';
import { buildEvent } from './build';
import type { OnceEvent, TransformContext } from './types';

export interface AmplitudeGroups {
  /** PostHog's `$groups`: one key per listed type. */
  keys?: Record<string, string>;
  /** Types not listed in `amplitude.groupTypes`: plain event properties. */
  plain: Record<string, unknown>;
  /** Each listed (type, key) with its properties from group_properties. */
  states: Array<{ type: string; key: string; properties: Record<string, unknown> }>;
}

/**
 * Amplitude's `groups` ({type: [keys]}, older exports {type: key}) against the chosen group
 * types. A listed type needs exactly one key (PostHog copies `$groups` values into `$group_N`
 * as they are); a list of several is rejected rather than sent as a list.
 */
export function groupsOf(groups: unknown, groupProperties: unknown, listed: string[] | undefined): AmplitudeGroups | Rejection {
  const out: AmplitudeGroups = { plain: {}, states: [] };
  if (!isPlainObject(groups)) return out;
  for (const type of Object.keys(groups).sort()) {
    const v = groups[type];
    const keys = (Array.isArray(v) ? v : [v]).map(idOf).filter((k) => k && k !== EMPTY);
    if (!keys.length) continue;
    if (!listed?.includes(type)) {
      out.plain[`amplitude_group_${type}`] = keys.length === 1 ? keys[0] : keys;
      continue;
    }
    if (keys.length > 1) return reject('invalid_groups', `groups.${clip(type)} holds ${keys.length} keys; PostHog takes one key per group type`);
    (out.keys ??= {})[type] = keys[0]!;
    const properties = groupState(groupProperties, type, keys[0]!);
    if (properties) out.states.push({ type, key: keys[0]!, properties });
  }
  return out;
}

/** group_properties is {type: {key: {…}}}; a flat {type: {…}} is that type's only group. */
function groupState(gp: unknown, type: string, key: string): Record<string, unknown> | undefined {
  if (!isPlainObject(gp) || !isPlainObject(gp[type])) return undefined;
  const byType = gp[type];
  const own = isPlainObject(byType[key]) ? byType[key] : Object.values(byType).some(isPlainObject) ? undefined : byType;
  if (!own) return undefined;
  const clean = cleanAmplitude(own, true);
  return Object.keys(clean).length ? clean : undefined;
}

/**
 * One `$groupidentify` per group state, to be sent once ever: the once-key and the uuid are
 * the group's type, key and a stable hash of its properties, so the same state in any record,
 * chunk or file is one send, and a change of properties is a new one. distinct_id is
 * `$<type>_<key>`, as posthog-node's groupIdentify sends it.
 */
export function groupIdentifies(groups: AmplitudeGroups, timestamp: string, ctx: TransformContext): OnceEvent[] {
  return groups.states.map(({ type, key, properties }) => {
    const state = createHash('sha256').update(stringify(properties) ?? '').digest('hex');
    const event = buildEvent(
      {
        uuid: deriveUuid('amplitude-group', type, key, state),
        event: '$groupidentify',
        distinctId: `$${type}_${key}`,
        timestamp,
        properties: { $group_type: type, $group_key: key, $group_set: properties },
      },
      ctx,
    );
    const onceKey = createHash('sha256').update(`group\u0000${type}\u0000${key}\u0000${state}`).digest('hex');
    return { key: onceKey, event };
  });
}

function clip(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}
