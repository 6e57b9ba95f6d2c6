import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackfillStack } from '../../infra/stack';

function synth(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk-mon-'));
  const app = new App({ outdir, context: { posthogHost: 'https://us.i.posthog.com', '@aws-cdk/core:validationReportJson': true, ...context } });
  const stack = new BackfillStack(app, 'PosthogBackfill');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const report = JSON.parse(readFileSync(join(outdir, 'policy-validation-report.json'), 'utf8')) as { pluginReports: Array<{ violations: Array<{ ruleName: string }> }> };
  return { template: Template.fromStack(stack), violations: report.pluginReports.flatMap((r) => r.violations.map((v) => v.ruleName)) };
}

const ref = (logicalIdPattern: string) => ({ Ref: Match.stringLikeRegexp(logicalIdPattern) });

describe('monitoring: dashboard, alarm topic, alarms, stalled-file check, bounded splitter', () => {
  const { template, violations } = synth({ alarmEmail: 'ops@example.com', oldestChunkAlarmMinutes: 45, splitterConcurrency: 7 });

  test('cdk-nag stays clean with monitoring in the stack', () => {
    assert.deepEqual(violations, []);
  });

  test('an SNS topic (SSL only) with the email subscription from context', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: ref('^Alarms') });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    // No email given: the topic exists, nobody is subscribed.
    synth().template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  test('every alarm notifies the topic, on alarm and on recovery', () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    const names = Object.keys(alarms).map((id) => id.replace(/[A-F0-9]{8}$/, ''));
    for (const want of ['ChunksDlqNotEmpty', 'SplitterDlqNotEmpty', 'OldestChunkTooOld', 'SenderErrors', 'SenderThrottles', 'FilesStalled']) {
      assert.ok(names.includes(want), `alarm ${want} (have ${names.join(', ')})`);
    }
    for (const [id, a] of Object.entries(alarms)) {
      const props = (a as { Properties: { AlarmActions?: unknown[]; OKActions?: unknown[] } }).Properties;
      assert.equal(props.AlarmActions?.length, 1, `${id} has one action`);
      assert.match(JSON.stringify(props.AlarmActions), /"Ref":"Alarms[A-F0-9]+"/, `${id} notifies the topic`);
      assert.match(JSON.stringify(props.OKActions), /"Ref":"Alarms[A-F0-9]+"/, `${id} says when it recovers`);
    }
  });

  test('the oldest-chunk threshold comes from context; stalled files and sender failures are watched', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 45 * 60, Statistic: 'Maximum' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'FilesStalled', Namespace: 'PosthogBackfill', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'errors + failed' }), Match.objectLike({ Id: 'failed', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ChunksFailed' }) }) })]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Namespace: 'AWS/Lambda' });
  });

  test('the dashboard shows progress per import, throughput, rejections, queues, DLQs and Lambdas', () => {
    const dashboards = template.findResources('AWS::CloudWatch::Dashboard');
    assert.equal(Object.keys(dashboards).length, 1);
    const body = JSON.stringify(Object.values(dashboards)[0]);
    for (const want of [
      'MetricName=\\\\\\"RecordsRead\\\\\\"', // SEARCH by Import
      'Records read per import',
      'events/s delivered',
      'Rejected by reason',
      'Capture answers by status',
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'DLQ depth',
      'Throttles',
      'Errors',
      'Duration',
      'RateBudgetWaits',
      'Bisections',
      'CaptureRetries',
    ]) {
      assert.ok(body.includes(want), `dashboard shows ${want}`);
    }
    template.hasOutput('DashboardName', {});
    template.hasOutput('AlarmTopicArn', {});
  });

  test('functions publish metrics under the stack\'s namespace', () => {
    const fns = template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike({ POWERTOOLS_METRICS_NAMESPACE: 'PosthogBackfill' }) } } });
    assert.equal(Object.keys(fns).length, 3);
  });

  test('a scheduled check publishes stalled files; it may only query the manifest index and read manifests', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ STALLED_AFTER_MS: '1800000' }) } });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'dynamodb:Query', Resource: Match.arrayWith([{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Checkpoints'), 'Arn'] }, '/index/manifests']] }]) }),
        ]),
      },
      Roles: [ref('^MonitorRole')],
    });
  });

  test('the checkpoint table has a sparse manifest index (status lists files without a scan)', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
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
    });
  });

  test('splitter concurrency is bounded from context; waiting S3 events are kept 6 h, then go to its DLQ', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'PosthogBackfill-splitter', ReservedConcurrentExecutions: 7 });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 6 * 3600, MaximumRetryAttempts: 2 });
    template.hasOutput('SenderEventSourceMappingId', {});
  });

  test('a bad alarm email is refused before synth', () => {
    assert.throws(() => synth({ alarmEmail: 'not-an-email' }), /invalid CDK context: alarmEmail/);
  });
});
