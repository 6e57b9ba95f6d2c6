import { v5 as uuidv5 } from 'uuid';

// Fixed namespace: changing it would give every record a new uuid and break dedup on re-import.
const NAMESPACE = '6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b';

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * True for a hyphenated 8-4-4-4-12 hex UUID: what capture and posthog-node accept as-is. Version
 * and variant bits are not checked (capture does not check them either). Send it lower-cased.
 */
export function isValidUuid(value: unknown): value is string {
  return typeof value === 'string' && CANONICAL.test(value);
}

/**
 * A deterministic UUID for a record: the same source and identity parts always give the same
 * uuid, whichever file, chunk or run the record arrives in.
 */
export function deriveUuid(source: string, ...parts: string[]): string {
  return uuidv5(`${source}\u0000${parts.join('\u0000')}`, NAMESPACE);
}
