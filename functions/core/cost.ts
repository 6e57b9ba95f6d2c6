// The AWS cost model shared by `npm run bench` (request counts measured on moto) and
// `backfill estimate` (request counts per chunk from the latest bench run): prices, the Lambda
// time model and the assumptions, in one place.

/** us-east-1 list prices (USD), November 2026. */
export const PRICE = {
  region: 'us-east-1',
  lambdaGbSecondArm: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  sqsRequest: 0.4 / 1e6, // per 64 KB chunk of payload
  ddbWrite: 0.625 / 1e6, // on-demand write request unit
  ddbRead: 0.125 / 1e6, // on-demand read request unit
  s3Put: 0.005 / 1000, // PUT, COPY, POST, LIST
  s3Get: 0.0004 / 1000, // GET, HEAD
  s3GbMonth: 0.023,
  secretsCall: 0.05 / 10_000,
};

/** Assumptions stated under every figure the model gives. */
export const ASSUME = {
  memoryGb: 1, // both functions are deployed with 1024 MB
  posthogMsPerRequest: 400, // a 1000-event /batch/ request to PostHog Cloud, round trip and ingestion
  pairsPerEvent: 0.01, // distinct device↔user pairs: one per 100 events (bench; estimate counts them)
  chunksPerPair: 5, // chunks in which each pair shows up (each reads it once)
  eventsPerFile: 1_000_000, // one splitter run per file of this size
  chunksPerInvocation: 2, // the event source's batch size
  senderCpuMsPerChunk: 500, // when not measured: a 5,000-record chunk on one core
  splitterCpuMsPerMbGz: 40,
};

/** The vCPU share a function gets at this memory size (Lambda: one vCPU per 1,769 MB). */
export const vcpuShare = (memoryGb = ASSUME.memoryGb) => (memoryGb * 1024) / 1769;

/**
 * Seconds one sender invocation takes: its chunks' CPU time stretched to the function's vCPU
 * share, plus PostHog's round trips (`inFlight` requests at once per chunk).
 */
export function invocationSeconds(chunkRecords: number, inFlight: number, senderCpuMsPerChunk = ASSUME.senderCpuMsPerChunk, batchSize = 1000): number {
  const requestsPerChunk = Math.ceil(chunkRecords / batchSize);
  return ((ASSUME.chunksPerInvocation * senderCpuMsPerChunk) / vcpuShare() + Math.ceil(requestsPerChunk / inFlight) * ASSUME.posthogMsPerRequest) / 1000;
}

/** What an import uses, counted (bench) or modelled (estimate). */
export interface Usage {
  events: number;
  chunks: number;
  files: number;
  /** Seconds per sender invocation (`invocationSeconds`). */
  invocationSec: number;
  /** Splitter seconds for the whole input. */
  splitterSec: number;
  sqsRequests: number;
  ddbWru: number;
  ddbRru: number;
  /** Distinct device↔user pairs (the sent-alias table). */
  pairs: number;
  s3Puts: number;
  s3Gets: number;
  /** Staged bytes, kept about a day (deleted when their chunk is done; the old version lingers). */
  stagedGb: number;
  secretsCalls: number;
}

export interface Cost {
  region: string;
  memoryMb: number;
  lines: Array<[string, { detail: string; usd: number }]>;
  total: number;
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');

/** Prices a usage at list prices, line by line. */
export function priceUsage(u: Usage): Cost {
  const invocations = u.chunks / ASSUME.chunksPerInvocation + u.files;
  const lambdaGbS = ((u.chunks / ASSUME.chunksPerInvocation) * u.invocationSec + u.splitterSec) * ASSUME.memoryGb;
  const aliasWru = u.pairs * 2; // claim + confirm
  const aliasRru = u.pairs * ASSUME.chunksPerPair;
  const lines: Cost['lines'] = [
    ['Lambda compute', { detail: `${n(lambdaGbS)} GB-s (${u.invocationSec.toFixed(2)} s per ${ASSUME.chunksPerInvocation}-chunk invocation)`, usd: lambdaGbS * PRICE.lambdaGbSecondArm }],
    ['Lambda requests', { detail: `${n(invocations)} invocations`, usd: invocations * PRICE.lambdaRequest }],
    ['SQS', { detail: `${n(u.sqsRequests)} requests`, usd: u.sqsRequests * PRICE.sqsRequest }],
    ['DynamoDB checkpoints', { detail: `${n(u.ddbWru)} WRU, ${n(u.ddbRru)} RRU`, usd: u.ddbWru * PRICE.ddbWrite + u.ddbRru * PRICE.ddbRead }],
    ['DynamoDB sent-alias table', { detail: `${n(aliasWru)} WRU, ${n(aliasRru)} RRU`, usd: aliasWru * PRICE.ddbWrite + aliasRru * PRICE.ddbRead }],
    ['S3 requests', { detail: `${n(u.s3Puts)} PUT/LIST, ${n(u.s3Gets)} GET/HEAD`, usd: u.s3Puts * PRICE.s3Put + u.s3Gets * PRICE.s3Get }],
    ['S3 staging storage', { detail: `${u.stagedGb.toFixed(2)} GB for a day`, usd: u.stagedGb * PRICE.s3GbMonth * (1 / 30) }],
    ['Secrets Manager', { detail: `${n(u.secretsCalls)} calls`, usd: u.secretsCalls * PRICE.secretsCall }],
  ];
  return { region: PRICE.region, memoryMb: ASSUME.memoryGb * 1024, lines, total: lines.reduce((s, [, v]) => s + v.usd, 0) };
}

/**
 * AWS requests per chunk of 5,000 records, from the bench's counted run on moto (2026-11-25:
 * 10 M events = 2,000 chunks → 2,399 SQS, 11,575 WRU, 5,388 RRU, 2,395 PUT/LIST, 2,993
 * GET/HEAD, 200 Secrets Manager calls). `npm run bench -- --only cost` measures them again.
 */
export const PER_CHUNK = { sqs: 1.2, wru: 5.8, rru: 2.7, s3Puts: 1.2, s3Gets: 1.5, secrets: 0.1 };

export interface EstimateInput {
  events: number;
  records: number;
  /** Distinct device↔user pairs expected. */
  pairs: number;
  files: number;
  /** Raw (decompressed) bytes and gzipped bytes of the input. */
  rawBytes: number;
  gzBytes: number;
  chunkRecords: number;
  chunkBytes: number;
  inFlight: number;
}

/** The usage of an import not run yet, from its size and the per-chunk counts above. */
export function modelUsage(x: EstimateInput): Usage {
  const chunks = Math.max(1, Math.ceil(Math.max(x.records / x.chunkRecords, x.rawBytes / x.chunkBytes)));
  return {
    events: x.events,
    chunks,
    files: x.files,
    invocationSec: invocationSeconds(x.chunkRecords, x.inFlight),
    splitterSec: (ASSUME.splitterCpuMsPerMbGz * x.gzBytes) / 1e6 / vcpuShare() / 1000,
    sqsRequests: PER_CHUNK.sqs * chunks,
    ddbWru: PER_CHUNK.wru * chunks,
    ddbRru: PER_CHUNK.rru * chunks,
    pairs: x.pairs,
    s3Puts: PER_CHUNK.s3Puts * chunks + x.files,
    s3Gets: PER_CHUNK.s3Gets * chunks,
    // Staged gzipped at level 1: about the input's own gzipped size.
    stagedGb: x.gzBytes / 1e9,
    secretsCalls: PER_CHUNK.secrets * chunks,
  };
}

/**
 * Events per second the deployed senders reach: each of `concurrency` senders takes
 * `chunksPerInvocation` chunks per invocation, capped by the events-per-minute budget.
 */
export function sendRate(opts: { concurrency: number; chunkRecords: number; inFlight: number; eventsPerMinute?: number; eventsPerRecord: number }): { eventsPerSec: number; bound: 'concurrency' | 'rate budget' } {
  const perSender = (ASSUME.chunksPerInvocation * opts.chunkRecords * opts.eventsPerRecord) / invocationSeconds(opts.chunkRecords, opts.inFlight);
  const byConcurrency = opts.concurrency * perSender;
  const byBudget = opts.eventsPerMinute ? opts.eventsPerMinute / 60 : Infinity;
  return byBudget < byConcurrency ? { eventsPerSec: byBudget, bound: 'rate budget' } : { eventsPerSec: byConcurrency, bound: 'concurrency' };
}
