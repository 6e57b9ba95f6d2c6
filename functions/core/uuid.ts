import { v5 as uuidv5, validate } from 'uuid';

// Fixed namespace: changing it would give every record a new uuid and break dedup on re-import.
const NAMESPACE = '6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b';

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a hyphenated UUID that PostHog's capture accepts as-is. */
export function isValidUuid(value: unknown): value is string {
  return typeof value === 'string' && CANONICAL.test(value) && validate(value.toLowerCase());
}

/**
 * A deterministic UUID for a record: the same source and identity parts always give the same
 * uuid, whichever file, chunk or run the record arrives in.
 */
export function deriveUuid(source: string, ...parts: string[]): string {
  return uuidv5(`${source}\u0000${parts.join('\u0000')}`, NAMESPACE);
}
