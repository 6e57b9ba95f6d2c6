import type { PersonMode } from './settings';

/** The property that traces an imported event back to its file. */
export const ORIGIN_PROPERTY = '$import_source';
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

/** Adds the origin property and a `$lib` when the record had none. */
export function tagOrigin(props: Record<string, unknown>, origin: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...props, [ORIGIN_PROPERTY]: origin };
  if (out.$lib === undefined) out.$lib = LIB;
  return out;
}
