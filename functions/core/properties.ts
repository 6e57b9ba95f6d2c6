import type { PersonMode } from './settings';

export const LIB = 'posthog-backfill';

/**
 * PostHog applies `$set` in ingestion order, not event time, so a historical `$set` would
 * overwrite newer live values. In `set_once` mode it becomes `$set_once` (an explicit
 * `$set_once` on the record wins for the same key).
 */
export function applyPersonMode(props: Record<string, unknown>, mode: PersonMode): Record<string, unknown> {
  if (mode === 'set' || props.$set === undefined) return props;
  const { $set, ...rest } = props;
  return { ...rest, $set_once: { ...($set as object), ...((props.$set_once as object | undefined) ?? {}) } };
}

/** Person properties from a source (user properties, traits) under `$set` or `$set_once`. */
export function personUpdate(props: Record<string, unknown>, person: Record<string, unknown> | undefined, mode: PersonMode): Record<string, unknown> {
  if (!person || !Object.keys(person).length) return props;
  return applyPersonMode({ ...props, $set: { ...((props.$set as object | undefined) ?? {}), ...person } }, mode);
}

/** Adds the origin property and a `$lib` when the record had none. */
export function tagOrigin(props: Record<string, unknown>, origin: string, property: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...props, [property]: origin };
  if (out.$lib === undefined) out.$lib = LIB;
  return out;
}

/** Drops null and undefined values: absent is what PostHog expects for "unknown". */
export function compact(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== null && v !== undefined && v !== '') out[k] = v;
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string id from a string or number; '' for anything else. */
export function idOf(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return '';
}
