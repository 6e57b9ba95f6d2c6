import { CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  Stats,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction, NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { MANIFEST_INDEX } from '../functions/adapters/aws/manifests';
import { METRIC } from '../functions/pipeline/metrics';
import type { StackConfig } from './config';

export interface MonitoringProps {
  cfg: StackConfig;
  /** The stack's function factory (own role, log group, bundling). */
  fn: (name: string, entry: string, timeout: Duration, memorySize: number, extra?: Partial<NodejsFunctionProps>) => NodejsFunction;
  env: Record<string, string>;
  namespace: string;
  queue: Queue;
  dlq: Queue;
  splitFailures: Queue;
  splitter: NodejsFunction;
  sender: NodejsFunction;
  checkpoints: Table;
}

const FIVE_MIN = Duration.minutes(5);

/**
 * What an operator watches and is told about: the dashboard, the alarm topic (with an email
 * subscription from context `alarmEmail`), the alarms on it, and the scheduled check that finds
 * stalled files. The DLQ alarms are the stack's own; they get the topic's action here.
 */
export function addMonitoring(stack: Stack, p: MonitoringProps): { topic: Topic; dashboard: Dashboard } {
  const { cfg, namespace } = p;
  const m = (name: string, statistic: string = Stats.SUM, dimensionsMap?: Record<string, string>, service = 'backfill-sender') =>
    new Metric({ namespace, metricName: name, statistic, period: FIVE_MIN, dimensionsMap: { service, ...dimensionsMap } });
  // One line per value of a dimension (per import, per reason, per status).
  const search = (name: string, dim: string, label: string) =>
    new MathExpression({ expression: `SEARCH('{${namespace},${dim},service} MetricName="${name}"', 'Sum', 300)`, label, usingMetrics: {}, period: FIVE_MIN });

  // The stalled-file check: a file nothing works on has no Lambda that could report it.
  const monitor = p.fn('Monitor', 'functions/monitor/handler.ts', Duration.minutes(2), 256, {
    environment: { ...p.env, STALLED_AFTER_MS: String(cfg.stalledAfterMinutes * 60_000) },
  });
  monitor.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${p.checkpoints.tableArn}/index/${MANIFEST_INDEX}`, p.checkpoints.tableArn] }));
  monitor.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [p.checkpoints.tableArn] }));
  new Rule(stack, 'MonitorSchedule', { schedule: Schedule.rate(FIVE_MIN), targets: [new LambdaFunction(monitor, { retryAttempts: 0 })] });

  const topic = new Topic(stack, 'Alarms', { displayName: `${stack.stackName} alarms`, enforceSSL: true });
  Validations.of(topic).acknowledge({
    id: 'AwsSolutions-SNS2',
    reason: 'Alarm notifications carry alarm names and states only, no import data; CloudWatch cannot publish to a topic under the AWS-managed SNS key.',
  });
  if (cfg.alarmEmail) topic.addSubscription(new EmailSubscription(cfg.alarmEmail));
  const notify = new SnsAction(topic);

  const alarm = (id: string, description: string, metric: IMetric, threshold: number, evaluationPeriods = 1) => {
    const a = new Alarm(stack, id, {
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    a.addAlarmAction(notify);
    a.addOkAction(notify);
    return a;
  };
  const dlqAlarms = ['ChunksDlqNotEmpty', 'SplitterDlqNotEmpty'].map((id) => stack.node.tryFindChild(id) as Alarm | undefined).filter((a) => a !== undefined);
  for (const a of dlqAlarms) {
    a.addAlarmAction(notify);
    a.addOkAction(notify);
  }
  const alarms = [
    ...dlqAlarms,
    alarm(
      'OldestChunkTooOld',
      `A chunk has waited over ${cfg.oldestChunkAlarmMinutes} min in the queue: senders paused, throttled, or failing (see \`npx backfill status\`).`,
      p.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: Stats.MAXIMUM }),
      cfg.oldestChunkAlarmMinutes * 60,
      5,
    ),
    alarm(
      'SenderErrors',
      'Sender invocations or chunks failed (5 or more in 5 minutes): see the sender logs ("chunk failed").',
      new MathExpression({
        expression: 'errors + failed',
        label: 'sender errors + failed chunks',
        usingMetrics: { errors: p.sender.metricErrors({ period: FIVE_MIN }), failed: m(METRIC.chunksFailed) },
        period: FIVE_MIN,
      }),
      5,
    ),
    alarm('SenderThrottles', 'Sender invocations were throttled: the account\'s concurrency is spent elsewhere.', p.sender.metricThrottles({ period: FIVE_MIN }), 1),
    alarm(
      'FilesStalled',
      `A file made no progress for ${cfg.stalledAfterMinutes} min: \`npx backfill status\` lists it; the monitor's log names its id.`,
      m(METRIC.filesStalled, Stats.MAXIMUM, undefined, 'backfill-monitor'),
      1,
    ),
  ];

  const q = (queue: Queue, label: string) => [
    queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), label: `${label} waiting` }),
    queue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), label: `${label} in flight` }),
  ];
  const fnMetrics = (f: NodejsFunction, label: string) => ({
    errors: [f.metricErrors({ period: FIVE_MIN, label: `${label} errors` }), f.metricThrottles({ period: FIVE_MIN, label: `${label} throttles` })],
    duration: [f.metricDuration({ period: FIVE_MIN, statistic: Stats.p(50), label: `${label} p50` }), f.metricDuration({ period: FIVE_MIN, statistic: Stats.p(99), label: `${label} p99` })],
  });
  const sender = fnMetrics(p.sender, 'sender');
  const splitter = fnMetrics(p.splitter, 'splitter');

  const dashboard = new Dashboard(stack, 'Dashboard', { dashboardName: `${stack.stackName}-import`.slice(0, 255), defaultInterval: Duration.hours(6) });
  dashboard.addWidgets(
    new TextWidget({
      markdown: `# ${stack.stackName}\nProgress per import (the folder a file was dropped in), throughput, rejections, queues and Lambdas. Per file: \`npx backfill status --stack ${stack.stackName} --watch\`.`,
      width: 24,
      height: 2,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({ title: 'Records read per import (per 5 min)', left: [search(METRIC.recordsRead, 'Import', '')], width: 12, stacked: true }),
    new GraphWidget({
      title: 'Throughput: events/s',
      left: [new MathExpression({ expression: 'e / PERIOD(e)', label: 'events/s delivered', usingMetrics: { e: m(METRIC.eventsSent) }, period: FIVE_MIN })],
      right: [m(METRIC.eventsPerSecond, Stats.AVERAGE)],
      width: 12,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({ title: 'Records: sent, rejected, filtered, duplicates', left: [m(METRIC.recordsSent), m(METRIC.recordsRejected), m(METRIC.recordsFiltered), m(METRIC.duplicates)], width: 8 }),
    new GraphWidget({ title: 'Rejected by reason', left: [search(METRIC.rejectedByReason, 'Reason', '')], width: 8, stacked: true }),
    new GraphWidget({ title: 'Capture answers by status', left: [search(METRIC.captureResponses, 'Status', '')], width: 8, stacked: true }),
  );
  dashboard.addWidgets(
    new GraphWidget({ title: 'Retries, bisections, rate-budget waits', left: [m(METRIC.captureRetries), m(METRIC.bisections), m(METRIC.rateBudgetWaits)], width: 8 }),
    new GraphWidget({ title: 'Chunk duration (ms)', left: [m(METRIC.chunkDuration, Stats.p(50)), m(METRIC.chunkDuration, Stats.p(90)), m(METRIC.chunkDuration, Stats.MAXIMUM)], width: 8 }),
    new SingleValueWidget({
      title: 'Files',
      metrics: [m(METRIC.filesActive, Stats.MAXIMUM, undefined, 'backfill-monitor'), m(METRIC.filesStalled, Stats.MAXIMUM, undefined, 'backfill-monitor'), m(METRIC.filesSplit, Stats.SUM, undefined, 'backfill-splitter')],
      width: 8,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({ title: 'Chunk queue depth', left: q(p.queue, 'chunks'), width: 8 }),
    new GraphWidget({ title: 'Oldest chunk (s)', left: [p.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: Stats.MAXIMUM })], width: 8 }),
    new GraphWidget({
      title: 'DLQ depth',
      left: [p.dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), label: 'chunk DLQ' }), p.splitFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), label: 'splitter DLQ' })],
      width: 8,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({ title: 'Lambda errors and throttles', left: [...sender.errors, ...splitter.errors], width: 8 }),
    new GraphWidget({ title: 'Lambda duration (ms)', left: [...sender.duration, ...splitter.duration], width: 8 }),
    new GraphWidget({
      title: 'Concurrent Lambdas',
      left: [
        p.sender.metric('ConcurrentExecutions', { period: Duration.minutes(1), statistic: Stats.MAXIMUM, label: 'senders' }),
        p.splitter.metric('ConcurrentExecutions', { period: Duration.minutes(1), statistic: Stats.MAXIMUM, label: 'splitters' }),
      ],
      width: 8,
    }),
  );
  dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms, width: 24 }));

  new CfnOutput(stack, 'AlarmTopicArn', { value: topic.topicArn });
  new CfnOutput(stack, 'DashboardName', { value: dashboard.dashboardName });
  return { topic, dashboard };
}
