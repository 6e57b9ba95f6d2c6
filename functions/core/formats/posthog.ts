import stringify from 'safe-stable-stringify';
import { z } from 'zod';
import { reject, type PostHogEvent, type Rejection } from '../event';
import { parseTimestamp } from '../timestamp';
import { deriveUuid, isValidUuid } from '../uuid';
import { applyPersonMode, tagOrigin } from '../properties';
import type { Format, TransformContext } from './types';

// PostHog's historical-ingestion input: {"event","distinct_id","properties","timestamp"}, optional uuid.
const Record = z.looseObject({
  event: z.string().optional(),
  distinct_id: z.union([z.string(), z.number()]).nullable().optional(),
  properties: z.unknown().optional(),
  timestamp: z.unknown().optional(),
  uuid: z.unknown().optional(),
  $set: z.unknown().optional(),
  $set_once: z.unknown().optional(),
});

export const posthogFormat: Format = {
  name: 'posthog',
  toEvents(raw, ctx) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return reject('not_an_object', 'record is not a JSON object');
    }
    const parsed = Record.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return reject('invalid_record', `${issue?.path.join('.') || 'record'}: ${issue?.message ?? 'invalid'}`);
    }
    const r = parsed.data;
    if (r.event === undefined || !r.event.trim()) return reject('missing_event', 'event is missing or empty');
    const distinctId = r.distinct_id === undefined || r.distinct_id === null ? '' : String(r.distinct_id).trim();
    if (!distinctId) return reject('missing_distinct_id', 'distinct_id is missing or empty');
    if (r.properties !== undefined && r.properties !== null && !isPlainObject(r.properties)) {
      return reject('invalid_properties', 'properties is not an object');
    }
    const props: Record<string, unknown> = { ...((r.properties as Record<string, unknown> | undefined) ?? {}) };
    // Top-level $set / $set_once are accepted by capture; keep them with the other person updates.
    for (const key of ['$set', '$set_once'] as const) {
      if (r[key] === undefined) continue;
      if (!isPlainObject(r[key])) return reject('invalid_properties', `${key} is not an object`);
      props[key] = { ...(r[key] as object), ...((props[key] as object | undefined) ?? {}) };
    }
    for (const key of ['$set', '$set_once'] as const) {
      if (props[key] !== undefined && !isPlainObject(props[key])) {
        return reject('invalid_properties', `properties.${key} is not an object`);
      }
    }

    let timestamp: string | undefined;
    if (r.timestamp !== undefined && r.timestamp !== null && r.timestamp !== '') {
      const ts = parseTimestamp(r.timestamp, ctx.now);
      if (typeof ts !== 'string') return ts;
      timestamp = ts;
    }

    let uuid: string;
    if (r.uuid !== undefined && r.uuid !== null && r.uuid !== '') {
      if (!isValidUuid(r.uuid)) return reject('invalid_uuid', 'uuid is not a valid UUID');
      uuid = r.uuid.toLowerCase();
    } else {
      // Identity = the record's own content (before we add anything), so a re-import matches.
      uuid = deriveUuid('posthog', stringify({ event: r.event, distinct_id: distinctId, timestamp: timestamp ?? null, properties: props }) ?? '');
    }

    const event: PostHogEvent = {
      uuid,
      event: r.event,
      distinct_id: distinctId,
      properties: tagOrigin(applyPersonMode(props, ctx.personMode), ctx.origin),
    };
    if (timestamp !== undefined) event.timestamp = timestamp;
    return [event];
  },
};

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export type { Rejection };
