import type { PostHogEvent } from '../event';
import { applyPersonMode, tagOrigin } from '../properties';
import type { TransformContext } from './types';

/** The common last step of every format: person mode, origin property, `$lib`. */
export function buildEvent(
  e: { uuid: string; event: string; distinctId: string; timestamp: string | undefined; properties: Record<string, unknown> },
  ctx: TransformContext,
): PostHogEvent {
  const event: PostHogEvent = {
    uuid: e.uuid,
    event: e.event,
    distinct_id: e.distinctId,
    properties: tagOrigin(applyPersonMode(e.properties, ctx.mapping.personMode), ctx.origin, ctx.mapping.originProperty),
  };
  if (e.timestamp !== undefined) event.timestamp = e.timestamp;
  return event;
}
