import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { awsClients, type AwsCredentials } from '../adapters/aws/clients';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { DynamoLinks } from '../adapters/aws/dynamo-links';
import { S3Reports, S3Staging } from '../adapters/aws/s3';
import { forgetApiKey, projectApiKey } from '../adapters/aws/secret';
import { assertSupportedEnvironment, PostHogSink, SendError } from '../adapters/posthog-sink';
import { BudgetExhausted } from '../adapters/rate-budget';
import { ControlledRateBudget } from '../adapters/aws/control';
import { EmfMetrics } from '../adapters/aws/emf-metrics';
import { need, readEnv, type HandlerEnv } from '../config';
import { formatByName } from '../core/formats';
import { ChunkMessage } from '../core/messages';
import { METRIC } from '../pipeline/metrics';
import { sendChunk } from '../pipeline/send';

export interface SenderOverrides {
  /** Credentials for every AWS call (default: the function's role); tests pass the role's own. */
  credentials?: AwsCredentials;
  /** Told of each chunk sent back to the queue to wait for rate budget (tests). */
  onDeferred?(d: { fileId: string; chunk: number; delaySeconds: number; receiveCount: string }): void;
}

// SQS's longest message delay.
const MAX_DELAY_SECONDS = 900;

/** SQS → PostHog with partial batch failures: a failed chunk returns to the queue alone. */
export function createSender(env: HandlerEnv, overrides: SenderOverrides = {}) {
  assertSupportedEnvironment(); // refuse to start rather than post somewhere else
  const logger = new Logger({ serviceName: 'backfill-sender' });
  const aws = awsClients(overrides.credentials ? { credentials: overrides.credentials } : {});
  const checkpoints = new DynamoCheckpoints(aws.ddb, env.CHECKPOINT_TABLE);
  const processor = new BatchProcessor(EventType.SQS);
  const host = need(env, 'POSTHOG_HOST');
  const secretId = need(env, 'POSTHOG_API_KEY_SECRET');
  const links = new DynamoLinks(aws.ddb, need(env, 'ALIAS_TABLE'));
  // The budget's size comes from the control row (`backfill set`), else RATE_LIMIT_EVENTS.
  const budget = new ControlledRateBudget(aws.ddb, env.CHECKPOINT_TABLE, env.RATE_LIMIT_EVENTS, env.RATE_WINDOW_MS);
  const metrics = EmfMetrics.forService('backfill-sender');

  const sendRecord = async (record: SQSRecord, deadline: number): Promise<void> => {
    const msg = ChunkMessage.parse(JSON.parse(record.body));
    // Set once a request of this chunk could not get budget before the deadline: the chunk's
    // other requests then stop at their next attempt instead of waiting.
    const gate: { retryAt?: number } = {};
    try {
      await sendOne(msg, record, rateGate(budget, gate, deadline));
    } catch (err) {
      if (gate.retryAt !== undefined) return defer(msg, record, gate.retryAt);
      if (err instanceof SendError && err.causes.some((c) => [401, 403].includes((c as { status?: number }).status ?? 0))) forgetApiKey();
      // The message returns to the queue; after maxReceiveCount it moves to the DLQ.
      metrics.add(METRIC.chunksFailed, 1);
      logger.error('chunk failed', { fileId: msg.fileId, chunk: msg.chunk, receiveCount: record.attributes.ApproximateReceiveCount, error: (err as Error).message });
      throw err;
    }
  };

  /**
   * Waiting for budget past the sender's timeout would fail the chunk and move it toward the
   * DLQ. Instead the same chunk message is queued again, delayed until budget is expected, and
   * this delivery succeeds (the event source deletes it): a new message starts with a receive
   * count of zero, so a deferral never counts toward maxReceiveCount (a visibility change would).
   * Whatever part of the chunk was accepted is sent again later and dropped by PostHog on its uuids.
   */
  const defer = async (msg: ChunkMessage, record: SQSRecord, retryAt: number): Promise<void> => {
    const spread = Math.random() * Math.min(env.RATE_WINDOW_MS, 60_000);
    const delaySeconds = Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.ceil((retryAt - Date.now() + spread) / 1000)));
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: need(env, 'QUEUE_URL'), MessageBody: record.body, DelaySeconds: delaySeconds }));
    const receiveCount = record.attributes.ApproximateReceiveCount;
    logger.info('chunk deferred for rate budget', { fileId: msg.fileId, chunk: msg.chunk, delaySeconds, receiveCount });
    overrides.onDeferred?.({ fileId: msg.fileId, chunk: msg.chunk, delaySeconds, receiveCount });
  };

  const sendOne = async (msg: ChunkMessage, record: SQSRecord, acquire: (n: number) => Promise<void>): Promise<void> => {
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
        acquire,
        metrics,
        retries: env.POSTHOG_RETRIES,
        retryDelayMs: env.POSTHOG_RETRY_DELAY_MS,
        requestTimeoutMs: env.POSTHOG_TIMEOUT_MS,
        gzipLevel: env.GZIP_LEVEL,
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
    // Budget is waited for only while there is time left to send and checkpoint afterwards.
    const deadline = Date.now() + context.getRemainingTimeInMillis() - 2 * env.POSTHOG_TIMEOUT_MS;
    try {
      return await processPartialResponse(event, (r: SQSRecord) => sendRecord(r, deadline), processor, { context });
    } finally {
      metrics.flush();
    }
  };
}

/** The budget as one chunk's sink takes it: bounded by the deadline, closed once it ran out. */
function rateGate(budget: ControlledRateBudget, gate: { retryAt?: number }, deadline: number) {
  return async (events: number): Promise<void> => {
    if (gate.retryAt !== undefined) throw new BudgetExhausted(gate.retryAt);
    try {
      await budget.acquire(events, { deadline });
    } catch (err) {
      if (err instanceof BudgetExhausted) gate.retryAt ??= err.retryAt;
      throw err;
    }
  };
}

let instance: ReturnType<typeof createSender> | undefined;
export const handler = (event: SQSEvent, context: Context) => (instance ??= createSender(readEnv()))(event, context);
