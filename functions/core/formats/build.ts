import type { PostHogEvent } from '../event';
import { applyPersonMode, tagOrigin } from '../properties';
import type { TransformContext } from './types';

/** The common last step of every format: person mode, origin property, `$lib`, geolocation. */
export function buildEvent(
  e: {
    uuid: string;
    event: string;
    distinctId: string;
    timestamp: string | undefined;
    properties: Record<string, unknown>;
    /**
     * The record itself said `$geoip_disable: true` in PostHog's own vocabulary (posthog,
     * posthog-export, csv): kept even with an `$ip`. Whatever a format file put into
     * `properties.$geoip_disable` is not this and is overruled by the rule below.
     */
    geoipOptOut?: boolean;
  },
  ctx: TransformContext,
): PostHogEvent {
  const built = tagOrigin(applyPersonMode(e.properties, ctx.mapping.personMode), ctx.origin, ctx.mapping.originProperty);
  applyGeoipRule(built, e.geoipOptOut === true);
  // One copy, same keys in the same order: properties added one by one under computed names
  // leave V8 a slow dictionary object past ~16 keys; the copy is a fast one, which our size check
  // and posthog-node each serialize in about 60 % of the time (and it costs less than it saves).
  const properties = { ...built };
  const event: PostHogEvent = { uuid: e.uuid, event: e.event, distinct_id: e.distinctId, properties };
  if (e.timestamp !== undefined) event.timestamp = e.timestamp;
  return event;
}

/**
 * Geolocation, one rule for every format: PostHog geolocates an event by its `$ip`, and without
 * one by the address the request came from, which for an import is the sender's: wrong, and
 * permanent once ingested. So geolocation is on only when the event carries the user's own `$ip`
 * (`$geoip_disable` absent); otherwise `$geoip_disable: true`. A record's own `$geoip_disable:
 * true` (`optOut`) is kept; its `false` never turns geolocation on without an `$ip`. In place.
 */
export function applyGeoipRule(props: Record<string, unknown>, optOut: boolean): void {
  if (hasOwnIp(props) && !optOut) delete props.$geoip_disable;
  else props.$geoip_disable = true;
}

/**
 * Re-applies the rule after the mapping config changed an event's properties (a dropped or
 * renamed `$ip`): what `buildEvent` decided is read back from the event (geolocation off while it
 * had an `$ip` can only be the record's own opt-out).
 */
export function settleGeoip(before: Record<string, unknown>, after: Record<string, unknown>): void {
  applyGeoipRule(after, before.$geoip_disable === true && hasOwnIp(before));
}

function hasOwnIp(props: Record<string, unknown>): boolean {
  const ip = props.$ip;
  return typeof ip === 'string' && ip.trim() !== '';
}
