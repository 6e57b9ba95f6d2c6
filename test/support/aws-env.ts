import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { HandlerEnv } from '../../functions/config';

export const clients = () => ({
  s3: new S3Client({ forcePathStyle: true }),
  sqs: new SQSClient({}),
  ddb: new DynamoDBClient({}),
  secrets: new SecretsManagerClient({}),
});

export interface Stack {
  bucket: string;
  queueUrl: string;
  dlqUrl: string;
  env: HandlerEnv;
}

/** Creates what the CDK stack would, on moto: bucket, queue + DLQ, tables, the API key secret. */
export async function createStack(captureUrl: string, apiKey: string, overrides: Partial<HandlerEnv> = {}): Promise<Stack> {
  const c = clients();
  const id = randomUUID().slice(0, 8);
  const bucket = `drop-${id}`;
  await c.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await c.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  const dlq = await c.sqs.send(new CreateQueueCommand({ QueueName: `chunks-dlq-${id}` }));
  const dlqArn = (await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const q = await c.sqs.send(
    new CreateQueueCommand({
      QueueName: `chunks-${id}`,
      Attributes: { VisibilityTimeout: '30', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }) },
    }),
  );
  const table = `checkpoints-${id}`;
  await c.ddb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'unit', AttributeType: 'S' },
        { AttributeName: 'startedAt', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      // The stack's manifest index (infra/stack.ts), for `backfill status` and the monitor.
      GlobalSecondaryIndexes: [
        {
          IndexName: 'manifests',
          KeySchema: [
            { AttributeName: 'unit', KeyType: 'HASH' },
            { AttributeName: 'startedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status', 'cancelled'] },
        },
      ],
    }),
  );
  const aliasTable = `sent-aliases-${id}`;
  await c.ddb.send(
    new CreateTableCommand({
      TableName: aliasTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pair', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pair', KeyType: 'HASH' }],
    }),
  );
  const secret = await c.secrets.send(new CreateSecretCommand({ Name: `posthog-key-${id}`, SecretString: JSON.stringify({ apiKey }) }));
  return {
    bucket,
    queueUrl: q.QueueUrl!,
    dlqUrl: dlq.QueueUrl!,
    env: {
      ...HandlerEnv.parse({
        CHECKPOINT_TABLE: table,
        ALIAS_TABLE: aliasTable,
        QUEUE_URL: q.QueueUrl!,
        POSTHOG_HOST: captureUrl,
        POSTHOG_API_KEY_SECRET: secret.ARN!,
        CHUNK_RECORDS: '500',
        BATCH_SIZE: '200',
        POSTHOG_RETRIES: '1',
        POSTHOG_RETRY_DELAY_MS: '10',
        POSTHOG_TIMEOUT_MS: '5000',
      }),
      ...overrides,
    },
  };
}

export async function upload(bucket: string, key: string, body: Buffer | string, extra: { ContentEncoding?: string } = {}): Promise<{ versionId?: string; eTag?: string }> {
  const res = await clients().s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
  return { versionId: res.VersionId, eTag: res.ETag?.replace(/"/g, '') };
}

/** An S3 ObjectCreated event as S3 delivers it: key URL-encoded, `+` for space. */
export function s3Event(bucket: string, key: string, obj: { versionId?: string; eTag?: string }, size = 0): S3Event {
  const encoded = encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        userIdentity: { principalId: 'test' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'r', 'x-amz-id-2': 'i' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'drop',
          bucket: { name: bucket, ownerIdentity: { principalId: 'test' }, arn: `arn:aws:s3:::${bucket}` },
          object: { key: encoded, size, eTag: obj.eTag ?? '', ...(obj.versionId ? { versionId: obj.versionId } : {}), sequencer: '0' },
        },
      },
    ],
  } as S3Event;
}

export const lambdaContext = { functionName: "backfill-test", awsRequestId: "test", getRemainingTimeInMillis: () => 900_000 } as unknown as Context;

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export interface DrainOptions {
  /** Deliver every message this many times in the same batch (at-least-once). */
  copies?: number;
  /** Stop after this many receive rounds (a guard against a test that never drains). */
  maxRounds?: number;
  /** Messages per invocation (the event source's batch size); default 10. */
  batchSize?: number;
  /**
   * The first success of each message is not deleted but made visible again, as when a
   * Lambda's delete is lost: every message then also arrives again in a later invocation.
   */
  redeliverOnce?: boolean;
  /** Called before each receive round (to switch faults on and off). */
  onRound?(round: number): void;
}

const delivered = new Set<string>();

/**
 * Plays the Lambda SQS event source against moto: receive, invoke, delete what succeeded, and
 * make failures visible again at once (so redrive to the DLQ happens after maxReceiveCount).
 */
export async function drain(queueUrl: string, handler: SqsHandler, opts: DrainOptions = {}): Promise<{ invocations: number; failures: number }> {
  const { sqs } = clients();
  let invocations = 0;
  let failures = 0;
  let empty = 0;
  for (let round = 0; round < (opts.maxRounds ?? 500) && empty < 2; round++) {
    opts.onRound?.(round);
    const res = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: opts.batchSize ?? 10, VisibilityTimeout: 30, MessageSystemAttributeNames: ['All'] }),
    );
    const msgs = res.Messages ?? [];
    if (!msgs.length) {
      empty++;
      continue;
    }
    empty = 0;
    const records: SQSRecord[] = [];
    for (const m of msgs) {
      for (let i = 0; i < (opts.copies ?? 1); i++) {
        records.push({
          messageId: i === 0 ? m.MessageId! : `${m.MessageId}-copy${i}`,
          receiptHandle: m.ReceiptHandle!,
          body: m.Body!,
          attributes: {
            ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
            SentTimestamp: '0',
            SenderId: 'test',
            ApproximateFirstReceiveTimestamp: '0',
          },
          messageAttributes: {},
          md5OfBody: m.MD5OfBody ?? '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:chunks',
          awsRegion: 'us-east-1',
        });
      }
    }
    invocations++;
    // When every record fails, Powertools throws and Lambda returns the whole batch to the queue.
    const out = await handler({ Records: records }, lambdaContext).catch(() => ({
      batchItemFailures: records.map((r) => ({ itemIdentifier: r.messageId })),
    }));
    const failed = new Set(out.batchItemFailures.map((f) => f.itemIdentifier.replace(/-copy\d+$/, '')));
    failures += failed.size;
    for (const m of msgs) {
      const again = failed.has(m.MessageId!) || (opts.redeliverOnce && !delivered.has(m.MessageId!) && delivered.add(m.MessageId!));
      if (again) await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
      else await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
  return { invocations, failures };
}

export async function queueDepth(queueUrl: string): Promise<number> {
  const res = await clients().sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(res.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

export async function readJson<T>(bucket: string, key: string): Promise<T> {
  const res = await clients().s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await res.Body!.transformToString()) as T;
}

/** The rejected rows of a file, all chunks together. */
export async function rejectedRows(bucket: string, key: string): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  for (const k of await listKeys(bucket, `_backfill/rejected/${key}/`)) {
    const res = await clients().s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
    for (const line of (await res.Body!.transformToString()).split('\n')) if (line) rows.push(JSON.parse(line));
  }
  return rows;
}

export async function listKeys(bucket: string, prefix: string): Promise<string[]> {
  const res = await clients().s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!);
}
