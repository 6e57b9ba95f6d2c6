import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { awsClients, type AwsCredentials } from '../adapters/aws/clients';
import { buildSource, credentialsFromSecret, DeployedSource } from '../sources';
import { S3Drop } from '../sources/drop';
import type { RetryPolicy } from '../sources/http';
import { runPull, type PullResult } from '../sources/run';
import { DynamoStateStore, LockBusy } from '../sources/state';
import { parseInstant } from '../sources/windows';

/** The puller's environment, validated at cold start: one function per configured source. */
export const PullerEnv = z.object({
  PULL_SOURCE: z.string().transform((s, ctx) => {
    const r = DeployedSource.safeParse((() => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        return undefined;
      }
    })());
    if (r.success) return r.data;
    ctx.addIssue({ code: 'custom', message: `not a valid source: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
    return z.NEVER;
  }),
  PULL_SECRET: z.string().min(1),
  DROP_BUCKET: z.string().min(1),
  DROP_PREFIX: z.string().default(''),
  CHECKPOINT_TABLE: z.string().min(1),
  /** No new window is started with less than this left of the Lambda's time. */
  PULL_TIME_MARGIN_MS: z.coerce.number().int().min(0).default(120_000),
});
export type PullerEnv = z.infer<typeof PullerEnv>;

/** What EventBridge Scheduler sends (the schedule's input). */
export const PullerEvent = z.object({ source: z.string().optional() }).passthrough();

export interface PullerOutcome {
  source: string;
  status: 'pulled' | 'busy';
  windows: number;
  withData: number;
  bytes: number;
  watermark?: string;
  remaining: number;
}

/**
 * A scheduled pull: from the watermark (or the start date) window by window into the drop
 * bucket, while time lasts; the splitter takes each object from its ObjectCreated event.
 * A run that finds another one holding the source's lock does nothing.
 */
export function createPuller(env: PullerEnv, overrides: { retry?: RetryPolicy; now?: () => number; credentials?: AwsCredentials } = {}) {
  const logger = new Logger({ serviceName: 'backfill-puller' });
  const aws = awsClients(overrides.credentials ? { credentials: overrides.credentials } : {});
  const cfg = env.PULL_SOURCE;
  const store = new DynamoStateStore(aws.ddb, env.CHECKPOINT_TABLE);
  const drop = new S3Drop(aws.s3, env.DROP_BUCKET, env.DROP_PREFIX);

  return async (event: unknown, context?: Context): Promise<PullerOutcome> => {
    const ev = PullerEvent.parse(event ?? {});
    if (ev.source && ev.source !== cfg.name) throw new Error(`this puller serves source "${cfg.name}", not "${ev.source}"`);
    const secret = await aws.secrets.send(new GetSecretValueCommand({ SecretId: env.PULL_SECRET }));
    const source = buildSource(cfg, credentialsFromSecret(cfg.type, secret.SecretString ?? ''), overrides.retry);
    const remainingMs = context?.getRemainingTimeInMillis() ?? 900_000;
    let result: PullResult;
    try {
      result = await runPull({
        name: cfg.name,
        source,
        drop,
        store,
        startDate: parseInstant(cfg.startDate),
        schedule: cfg.schedule,
        snapshot: cfg.type === 'posthog' && cfg.persons && !(await store.get(cfg.name))?.personsAt,
        deadline: Date.now() + remainingMs - env.PULL_TIME_MARGIN_MS,
        lockTtlMs: remainingMs + 60_000,
        ...(overrides.now ? { now: overrides.now } : {}),
      });
    } catch (err) {
      if (err instanceof LockBusy) {
        logger.warn('another run of this source holds its lock; nothing to do', { source: cfg.name });
        return { source: cfg.name, status: 'busy', windows: 0, withData: 0, bytes: 0, remaining: 0 };
      }
      logger.error('pull failed', { source: cfg.name, reason: (err as Error).message });
      throw err;
    }
    const outcome: PullerOutcome = {
      source: cfg.name,
      status: 'pulled',
      windows: result.windows.length,
      withData: result.windows.filter((w) => w.location).length,
      bytes: result.windows.reduce((s, w) => s + w.bytes, 0) + (result.snapshot?.bytes ?? 0),
      ...(result.watermark ? { watermark: result.watermark } : {}),
      remaining: result.remaining,
    };
    logger.info('pull done', { ...outcome });
    return outcome;
  };
}

let cached: ReturnType<typeof createPuller> | undefined;
export const handler = async (event: unknown, context: Context) => {
  if (!cached) {
    const env = PullerEnv.safeParse(process.env);
    if (!env.success) throw new Error(`invalid puller environment: ${env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    cached = createPuller(env.data);
  }
  return cached(event, context);
};
