import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { CREDENTIAL_FIELDS, DeployedSources, type DeployedSource } from '../functions/sources';

const root = join(import.meta.dirname, '..');
const PULLER_TIMEOUT = Duration.minutes(15);

/** CDK context `sources`: a JSON list (or a JSON string of one), validated before synth. */
export function readSources(raw: unknown): DeployedSource[] {
  let value = raw ?? [];
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new Error('invalid CDK context: sources: not JSON');
    }
  }
  const parsed = DeployedSources.safeParse(value);
  if (!parsed.success) throw new Error(`invalid CDK context: sources: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export interface PullerProps {
  drop: Bucket;
  dropPrefix: string;
  checkpoints: Table;
}

/**
 * One puller Lambda per configured source, run by an EventBridge Scheduler schedule: it pulls
 * from the source's watermark (or start date) window by window into
 * `<drop prefix><source name>/`, where the splitter picks each object up. Each has its own role:
 * write under its own folder, its item in the checkpoint table, read its own secret.
 */
export function addPullers(scope: Stack, props: PullerProps): NodejsFunction[] {
  const sources = readSources(scope.node.tryGetContext('sources'));
  return sources.map((s) => addPuller(scope, props, s));
}

function addPuller(scope: Stack, { drop, dropPrefix, checkpoints }: PullerProps, s: DeployedSource): NodejsFunction {
  const id = `Puller-${s.name}`;
  const secret: ISecret = s.secretName
    ? s.secretName.startsWith('arn:')
      ? Secret.fromSecretCompleteArn(scope, `${id}-Secret`, s.secretName)
      : Secret.fromSecretNameV2(scope, `${id}-Secret`, s.secretName)
    : new Secret(scope, `${id}-Secret`, {
        description: `posthog-backfill: credentials of pull source "${s.name}" (${s.type}), as ${CREDENTIAL_FIELDS[s.type]}`,
        generateSecretString: { secretStringTemplate: JSON.stringify({ replace: 'REPLACE_ME' }), generateStringKey: 'unused' },
        removalPolicy: RemovalPolicy.RETAIN,
      });
  if (secret instanceof Secret) {
    Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: 'Vendor export credentials are rotated at the vendor, not by a Lambda; the user puts the new value.' });
  }

  const logGroup = new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
  const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  role.addToPolicy(new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
  const folder = `${drop.bucketArn}/${dropPrefix}${s.name}/*`;
  // lib-storage: PutObject for small objects and for Create/UploadPart/CompleteMultipartUpload; Abort on failure.
  role.addToPolicy(new PolicyStatement({ actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [folder] }));
  role.addToPolicy(new PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [checkpoints.tableArn] }));

  const fn = new NodejsFunction(scope, id, {
    entry: join(root, 'functions/puller/handler.ts'),
    handler: 'handler',
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    memorySize: 512,
    timeout: PULLER_TIMEOUT,
    role,
    logGroup,
    environment: {
      PULL_SOURCE: JSON.stringify(s),
      PULL_SECRET: secret.secretArn,
      DROP_BUCKET: drop.bucketName,
      DROP_PREFIX: dropPrefix,
      CHECKPOINT_TABLE: checkpoints.tableName,
      POWERTOOLS_LOG_LEVEL: 'INFO',
    },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node24',
      minify: true,
      sourceMap: true,
      externalModules: [],
      banner: "import{createRequire}from'module';const require=createRequire(import.meta.url);",
      forceDockerBundling: false,
    },
  });
  secret.grantRead(fn);

  // A run that fails is not retried by the scheduler: the next scheduled run continues from the watermark.
  const schedulerRole = new Role(scope, `${id}-SchedulerRole`, { assumedBy: new ServicePrincipal('scheduler.amazonaws.com') });
  new Schedule(scope, `${id}-Schedule`, {
    description: `posthog-backfill: pull ${s.type} source "${s.name}"`,
    schedule: ScheduleExpression.expression(s.schedule),
    target: new LambdaInvoke(fn, { input: ScheduleTargetInput.fromObject({ source: s.name }), retryAttempts: 0, role: schedulerRole }),
  });
  const invokePolicy = schedulerRole.node.tryFindChild('DefaultPolicy');
  if (invokePolicy) {
    Validations.of(invokePolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${scope.getLogicalId(fn.node.defaultChild as never)}.Arn>:*]`,
      reason: 'The scheduler may invoke this one puller function (any version of it, as the LambdaInvoke target grants); nothing else.',
    });
  }

  const policy = role.node.tryFindChild('DefaultPolicy');
  if (policy) {
    const bucketArn = `<${scope.getLogicalId(drop.node.defaultChild as never)}.Arn>`;
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${bucketArn}/${dropPrefix}${s.name}/*]`,
      reason: 'The puller writes one object per window under its own source folder; window keys are not known in advance.',
    });
  }
  return fn;
}
