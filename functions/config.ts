import { z } from 'zod';
import { DEFAULT_INFLATE_LIMITS, type InflateLimits } from './core/input';
import { DEFAULT_GZIP_LEVEL, Limits } from './core/settings';

const int = (d: number) => z.coerce.number().int().default(d);

/** Everything a handler reads from its environment, validated at cold start. */
export const HandlerEnv = z.object({
  CHECKPOINT_TABLE: z.string().min(1),
  QUEUE_URL: z.string().url().optional(),
  POSTHOG_HOST: z.string().url().optional(),
  POSTHOG_API_KEY_SECRET: z.string().min(1).optional(),
  ALIAS_TABLE: z.string().min(1).optional(),
  /** Base mapping config (JSON), overlaid by a `backfill.config.json` near each file. */
  MAPPING_CONFIG: z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      try {
        const v: unknown = JSON.parse(s);
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        /* reported below */
      }
      ctx.addIssue({ code: 'custom', message: 'not a JSON object' });
      return z.NEVER;
    }),
  DROP_PREFIX: z.string().default(''),
  CHUNK_RECORDS: int(Limits.shape.chunkRecords.def.defaultValue as number),
  CHUNK_BYTES: int(Limits.shape.chunkBytes.def.defaultValue as number),
  BATCH_SIZE: int(Limits.shape.batchSize.def.defaultValue as number),
  MAX_INFLATE_BYTES: int(DEFAULT_INFLATE_LIMITS.maxBytes),
  MAX_INFLATE_RATIO: int(DEFAULT_INFLATE_LIMITS.maxRatio),
  INFLATE_RATIO_AFTER: int(DEFAULT_INFLATE_LIMITS.ratioAfter),
  /** The splitter hands over to a fresh run when less than this much time is left. */
  SPLIT_TIME_MARGIN_MS: int(90_000),
  /** Forces a time budget per splitter run (tests, or to keep runs short). */
  SPLIT_TIME_BUDGET_MS: z.coerce.number().int().min(0).optional(),
  MAX_SPLIT_HOPS: int(1_000),
  /** Reads of the source object per split run before a reset or 5xx fails the file, and the first backoff. */
  S3_READ_ATTEMPTS: int(6),
  S3_READ_BACKOFF_MS: int(500),
  /** Events per window shared by all senders (0: no budget), and the window. */
  RATE_LIMIT_EVENTS: int(0),
  RATE_WINDOW_MS: int(60_000),
  /** /batch/ requests in flight per chunk. */
  IN_FLIGHT: int(8),
  POSTHOG_RETRIES: int(3),
  POSTHOG_RETRY_DELAY_MS: int(3000),
  POSTHOG_TIMEOUT_MS: int(30_000),
  /** zlib level of the bodies posted to capture (default: core/settings DEFAULT_GZIP_LEVEL). */
  GZIP_LEVEL: z.coerce.number().int().min(0).max(9).default(DEFAULT_GZIP_LEVEL),
});
export type HandlerEnv = z.infer<typeof HandlerEnv>;

export function readEnv(env: NodeJS.ProcessEnv = process.env): HandlerEnv {
  const parsed = HandlerEnv.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid handler environment: ${issues}`);
  }
  return parsed.data;
}

export function limitsFrom(env: HandlerEnv): Limits {
  return Limits.parse({ chunkRecords: env.CHUNK_RECORDS, chunkBytes: env.CHUNK_BYTES, batchSize: env.BATCH_SIZE });
}

export function need<K extends keyof HandlerEnv>(env: HandlerEnv, key: K): NonNullable<HandlerEnv[K]> {
  const v = env[key];
  if (v === undefined) throw new Error(`${String(key)} is not set`);
  return v as NonNullable<HandlerEnv[K]>;
}

export function inflateFrom(env: HandlerEnv): InflateLimits {
  return { maxBytes: env.MAX_INFLATE_BYTES, maxRatio: env.MAX_INFLATE_RATIO, ratioAfter: env.INFLATE_RATIO_AFTER };
}
