import { createHash } from 'node:crypto';

/**
 * A file's identity for checkpoints: where it is and which version. A re-upload (new version or
 * ETag) is a new file; the same S3 event delivered twice is the same file. Never used for uuids.
 */
export function fileIdentity(uri: string, version: string | undefined): string {
  return createHash('sha256').update(`${uri}\u0000${version ?? ''}`).digest('hex').slice(0, 32);
}

/** S3 event keys arrive URL-encoded with `+` for space. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}
