import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LambdaClient } from '@aws-sdk/client-lambda';

// The SDK reads AWS_ENDPOINT_URL itself. Emulators such as moto need path-style S3 addressing.
const pathStyle = () => Boolean(process.env.AWS_ENDPOINT_URL) || process.env.S3_FORCE_PATH_STYLE === 'true';

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
    s3: new S3Client({ ...config, forcePathStyle: pathStyle() }),
    sqs: new SQSClient(config),
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: { removeUndefinedValues: true } }),
    secrets: new SecretsManagerClient(config),
    lambda: new LambdaClient(config),
  };
}
