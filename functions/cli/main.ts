import { Command, InvalidArgumentError, Option } from 'commander';
import { SQSClient } from '@aws-sdk/client-sqs';
import { replayDlq } from '../adapters/aws/dlq';
import { stackOutputs } from '../adapters/aws/stack-outputs';
import { FORMAT_NAMES } from '../core/formats';
import { Limits, PersonMode } from '../core/settings';
import { importFile } from './import';
import { deployedStatus, formatStatus, localStatus, statusJson, DEFAULT_STALLED_AFTER_MS } from './status';
import { watchStatus } from './status-watch';
import { cancelFile, currentSettings, pauseSenders, resolveTarget, setSettings } from './steer';

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
  .option('--json', 'print JSON (files, imports, sums) for scripts')
  .option('--watch [seconds]', 'redraw progress bars every N seconds (default 5) until every file is finished or Ctrl-C')
  .option('--stalled-after <minutes>', 'a file with no progress for this long is stalled', positiveInt, DEFAULT_STALLED_AFTER_MS / 60_000)
  .action(async (o) => {
    let table = o.table as string | undefined;
    if (!table && o.stack) table = (await stackOutputs(o.stack)).CheckpointTableName;
    if (o.stack && !table) throw new Error(`stack ${o.stack} has no CheckpointTableName output`);
    const opts = { stalledAfterMs: o.stalledAfter * 60_000 };
    const load = () => (table ? deployedStatus(table, opts) : localStatus(o.stateDir, opts));
    const files = o.watch
      ? await watchStatus({ load, intervalMs: (o.watch === true ? 5 : positiveInt(o.watch)) * 1000, untilDone: true })
      : await load();
    console.log(o.json ? JSON.stringify(statusJson(files), null, 2) : formatStatus(files));
    if (files.some((f) => !f.reconciled && f.manifest.status === 'reported')) process.exitCode = 1;
  });

// Steering the deployed stack: no redeploy. `resume` (lift the pause and re-queue) is registered with resume.ts.
const steerTarget = (c: Command) =>
  c
    .addOption(new Option('--stack <name>', 'deployed stack to read the outputs from').default('PosthogBackfill'))
    .addOption(new Option('--mapping-id <uuid>', "the senders' event source mapping (default: stack output SenderEventSourceMappingId)").env('BACKFILL_EVENT_SOURCE_MAPPING'))
    .addOption(new Option('--table <name>', 'the checkpoint table (default: stack output CheckpointTableName)').env('BACKFILL_CHECKPOINT_TABLE'));

steerTarget(program.command('pause').description('stop the senders taking chunks (in-flight chunks finish; the rest wait in the queue); `resume` lifts it')).action(
  async (o) => {
    const s = await pauseSenders(await resolveTarget(o, ['mappingId']));
    console.log(`senders paused (event source ${s.state}); chunks wait in the queue. \`backfill resume\` lifts the pause.`);
  },
);

steerTarget(program.command('cancel').description('cancel one file: its remaining chunks are skipped, its report says cancelled').argument('<file>', 'file id or s3://bucket/key')).action(
  async (file: string, o) => {
    const c = await cancelFile(await resolveTarget(o, ['table']), file);
    console.log(`${c.uri} (${c.fileId}): cancelled; senders skip its remaining chunks and its report will say cancelled`);
  },
);

steerTarget(program.command('set').description('change the events-per-minute budget and the sender concurrency of the running stack'))
  .option('--events-per-minute <n>', 'events per minute for all senders together (0: no budget)', (v: string) => (v === '0' ? 0 : positiveInt(v)))
  .option('--sender-concurrency <n>', 'at most N senders at once (2-1000)', positiveInt)
  .action(async (o) => {
    const none = o.eventsPerMinute === undefined && o.senderConcurrency === undefined;
    const target = await resolveTarget(o, none ? [] : [...(o.eventsPerMinute !== undefined ? ['table' as const] : []), ...(o.senderConcurrency !== undefined ? ['mappingId' as const] : [])]);
    if (none) {
      console.log(JSON.stringify(await currentSettings(target), null, 2));
      return;
    }
    for (const line of await setSettings(target, { eventsPerMinute: o.eventsPerMinute, senderConcurrency: o.senderConcurrency })) console.log(line);
  });

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`backfill: ${err.message}`);
  process.exitCode = 2;
});
