import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { SQSClient } from '@aws-sdk/client-sqs';
import { replayDlq } from '../adapters/aws/dlq';
import { stackOutputs } from '../adapters/aws/stack-outputs';
import { FORMAT_NAMES } from '../core/formats';
import { Limits, PersonMode } from '../core/settings';
import { importFile } from './import';
import { deployedStatus, formatStatus, localStatus, pullSourcesText } from './status';
import { formatPull, pullCommand } from './pull';

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
  .command('pull')
  .description('pull an export from Amplitude, Mixpanel or PostHog, window by window, into --out-dir, or import it with --host')
  .addArgument(new Argument('<source>', 'where to pull from').choices(['amplitude', 'mixpanel', 'posthog']))
  .option('--from <time>', 'inclusive, UTC, ISO 8601 (2024-03-01 or 2024-03-01T05:00:00Z); default: continue from the watermark')
  .option('--to <time>', 'exclusive, UTC, ISO 8601; default: the last complete window')
  .option('--out-dir <dir>', 'write the vendor export files here (no import)')
  .addOption(new Option('--host <url>', 'PostHog host to import into as each window is pulled').env('POSTHOG_HOST'))
  .addOption(new Option('--api-key <key>', 'PostHog project API key (with --host)').env('POSTHOG_API_KEY'))
  .option('--base-url <url>', 'API host of the source (EU, self-hosted, a stand-in)')
  .addOption(new Option('--region <region>', 'data residency of Amplitude / Mixpanel').choices(['us', 'eu']))
  .option('--project-id <id>', 'Mixpanel or PostHog project id')
  .option('--source-uri <uri>', 'PostHog source as posthog://?personal_api_key=…&project_id=…&base_url=…')
  .option('--name <name>', 'name of this source: its watermark and folder (default: the source type)')
  .option('--lateness-hours <n>', 'hours before the watermark pulled again when continuing', (v) => Number(v))
  .option('--window-hours <n>', 'hours per window (Amplitude, PostHog)', positiveInt)
  .option('--persons', 'PostHog: also pull persons (in full) as a users file')
  .option('--page-size <n>', 'PostHog: rows per query page (default 10000)', positiveInt)
  .option('--state-dir <dir>', 'watermarks, locks, checkpoints', '.backfill')
  .option('--no-progress', 'no progress bar')
  .action(async (type: 'amplitude' | 'mixpanel' | 'posthog', o) => {
    const res = await pullCommand({ type, ...o, progress: Boolean(o.progress) && Boolean(process.stderr.isTTY) });
    console.log(formatPull(o.name ?? type, res));
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
    const pulls = await pullSourcesText(table ? { table } : { stateDir: o.stateDir });
    if (pulls) console.log(pulls);
    if (files.some((f) => !f.reconciled && f.manifest.status === 'reported')) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`backfill: ${err.message}`);
  process.exitCode = 2;
});
