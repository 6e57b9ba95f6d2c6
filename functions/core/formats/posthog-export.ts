import { reject } from '../event';
import { isPlainObject } from '../properties';
import { posthogRecord } from './posthog';
import type { Format } from './types';

// Bound to the source project or computed by ingestion: never sent to the new one.
const INSTANCE_FIELDS = ['team_id', 'project_id', 'person_id', 'person', 'person_properties', 'person_created_at', 'created_at', '_timestamp', '_offset', 'api_key', 'token', '$group_0', '$group_1', '$group_2', '$group_3', '$group_4'];
const INSTANCE_PROPERTIES = ['token', 'api_key', '$sent_at', '$plugins_succeeded', '$plugins_failed', '$plugins_deferred'];

/**
 * A PostHog event export (another instance or region): uuid, event, distinct_id, timestamp and
 * properties are kept; instance-bound fields are stripped. `elements_chain` travels as the
 * `$elements_chain` property, which capture accepts for autocapture events.
 */
export const posthogExportFormat: Format = {
  name: 'posthog-export',
  toEvents(raw, ctx) {
    if (!isPlainObject(raw)) return reject('not_an_object', 'record is not a JSON object');
    let properties: unknown = raw.properties;
    if (typeof properties === 'string') {
      try {
        properties = JSON.parse(properties); // exports from ClickHouse carry properties as a JSON string
      } catch {
        return reject('invalid_properties', 'properties is a string that is not JSON');
      }
    }
    if (properties !== undefined && properties !== null && !isPlainObject(properties)) return reject('invalid_properties', 'properties is not an object');
    const props: Record<string, unknown> = { ...((properties as Record<string, unknown> | undefined) ?? {}) };
    for (const k of INSTANCE_PROPERTIES) delete props[k];
    if (typeof raw.elements_chain === 'string' && raw.elements_chain && props.$elements_chain === undefined) props.$elements_chain = raw.elements_chain;
    const clean: Record<string, unknown> = { ...raw, properties: props };
    for (const k of [...INSTANCE_FIELDS, 'elements_chain']) delete clean[k];
    return posthogRecord(clean, ctx, 'posthog');
  },
};
