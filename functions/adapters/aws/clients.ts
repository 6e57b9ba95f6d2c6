import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LambdaClient } from '@aws-sdk/client-lambda';

// The SDK reads AWS_ENDPOINT_URL itself. Emulators such as moto need path-style S3 addressing.
const pathStyle = () => Boolean(process.env.AWS_ENDPOINT_URL) || process.env.S3_FORCE_PATH_STYLE === 'true';

/**
 * Attempts per DynamoDB call. Throttles (ThrottlingException, ProvisionedThroughputExceeded)
 * are retried by the SDK with its throttling backoff (base 500 ms, capped at 20 s); an
 * on-demand table that is scaling up throttles for seconds, and the SDK's default of 3 attempts
 * would turn that into a failed chunk. 10 attempts wait up to about a minute in all.
 */
export const DYNAMO_MAX_ATTEMPTS = 10;
// S3 answers 503 SlowDown while a prefix scales; the SDK retries it as a throttle.
export const S3_MAX_ATTEMPTS = 6;

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  ddb: DynamoDBDocumentClient;
  secrets: SecretsManagerClient;
  lambda: LambdaClient;
}

/** Static credentials (an assumed role's session), as the SDK takes them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Clients with the default credential chain (a Lambda's role), or with the credentials given:
 * the integration tests run each handler as its own role from the synthesized template.
 */
export function awsClients(opts: { credentials?: AwsCredentials } = {}): AwsClients {
  const config = opts.credentials ? { credentials: opts.credentials } : {};
  return {
    s3: new S3Client({ ...config, forcePathStyle: pathStyle(), maxAttempts: S3_MAX_ATTEMPTS }),
    sqs: new SQSClient(config),
    ddb: DynamoDBDocumentClient.from(dynamoClient(config), { marshallOptions: { removeUndefinedValues: true } }),
    secrets: new SecretsManagerClient(config),
    lambda: new LambdaClient(config),
  };
}

/** A DynamoDB client that retries throttles and transaction conflicts (see below). */
export function dynamoClient(config: { credentials?: AwsCredentials } = {}): DynamoDBClient {
  const client = new DynamoDBClient({ ...config, maxAttempts: DYNAMO_MAX_ATTEMPTS });
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (isTransientCancel(err)) (err as { $retryable?: { throttling: boolean } }).$retryable = { throttling: true };
        throw err;
      }
    },
    { step: 'deserialize', priority: 'high', name: 'transactionConflictRetry' },
  );
  return client;
}

// Reasons DynamoDB gives for cancelling a transaction that say nothing about the items: another
// transaction held one of them, or capacity ran short. Nothing was written.
const TRANSIENT_REASONS = new Set(['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded']);

/**
 * A TransactionCanceledException whose only reasons are transient: nothing was applied, so
 * sending the same transaction again is safe (its conditions still guard against doing anything
 * twice), and the SDK does not retry it by itself. Marked retryable as a throttle, it is sent again
 * with the SDK's throttling backoff within the attempts above. A cancel with any other reason
 * (ConditionalCheckFailed: the chunk is done already) is not retried and reaches the caller.
 */
export function isTransientCancel(err: unknown): boolean {
  if (!err || typeof err !== 'object' || (err as { name?: string }).name !== 'TransactionCanceledException') return false;
  const codes = ((err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
  return codes.some((c) => TRANSIENT_REASONS.has(c)) && codes.every((c) => c === 'None' || TRANSIENT_REASONS.has(c));
}
