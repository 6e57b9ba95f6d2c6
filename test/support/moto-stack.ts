// Deploys the synthesized template's data resources to moto (buckets with their versioning,
// tables with their keys and TTL, queues with their attributes and redrive, secrets) and
// resolves each function's role policies and environment against them: one definition of the
// stack for AWS and for the tests.
import { CreateTableCommand, UpdateTimeToLiveCommand, type DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutBucketVersioningCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { randomBytes } from 'node:crypto';
import type { PolicyDocument } from './iam-policy';
import { ACCOUNT } from './strict-aws';
import { STACK_NAME, type CfnResource, type CfnTemplate } from './template';

const REGION = 'us-east-1';

export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export interface DeployedRole {
  /** The function's construct id, first letter lower-cased: "splitter", "sender", ... */
  name: string;
  functionName: string;
  policies: PolicyDocument[];
  credentials: RoleCredentials;
  env: Record<string, string>;
}

export interface Deployed {
  /** Logical id → physical name (what `Ref` gives). */
  refs: Record<string, string>;
  attrs: Record<string, Record<string, string>>;
  roles: Record<string, DeployedRole>;
  secretArns: Record<string, string>;
  /** Logical id of the first resource whose id starts with `base` (ids carry a hash suffix). */
  id(base: string, type?: string): string;
}

export interface DeployOptions {
  /** Attributes that replace the template's for a queue, by construct id (e.g. `Chunks`). */
  queueAttributes?: Record<string, Record<string, string>>;
  /** The value put into each created secret. */
  secretString: string;
}

/** `SplitterEB4B95A4` → `Splitter`: CDK appends an 8-hex hash of the construct path. */
export const constructId = (logicalId: string) => logicalId.replace(/[0-9A-F]{8}$/, '');
const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase().slice(0, 40);

export async function deployTemplate(
  template: CfnTemplate,
  aws: { s3: S3Client; sqs: SQSClient; ddb: DynamoDBClient; secrets: SecretsManagerClient },
  suffix: string,
  opts: DeployOptions,
): Promise<Deployed> {
  const refs: Record<string, string> = {};
  const attrs: Record<string, Record<string, string>> = {};
  const secretArns: Record<string, string> = {};
  const entries = Object.entries(template.Resources);
  const nameOf = (id: string) => `${kebab(constructId(id))}-${suffix}`;

  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if ('Ref' in o) return ref(String(o.Ref));
    if ('Fn::GetAtt' in o) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      const value = attrs[id]?.[attr];
      if (value === undefined) throw new Error(`test stack: no ${attr} of ${id} (not deployed to moto yet)`);
      return value;
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return (resolve(parts) as unknown[]).join(sep);
    }
    if ('Fn::Select' in o) {
      const [i, arr] = o['Fn::Select'] as [number, unknown];
      return (resolve(arr) as unknown[])[Number(i)];
    }
    if ('Fn::Split' in o) {
      const [sep, s] = o['Fn::Split'] as [string, unknown];
      return String(resolve(s)).split(sep);
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
  };
  const ref = (id: string): string => {
    const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com', 'AWS::StackName': STACK_NAME };
    const v = pseudo[id] ?? refs[id];
    if (v === undefined) throw new Error(`test stack: no Ref for ${id} (not deployed to moto yet)`);
    return v;
  };

  const of = (type: string) => entries.filter(([, r]) => r.Type === type);
  const props = (r: CfnResource) => r.Properties ?? {};

  for (const [id, r] of of('AWS::S3::Bucket')) {
    const name = nameOf(id);
    await aws.s3.send(new CreateBucketCommand({ Bucket: name }));
    const versioning = props(r).VersioningConfiguration as { Status?: string } | undefined;
    if (versioning?.Status) await aws.s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: versioning.Status as 'Enabled' } }));
    refs[id] = name;
    attrs[id] = { Arn: `arn:aws:s3:::${name}`, DomainName: `${name}.s3.amazonaws.com` };
  }

  for (const [id, r] of of('AWS::DynamoDB::Table')) {
    const p = props(r);
    const name = nameOf(id);
    const input: CreateTableCommandInput = {
      TableName: name,
      BillingMode: (p.BillingMode as 'PAY_PER_REQUEST') ?? 'PROVISIONED',
      AttributeDefinitions: p.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
      KeySchema: p.KeySchema as CreateTableCommandInput['KeySchema'],
      ...(p.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'] } : {}),
      ...(p.ProvisionedThroughput ? { ProvisionedThroughput: p.ProvisionedThroughput as CreateTableCommandInput['ProvisionedThroughput'] } : {}),
    };
    await aws.ddb.send(new CreateTableCommand(input));
    const ttl = p.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
    if (ttl?.Enabled) await aws.ddb.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: ttl }));
    refs[id] = name;
    attrs[id] = { Arn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}` };
  }

  // Dead-letter queues first: a redrive policy names its DLQ's ARN.
  const queues = of('AWS::SQS::Queue').sort(([, a], [, b]) => Number(Boolean(props(a).RedrivePolicy)) - Number(Boolean(props(b).RedrivePolicy)));
  for (const [id, r] of queues) {
    const p = resolve(props(r)) as Record<string, unknown>;
    const name = nameOf(id);
    const attributes: Record<string, string> = {};
    for (const k of ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'ReceiveMessageWaitTimeSeconds', 'MaximumMessageSize']) {
      if (p[k] !== undefined) attributes[k] = String(p[k]);
    }
    if (p.RedrivePolicy) attributes.RedrivePolicy = JSON.stringify(p.RedrivePolicy);
    Object.assign(attributes, opts.queueAttributes?.[constructId(id)]);
    const q = await aws.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const arn = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    refs[id] = q.QueueUrl!;
    attrs[id] = { Arn: arn, QueueName: name, QueueUrl: q.QueueUrl! };
  }

  for (const [id] of of('AWS::SecretsManager::Secret')) {
    const name = nameOf(id);
    const s = await aws.secrets.send(new CreateSecretCommand({ Name: name, SecretString: opts.secretString }));
    refs[id] = s.ARN!;
    secretArns[name] = s.ARN!;
  }

  for (const [id] of of('AWS::Logs::LogGroup')) {
    const name = `/aws/lambda/${nameOf(id)}`;
    refs[id] = name;
    attrs[id] = { Arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}:*` };
  }
  for (const [id] of of('AWS::IAM::Role')) {
    refs[id] = nameOf(id);
    attrs[id] = { Arn: `arn:aws:iam::${ACCOUNT}:role/${nameOf(id)}` };
  }
  for (const [id, r] of of('AWS::Lambda::Function')) {
    const name = (props(r).FunctionName as string | undefined) ?? nameOf(id);
    refs[id] = name;
    attrs[id] = { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}` };
  }

  // Each role's identity policies: its inline policies and every AWS::IAM::Policy naming it.
  const policiesOf = (roleId: string): PolicyDocument[] => {
    const inline = ((props(template.Resources[roleId]!).Policies as Array<{ PolicyDocument: unknown }>) ?? []).map((p) => resolve(p.PolicyDocument) as PolicyDocument);
    const attached = of('AWS::IAM::Policy')
      .filter(([, r]) => ((props(r).Roles as Array<{ Ref: string }>) ?? []).some((x) => x.Ref === roleId))
      .map(([, r]) => resolve(props(r).PolicyDocument) as PolicyDocument);
    return [...inline, ...attached];
  };
  const roles: Record<string, DeployedRole> = {};
  for (const [id, r] of of('AWS::Lambda::Function')) {
    const roleRef = props(r).Role as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const roleId = roleRef?.['Fn::GetAtt']?.[0];
    if (!roleId) continue;
    const base = constructId(id);
    const name = base.charAt(0).toLowerCase() + base.slice(1);
    const variables = (props(r).Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    roles[name] = {
      name,
      functionName: refs[id]!,
      policies: policiesOf(roleId),
      credentials: {
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(20).toString('base64'),
        sessionToken: randomBytes(32).toString('base64'),
      },
      env: Object.fromEntries(Object.entries(resolve(variables) as Record<string, unknown>).map(([k, v]) => [k, String(v)])),
    };
  }

  return {
    refs,
    attrs,
    roles,
    secretArns,
    id(base, type) {
      const hit = entries.find(([id, r]) => constructId(id) === base && (!type || r.Type === type));
      if (!hit) throw new Error(`test stack: the template has no ${type ?? 'resource'} ${base}`);
      return hit[0];
    },
  };
}
