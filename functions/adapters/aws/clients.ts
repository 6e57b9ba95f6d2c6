import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

// The SDK reads AWS_ENDPOINT_URL itself. Emulators such as moto need path-style S3 addressing.
const pathStyle = () => Boolean(process.env.AWS_ENDPOINT_URL) || process.env.S3_FORCE_PATH_STYLE === 'true';

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  ddb: DynamoDBDocumentClient;
  secrets: SecretsManagerClient;
}

export function awsClients(): AwsClients {
  return {
    s3: new S3Client({ forcePathStyle: pathStyle() }),
    sqs: new SQSClient({}),
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    secrets: new SecretsManagerClient({}),
  };
}
