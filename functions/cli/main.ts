import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { FORMAT_NAMES } from '../core/formats/names';
import { PERSON_MODES } from '../core/names';
import { DEFAULT_STALLED_AFTER_MS } from '../core/progress';

// Each command loads its own code when it runs (dynamic imports): `--help` or a local import
// never loads the AWS SDK, and the CLI starts in a fraction of a second.

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
};

const wholeNumber = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
};

const gzipLevel = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new InvalidArgumentError('must be a whole number from 0 to 9');
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
  .addOption(new Option('--person-mode <mode>', 'how person properties are applied (default set_once)').choices([...PERSON_MODES]))
  .option('--chunk-records <n>', 'records per chunk (default 750)', positiveInt)
  .option('--batch-size <n>', 'events per /batch/ request', positiveInt)
  .option('--attempts <n>', 'tries per chunk before stopping', positiveInt, 5)
  .option('--events-per-minute <n>', 'send at most this many events per minute', positiveInt)
  .option('--workers <n>', 'worker threads that transform and send chunks when posting; 0: all in the main thread (default: one per core, at most 8; none for a file under 1 MiB)', wholeNumber)
  .option('--worker-heap-mb <n>', "each send worker's V8 old-generation heap in MB (default 192; 2048 or more: faster, ~80 MB more memory)", positiveInt)
  .option('--gzip-level <n>', 'zlib level of the request bodies, 0-9 (default 1: least CPU; 6, posthog-node\'s own, sends ~20 % fewer bytes on a slow uplink)', gzipLevel)
  .option('--no-progress', 'no progress bar')
  .action(async (file: string, o) => {
    if (o.host && o.out) throw new InvalidArgumentError('give --host or --out, not both');
    const [{ Limits }, { importFile, LOCAL_CHUNK_RECORDS }] = await Promise.all([import('../core/settings'), import('./import')]);
    const limits = Limits.parse({
      chunkRecords: o.chunkRecords ?? LOCAL_CHUNK_RECORDS,
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
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      ...(o.workerHeapMb ? { workerHeap: { oldMb: o.workerHeapMb } } : {}),
      gzipLevel: o.gzipLevel,
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
      if (r.records.noTimestamp) console.log(`  ${r.records.noTimestamp} events had no timestamp: sent at the import's start, ${r.startedAt}`);
      if (r.records.onceEvents) console.log(`  ${r.records.onceEvents} once-ever events sent (e.g. $groupidentify)`);
      if (r.records.linksRefused || r.records.onceRefused) {
        console.log(`  refused by capture, in the rejected records: ${r.records.linksRefused ?? 0} identity links, ${r.records.onceRefused ?? 0} once-ever events`);
      }
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
    const [{ SQSClient }, { replayDlq }, { stackOutputs }] = await Promise.all([import('@aws-sdk/client-sqs'), import('../adapters/aws/dlq'), import('../adapters/aws/stack-outputs')]);
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
    const { formatPull, pullCommand } = await import('./pull');
    const res = await pullCommand({ type, ...o, progress: Boolean(o.progress) && Boolean(process.stderr.isTTY) });
    console.log(formatPull(o.name ?? type, res));
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
    const { deployedStatus, formatStatus, localStatus, pullSourcesText, statusJson } = await import('./status');
    const { stackOutputs } = await import('../adapters/aws/stack-outputs');
    if (!table && o.stack) table = (await stackOutputs(o.stack)).CheckpointTableName;
    if (o.stack && !table) throw new Error(`stack ${o.stack} has no CheckpointTableName output`);
    const opts = { stalledAfterMs: o.stalledAfter * 60_000 };
    const load = () => (table ? deployedStatus(table, opts) : localStatus(o.stateDir, opts));
    const files = o.watch
      ? await (await import('./status-watch')).watchStatus({ load, intervalMs: (o.watch === true ? 5 : positiveInt(o.watch)) * 1000, untilDone: true })
      : await load();
    console.log(o.json ? JSON.stringify(statusJson(files), null, 2) : formatStatus(files));
    const pulls = o.json ? undefined : await pullSourcesText(table ? { table } : { stateDir: o.stateDir });
    if (pulls) console.log(pulls);
    if (files.some((f) => !f.reconciled && f.manifest.status === 'reported')) process.exitCode = 1;
  });

// preview / estimate: the import's own decoding, detection and transform on a file's head; nothing is sent.
const previewOptions = (c: Command) =>
  c
    .argument('<file>', 'a local export file or s3://bucket/key')
    .addOption(new Option('--format <name>', 'input format (default: detected)').choices(['auto', ...FORMAT_NAMES]))
    .option('--config <file>', 'mapping config (JSON), as for import')
    .addOption(new Option('--person-mode <mode>', 'how person properties are applied').choices([...PERSON_MODES]))
    .option('--prefix <prefix>', 'for s3:// files: the drop prefix under which backfill.config.json files apply', 'posthog/')
    .option('--sample <n>', 'records to read and count', positiveInt, 10_000)
    .option('--all', 'read and count the whole file')
    .option('--chunk-records <n>', 'records per chunk', positiveInt)
    .option('--concurrency <n>', 'estimate: senders at once (CDK context senderConcurrency)', positiveInt, 4)
    .option('--events-per-minute <n>', 'estimate: the rate budget (CDK context eventsPerMinute)', positiveInt)
    .option('--in-flight <n>', 'estimate: /batch/ requests in flight per chunk (IN_FLIGHT)', positiveInt, 8)
    .option('--json', 'machine-readable output');

async function runPreview(file: string, o: Record<string, any>, show: { records: number; preview: boolean; estimate: boolean }) {
  const [{ Limits }, { previewFile, formatPreview }, { estimateFrom, formatEstimate }] = await Promise.all([import('../core/settings'), import('./preview'), import('./estimate')]);
  const limits = Limits.parse(o.chunkRecords ? { chunkRecords: o.chunkRecords } : {});
  const p = await previewFile(file, {
    config: o.config,
    mapping: { ...(o.format ? { format: o.format } : {}), ...(o.personMode ? { personMode: o.personMode } : {}) },
    records: show.records,
    sample: o.all ? 'all' : o.sample,
    limits,
    dropPrefix: o.prefix,
    // An estimate reads at least 16 MiB of the file, so a compressed file's share read is measured well.
    ...(show.estimate ? { minStoredBytes: 16 * 1024 * 1024 } : {}),
  });
  const e = show.estimate ? estimateFrom(p, { concurrency: o.concurrency, eventsPerMinute: o.eventsPerMinute, inFlight: o.inFlight, limits }) : undefined;
  if (o.json) console.log(JSON.stringify({ ...(show.preview ? { preview: p } : { file: p.file, format: p.format, sample: p.sample }), ...(e ? { estimate: e } : {}) }, null, 2));
  else {
    if (show.preview) console.log(formatPreview(p));
    if (e) console.log(`${show.preview ? '\n' : ''}${formatEstimate(p, e)}`);
  }
  if (p.error && !p.sample.read) process.exitCode = 1;
}

previewOptions(
  program
    .command('preview')
    .description('show what FILE becomes: format, mapping, the first records beside their events and links, counts by outcome; sends nothing'),
)
  .option('--records <n>', 'records shown one by one', positiveInt, 5)
  .option('--estimate', 'add the estimate (records, events, time, AWS cost)')
  .action((file: string, o) => runPreview(file, o, { records: o.records, preview: true, estimate: Boolean(o.estimate) }));

previewOptions(
  program.command('estimate').description('records, events, links, time at the configured concurrency and rate budget, and AWS cost of importing FILE'),
).action((file: string, o) => runPreview(file, o, { records: 0, preview: false, estimate: true }));

program
  .command('verify')
  .description("ask PostHog (query API) how many distinct events it holds per day and event for each finished file, and list every difference from our reports")
  .option('--state-dir <dir>', 'local imports: checkpoints and reports', '.backfill')
  .option('--stack <name>', 'deployed: read the reports from this stack\'s drop bucket')
  .option('--bucket <name>', 'deployed: the drop bucket (default: stack output DropBucketName)')
  .requiredOption('--host <url>', 'PostHog app host, e.g. https://us.posthog.com')
  .requiredOption('--project-id <n>', 'PostHog project id', positiveInt)
  .option('--origin-property <name>', 'the property naming each event\'s file (mapping originProperty)', '$import_source')
  .addOption(new Option('--page-size <n>', 'rows per query page (PostHog returns at most 50,000)').argParser(positiveInt).default(10_000).hideHelp())
  .option('--json', 'machine-readable output')
  .action(async (o) => {
    const key = process.env.POSTHOG_PERSONAL_API_KEY;
    if (!key) throw new Error('set POSTHOG_PERSONAL_API_KEY to a personal API key with the query:read scope');
    const [{ stackOutputs }, { PostHogQuery }, { bucketReports, formatVerify, localReports, verifyReports }] = await Promise.all([
      import('../adapters/aws/stack-outputs'),
      import('../adapters/posthog-query'),
      import('./verify'),
    ]);
    let bucket = o.bucket as string | undefined;
    if (!bucket && o.stack) bucket = (await stackOutputs(o.stack)).DropBucketName;
    if (o.stack && !bucket) throw new Error(`stack ${o.stack} has no DropBucketName output`);
    const reports = bucket ? await bucketReports(bucket) : await localReports(o.stateDir);
    const client = new PostHogQuery({ host: o.host, projectId: o.projectId, personalApiKey: key });
    const verdicts = await verifyReports(reports, client, { originProperty: o.originProperty, pageSize: o.pageSize });
    console.log(o.json ? JSON.stringify({ agrees: verdicts.every((v) => v.status === 'agrees'), files: verdicts, queries: client.requests, throttled: client.throttled }, null, 2) : formatVerify(verdicts, o.originProperty));
    process.exitCode = verdicts.every((v) => v.status === 'agrees') ? 0 : 1;
  });

program
  .command('upload')
  .description('stream export files into the drop prefix (multipart), each under the folder its format is detected by; a re-run skips files already uploaded')
  .argument('<files...>', 'local export files')
  .option('--stack <name>', 'deployed stack to read the drop location from', 'PosthogBackfill')
  .addOption(new Option('--bucket <name>', 'the drop bucket (default: stack output DropLocation)').env('BACKFILL_DROP_BUCKET'))
  .option('--prefix <prefix>', 'the drop prefix (default: from the stack output DropLocation, else posthog/)')
  .option('--folder <dir>', 'put every file in this folder under the prefix instead of one chosen by its format')
  .addOption(new Option('--part-size <mib>', 'MiB per part (at least 5)').argParser(positiveInt))
  .option('--no-progress', 'no progress bars')
  .option('--json', 'machine-readable output')
  .action(async (files: string[], o) => {
    let bucket = o.bucket as string | undefined;
    let prefix = o.prefix as string | undefined;
    const [{ stackOutputs }, { uploadFiles }] = await Promise.all([import('../adapters/aws/stack-outputs'), import('./upload')]);
    if (!bucket) {
      const loc = /^s3:\/\/([^/]+)\/(.*)$/.exec((await stackOutputs(o.stack)).DropLocation ?? '');
      if (!loc) throw new Error(`stack ${o.stack} has no DropLocation output; pass --bucket and --prefix`);
      bucket = loc[1]!;
      prefix ??= loc[2]!;
    }
    const interrupt = new AbortController();
    process.once('SIGINT', () => interrupt.abort());
    try {
      const res = await uploadFiles(files, {
        bucket,
        prefix: prefix ?? 'posthog/',
        ...(o.folder !== undefined ? { folder: o.folder } : {}),
        ...(o.partSize ? { partSize: o.partSize * 1024 * 1024 } : {}),
        progress: Boolean(o.progress) && Boolean(process.stderr.isTTY) && !o.json,
        signal: interrupt.signal,
      });
      if (o.json) console.log(JSON.stringify(res, null, 2));
      else for (const r of res) console.log(`${r.file} → s3://${bucket}/${r.key}: ${r.status === 'skipped' ? 'already there (same size and mtime), skipped' : `${r.status}, ${r.bytes.toLocaleString('en-US')} bytes`}${r.abortedStale ? ` (an interrupted earlier upload was aborted first)` : ''}`);
    } catch (err) {
      if (!interrupt.signal.aborted) throw err;
      console.error('backfill: upload interrupted; run the same command again: uploaded files are skipped, the interrupted one starts again from its beginning');
      process.exitCode = 130;
    }
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
  .addOption(new Option('--mapping-id <uuid>', "the senders' event source mapping, to lift a pause (default: stack output SenderEventSourceMappingId)").env('BACKFILL_EVENT_SOURCE_MAPPING'))
  .option('--keep-paused', 'only re-queue; leave the senders paused')
  .action(async (target: string | undefined, o) => {
    let { table, queueUrl } = o as { table?: string; queueUrl?: string };
    const [{ stackOutputs }, { LambdaClient }, { invokeContinuation }, { formatResume, resumeImports }] = await Promise.all([
      import('../adapters/aws/stack-outputs'),
      import('@aws-sdk/client-lambda'),
      import('../adapters/aws/continuation'),
      import('./resume'),
    ]);
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
    // `backfill pause` disabled the senders' event source: resuming turns it back on.
    if (!o.keepPaused) {
      const { liftPause, resolveTarget } = await import('./steer');
      const mapping = await resolveTarget({ stack: o.stack, mappingId: o.mappingId }, ['mappingId']).catch(() => undefined);
      if (mapping) console.log(`senders ${(await liftPause(mapping)).state === 'Enabled' ? 'running' : 'starting'} (event source enabled)`);
      else console.log('senders: no event source mapping found (pass --mapping-id to lift a pause)');
    }
  });

// Steering the deployed stack: no redeploy. `resume` (below) lifts a pause and re-queues what is left.
const steerTarget = (c: Command) =>
  c
    .addOption(new Option('--stack <name>', 'deployed stack to read the outputs from').default('PosthogBackfill'))
    .addOption(new Option('--mapping-id <uuid>', "the senders' event source mapping (default: stack output SenderEventSourceMappingId)").env('BACKFILL_EVENT_SOURCE_MAPPING'))
    .addOption(new Option('--table <name>', 'the checkpoint table (default: stack output CheckpointTableName)').env('BACKFILL_CHECKPOINT_TABLE'));

steerTarget(program.command('pause').description('stop the senders taking chunks (in-flight chunks finish; the rest wait in the queue); `resume` lifts it')).action(
  async (o) => {
    const { pauseSenders, resolveTarget } = await import('./steer');
    const s = await pauseSenders(await resolveTarget(o, ['mappingId']));
    console.log(`senders paused (event source ${s.state}); chunks wait in the queue. \`backfill resume\` lifts the pause.`);
  },
);

steerTarget(program.command('cancel').description('cancel one file: its remaining chunks are skipped, its report says cancelled').argument('<file>', 'file id or s3://bucket/key')).action(
  async (file: string, o) => {
    const { cancelFile, resolveTarget } = await import('./steer');
    const c = await cancelFile(await resolveTarget(o, ['table']), file);
    console.log(`${c.uri} (${c.fileId}): cancelled; senders skip its remaining chunks and its report will say cancelled`);
  },
);

steerTarget(program.command('set').description('change the events-per-minute budget and the sender concurrency of the running stack'))
  .option('--events-per-minute <n>', 'events per minute for all senders together (0: no budget)', (v: string) => (v === '0' ? 0 : positiveInt(v)))
  .option('--sender-concurrency <n>', 'at most N senders at once (2-1000)', positiveInt)
  .action(async (o) => {
    const { currentSettings, resolveTarget, setSettings } = await import('./steer');
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
