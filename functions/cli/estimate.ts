import { ASSUME, modelUsage, priceUsage, sendRate, type Cost } from '../core/cost';
import type { Limits } from '../core/settings';
import type { PreviewResult } from './preview';

export interface EstimateOptions {
  /** Senders at once (CDK context `senderConcurrency`, default 4). */
  concurrency: number;
  /** The events-per-minute budget, if any (CDK context `eventsPerMinute`). */
  eventsPerMinute?: number;
  /** /batch/ requests in flight per chunk (IN_FLIGHT, default 8). */
  inFlight: number;
  limits: Limits;
}

export interface Estimate {
  /** Whether the figures are the file's own (whole file read) or extrapolated from a sample. */
  exact: boolean;
  /** Share of the file's stored bytes the sample covers. */
  sampledShare: number;
  records: number;
  events: number;
  /** $identify events for device↔user pairs: at most this many (pairs repeat across the file). */
  links: number;
  chunks: number;
  rawBytes: number;
  eventsPerSec: number;
  bound: 'concurrency' | 'rate budget';
  seconds: number;
  cost: Cost;
  assumptions: string[];
}

// Staging compresses chunks at gzip level 1: about this share of the raw bytes for JSON exports.
const GZIP1_RATIO = 0.14;

/** Records, events, links, time and AWS cost of importing the previewed file, deployed. */
export function estimateFrom(p: PreviewResult, o: EstimateOptions): Estimate {
  const s = p.sample;
  const share = s.complete ? 1 : Math.min(1, s.bytesRead / Math.max(1, p.size));
  const scale = share > 0 ? 1 / share : 0;
  const records = Math.round(s.read * scale);
  const events = Math.round(s.events * scale);
  const links = Math.round(s.links * scale);
  const rawBytes = Math.round(s.rawBytes * scale);
  const compressed = p.size < rawBytes * 0.8;
  const gzBytes = compressed ? p.size : rawBytes * GZIP1_RATIO;
  const usage = modelUsage({
    events: events + links,
    records,
    pairs: links,
    files: 1,
    rawBytes,
    gzBytes,
    chunkRecords: o.limits.chunkRecords,
    chunkBytes: o.limits.chunkBytes,
    inFlight: o.inFlight,
  });
  const rate = sendRate({
    concurrency: o.concurrency,
    chunkRecords: o.limits.chunkRecords,
    inFlight: o.inFlight,
    eventsPerRecord: s.read ? (s.events + s.links) / s.read : 1,
    ...(o.eventsPerMinute ? { eventsPerMinute: o.eventsPerMinute } : {}),
  });
  return {
    exact: s.complete,
    sampledShare: share,
    records,
    events,
    links,
    chunks: usage.chunks,
    rawBytes,
    eventsPerSec: rate.eventsPerSec,
    bound: rate.bound,
    seconds: (events + links) / Math.max(1e-9, rate.eventsPerSec),
    cost: priceUsage(usage),
    assumptions: [
      s.complete ? 'counts are the whole file\'s' : `counts extrapolated from ${s.read.toLocaleString('en-US')} records (${(100 * share).toFixed(1)} % of the stored bytes); links are an upper bound`,
      `${o.concurrency} senders, ${ASSUME.chunksPerInvocation} chunks of ${o.limits.chunkRecords.toLocaleString('en-US')} records each per invocation, ${o.inFlight} /batch/ requests in flight per chunk, ${ASSUME.posthogMsPerRequest} ms per request to PostHog, ${ASSUME.senderCpuMsPerChunk} ms CPU per chunk at ${(1024 * ASSUME.memoryGb)} MB`,
      o.eventsPerMinute ? `rate budget ${o.eventsPerMinute.toLocaleString('en-US')} events/minute` : 'no rate budget',
      'AWS requests per chunk from the latest bench run (`npm run bench -- --only cost`); us-east-1 list prices; not included: data transfer out, CloudWatch logs',
    ],
  };
}

const num = (v: number) => Math.round(v).toLocaleString('en-US');

export function formatEstimate(p: PreviewResult, e: Estimate): string {
  const out = [
    `${p.file}: ${e.exact ? '' : 'about '}${num(e.records)} records → ${num(e.events)} events + up to ${num(e.links)} identity links, ${num(e.chunks)} chunks`,
    `  time   ${duration(e.seconds)} at ${num(e.eventsPerSec)} events/s (bound by ${e.bound})`,
    `  cost   $${e.cost.total.toFixed(e.cost.total < 1 ? 3 : 2)} on AWS (${e.cost.region}, Lambda ${e.cost.memoryMb} MB arm64)`,
  ];
  for (const [k, v] of e.cost.lines) out.push(`         ${k.padEnd(26)} ${v.detail.padEnd(52)} $${v.usd.toFixed(4)}`);
  for (const a of e.assumptions) out.push(`  note   ${a}`);
  return out.join('\n');
}

function duration(sec: number): string {
  if (!Number.isFinite(sec)) return 'never';
  if (sec < 90) return `${Math.ceil(sec)} s`;
  if (sec < 5400) return `${Math.round(sec / 60)} min`;
  if (sec < 48 * 3600) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86400).toFixed(1)} days`;
}
