import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, S3Event } from 'aws-lambda';
import { awsClients } from '../adapters/aws/clients';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { CONFIG_NAME, mappingFor } from '../adapters/aws/mapping-config';
import { S3Reports, S3Source, S3Staging, stagingKey, WORK_PREFIX } from '../adapters/aws/s3';
import { SqsChunkQueue } from '../adapters/aws/sqs';
import { inflateFrom, limitsFrom, need, readEnv, type HandlerEnv } from '../config';
import { decodeS3Key, fileIdentity } from '../core/identity';
import { splitFile, type SplitResult } from '../pipeline/split';

/** S3 ObjectCreated → chunks on the queue. Logs ids and counts only, never record contents. */
export function createSplitter(env: HandlerEnv) {
  const logger = new Logger({ serviceName: 'backfill-splitter' });
  const aws = awsClients();
  const checkpoints = new DynamoCheckpoints(aws.ddb, env.CHECKPOINT_TABLE);
  const queue = new SqsChunkQueue(aws.sqs, need(env, 'QUEUE_URL'));
  const limits = limitsFrom(env);

  return async (event: S3Event, _context?: Context): Promise<SplitResult[]> => {
    const results: SplitResult[] = [];
    for (const rec of event.Records ?? []) {
      const bucket = rec.s3.bucket.name;
      const key = decodeS3Key(rec.s3.object.key);
      // Our own output, and mapping configs, are never input.
      if (key.startsWith(WORK_PREFIX) || key.endsWith(CONFIG_NAME)) continue;
      const version = rec.s3.object.versionId || rec.s3.object.eTag;
      const file = { uri: `s3://${bucket}/${key}`, bucket, key, ...(version ? { version } : {}) };
      const fileId = fileIdentity(file.uri, version);
      const source = await S3Source.open(aws.s3, bucket, key, rec.s3.object.versionId);
      const result = await splitFile(file, fileId, source, () => mappingFor(aws.s3, bucket, key, env.DROP_PREFIX, env.MAPPING_CONFIG), {
        checkpoints,
        staging: new S3Staging(aws.s3, bucket),
        queue,
        reports: new S3Reports(aws.s3, bucket),
        limits,
        inflate: inflateFrom(env),
        stagingKey,
        log: (msg, data) => logger.warn(msg, { ...data, key }),
      });
      logger.info('split', { key, fileId, format: result.format, chunks: result.chunks, records: result.records, queued: result.queued, skipped: result.skipped });
      results.push(result);
    }
    return results;
  };
}

let instance: ReturnType<typeof createSplitter> | undefined;
export const handler = (event: S3Event, context?: Context) => (instance ??= createSplitter(readEnv()))(event, context);
