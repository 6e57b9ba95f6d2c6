// The real-account test (CDK integ-tests assertions): deploys a throwaway copy of the stack,
// drops the examples under the drop prefix, waits for every file's report, checks its counts
// and that both DLQs are empty; `npm run integ:aws` deploys it and always destroys it after.
// The assertions are custom resources of the assertion stack: if one fails, its deploy fails.
// `npm test` only checks that it synthesizes and that its snapshot is current
// (test/infra/integ-snapshot.test.ts).
import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, Stack, type AppProps } from 'aws-cdk-lib';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BackfillStack } from '../../infra/stack';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');
const PREFIX = 'posthog/integ/';

/** The test app; `props` lets the snapshot test synthesize it without bundling. */
export function integApp(props: AppProps = {}): App {
  const app = new App({
    ...props,
    context: {
      ...props.context,
      // Point it at a PostHog project you can test against; the key is read from this secret,
      // which you create once (see README, "Before a real migration").
      posthogHost: process.env.BACKFILL_INTEG_HOST ?? 'https://us.i.posthog.com',
      apiKeySecret: 'posthog-backfill/integ-api-key',
      dropPrefix: 'posthog/',
    },
  });
  const backfill = new BackfillStack(app, 'PosthogBackfillInteg', { throwaway: true });
  const bucket = backfill.node.findChild('DropBucket') as Bucket;
  const dlq = backfill.node.findChild('ChunksDlq') as Queue;
  const splitterDlq = backfill.node.findChild('SplitterDlq') as Queue;

  // The drop, in a stack of its own so it starts once the pipeline is wired up. Configs first:
  // a file's mapping is read when it is split.
  const drop = new Stack(app, 'PosthogBackfillIntegDrop');
  const configs = new BucketDeployment(drop, 'Configs', {
    destinationBucket: bucket,
    destinationKeyPrefix: PREFIX,
    prune: false,
    sources: [
      Source.data('amplitude/backfill.config.json', readFileSync(join(EXAMPLES, 'amplitude', 'backfill.config.json'), 'utf8')),
      Source.data('csv/backfill.config.json', readFileSync(join(EXAMPLES, 'csv', 'orders.config.json'), 'utf8')),
    ],
  });
  const files = new BucketDeployment(drop, 'Files', {
    destinationBucket: bucket,
    destinationKeyPrefix: PREFIX,
    prune: false,
    sources: [Source.asset(EXAMPLES, { exclude: ['*.config.json'] })],
  });
  files.node.addDependency(configs);

  const integ = new IntegTest(app, 'BackfillOnAws', {
    testCases: [backfill, drop],
    stackUpdateWorkflow: false, // keeps the bundled Lambda code out of the snapshot
    diffAssets: false,
  });

  // What `npx backfill import` reports for the same files (read, sent, rejected).
  const expected = [
    { key: 'posthog-events.jsonl', sent: 5, rejected: 2 },
    { key: 'amplitude/187520_2025-07-01_16#0.json.gz', sent: 1, rejected: 0 },
    { key: 'csv/orders.csv', sent: 2, rejected: 0 },
  ];
  const report = (key: string) => ({ Bucket: bucket.bucketName, Key: `_backfill/reports/${PREFIX}${key}.report.json` });
  for (const e of expected) {
    integ.assertions
      .awsApiCall('S3', 'getObject', report(e.key))
      .assertAtPath('Body.reconciled', ExpectedResult.exact(true))
      .waitForAssertions({ totalTimeout: Duration.minutes(20), interval: Duration.seconds(30) })
      .next(integ.assertions.awsApiCall('S3', 'getObject', report(e.key)).assertAtPath('Body.records.sent', ExpectedResult.exact(e.sent)))
      .next(integ.assertions.awsApiCall('S3', 'getObject', report(e.key)).assertAtPath('Body.records.rejected', ExpectedResult.exact(e.rejected)));
  }
  for (const q of [dlq, splitterDlq]) {
    integ.assertions
      .awsApiCall('SQS', 'getQueueAttributes', { QueueUrl: q.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] })
      .expect(ExpectedResult.objectLike({ Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' } }));
  }
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) integApp().synth();
