import { z } from 'zod';
import { FORMAT_NAMES } from './formats/names';
import { PersonMode } from './settings';
import { parseTimestamp } from './timestamp';

const instant = z.string().refine((v) => typeof parseTimestamp(v, Number.POSITIVE_INFINITY) === 'string', 'must be an ISO 8601 date');
const names = z.array(z.string().min(1));
const renames = z.record(z.string().min(1), z.string().min(1));

/**
 * The mapping config: one per drop prefix (`backfill.config.json` next to the exports, or CDK
 * context) or `--config` locally. Strict: an unknown key is an error, not a silent no-op.
 */
export const MappingConfig = z
  .strictObject({
    format: z.enum(['auto', ...FORMAT_NAMES]).default('auto'),
    /** `set_once` keeps newer live person properties (history arrives after them); `set` overwrites. */
    personMode: PersonMode.default('set_once'),
    /** The property naming the file an event came from. */
    originProperty: z.string().min(1).default('$import_source'),
    events: z
      .strictObject({
        rename: renames.default({}),
        /** Only these event names (after renames) are sent; the rest are counted as filtered. */
        allow: names.optional(),
        deny: names.default([]),
      })
      .prefault({}),
    properties: z
      .strictObject({
        rename: renames.default({}),
        /** Only these (non-`$`) properties are kept. */
        keep: names.optional(),
        drop: names.default([]),
        /** Added to every event. */
        extra: z.record(z.string().min(1), z.json()).default({}),
      })
      .prefault({}),
    /** Only events at or after / before these instants are sent; the rest are filtered. */
    after: instant.optional(),
    before: instant.optional(),
    csv: z
      .strictObject({
        /** Column holding the event name, or `eventName` for one name for every row. */
        event: z.string().min(1).default('event'),
        eventName: z.string().min(1).optional(),
        distinctId: z.string().min(1).default('distinct_id'),
        timestamp: z.string().min(1).default('timestamp'),
        uuid: z.string().min(1).default('uuid'),
        delimiter: z.string().length(1).default(','),
      })
      .prefault({}),
    users: z.strictObject({ distinctId: z.string().min(1).default('distinct_id') }).prefault({}),
    segment: z.strictObject({ groupType: z.string().min(1).default('company') }).prefault({}),
    amplitude: z
      .strictObject({
        /** Amplitude's own `session_start` / `session_end` markers: filtered unless true. */
        keepSessionEvents: z.boolean().default(false),
        /**
         * The Amplitude group types sent to PostHog's group analytics (`$groups`,
         * `$groupidentify`); PostHog allows 5 per project and keeps whichever 5 it sees first, so
         * the choice is the user's, never the order of ingestion. A type not listed (every type
         * while this is unset) stays on the event as the plain property `amplitude_group_<type>`.
         */
        groupTypes: z
          .array(z.string().min(1))
          .min(1)
          .max(5, 'PostHog allows at most 5 group types per project')
          .refine((t) => new Set(t).size === t.length, 'group types must be unique')
          .optional(),
      })
      .prefault({}),
  })
  .refine((c) => !c.after || !c.before || Date.parse(c.after) < Date.parse(c.before), { message: '`after` must be before `before`', path: ['after'] })
  .refine((c) => JSON.stringify(c).length <= 32_768, { message: 'the config is over 32 KB; it travels with every chunk' });
export type MappingConfig = z.infer<typeof MappingConfig>;

export const DEFAULT_MAPPING: MappingConfig = MappingConfig.parse({});

/** Parses a config, naming the place it came from and every problem, before anything is read. */
export function parseMapping(raw: unknown, where: string): MappingConfig {
  const parsed = MappingConfig.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`${where}: invalid mapping config: ${issues}`);
  }
  return parsed.data;
}

/** Base settings overlaid by a file's config (the nearer config wins key by key at the top level). */
export function mergeMapping(...layers: Array<Record<string, unknown> | undefined>): Record<string, unknown> {
  return Object.assign({}, ...layers.filter(Boolean));
}
