import { z } from 'zod';
import { PERSON_MODES } from './names';

/** Limits that shape chunks and batches; shared by the Lambdas (env) and local mode (flags). */
export const Limits = z.object({
  /** Records per chunk. One chunk is one unit of retry and checkpointing. */
  chunkRecords: z.number().int().min(1).max(100_000).default(5_000),
  /** Raw bytes per chunk; leaves headroom under capture's 20 MB /batch/ body for the added properties. */
  chunkBytes: z.number().int().min(1024).max(15_000_000).default(8_000_000),
  /** Events per /batch/ request. */
  batchSize: z.number().int().min(1).max(10_000).default(1_000),
  /** A single line longer than this is rejected without being buffered. */
  maxRecordBytes: z.number().int().min(1024).default(1_048_576),
});
export type Limits = z.infer<typeof Limits>;

/** Capture rejects a single event larger than this. */
export const MAX_EVENT_BYTES = 1_000_000;
/** Capture's /batch/ body limit. */
export const MAX_BATCH_BYTES = 20 * 1024 * 1024;

export const PersonMode = z.enum(PERSON_MODES);
export type PersonMode = z.infer<typeof PersonMode>;

/**
 * zlib level of the bodies posted to capture. posthog-node's own is zlib's default, 6; level 1
 * takes well under half the CPU for bodies about a quarter larger (README, Performance): an
 * import is CPU-bound long before its link to PostHog is full. On a slow uplink a higher level
 * sends fewer bytes.
 */
export const DEFAULT_GZIP_LEVEL = 1;
