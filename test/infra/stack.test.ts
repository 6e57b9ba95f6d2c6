import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackfillStack } from '../../infra/stack';

interface NagReport {
  pluginReports: Array<{ summary: { status: string }; violations: Array<{ ruleName: string; severity: string }> }>;
}

function synth(context: Record<string, unknown> = {}, tamper?: (s: BackfillStack) => void) {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk-'));
  const app = new App({ outdir, context: { posthogHost: 'https://us.i.posthog.com', '@aws-cdk/core:validationReportJson': true, ...context } });
  const stack = new BackfillStack(app, 'PosthogBackfill');
  tamper?.(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let error: Error | undefined;
  try {
    app.synth();
  } catch (err) {
    error = err as Error;
  }
  const report = JSON.parse(readFileSync(join(outdir, 'policy-validation-report.json'), 'utf8')) as NagReport;
  return { stack, report, error, template: () => Template.fromStack(stack) };
}

const violations = (r: NagReport) => r.pluginReports.flatMap((p) => p.violations.map((v) => `${v.severity} ${v.ruleName}`));

describe('CDK stack (offline synth, local esbuild)', () => {
  const { report, error, template: tpl } = synth();
  const template = tpl();

  test('cdk-nag AwsSolutions reports no unacknowledged finding', () => {
    assert.equal(error, undefined);
    assert.deepEqual(violations(report), []);
  });

  test('cdk-nag really runs: an insecure bucket added to the stack is caught', () => {
    const bad = synth({}, (s) => new Bucket(s, 'Insecure'));
    assert.match(String(bad.error?.message), /Validation failed/);
    assert.ok(violations(bad.report).includes('error AwsSolutions-S10'));
  });

  test('drop bucket: no public access, SSL only, encrypted, versioned, staging expires', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: Match.objectLike({ ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } })] }),
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: '_backfill/staging/', ExpirationInDays: 14 })]) },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('the drop prefix notifies the splitter', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          Match.objectLike({ Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'posthog/' }] } } }),
        ],
      },
    });
  });

  test('chunk queue: DLQ after N receives, visibility 6x the sender timeout', () => {
    const senderTimeout = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler', Timeout: 180 } }));
    assert.equal(senderTimeout.length, 1);
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 1080,
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: 5 },
      SqsManagedSseEnabled: true,
    });
  });

  test('splitter: may continue itself (self-invoke allowed, recursion on purpose), failed runs to a DLQ', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'PosthogBackfill-splitter',
      RecursiveLoop: 'Allow',
      Timeout: 900,
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('SplitterDlq'), 'Arn'] } },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'lambda:InvokeFunction', Resource: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':function:PosthogBackfill-splitter$')])] } }),
        ]),
      },
    });
  });

  test('sender: SQS event source with partial batch failures and bounded concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 4 },
      BatchSize: 2,
    });
  });

  test('tables: on demand with point-in-time recovery', () => {
    const tables = template.findResources('AWS::DynamoDB::Table', {
      Properties: { BillingMode: 'PAY_PER_REQUEST', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } },
    });
    assert.equal(Object.keys(tables).length, 2);
  });

  test('the API key lives in Secrets Manager: only its ARN reaches the functions, no key in the template', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ SecretStringTemplate: JSON.stringify({ apiKey: 'REPLACE_ME' }) }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POSTHOG_API_KEY_SECRET: { Ref: Match.stringLikeRegexp('ApiKey') }, POSTHOG_HOST: 'https://us.i.posthog.com' }) },
    });
    assert.doesNotMatch(JSON.stringify(template.toJSON()), /phc_/);
  });

  test('an alarm watches the DLQ, and the outputs a user needs exist', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('ChunksDlq'), 'QueueName'] } }],
    });
    for (const o of ['DropBucketName', 'DropLocation', 'ReportsLocation', 'QueueUrl', 'DeadLetterQueueUrl', 'ApiKeySecretArn', 'CheckpointTableName', 'SentAliasTableName']) {
      template.hasOutput(o, {});
    }
  });

  test('functions run on a current Node runtime with their own scoped roles', () => {
    const fns = template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs24.x' } });
    assert.equal(Object.keys(fns).length, 3); // splitter, sender, monitor
    const roles = template.findResources('AWS::IAM::Role', { Properties: { ManagedPolicyArns: Match.anyValue() } });
    // Only CDK's own bucket-notification helper carries a managed policy.
    assert.equal(Object.keys(roles).length, 1);
    // The sender may read and remove staged chunks, and nothing else of the bucket's objects.
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['s3:GetObject', 's3:DeleteObject'], Resource: { 'Fn::Join': ['', [Match.anyValue(), '/_backfill/staging/*']] } }),
        ]),
      },
    });
  });

  test('the splitter may list the bucket only under the drop prefix (to find mapping configs)', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': 'posthog/*' } }, Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('DropBucket'), 'Arn'] } }),
        ]),
      },
    });
    // No other statement lists the bucket, and nothing may describe the secret or write whole checkpoint items from the sender.
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Condition?: unknown }> } } }).Properties.PolicyDocument.Statement);
    const actions = (s: { Action: string | string[] }) => [s.Action].flat();
    assert.ok(statements.filter((s) => actions(s).includes('s3:ListBucket')).every((s) => s.Condition));
    assert.ok(!statements.some((s) => actions(s).includes('secretsmanager:DescribeSecret')));
    const sender = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('SenderRole'))![1] as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } } };
    const onCheckpoints = sender.Properties.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Resource).includes('Checkpoints'));
    assert.deepEqual(onCheckpoints.flatMap(actions).sort(), ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
  });

  test('context is validated: a bad host is a clear error before anything is built', () => {
    assert.throws(() => synth({ posthogHost: 'not a url' }), /invalid CDK context: posthogHost/);
    assert.throws(() => synth({ dropPrefix: '_backfill/x/' }), /dropPrefix/);
    assert.throws(() => synth({ mapping: '{"personMode":"sometimes"}' }), /CDK context "mapping": invalid mapping config: personMode/);
  });

  test('the base mapping from context reaches both functions, validated', () => {
    const t = synth({ mapping: JSON.stringify({ events: { rename: { 'Old Name': 'new_name' } } }), format: 'amplitude' }).template();
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAPPING_CONFIG: Match.stringLikeRegexp('"format":"amplitude".*"Old Name":"new_name"'), DROP_PREFIX: 'posthog/' }) },
    });
  });

  test('an existing secret can be named instead of creating one', () => {
    const t = synth({ apiKeySecret: 'prod/posthog-key' }).template();
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });
});
