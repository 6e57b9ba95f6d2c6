import { Command, InvalidArgumentError, Option } from 'commander';
import { SQSClient } from '@aws-sdk/client-sqs';
import { replayDlq } from '../adapters/aws/dlq';
import { stackOutputs } from '../adapters/aws/stack-outputs';
import { FORMAT_NAMES } from '../core/formats';
import { Limits, PersonMode } from '../core/settings';
import { importFile } from './import';
import { deployedStatus, formatStatus, localStatus } from './status';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { invokeContinuation } from '../adapters/aws/continuation';
import { formatResume, resumeImports } from './resume';

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
};

const program = new Command('backfill').description('Import historical analytics exports into PostHog, exactly once.');

program
  .command('import')
  .description('import FILE on this machine: post to PostHog with --host, or write the events to --out')
  .argument('<file>', 'export file: NDJSON or a JSON array, optionally gzipped')
  .addOption(new Option('--host <url>', 'PostHog host, e.g. https://us.i.posthog.com').env('POSTHOG_HOST'))
  .addOption(new Option('--api-key <key>', 'PostHog project API key').env('POSTHOG_API_KEY'))
  .option('--out <file>', 'write the events that would be posted to this NDJSON file (default without --host: <file>.posthog.ndjson)')
  .addOption(new Option('--format <name>', 'input format (default: detected from content, path as a hint)').choices(['auto', ...FORMAT_NAMES]))
  .option('--config <file>', 'mapping config (JSON): renames, filters, time window, CSV columns…')
  .option('--state-dir <dir>', 'checkpoints, reports and the sent-alias file', '.backfill')
  .addOption(new Option('--person-mode <mode>', 'how person properties are applied (default set_once)').choices(PersonMode.options))
  .option('--chunk-records <n>', 'records per chunk', positiveInt)
  .option('--batch-size <n>', 'events per /batch/ request', positiveInt)
  .option('--attempts <n>', 'tries per chunk before stopping', positiveInt, 5)
  .option('--events-per-minute <n>', 'send at most this many events per minute', positiveInt)
  .option('--no-progress', 'no progress bar')
  .action(async (file: string, o) => {
    if (o.host && o.out) throw new InvalidArgumentError('give --host or --out, not both');
    const limits = Limits.parse({
      ...(o.chunkRecords ? { chunkRecords: o.chunkRecords } : {}),
      ...(o.batchSize ? { batchSize: o.batchSize } : {}),
    });
    const res = await importFile(file, {
      host: o.host,
      apiKey: o.apiKey,
      out: o.out,
      config: o.config,
      mapping: { ...(o.format ? { format: o.format } : {}), ...(o.personMode ? { personMode: o.personMode } : {}) },
      stateDir: o.stateDir,
      limits,
      attempts: o.attempts,
      eventsPerMinute: o.eventsPerMinute,
      retryDelayMs: 1000,
      progress: Boolean(o.progress) && Boolean(process.stderr.isTTY),
    });
    const r = res.report;
    if (res.alreadyDone) console.log(`${file}: already imported (checkpoints in ${o.stateDir}); nothing sent again`);
    if (r) {
      const list = (counts: Record<string, number>) => Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
      const reasons = list(r.records.byReason);
      const filters = list(r.records.byFilter);
      console.log(
        `${file} (${r.format}): ${r.records.read} records read, ${r.records.sent} sent (${r.records.events} events, ${r.records.links} identity links), ` +
          `${r.records.rejected} rejected${reasons ? ` (${reasons})` : ''}, ${r.records.filtered} filtered${filters ? ` (${filters})` : ''}` +
          (r.records.duplicates ? `, ${r.records.duplicates} duplicates` : ''),
      );
      if (r.records.noTimestamp) console.log(`  ${r.records.noTimestamp} events had no timestamp: PostHog uses the time of ingestion for them`);
      if (r.rejectedReport) console.log(`  rejected records: ${r.rejectedReport}`);
      if (r.error) console.log(`  input error: ${r.error}`);
      console.log(`  report: ${res.reportPath}`);
    }
    if (res.out) console.log(`  events written to ${res.out}`);
    if (r?.status === 'failed') process.exitCode = 1;
  });

program
  .command('replay-dlq')
  .description('move chunk messages from the dead-letter queue back to the main queue')
  .option('--dry-run', 'list what would move, move nothing')
  .option('--max <n>', 'move at most N messages', positiveInt)
  .addOption(new Option('--stack <name>', 'deployed stack to read the queue URLs from').default('PosthogBackfill'))
  .addOption(new Option('--queue-url <url>', 'main queue URL (default: stack output QueueUrl)').env('BACKFILL_QUEUE_URL'))
  .addOption(new Option('--dlq-url <url>', 'DLQ URL (default: stack output DeadLetterQueueUrl)').env('BACKFILL_DLQ_URL'))
  .action(async (o) => {
    let { queueUrl, dlqUrl } = o as { queueUrl?: string; dlqUrl?: string };
    if (!queueUrl || !dlqUrl) {
      const out = await stackOutputs(o.stack);
      queueUrl ??= out.QueueUrl;
      dlqUrl ??= out.DeadLetterQueueUrl;
    }
    if (!queueUrl || !dlqUrl) throw new Error(`stack ${o.stack} has no QueueUrl/DeadLetterQueueUrl outputs; pass --queue-url and --dlq-url`);
    const res = await replayDlq(new SQSClient({}), { queueUrl, dlqUrl, max: o.max, dryRun: o.dryRun });
    if (o.dryRun) {
      for (const c of res.chunks) console.log(`  ${c}`);
      console.log(`${res.seen} messages in the DLQ would be moved (dry run: nothing moved)`);
    } else {
      console.log(`moved ${res.moved} of ${res.seen} messages back to the main queue`);
      if (res.moved < res.seen) process.exitCode = 1;
    }
  });

program
  .command('status')
  .description('progress and reconciliation of every import: local checkpoints, or the deployed stack with --stack / --table')
  .option('--state-dir <dir>', 'local checkpoints', '.backfill')
  .option('--stack <name>', 'read the deployed checkpoint table of this stack')
  .addOption(new Option('--table <name>', 'the deployed checkpoint table').env('BACKFILL_CHECKPOINT_TABLE'))
  .action(async (o) => {
    let table = o.table as string | undefined;
    if (!table && o.stack) table = (await stackOutputs(o.stack)).CheckpointTableName;
    if (o.stack && !table) throw new Error(`stack ${o.stack} has no CheckpointTableName output`);
    const files = table ? await deployedStatus(table) : await localStatus(o.stateDir);
    console.log(formatStatus(files));
    if (files.some((f) => !f.reconciled && f.manifest.status === 'reported')) process.exitCode = 1;
  });

program
  .command('resume')
  .description('re-queue every chunk not done (re-staging lost bodies from the source) and restart stalled splits, from the checkpoint table')
  .argument('[target]', 's3://bucket/key of one file, or an s3://bucket/prefix (default: every unfinished import)')
  .addOption(new Option('--stack <name>', 'deployed stack to read the table, queue and splitter from').default('PosthogBackfill'))
  .addOption(new Option('--table <name>', 'the checkpoint table (default: stack output CheckpointTableName)').env('BACKFILL_CHECKPOINT_TABLE'))
  .addOption(new Option('--queue-url <url>', 'chunk queue URL (default: stack output QueueUrl)').env('BACKFILL_QUEUE_URL'))
  .option('--function <name>', 'splitter function (default: <stack>-splitter)')
  .option('--stalled-after <minutes>', 'restart a split with no progress for this many minutes', positiveInt, 16)
  .action(async (target: string | undefined, o) => {
    let { table, queueUrl } = o as { table?: string; queueUrl?: string };
    if (!table || !queueUrl) {
      const out = await stackOutputs(o.stack);
      table ??= out.CheckpointTableName;
      queueUrl ??= out.QueueUrl;
    }
    if (!table || !queueUrl) throw new Error(`stack ${o.stack} has no CheckpointTableName/QueueUrl outputs; pass --table and --queue-url`);
    const splitter = (o.function as string | undefined) ?? `${o.stack}-splitter`.slice(0, 64);
    const lambda = new LambdaClient({});
    const res = await resumeImports({
      table,
      queueUrl,
      ...(target ? { target } : {}),
      stalledAfterMs: o.stalledAfter * 60_000,
      restartSplit: (c) => invokeContinuation(lambda, splitter, c),
    });
    console.log(formatResume(res));
  });

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`backfill: ${err.message}`);
  process.exitCode = 2;
});
