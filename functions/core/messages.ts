import { z } from 'zod';
import { MAX_OVERSIZE_PER_CHUNK } from './chunks';
import { FORMAT_NAMES } from './formats/names';

/** Where a file came from; its identity includes the version so a re-upload is a new file. */
export const FileRef = z.object({
  /** `s3://bucket/key` or a local path: shown in reports and the origin property. */
  uri: z.string().min(1),
  bucket: z.string().optional(),
  key: z.string().optional(),
  version: z.string().optional(),
});
export type FileRef = z.infer<typeof FileRef>;

/** The SQS message for one chunk: a claim check on the staged body, kept far under 1 MiB. */
export const ChunkMessage = z.object({
  v: z.literal(1),
  fileId: z.string().min(1),
  file: FileRef,
  chunk: z.number().int().min(0),
  /** The resolved format (never `auto`) and the mapping config, frozen at split time. */
  format: z.enum(FORMAT_NAMES),
  mapping: z.unknown(),
  /** The zip member the chunk comes from; lines are numbered within it. */
  part: z.string().optional(),
  unit: z.enum(['line', 'element', 'row']),
  firstLine: z.number().int().min(1),
  records: z.number().int().min(0),
  staged: z.string().min(1),
  /**
   * The time events without a timestamp are sent at: the file's stored manifest `startedAt`, so
   * every retry, replay or re-split sends them identically. Absent in messages queued by an
   * earlier version: the sender reads the manifest's instead.
   */
  importedAt: z.string().datetime().optional(),
  oversize: z.array(z.object({ n: z.number().int(), bytes: z.number().int() })).max(MAX_OVERSIZE_PER_CHUNK),
});
export type ChunkMessage = z.infer<typeof ChunkMessage>;
