import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { SingleBar } from 'cli-progress';
import { FileCheckpoints } from '../adapters/local/file-checkpoints';
import { DirReports } from '../adapters/local/dir-reports';
import { FileLinks } from '../adapters/local/file-links';
import { FileSource } from '../adapters/local/file-source';
import { InProcessQueue, MemoryStaging } from '../adapters/local/memory';
import { DEFAULT_WORKER_HEAP, SendWorkers, type WorkerHeap } from '../adapters/local/send-workers';
import { NdjsonSink } from '../adapters/ndjson-sink';
import type { PostHogSinkOptions } from '../adapters/posthog-sink';
import type { RateBudget } from '../pipeline/ports';
import { formatByName } from '../core/formats';
import { fileIdentity } from '../core/identity';
import { mergeMapping, parseMapping, type MappingConfig } from '../core/mapping';
import type { ChunkMessage } from '../core/messages';
import type { FileReport } from '../core/report';
import type { Limits } from '../core/settings';
import type { EventSink } from '../pipeline/ports';
import { sendChunk } from '../pipeline/send';
import { splitFile } from '../pipeline/split';

export interface ImportOptions {
  host?: string;
  apiKey?: string;
  out?: string;
  /** Path of a mapping config file (JSON). */
  config?: string;
  /** Overrides on top of the config file (`--format`, `--person-mode`). */
  mapping?: Record<string, unknown>;
  stateDir: string;
  limits: Limits;
  /** Events per minute (local budget); unset: as fast as PostHog takes them. */
  eventsPerMinute?: number;
  /** Chunks being sent at once when posting (default: one per worker, two with one thread); an --out file always takes one. */
  chunksInFlight?: number;
  /**
   * Worker threads that transform and send chunks when posting (0: this thread does it all;
   * default: defaultWorkers of the file's size). An --out file is written in chunk order by this thread.
   */
  workers?: number;
  /** Each send worker's heap (see SendWorkers); what is not given is the default. */
  workerHeap?: Partial<WorkerHeap>;
  /** The send worker's script (default: send-worker beside this module). */
  workerScript?: string | URL;
  /** Attempts per chunk before the import stops (a re-run continues from there). */
  attempts: number;
  retryDelayMs: number;
  /** zlib level of the bodies posted (default: the sink's). */
  gzipLevel?: number;
  progress: boolean;
}

export interface ImportResult {
  report: FileReport | undefined;
  reportPath?: string;
  out?: string;
  alreadyDone: boolean;
  /** Worker threads that sent chunks (0: this thread). */
  workers: number;
}

/**
 * Send worker threads when posting: one per core (README, Performance: on 2 cores, medians of 3
 * rounds, 1.03-1.34x the main thread alone at 0 ms round trip and 1.25-1.37x at 50 ms; one
 * worker alone was no faster).
 */
export const DEFAULT_WORKERS = Math.min(availableParallelism(), 8);

/**
 * Below this many bytes on disk a file is sent by this thread unless `--workers` says otherwise:
 * a worker takes ~0.2-0.3 s to start (its own isolate loading the same code), as long as the
 * whole import of such a file takes (README, Performance: a one-record import).
 */
export const WORKERS_FROM_BYTES = 1024 * 1024;

export const defaultWorkers = (bytes: number): number => (bytes < WORKERS_FROM_BYTES ? 0 : DEFAULT_WORKERS);

/**
 * Chunks in flight at once: two per send thread, so each thread transforms one chunk while the
 * other is on the wire (README, Performance: at 50 ms round trip two workers were 1.08x the main
 * thread alone with one chunk each, 1.35-1.37x with two). Memory is per chunk in flight, hence
 * the smaller local chunks below.
 */
function chunksInFlight(threads: number): number {
  return 2 * Math.max(threads, 1);
}

/**
 * Records per chunk in local mode: fewer than the deployed splitter's 5,000, as memory is per
 * chunk in flight (README, Performance: with two chunks per worker a 1 GB import peaked at 261 MB
 * with 1,500, 246-256 MB with 1,000, 232 MB with 750). Uuids do not depend on it, and a resumed
 * import cuts as its manifest says.
 */
export const LOCAL_CHUNK_RECORDS = 750;

/**
 * One machine, the same core as the Lambdas: split into chunks, hand each to the sender through
 * an in-process queue, checkpoint each done chunk in a local file. Interrupted, it resumes.
 */
export async function importFile(path: string, opts: ImportOptions): Promise<ImportResult> {
  const abs = resolve(path);
  let bar: SingleBar | undefined;
  const source = await FileSource.open(abs, (n) => bar?.update(n));
  const st = await stat(abs);
  // A bad config is an error before anything is read or sent.
  const mapping = await loadMapping(opts);
  // Progress and "sent once" belong to a destination: the same file posted to another project,
  // or written to --out first, is a separate import with its own checkpoints and links.
  const out = opts.host ? undefined : resolve(opts.out ?? defaultOut(path));
  const destination = opts.host ? `${opts.host.replace(/\/+$/, '')}#${createHash('sha256').update(opts.apiKey ?? '').digest('hex').slice(0, 16)}` : `file:${out}`;
  const destId = createHash('sha256').update(destination).digest('hex').slice(0, 12);
  const fileId = fileIdentity(abs, `${st.size}:${st.mtimeMs}:${destination}`);
  const checkpoints = await FileCheckpoints.load(join(opts.stateDir, `${fileId}.json`));
  const reports = new DirReports(join(opts.stateDir, 'reports'));
  const file = { uri: abs };

  let sink: EventSink | undefined;
  let ndjson: NdjsonSink | undefined;
  let sinkOptions: Omit<PostHogSinkOptions, 'acquire'> | undefined;
  let budget: RateBudget | undefined;
  if (opts.host) {
    if (!opts.apiKey) throw new Error('--api-key (or POSTHOG_API_KEY) is required with --host');
    if (opts.eventsPerMinute) budget = new (await import('../adapters/rate-budget')).MemoryRateBudget(opts.eventsPerMinute, 60_000);
    sinkOptions = { host: opts.host, apiKey: opts.apiKey, batchSize: opts.limits.batchSize, retryDelayMs: opts.retryDelayMs, gzipLevel: opts.gzipLevel };
  } else {
    ndjson = new NdjsonSink(out!);
    await ndjson.open(checkpoints.outBytes);
    checkpoints.trackOutput(() => ndjson!.size());
    sink = ndjson;
  }
  const workers = sinkOptions ? (opts.workers ?? defaultWorkers(st.size)) : 0;
  if (sinkOptions && workers === 0) {
    const { PostHogSink } = await import('../adapters/posthog-sink');
    sink = new PostHogSink({ ...sinkOptions, ...(budget ? { acquire: (n: number) => budget.acquire(n) } : {}) });
  }

  const staging = new MemoryStaging();
  const links = await FileLinks.load(join(opts.stateDir, `sent-aliases-${destId}.json`));
  const origin = basename(abs);
  const pool = sink
    ? undefined
    : new SendWorkers(
        opts.workerScript ?? sendWorkerScript(),
        workers,
        { sink: sinkOptions!, budget: Boolean(budget), reportsDir: reports.dir, origin },
        { checkpoints, links, ...(budget ? { budget } : {}) },
        { ...DEFAULT_WORKER_HEAP, ...opts.workerHeap },
      );
  const sendDeps = { checkpoints, staging, reports, sink: sink!, links, format: formatByName, origin: () => origin };
  const consume = async (msg: ChunkMessage) => {
    const body = await staging.get(msg.staged);
    for (let attempt = 1; ; attempt++) {
      try {
        if (pool) await pool.send(msg, body);
        else {
          await staging.put(msg.staged, body); // sendChunk takes it; put back for a retry
          await sendChunk(msg, sendDeps);
        }
        return;
      } catch (err) {
        if (attempt >= opts.attempts) {
          throw new Error(`chunk ${msg.chunk} (from line ${msg.firstLine}) failed ${attempt} times: ${(err as Error).message}; run the same command again to continue`);
        }
        await new Promise((r) => setTimeout(r, opts.retryDelayMs * attempt));
      }
    }
  };

  const { SingleBar, Presets } = opts.progress ? await import('cli-progress') : ({} as typeof import('cli-progress'));
  bar = opts.progress ? new SingleBar({ format: 'importing [{bar}] {percentage}% | {value}/{total} bytes | {eta_formatted} left', hideCursor: true }, Presets.shades_classic) : undefined;
  bar?.start(st.size, 0);
  // Posting, chunksInFlight() at once; an --out file is written in chunk order, one at a time.
  const queue = new InProcessQueue(consume, opts.host ? (opts.chunksInFlight ?? chunksInFlight(workers)) : 1);
  try {
    let result;
    let resumed = 0;
    const stagingKey = (id: string, i: number) => `${id}/${i}`;
    try {
      result = await splitFile(file, fileId, source, async () => mapping, { checkpoints, staging, queue, reports, limits: opts.limits, stagingKey });
      // Split before, but chunks left undone (a run that stopped at its last chunks): their
      // bodies were in the stopped run's memory, so they are cut again from the file and sent.
      const m = await checkpoints.getManifest();
      if (result.skipped === 'already-split' && m && m.status === 'split') {
        const { requeuePending } = await import('../pipeline/resume');
        resumed = (await requeuePending(m, { checkpoints, staging, queue, reports, openSource: async () => source, stagingKey, limits: opts.limits })).requeued;
      }
    } catch (err) {
      await queue.drain().catch(() => undefined);
      throw err;
    }
    await queue.drain();
    bar?.update(st.size);
    bar?.stop();
    const manifest = await checkpoints.getManifest();
    const report = manifest?.status === 'reported' ? await reports.read(fileId) : undefined;
    return {
      report,
      reportPath: join(opts.stateDir, 'reports', `${fileId}.report.json`),
      ...(out ? { out } : {}),
      alreadyDone: result.skipped === 'already-split' && !resumed,
      workers: pool ? workers : 0,
    };
  } finally {
    bar?.stop();
    await ndjson?.close();
    await pool?.close();
    links.close();
  }
}

// Beside this module: the TypeScript source when run through tsx, dist/send-worker.js when built.
function sendWorkerScript(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './send-worker.ts' : './send-worker.js', import.meta.url);
}

/** The mapping of a local import: `--config` overlaid by the command line (preview uses it too). */
export async function loadMapping(opts: Pick<ImportOptions, 'config' | 'mapping'>): Promise<MappingConfig> {
  let file: Record<string, unknown> = {};
  if (opts.config) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(opts.config, 'utf8'));
    } catch (err) {
      throw new Error(`${opts.config}: cannot read mapping config: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${opts.config}: invalid mapping config: not a JSON object`);
    file = raw as Record<string, unknown>;
  }
  return parseMapping(mergeMapping(file, opts.mapping), opts.config ?? 'command line');
}

function defaultOut(path: string): string {
  return `${basename(path).replace(/(\.jsonl|\.ndjson|\.json)?(\.gz)?$/, '')}.posthog.ndjson`;
}
