import { ArnFormat, CfnElement, CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Architecture, RecursiveLoop, Runtime } from 'aws-cdk-lib/aws-lambda';
import { S3EventSourceV2, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, EventType, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { INDEX_PROJECTION, MANIFEST_INDEX } from '../functions/adapters/aws/manifests';
import { readStackConfig } from './config';
import { addMonitoring } from './monitoring';
import { addPullers } from './pullers';

const root = join(import.meta.dirname, '..');
const SENDER_TIMEOUT = Duration.minutes(3);

export interface BackfillStackProps extends StackProps {
  /**
   * A stack meant to be deleted (the real-account integration test): buckets are emptied and
   * deleted, tables and the created secret deleted. The default keeps them.
   */
  throwaway?: boolean;
}

/**
 * The whole pipeline: drop bucket → splitter → chunk queue (+ DLQ) → senders → PostHog, with
 * checkpoint and sent-alias tables and the API key secret. Reads top to bottom in data order.
 */
export class BackfillStack extends Stack {
  constructor(scope: Construct, id: string, props?: BackfillStackProps) {
    super(scope, id, props);
    const cfg = readStackConfig(this.node);
    const keep = props?.throwaway ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const autoDeleteObjects = props?.throwaway ?? false;

    // 1. Where exports are dropped. The pipeline writes its staging, reports and rejected
    //    records under _backfill/ in the same bucket.
    const accessLogs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: keep,
      autoDeleteObjects,
    });
    Validations.of(accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access-log bucket of the drop bucket; logging it into itself would loop.' });

    const drop = new Bucket(this, 'DropBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'drop/',
      lifecycleRules: [
        { id: 'staging', prefix: '_backfill/staging/', expiration: Duration.days(14), noncurrentVersionExpiration: Duration.days(1) },
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy: keep,
      autoDeleteObjects,
    });

    // 2. State: per-file manifest + per-chunk checkpoints, and the sent-alias table.
    const checkpoints = new Table(this, 'Checkpoints', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt', // rate-budget windows expire on their own
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: keep,
    });
    // Lists files without a scan: only manifest rows carry `unit` and `startedAt` (status reads it).
    checkpoints.addGlobalSecondaryIndex({
      indexName: MANIFEST_INDEX,
      partitionKey: { name: 'unit', type: AttributeType.STRING },
      sortKey: { name: 'startedAt', type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: INDEX_PROJECTION,
    });
    const sentAliases = new Table(this, 'SentAliases', {
      partitionKey: { name: 'pair', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: keep,
    });

    // 3. The PostHog project API key: only its ARN is in the template; the value is put with
    //    `aws secretsmanager put-secret-value` after deploy (or an existing secret is named).
    const apiKey = cfg.apiKeySecret
      ? cfg.apiKeySecret.startsWith('arn:')
        ? Secret.fromSecretCompleteArn(this, 'ApiKey', cfg.apiKeySecret)
        : Secret.fromSecretNameV2(this, 'ApiKey', cfg.apiKeySecret)
      : new Secret(this, 'ApiKey', {
          description: 'PostHog project API key for posthog-backfill, as {"apiKey":"<project API key>"}',
          generateSecretString: { secretStringTemplate: JSON.stringify({ apiKey: 'REPLACE_ME' }), generateStringKey: 'unused' },
          removalPolicy: keep,
        });
    if (apiKey instanceof Secret) {
      Validations.of(apiKey).acknowledge({ id: 'AwsSolutions-SMG4', reason: 'A PostHog project API key is rotated in PostHog, not by a Lambda; the user puts the new value.' });
    }

    // 4. Chunk queue and its DLQ. Visibility is 6x the sender timeout, as Lambda advises.
    const dlq = new Queue(this, 'ChunksDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const queue = new Queue(this, 'Chunks', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(SENDER_TIMEOUT.toSeconds() * 6),
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: dlq, maxReceiveCount: cfg.maxReceiveCount },
    });
    const splitFailures = new Queue(this, 'SplitterDlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    const env = {
      CHECKPOINT_TABLE: checkpoints.tableName,
      ALIAS_TABLE: sentAliases.tableName,
      QUEUE_URL: queue.queueUrl,
      POSTHOG_HOST: cfg.posthogHost,
      POSTHOG_API_KEY_SECRET: apiKey.secretArn,
      MAPPING_CONFIG: JSON.stringify(cfg.mapping),
      DROP_PREFIX: cfg.dropPrefix,
      ...(cfg.eventsPerMinute ? { RATE_LIMIT_EVENTS: String(cfg.eventsPerMinute), RATE_WINDOW_MS: '60000' } : {}),
      ...(cfg.chunkRecords ? { CHUNK_RECORDS: String(cfg.chunkRecords) } : {}),
      ...(cfg.batchSize ? { BATCH_SIZE: String(cfg.batchSize) } : {}),
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: this.stackName,
    };
    // Each function gets its own role with only what it uses: no managed policies, explicit actions.
    const fn = (name: string, entry: string, timeout: Duration, memorySize: number, extra: Partial<NodejsFunctionProps> = {}) => {
      const logGroup = new LogGroup(this, `${name}Logs`, { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
      const role = new Role(this, `${name}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
      role.addToPolicy(new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
      return new NodejsFunction(this, name, {
        entry: join(root, entry),
        handler: 'handler',
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.ARM_64,
        memorySize,
        timeout,
        environment: env,
        role,
        logGroup,
        bundling: {
          format: OutputFormat.ESM,
          target: 'node24',
          minify: true,
          sourceMap: true,
          externalModules: [], // bundle the pinned SDK versions rather than the runtime's
          banner: "import{createRequire}from'module';const require=createRequire(import.meta.url);",
          forceDockerBundling: false,
        },
        ...extra,
      });
    };
    const objects = (pattern: string) => `${drop.bucketArn}/${pattern}`;
    const allow = (f: NodejsFunction, actions: string[], resources: string[]) => f.addToRolePolicy(new PolicyStatement({ actions, resources }));

    // 5. Splitter: S3 ObjectCreated under the drop prefix → chunks. Async invocations that fail
    //    twice land in the splitter DLQ.
    // A file that outlasts one 15-minute run is handed to a fresh run of the same function (an
    // async self-invoke, at most MAX_SPLIT_HOPS times). Recursion is allowed on purpose, so
    // Lambda's loop guard does not cut a long file off after ~16 hand-overs.
    const splitterName = `${this.stackName}-splitter`.slice(0, 64);
    const splitter = fn('Splitter', 'functions/splitter/handler.ts', Duration.minutes(15), 1024, {
      functionName: splitterName,
      deadLetterQueue: splitFailures,
      retryAttempts: 2,
      recursiveLoop: RecursiveLoop.ALLOW,
      // Bounded, so a sync of thousands of files cannot take the account's concurrency from the
      // senders; S3 events beyond it wait in Lambda's async queue (retried up to 6 h, then the DLQ).
      reservedConcurrentExecutions: cfg.splitterConcurrency,
      maxEventAge: Duration.hours(6),
    });
    allow(splitter, ['lambda:InvokeFunction'], [this.formatArn({ service: 'lambda', resource: 'function', resourceName: splitterName, arnFormat: ArnFormat.COLON_RESOURCE_NAME })]);
    splitter.addEventSource(new S3EventSourceV2(drop, { events: [EventType.OBJECT_CREATED], filters: [{ prefix: cfg.dropPrefix }] }));
    allow(splitter, ['s3:GetObject', 's3:GetObjectVersion'], [objects(`${cfg.dropPrefix}*`)]);
    // Mapping configs are found by listing (S3 answers 403, not 404, for a missing key to a
    // caller that may not list), and only under the drop prefix.
    splitter.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [drop.bucketArn], conditions: { StringLike: { 's3:prefix': `${cfg.dropPrefix}*` } } }),
    );
    allow(splitter, ['s3:PutObject'], [objects('_backfill/*')]);
    allow(splitter, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], [checkpoints.tableArn]);
    allow(splitter, ['sqs:SendMessage'], [queue.queueArn]); // SendMessageBatch is authorised as SendMessage

    // 6. Senders: SQS → PostHog, partial batch failures, bounded concurrency.
    const sender = fn('Sender', 'functions/sender/handler.ts', SENDER_TIMEOUT, 1024);
    const senderSource = new SqsEventSource(queue, { batchSize: 2, reportBatchItemFailures: true, maxConcurrency: cfg.senderConcurrency });
    sender.addEventSource(senderSource);
    allow(sender, ['s3:GetObject', 's3:DeleteObject'], [objects('_backfill/staging/*')]);
    allow(sender, ['s3:PutObject'], [objects('_backfill/*')]);
    // The chunk's done-mark is a TransactWriteItems of two updates (authorised per item as UpdateItem).
    allow(sender, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], [checkpoints.tableArn]);
    allow(sender, ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchGetItem'], [sentAliases.tableArn]);
    // Only the value: DescribeSecret (in grantRead) is never called. A created secret's full ARN
    // is known; one named by context gets the 6-character suffix Secrets Manager appends.
    allow(sender, ['secretsmanager:GetSecretValue'], [apiKey.secretFullArn ?? `${apiKey.secretArn}-??????`]);
    // A chunk that cannot get rate budget in time is queued again with a delay. Always granted:
    // `backfill set --events-per-minute` turns a budget on without a redeploy.
    allow(sender, ['sqs:SendMessage'], [queue.queueArn]);

    // 6b. Pullers (CDK context `sources`): vendor export APIs → the drop bucket, on a schedule.
    addPullers(this, { drop, dropPrefix: cfg.dropPrefix, checkpoints });

    // 7. Alarms: anything in a DLQ needs a person.
    new Alarm(this, 'ChunksDlqNotEmpty', {
      alarmDescription: 'Chunks failed repeatedly: fix the cause (see the sender logs), then run `npx backfill replay-dlq`.',
      metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    new Alarm(this, 'SplitterDlqNotEmpty', {
      alarmDescription: 'A file could not be split; the message holds its S3 event.',
      metric: splitFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    addMonitoring(this, { cfg, fn, env, namespace: this.stackName, queue, dlq, splitFailures, splitter, sender, checkpoints });

    this.acknowledge(drop, cfg.dropPrefix, [splitter, sender]);

    // 8. What a user needs after deploy.
    new CfnOutput(this, 'DropBucketName', { value: drop.bucketName });
    new CfnOutput(this, 'DropLocation', { value: `s3://${drop.bucketName}/${cfg.dropPrefix}` });
    new CfnOutput(this, 'ReportsLocation', { value: `s3://${drop.bucketName}/_backfill/reports/` });
    new CfnOutput(this, 'QueueUrl', { value: queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: dlq.queueUrl });
    new CfnOutput(this, 'SplitterDeadLetterQueueUrl', { value: splitFailures.queueUrl });
    new CfnOutput(this, 'CheckpointTableName', { value: checkpoints.tableName });
    new CfnOutput(this, 'SentAliasTableName', { value: sentAliases.tableName });
    new CfnOutput(this, 'ApiKeySecretArn', { value: apiKey.secretArn });
    // `backfill pause|resume|set` switch this event source mapping (no redeploy).
    new CfnOutput(this, 'SenderEventSourceMappingId', { value: senderSource.eventSourceMappingId });
  }

  // The remaining findings, each acknowledged with why it is as narrow as it can be.
  private acknowledge(drop: Bucket, dropPrefix: string, fns: NodejsFunction[]): void {
    const bucketArn = `<${this.getLogicalId(drop.node.defaultChild as CfnElement)}.Arn>`;
    const objectScopes: Record<string, string> = {
      [`${bucketArn}/${dropPrefix}*`]: 'The splitter reads any export dropped under the drop prefix; object keys are not known in advance.',
      [`${bucketArn}/_backfill/*`]: 'Staged chunks, reports and rejected records are written under the pipeline\'s own prefix, one object per file and chunk.',
      [`${bucketArn}/_backfill/staging/*`]: 'The sender reads the staged chunk named in each message, all under the staging prefix.',
    };
    for (const f of fns) {
      const policy = f.role!.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      for (const [resource, reason] of Object.entries(objectScopes)) {
        Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
      }
    }
    // The bucket-notification custom resource is CDK's own singleton.
    const notifications = this.node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
    if (notifications) {
      Validations.of(notifications).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'CDK\'s bucket-notification custom resource; it only writes its own logs and configures this bucket\'s notifications.',
      });
    }
  }
}
