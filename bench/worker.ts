// One measured path per process (fresh heap, own peak RSS). Reads its job from IPC, answers
// with counts, wall time, CPU time and peak RSS.
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { gunzipSync, gzip, gzipSync, createGunzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
import { PostHog } from 'posthog-node';
import { S3Client } from '@aws-sdk/client-s3';
import { S3Staging } from '../functions/adapters/aws/s3';
import { DirReports } from '../functions/adapters/local/dir-reports';
import { FileCheckpoints } from '../functions/adapters/local/file-checkpoints';
import { FileLinks } from '../functions/adapters/local/file-links';
import { BaselineLinks } from './baseline-links';
import { linkKey } from '../functions/core/links';
import { FileSource } from '../functions/adapters/local/file-source';
import { MemoryStaging } from '../functions/adapters/local/memory';
import { PostHogSink } from '../functions/adapters/posthog-sink';
import { importFile, LOCAL_CHUNK_RECORDS } from '../functions/cli/import';
import { formatByName } from '../functions/core/formats';
import type { ChunkMessage } from '../functions/core/messages';
import { Limits } from '../functions/core/settings';
import { sendChunk } from '../functions/pipeline/send';
import { splitFile } from '../functions/pipeline/split';
import { recordsOf } from '../functions/core/chunks';
import { parseMapping } from '../functions/core/mapping';
import { transformRecords } from '../functions/core/transform';

export type Job =
  | { mode: 'naive' | 'local' | 'sender' | 'parts'; file: string; host: string; inFlight?: number; workers?: number; workerScript?: string; workerHeapMb?: number }
  | { mode: 'floor'; file: string; gzipLevel?: number }
  | { mode: 'split'; file: string }
  | { mode: 'pairs'; pairs: number; table?: 'current' | 'v1' };

export interface Measured {
  mode: Job['mode'];
  records: number;
  events: number;
  /** $identify events sent besides the records' own. */
  links?: number;
  ms: number;
  cpuMs: number;
  maxRssMb: number;
  /** parts: time in our transform, and in posthog-node's send of the transformed events. */
  transformMs?: number;
  sendMs?: number;
  /** sender: wall time of each chunk. */
  chunkMs?: number[];
  chunkRecords?: number;
  /** pairs: wall and CPU time inside claim and confirm alone (the keys are made outside it). */
  tableMs?: number;
  tableCpuMs?: number;
}

const KEY = 'phc_bench';

async function naive(file: string, host: string): Promise<{ records: number; events: number }> {
  // As PostHog's migration guide has it: capture per record with the client's defaults, then shut down.
  const client = new PostHog(KEY, { host, historicalMigration: true });
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  let records = 0;
  for await (const line of lines) {
    if (!line) continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    client.capture({
      distinctId: String(r.user_id ?? r.device_id),
      event: String(r.event_type),
      properties: { ...(r.event_properties as object), $device_id: r.device_id },
      timestamp: new Date(String(r.event_time).replace(' ', 'T') + 'Z'),
    });
    records++;
  }
  await client.shutdown(120_000);
  return { records, events: records };
}

async function local(file: string, host: string, workers?: number, workerScript?: string, workerHeapMb?: number): Promise<{ records: number; events: number; links: number }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'bench-state-'));
  try {
    const res = await importFile(file, { host, apiKey: KEY, stateDir, limits: Limits.parse({ chunkRecords: LOCAL_CHUNK_RECORDS }), attempts: 3, retryDelayMs: 100, progress: false, workers, workerScript, ...(workerHeapMb ? { workerHeap: { oldMb: workerHeapMb } } : {}) });
    return { records: res.report!.records.read, events: res.report!.records.events, links: res.report!.records.links };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** Splits first (untimed), then sends chunk after chunk as one sender Lambda would. */
async function sender(file: string, host: string, inFlight?: number): Promise<{ records: number; events: number; links: number; chunkMs: number[]; chunkRecords: number; start: number; cpu: NodeJS.CpuUsage }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'bench-state-'));
  const staging = new MemoryStaging();
  const checkpoints = await FileCheckpoints.load(join(stateDir, 'cp.json'));
  const reports = new DirReports(join(stateDir, 'reports'));
  const messages: ChunkMessage[] = [];
  const limits = Limits.parse({});
  const src = await FileSource.open(file);
  await splitFile({ uri: file }, 'bench', src, async () => parseMapping({}, 'bench'), {
    checkpoints,
    staging,
    queue: { send: async (m) => void messages.push(...m) },
    reports,
    limits,
    stagingKey: (id, i) => `${id}/${i}`,
  });
  const deps = {
    checkpoints,
    staging,
    reports,
    sink: new PostHogSink({ host, apiKey: KEY, batchSize: limits.batchSize, ...(inFlight ? { inFlight } : {}) }),
    links: await FileLinks.load(join(stateDir, 'links.json')),
    format: formatByName,
    origin: () => 'bench',
  };
  const start = performance.now();
  const cpu = process.cpuUsage();
  const chunkMs: number[] = [];
  let records = 0;
  let events = 0;
  let links = 0;
  // Two chunks at a time: the deployed event source hands a sender batches of 2 messages, which
  // Powertools processes in parallel.
  const one = async (m: ChunkMessage) => {
    const t = performance.now();
    const out = await sendChunk(m, deps);
    chunkMs.push(performance.now() - t);
    if (out.status === 'sent') {
      records += out.stats.read;
      events += out.stats.events;
      links += out.stats.links;
    }
  };
  for (let i = 0; i < messages.length; i += 2) await Promise.all(messages.slice(i, i + 2).map(one));
  await rm(stateDir, { recursive: true, force: true });
  return { records, events, links, chunkMs, chunkRecords: limits.chunkRecords, start, cpu };
}

/** Where a chunk's time goes: our transform alone, then posthog-node's send of its events. */
async function parts(file: string, host: string): Promise<{ records: number; events: number; transformMs: number; sendMs: number }> {
  const text = gunzipSync(readFileSync(file));
  const ctx = { origin: 'bench', now: Date.now(), mapping: parseMapping({}, 'bench') };
  const sink = new PostHogSink({ host, apiKey: KEY, batchSize: Limits.parse({}).batchSize });
  let transformMs = 0;
  let sendMs = 0;
  let records = 0;
  let events = 0;
  for (let start = 0; start < text.length; ) {
    let end = start;
    for (let k = 0; k < 5000 && end < text.length; k++) {
      const nl = text.indexOf(10, end);
      end = nl === -1 ? text.length : nl + 1;
    }
    const body = text.subarray(start, end);
    start = end;
    let t = performance.now();
    const res = transformRecords(recordsOf(body, 1), formatByName('amplitude'), ctx);
    transformMs += performance.now() - t;
    t = performance.now();
    await sink.send(res.events, res.eventBytes);
    sendMs += performance.now() - t;
    records += res.read;
    events += res.events.length;
  }
  return { records, events, transformMs, sendMs };
}

/**
 * The unavoidable work on one core: gunzip, parse every line, serialize and gzip batches of 1000
 * (at zlib's default level, posthog-node's own, unless told).
 */
function floor(file: string, level?: number): { records: number; events: number } {
  const text = gunzipSync(readFileSync(file)).toString('utf8');
  let records = 0;
  let batch: unknown[] = [];
  const flush = () => {
    gzipSync(JSON.stringify({ api_key: KEY, historical_migration: true, batch }), level === undefined ? {} : { level });
    batch = [];
  };
  for (let i = 0, j = text.indexOf('\n'); j !== -1; i = j + 1, j = text.indexOf('\n', i)) {
    if (j === i) continue;
    batch.push(JSON.parse(text.slice(i, j)));
    records++;
    if (batch.length === 1000) flush();
  }
  if (batch.length) flush();
  return { records, events: records };
}

/** The splitter's streaming path: read, gunzip, cut, compress for staging as S3Staging does (level 1, 4 at once), queue; only the upload is left out. */
async function split(file: string): Promise<{ records: number; events: number }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'bench-state-'));
  const checkpoints = await FileCheckpoints.load(join(stateDir, 'cp.json'));
  let chunks = 0;
  const res = await splitFile({ uri: file }, 'bench', await FileSource.open(file), async () => parseMapping({}, 'bench'), {
    checkpoints,
    staging: { inFlight: new S3Staging(new S3Client({}), "bench").inFlight, put: async (_k, body) => void (await gzipAsync(body, { level: 1 })), get: async () => Buffer.alloc(0) },
    queue: { send: async (m) => void (chunks += m.length) },
    reports: new DirReports(join(stateDir, 'reports')),
    limits: Limits.parse({}),
    stagingKey: (id, i) => `${id}/${i}`,
  });
  await rm(stateDir, { recursive: true, force: true });
  return { records: res.records, events: 0 };
}

/**
 * The local sent-alias table with many device↔user pairs: chunks of 500 new pairs claimed and
 * confirmed one after another, as a long local import does; the table lives in a temp dir.
 * `v1`: the table as it was before (bench/baseline-links.ts), for a side-by-side ratio.
 */
async function pairs(n: number, table: 'current' | 'v1' = 'current'): Promise<{ records: number; events: number; tableMs: number; tableCpuMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-pairs-'));
  try {
    const path = join(dir, 'sent-aliases.json');
    const links = table === 'v1' ? BaselineLinks.open(`${path}.table`) : await FileLinks.load(path);
    let tableMs = 0;
    let tableCpuMs = 0;
    for (let i = 0, chunk = 0; i < n; i += 500, chunk++) {
      const keys = Array.from({ length: Math.min(500, n - i) }, (_, j) => linkKey({ anon: `device-${i + j}`, user: `user-${(i + j) >> 1}` }));
      const t = performance.now();
      const c = process.cpuUsage();
      const mine = await links.claim(keys, `bench#${chunk}`);
      await links.confirm(mine, `bench#${chunk}`);
      const used = process.cpuUsage(c);
      tableCpuMs += (used.user + used.system) / 1000;
      tableMs += performance.now() - t;
      if (mine.length !== keys.length) throw new Error(`pairs: chunk ${chunk} got ${mine.length} of ${keys.length} new pairs`);
    }
    // Every pair once, ever: another owner claims none of them, first or last.
    const again = await links.claim([linkKey({ anon: 'device-0', user: 'user-0' }), linkKey({ anon: `device-${n - 1}`, user: `user-${(n - 1) >> 1}` })], 'other#0');
    if (again.length || links.size !== n) throw new Error(`pairs: ${links.size} stored, ${again.length} claimed again`);
    links.close();
    return { records: n, events: n, tableMs, tableCpuMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.once('message', async (job: Job) => {
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  let out: Omit<Measured, 'mode' | 'ms' | 'cpuMs' | 'maxRssMb'>;
  let t0 = start;
  let c0 = cpu0;
  if (job.mode === 'naive') out = await naive(job.file, job.host);
  else if (job.mode === 'local') out = await local(job.file, job.host, job.workers, job.workerScript, job.workerHeapMb);
  else if (job.mode === 'sender') {
    const s = await sender(job.file, job.host, job.inFlight);
    t0 = s.start;
    c0 = s.cpu;
    out = { records: s.records, events: s.events, links: s.links, chunkMs: s.chunkMs, chunkRecords: s.chunkRecords };
  } else if (job.mode === 'parts') out = await parts(job.file, job.host);
  else if (job.mode === 'pairs') out = await pairs(job.pairs, job.table);
  else if (job.mode === 'floor') out = floor(job.file, job.gzipLevel);
  else out = await split(job.file);
  const cpu = process.cpuUsage(c0);
  const result: Measured = {
    mode: job.mode,
    ...out,
    ms: performance.now() - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
  process.send!(result, () => process.exit(0));
});
