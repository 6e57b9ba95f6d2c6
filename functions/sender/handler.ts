import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { awsClients } from '../adapters/aws/clients';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { DynamoLinks } from '../adapters/aws/dynamo-links';
import { S3Reports, S3Staging } from '../adapters/aws/s3';
import { forgetApiKey, projectApiKey } from '../adapters/aws/secret';
import { PostHogSink, SendError } from '../adapters/posthog-sink';
import { ControlledRateBudget } from '../adapters/aws/control';
import { EmfMetrics } from '../adapters/aws/emf-metrics';
import { need, readEnv, type HandlerEnv } from '../config';
import { formatByName } from '../core/formats';
import { ChunkMessage } from '../core/messages';
import { METRIC } from '../pipeline/metrics';
import { sendChunk } from '../pipeline/send';

/** SQS → PostHog with partial batch failures: a failed chunk returns to the queue alone. */
export function createSender(env: HandlerEnv) {
  const logger = new Logger({ serviceName: 'backfill-sender' });
  const aws = awsClients();
  const checkpoints = new DynamoCheckpoints(aws.ddb, env.CHECKPOINT_TABLE);
  const processor = new BatchProcessor(EventType.SQS);
  const host = need(env, 'POSTHOG_HOST');
  const secretId = need(env, 'POSTHOG_API_KEY_SECRET');
  const links = new DynamoLinks(aws.ddb, need(env, 'ALIAS_TABLE'));
  // The budget's size comes from the control row (`backfill set`), else RATE_LIMIT_EVENTS.
  const budget = new ControlledRateBudget(aws.ddb, env.CHECKPOINT_TABLE, env.RATE_LIMIT_EVENTS, env.RATE_WINDOW_MS);
  const metrics = EmfMetrics.forService('backfill-sender');

  const sendRecord = async (record: SQSRecord): Promise<void> => {
    const msg = ChunkMessage.parse(JSON.parse(record.body));
    try {
      await sendOne(msg, record);
    } catch (err) {
      if (err instanceof SendError && err.causes.some((c) => [401, 403].includes((c as { status?: number }).status ?? 0))) forgetApiKey();
      // The message returns to the queue; after maxReceiveCount it moves to the DLQ.
      metrics.add(METRIC.chunksFailed, 1);
      logger.error('chunk failed', { fileId: msg.fileId, chunk: msg.chunk, receiveCount: record.attributes.ApproximateReceiveCount, error: (err as Error).message });
      throw err;
    }
  };

  const sendOne = async (msg: ChunkMessage, record: SQSRecord): Promise<void> => {
    const apiKey = await projectApiKey(aws.secrets, secretId);
    const bucket = msg.file.bucket ?? '';
    const outcome = await sendChunk(msg, {
      checkpoints,
      staging: new S3Staging(aws.s3, bucket),
      reports: new S3Reports(aws.s3, bucket),
      sink: new PostHogSink({
        host,
        apiKey,
        batchSize: env.BATCH_SIZE,
        inFlight: env.IN_FLIGHT,
        acquire: (n: number) => budget.acquire(n),
        metrics,
        retries: env.POSTHOG_RETRIES,
        retryDelayMs: env.POSTHOG_RETRY_DELAY_MS,
        requestTimeoutMs: env.POSTHOG_TIMEOUT_MS,
      }),
      links,
      format: formatByName,
      origin: (m) => m.file.uri,
      metrics,
    });
    logger.info('chunk', {
      fileId: msg.fileId,
      chunk: msg.chunk,
      receiveCount: record.attributes.ApproximateReceiveCount,
      ...(outcome.status === 'sent' ? { events: outcome.stats.events, rejected: outcome.stats.rejected } : { status: outcome.status }),
    });
  };

  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    try {
      return await processPartialResponse(event, sendRecord, processor, { context });
    } finally {
      metrics.flush();
    }
  };
}

let instance: ReturnType<typeof createSender> | undefined;
export const handler = (event: SQSEvent, context: Context) => (instance ??= createSender(readEnv()))(event, context);
