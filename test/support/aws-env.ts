import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { HandlerEnv } from '../../functions/config';
import { createSender, type SenderOverrides } from '../../functions/sender/handler';
import { createSplitter, type SplitterOverrides } from '../../functions/splitter/handler';
import type { PolicyDocument } from './iam-policy';
import { strictLayer } from './moto';
import { deployTemplate, type RoleCredentials } from './moto-stack';
import { synthTemplate } from './template';

/** The test's own clients: admin on moto (the default credentials), never a handler's role. */
export const clients = () => ({
  s3: new S3Client({ forcePathStyle: true }),
  sqs: new SQSClient({}),
  ddb: new DynamoDBClient({}),
  secrets: new SecretsManagerClient({}),
});

export interface Role {
  /** The role's session credentials: requests signed with them are held to its policies. */
  credentials: RoleCredentials;
  /** Its identity policies, resolved from the synthesized template. */
  policies: PolicyDocument[];
  /** The function's name (the splitter's continuation invokes it). */
  functionName: string;
  /** Its environment in the template, resolved to the test resources. */
  env: Record<string, string>;
}

export interface Stack {
  bucket: string;
  queueUrl: string;
  dlqUrl: string;
  splitterDlqUrl: string;
  /** The handlers' environment: the template's, resolved to the test resources, plus test knobs. */
  env: HandlerEnv;
  /** Each function's role by construct id, first letter lower-cased: splitter, sender, ... */
  roles: Record<string, Role>;
  /** The splitter, running as its role. */
  splitter(env?: Partial<HandlerEnv>, overrides?: Omit<SplitterOverrides, 'credentials'>): ReturnType<typeof createSplitter>;
  /** A sender, running as its role. */
  sender(env?: Partial<HandlerEnv>, overrides?: Omit<SenderOverrides, 'credentials'>): ReturnType<typeof createSender>;
  /** A Lambda context naming the function (for the splitter's continuation invoke). */
  context(role: string, remainingMs?: number): Context;
}

export interface StackOptions {
  /**
   * CDK context for the synth (as `-c key=value`): the stack's own knobs, e.g. a faster redrive
   * with `{ maxReceiveCount: 3 }`. Visible in the test that needs it.
   */
  context?: Record<string, unknown>;
  /** Queue attributes that replace the template's, by construct id, e.g. `{ Chunks: { VisibilityTimeout: '30' } }`. */
  queueAttributes?: Record<string, Record<string, string>>;
}

/**
 * Creates on moto what the CDK stack creates, from its synthesized template: buckets, queues +
 * DLQs, tables, the API key secret; and each function's role, enforced by the strict layer.
 * Handlers built with `stack.splitter()` / `stack.sender()` (or given `stack.roles.X.credentials`)
 * run with only what their role grants.
 */
export async function createStack(captureUrl: string, apiKey: string, overrides: Partial<HandlerEnv> = {}, options: StackOptions = {}): Promise<Stack> {
  const c = clients();
  const template = await synthTemplate(options.context);
  const deployed = await deployTemplate(template, c, randomUUID().slice(0, 8), {
    secretString: JSON.stringify({ apiKey }),
    ...(options.queueAttributes ? { queueAttributes: options.queueAttributes } : {}),
  });
  const strict = strictLayer();
  const roles: Record<string, Role> = {};
  for (const r of Object.values(deployed.roles)) {
    roles[r.name] = { credentials: r.credentials, policies: r.policies, functionName: r.functionName, env: r.env as Record<string, string> };
    strict?.register(r.credentials.accessKeyId, { role: r.name, policies: r.policies, secretArns: deployed.secretArns });
  }
  // The functions share one environment in the stack; the sender's and splitter's are merged.
  const templateEnv = Object.assign({}, ...Object.values(deployed.roles).map((r) => r.env)) as Record<string, string>;
  const env: HandlerEnv = {
    ...HandlerEnv.parse({
      ...templateEnv,
      // Test knobs: a loopback capture stand-in, small chunks and batches, fast retries.
      POSTHOG_HOST: captureUrl,
      CHUNK_RECORDS: '500',
      BATCH_SIZE: '200',
      POSTHOG_RETRIES: '1',
      POSTHOG_RETRY_DELAY_MS: '10',
      POSTHOG_TIMEOUT_MS: '5000',
    }),
    ...overrides,
  };
  const bucket = deployed.refs[deployed.id('DropBucket', 'AWS::S3::Bucket')]!;
  const role = (name: string) => {
    const r = roles[name];
    if (!r) throw new Error(`the stack has no function "${name}" (roles: ${Object.keys(roles).join(', ')})`);
    return r;
  };
  return {
    bucket,
    queueUrl: deployed.refs[deployed.id('Chunks', 'AWS::SQS::Queue')]!,
    dlqUrl: deployed.refs[deployed.id('ChunksDlq', 'AWS::SQS::Queue')]!,
    splitterDlqUrl: deployed.refs[deployed.id('SplitterDlq', 'AWS::SQS::Queue')]!,
    env,
    roles,
    splitter: (extra = {}, o = {}) => createSplitter({ ...env, ...extra }, { ...o, credentials: role('splitter').credentials }),
    sender: (extra = {}, o = {}) => createSender({ ...env, ...extra }, { ...o, credentials: role('sender').credentials }),
    context: (name, remainingMs = 900_000) => ({ ...lambdaContext, functionName: role(name).functionName, getRemainingTimeInMillis: () => remainingMs }) as Context,
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
