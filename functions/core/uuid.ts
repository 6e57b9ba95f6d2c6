import { hash } from 'node:crypto';

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
  return v5(`${source}\u0000${parts.join('\u0000')}`);
}

// RFC 4122 version 5 (SHA-1 of namespace + UTF-8 name), as the `uuid` package computes it, with
// one native hash call into a reused buffer: the package's pure-JS SHA-1 was a tenth of a transform.
declare global {
  // ES2024, in Node since 20; the TypeScript lib this project targets predates it.
  interface String {
    isWellFormed(): boolean;
  }
}

const SCRATCH = Buffer.alloc(64 * 1024);
Buffer.from(NAMESPACE.replace(/-/g, ''), 'hex').copy(SCRATCH);

function v5(name: string): string {
  // Text with a lone UTF-16 surrogate is not Unicode (capture refuses it too): the record is
  // rejected for it (transform turns this into its rejection), never hashed some lossy way.
  if (!name.isWellFormed()) throw new MalformedText('a text field holds a lone UTF-16 surrogate, which is not valid Unicode');
  const len = 16 + Buffer.byteLength(name);
  let input: Buffer;
  if (len <= SCRATCH.length) {
    SCRATCH.write(name, 16, 'utf8');
    input = SCRATCH.subarray(0, len);
  } else input = Buffer.concat([SCRATCH.subarray(0, 16), Buffer.from(name, 'utf8')]);
  const h = hash('sha1', input, 'hex');
  const version = (5 << 4) | (Number.parseInt(h.slice(12, 14), 16) & 0x0f);
  const variant = 0x80 | (Number.parseInt(h.slice(16, 18), 16) & 0x3f);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${version.toString(16)}${h.slice(14, 16)}-${variant.toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/** A record's text that cannot be made into an event as it stands. */
export class MalformedText extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedText';
  }
}
