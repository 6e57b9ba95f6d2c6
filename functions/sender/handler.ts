import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { awsClients } from '../adapters/aws/clients';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { S3Reports, S3Staging } from '../adapters/aws/s3';
import { projectApiKey } from '../adapters/aws/secret';
import { PostHogSink } from '../adapters/posthog-sink';
import { need, readEnv } from '../config';
import { formatByName } from '../core/formats';
import { ChunkMessage } from '../core/messages';
import { sendChunk } from '../pipeline/send';

const logger = new Logger({ serviceName: 'backfill-sender' });
const env = readEnv();
const aws = awsClients();
const checkpoints = new DynamoCheckpoints(aws.ddb, env.CHECKPOINT_TABLE);
const processor = new BatchProcessor(EventType.SQS);

async function sendRecord(record: SQSRecord): Promise<void> {
  const msg = ChunkMessage.parse(JSON.parse(record.body));
  const apiKey = await projectApiKey(aws.secrets, need(env, 'POSTHOG_API_KEY_SECRET'));
  const bucket = msg.file.bucket ?? '';
  const outcome = await sendChunk(msg, {
    checkpoints,
    staging: new S3Staging(aws.s3, bucket),
    reports: new S3Reports(aws.s3, bucket),
    sink: new PostHogSink({
      host: need(env, 'POSTHOG_HOST'),
      apiKey,
      batchSize: env.BATCH_SIZE,
      retries: env.POSTHOG_RETRIES,
      retryDelayMs: env.POSTHOG_RETRY_DELAY_MS,
      requestTimeoutMs: env.POSTHOG_TIMEOUT_MS,
    }),
    format: formatByName,
    context: (m) => ({ origin: m.file.uri, personMode: env.PERSON_MODE, now: Date.now() }),
  });
  logger.info('chunk', {
    fileId: msg.fileId,
    chunk: msg.chunk,
    receiveCount: record.attributes.ApproximateReceiveCount,
    ...(outcome.status === 'sent' ? { events: outcome.stats.events, rejected: outcome.stats.rejected } : { status: outcome.status }),
  });
}

/** SQS → PostHog with partial batch failures: a failed chunk returns to the queue alone. */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(event, sendRecord, processor, { context });
}
