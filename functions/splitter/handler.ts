import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, S3Event } from 'aws-lambda';
import { awsClients, type AwsCredentials } from '../adapters/aws/clients';
import { invokeContinuation, type Continuation } from '../adapters/aws/continuation';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { EmfMetrics } from '../adapters/aws/emf-metrics';
import { CONFIG_NAME, mappingFor } from '../adapters/aws/mapping-config';
import { S3Reports, S3Source, S3Staging, stagingKey, WORK_PREFIX } from '../adapters/aws/s3';
import { SqsChunkQueue } from '../adapters/aws/sqs';
import { inflateFrom, limitsFrom, need, readEnv, type HandlerEnv } from '../config';
import { decodeS3Key, fileIdentity } from '../core/identity';
import { METRIC } from '../pipeline/metrics';
import { splitFile, type SplitResult, type SplitStart } from '../pipeline/split';

export type SplitterEvent = S3Event | { continuation: Continuation };

export interface SplitterOverrides {
  /** Hands the rest of a file to the next run (default: an async invoke of this function). */
  continueWith?: (c: Continuation, context: Context | undefined) => Promise<void>;
  /** Credentials for every AWS call (default: the function's role); tests pass the role's own. */
  credentials?: AwsCredentials;
}

/**
 * S3 ObjectCreated → chunks on the queue. A file that would outlast this invocation is paused
 * after a queued chunk and continued by a fresh one. Logs ids and counts only, never records.
 */
export function createSplitter(env: HandlerEnv, overrides: SplitterOverrides = {}) {
  const logger = new Logger({ serviceName: 'backfill-splitter' });
  const aws = awsClients(overrides.credentials ? { credentials: overrides.credentials } : {});
  const checkpoints = new DynamoCheckpoints(aws.ddb, env.CHECKPOINT_TABLE);
  const queue = new SqsChunkQueue(aws.sqs, need(env, 'QUEUE_URL'));
  const limits = limitsFrom(env);
  const metrics = EmfMetrics.forService('backfill-splitter');
  const continueWith =
    overrides.continueWith ??
    (async (c: Continuation, context: Context | undefined) => {
      if (!context?.functionName) throw new Error('no function name to continue with');
      await invokeContinuation(aws.lambda, context.functionName, c);
    });

  // Lambda's Invoke can fail (throttled, a network blip): try a few times before giving up.
  const handOver = async (c: Continuation, context: Context | undefined) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await continueWith(c, context);
      } catch (err) {
        if (attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, 100 * 3 ** attempt));
      }
    }
  };

  const splitOne = async (rec: Omit<Continuation, 'fromChunk' | 'hop' | 'takeover'>, start: SplitStart, context: Context | undefined) => {
    const { bucket, key } = rec;
    const version = rec.versionId || rec.eTag;
    const file = { uri: `s3://${bucket}/${key}`, bucket, key, ...(version ? { version } : {}) };
    const fileId = fileIdentity(file.uri, version);
    const started = Date.now();
    // Pause with time to spare: the budget is what Lambda gives, less a margin (or a forced budget).
    const shouldPause = () => {
      if (env.SPLIT_TIME_BUDGET_MS !== undefined) return Date.now() - started >= env.SPLIT_TIME_BUDGET_MS;
      return context !== undefined && context.getRemainingTimeInMillis() < env.SPLIT_TIME_MARGIN_MS;
    };
    const source = await S3Source.open(aws.s3, bucket, key, rec.versionId);
    const read = {
      attempts: env.S3_READ_ATTEMPTS,
      backoffMs: env.S3_READ_BACKOFF_MS,
      onRetry: (info: { attempt: number; at: number; reason: string }) => logger.warn('source read resumed', { key, fileId, ...info }),
    };
    const result = await splitFile(
      file,
      fileId,
      source,
      () => mappingFor(aws.s3, bucket, key, env.DROP_PREFIX, env.MAPPING_CONFIG),
      {
        checkpoints,
        staging: new S3Staging(aws.s3, bucket),
        queue,
        reports: new S3Reports(aws.s3, bucket),
        limits,
        inflate: inflateFrom(env),
        read,
        stagingKey,
        log: (msg, data) => logger.warn(msg, { ...data, key }),
        shouldPause: (hop) => hop < env.MAX_SPLIT_HOPS && shouldPause(),
      },
      start,
    );
    if (result.pausedAt) {
      // The pause point is recorded; if the hand-over fails (or this run dies here), the retried
      // event, or `backfill resume`, finds it not handed over and goes on from it.
      const { fromChunk, hop } = result.pausedAt;
      await handOver({ ...rec, fromChunk, hop }, context);
      await checkpoints.handedOver(fileId, fromChunk);
      logger.info('split paused', { key, fileId, nextChunk: fromChunk, hop });
    } else {
      logger.info('split', { key, fileId, format: result.format, chunks: result.chunks, records: result.records, queued: result.queued, skipped: result.skipped });
    }
    metrics.add(result.pausedAt ? METRIC.splitHandOvers : METRIC.filesSplit, 1);
    metrics.add(METRIC.chunksQueued, result.queued);
    return result;
  };

  const run = async (event: SplitterEvent, context?: Context): Promise<SplitResult[]> => {
    if ('continuation' in event) {
      const { fromChunk, hop, takeover, ...rec } = event.continuation;
      return [await splitOne(rec, { fromChunk, hop, ...(takeover ? { takeover } : {}) }, context)];
    }
    const results: SplitResult[] = [];
    for (const rec of event.Records ?? []) {
      const key = decodeS3Key(rec.s3.object.key);
      // Our own output, and mapping configs, are never input.
      if (key.startsWith(WORK_PREFIX) || key.endsWith(CONFIG_NAME)) continue;
      const o = rec.s3.object;
      results.push(await splitOne({ bucket: rec.s3.bucket.name, key, ...(o.versionId ? { versionId: o.versionId } : {}), ...(o.eTag ? { eTag: o.eTag } : {}) }, { fromChunk: 0, hop: 0 }, context));
    }
    return results;
  };
  return async (event: SplitterEvent, context?: Context): Promise<SplitResult[]> => {
    try {
      return await run(event, context);
    } finally {
      metrics.flush();
    }
  };
}

let instance: ReturnType<typeof createSplitter> | undefined;
export const handler = (event: SplitterEvent, context?: Context) => (instance ??= createSplitter(readEnv()))(event, context);
