import type { PersonMode } from './settings';

export const LIB = 'posthog-backfill';

/**
 * PostHog applies `$set` in ingestion order, not event time, so a historical `$set` would
 * overwrite newer live values. In `set_once` mode it becomes `$set_once` (an explicit
 * `$set_once` on the record wins for the same key). `props` is the caller's own, freshly built
 * object and is changed in place (a copy per event is most of a transform's garbage).
 */
export function applyPersonMode(props: Record<string, unknown>, mode: PersonMode): Record<string, unknown> {
  if (mode === 'set' || props.$set === undefined) return props;
  const merged = { ...(props.$set as object), ...((props.$set_once as object | undefined) ?? {}) };
  delete props.$set;
  props.$set_once = merged;
  return props;
}

/** Person properties from a source (user properties, traits) under `$set` or `$set_once`, in place. */
export function personUpdate(props: Record<string, unknown>, person: Record<string, unknown> | undefined, mode: PersonMode): Record<string, unknown> {
  if (!person) return props;
  let any = false;
  for (const _ in person) {
    any = true;
    break;
  }
  if (!any) return props;
  if (mode === 'set') props.$set = props.$set === undefined ? person : { ...(props.$set as object), ...person };
  else props.$set_once = { ...person, ...((props.$set_once as object | undefined) ?? {}) };
  return applyPersonMode(props, mode);
}

/** Adds the origin property and a `$lib` when the record had none, in place. */
export function tagOrigin(props: Record<string, unknown>, origin: string, property: string): Record<string, unknown> {
  props[property] = origin;
  if (props.$lib === undefined) props.$lib = LIB;
  return props;
}

/** A value worth sending: not null, undefined or empty (absent is what PostHog expects for "unknown"). */
export function present(v: unknown): boolean {
  return v !== null && v !== undefined && v !== '';
}

/** Drops values that are not `present`. */
export function compact(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in obj) {
    const v = obj[k];
    if (present(v)) out[k] = v;
  }
  return out;
}

/** Sets `key` unless the value is null, undefined or empty: `compact` without the copy. */
export function put(props: Record<string, unknown>, key: string, v: unknown): void {
  if (present(v)) props[key] = v;
}

/**
 * `table[key]` for the table's own entries only: an event or property named `constructor` or
 * `toString` must not pick up Object.prototype's functions from a lookup table.
 */
export function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
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
