import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { awsClients } from '../adapters/aws/clients';
import { mappingFor } from '../adapters/aws/mapping-config';
import { S3Source } from '../adapters/aws/s3';
import { FileSource } from '../adapters/local/file-source';
import { planChunks, recordsOf, type PlannedChunk } from '../core/chunks';
import { detectFormat, pathHint } from '../core/detect';
import type { PostHogEvent } from '../core/event';
import { formatByName } from '../core/formats';
import type { FormatName } from '../core/formats/names';
import type { Format, OnceEvent, TransformContext } from '../core/formats/types';
import { firstLine, openParts, type ByteSource, type DecodeOptions, type RecordUnit } from '../core/input';
import { identifyEvent, linkKey } from '../core/links';
import { mergeMapping, type MappingConfig } from '../core/mapping';
import type { Limits } from '../core/settings';
import { transformRecords, type RawRecord, type TransformResult } from '../core/transform';
import { loadMapping } from './import';

// Preview runs the import's own pieces (decoding, detection, chunk cutting, transform, links) on
// the head of a file, and sends nothing, stages nothing and writes no checkpoint.

export interface PreviewOptions {
  /** Mapping config file (JSON) and command-line overrides, as `import` takes them. */
  config?: string;
  mapping?: Record<string, unknown>;
  /** Records shown one by one. */
  records: number;
  /** Records counted (at least `records`); `all` reads the whole file. */
  sample: number | 'all';
  limits: Limits;
  /** For s3:// targets: the stack's drop prefix, where `backfill.config.json` files are looked up. */
  dropPrefix?: string;
  /**
   * Read on past the sample until this many stored bytes are read (estimates of compressed
   * files: read-ahead makes the share of a small sample look larger than it is).
   */
  minStoredBytes?: number;
}

/** One source record and what it becomes. */
export interface RecordView {
  n: number;
  part?: string;
  /** The record's text, clipped. */
  text: string;
  outcome: 'sent' | 'rejected' | 'filtered' | 'duplicate';
  code?: string;
  reason?: string;
  rule?: string;
  events: PostHogEvent[];
  /** `$identify` events for the device↔user links the record shows (sent once ever). */
  links: PostHogEvent[];
  /** Events sent once ever, by key (e.g. a group's state). */
  once: PostHogEvent[];
}

export interface SampleCounts {
  read: number;
  sent: number;
  rejected: number;
  filtered: number;
  duplicates: number;
  events: number;
  noTimestamp: number;
  /** Distinct device↔user pairs (each becomes one `$identify`, once ever). */
  links: number;
  once: number;
  byReason: Record<string, number>;
  byFilter: Record<string, number>;
  byEvent: Record<string, number>;
  firstTimestamp?: string;
  lastTimestamp?: string;
}

export interface PreviewResult {
  file: string;
  /** Bytes of the file as stored (compressed or not). */
  size: number;
  format: string;
  detected: boolean;
  unit: RecordUnit;
  mapping: MappingConfig;
  mappingSource: string;
  origin: string;
  records: RecordView[];
  sample: SampleCounts & {
    /** True when the whole file was read: the counts are the file's, not a sample's. */
    complete: boolean;
    /** Stored bytes read so far (what the sample covers of `size`), and their decoded size. */
    bytesRead: number;
    /** gzip or zip: `bytesRead` then runs ahead of the records by up to a read buffer. */
    compressed: boolean;
    rawBytes: number;
  };
  /** Parts (zip members) skipped, and why reading stopped early, if it did. */
  skipped: string[];
  error?: string;
  ms: number;
}

const TEXT_CLIP = 400;

export async function previewFile(target: string, opts: PreviewOptions): Promise<PreviewResult> {
  const started = performance.now();
  const { source, mapping, mappingSource, origin, hintPath } = await openTarget(target, opts);
  const counting = new CountingSource(source);
  const limit = opts.sample === 'all' ? Infinity : Math.max(opts.sample, opts.records);
  const ctx: TransformContext = { origin, now: Date.now(), mapping };

  const views: RecordView[] = [];
  const counts = emptyCounts();
  const pairs = new Set<string>();
  const skipped: string[] = [];
  let format: FormatName | undefined = mapping.format !== 'auto' ? mapping.format : undefined;
  const configured = format;
  let unit: RecordUnit = 'line';
  let rawBytes = 0;
  let oversizeBytes = 0;
  let complete = true;
  // Past the sample once enough records and enough stored bytes are read.
  const enoughBytes = () => counting.bytes >= (opts.minStoredBytes ?? 0);
  let error: string | undefined;

  try {
    parts: for await (const part of openParts(counting, decodeOptions(format, mapping))) {
      if (part.skipped) {
        skipped.push(`${part.name}: ${part.skipped}`);
        continue;
      }
      let bytes = part.bytes;
      if (!format || (configured && counts.read === 0)) {
        const first = await firstLine(bytes);
        bytes = first.stream;
        if (first.line === undefined) continue;
        format = resolveFormat(format, first.line, part.unit, part.name ?? hintPath);
      }
      unit = part.unit;
      const fmt = formatByName(format);
      for await (const chunk of planChunks(bytes, opts.limits)) {
        if (counts.read >= limit && enoughBytes()) {
          complete = false;
          break parts;
        }
        const taken = takeRecords(chunk, enoughBytes() ? Math.max(0, limit - counts.read) : Infinity);
        rawBytes += taken.cut ? taken.records.reduce((n, r) => n + Buffer.byteLength(r.text) + 1, 0) : chunk.body.length;
        for (const o of taken.oversize) oversizeBytes += o.bytes;
        if (taken.cut) complete = false;
        const result = transformRecords(taken.records, fmt, ctx);
        addCounts(counts, result, taken.oversize.length, pairs);
        if (taken.oversize.length) counts.byReason.record_too_large = (counts.byReason.record_too_large ?? 0) + taken.oversize.length;
        if (views.length < opts.records) views.push(...viewRecords(taken, result, fmt, ctx, part.name, opts.records - views.length));
        if (taken.cut) break parts;
      }
    }
  } catch (err) {
    // As in a real import: what was read counts; the preview says where and why it stopped.
    error = `${counts.read ? `reading stopped after ${counts.read} records: ` : ''}${(err as Error).message}`;
  }
  if (!format && !error) error = 'the file holds no records';
  return {
    file: target,
    size: source.size,
    format: format ?? 'unknown',
    detected: !configured,
    unit,
    mapping,
    mappingSource,
    origin,
    records: views,
    sample: { ...counts, complete: complete && !error, bytesRead: complete && !error ? source.size : storedRead(counting, unit, rawBytes + oversizeBytes, source.size), compressed: counting.compressed, rawBytes },
    skipped,
    ...(error ? { error } : {}),
    ms: performance.now() - started,
  };
}

async function openTarget(target: string, opts: PreviewOptions) {
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(target);
  if (s3) {
    const [, bucket, key] = s3 as unknown as [string, string, string];
    const { s3: client } = awsClients();
    const base = mergeMapping(opts.config ? await loadMapping({ config: opts.config }) : {}, opts.mapping);
    return {
      source: (await S3Source.open(client, bucket, key)) as ByteSource,
      // The deployed splitter's lookup: the nearest backfill.config.json over the stack's base.
      mapping: await mappingFor(client, bucket, key, opts.dropPrefix ?? '', base),
      mappingSource: `nearest backfill.config.json under s3://${bucket}/${opts.dropPrefix ?? ''}${opts.config ? `, over ${opts.config}` : ''}`,
      origin: target, // what the sender tags (the object's s3:// uri)
      hintPath: key,
    };
  }
  return {
    source: (await FileSource.open(target)) as ByteSource,
    mapping: await loadMapping({ config: opts.config, mapping: opts.mapping }),
    mappingSource: opts.config ?? 'defaults and command line',
    origin: basename(target), // what `backfill import` tags
    hintPath: target,
  };
}

/** The format a part is read as: the configured one (checked against the content) or detected. */
function resolveFormat(configured: FormatName | undefined, first: string, unit: RecordUnit, path: string): FormatName {
  if (!configured) {
    const found = detectFormat(first, unit, path);
    if (!found) throw new Error('cannot tell the format from the first record; set "format" in the mapping config or --format');
    return found;
  }
  const looks = detectFormat(first, unit, '');
  const family = (f: FormatName) => (f === 'posthog-export' ? 'posthog' : f === 'users' ? 'csv' : f);
  if (looks && family(looks) !== family(configured)) throw new Error(`the config says format "${configured}" but the first record looks like "${looks}"`);
  return configured;
}

// As the splitter decodes: CSV only when the format allows it.
function decodeOptions(format: FormatName | undefined, mapping: MappingConfig): DecodeOptions {
  const csv = format === 'csv' ? 'always' : format === undefined || format === 'users' ? 'auto' : 'never';
  return { csv, delimiter: mapping.csv.delimiter };
}

interface Taken {
  records: RawRecord[];
  oversize: PlannedChunk['oversize'];
  /** True when the sample ends inside this chunk. */
  cut: boolean;
}

/** The chunk's records (and oversize lines) in file order, up to `left` of them. */
function takeRecords(chunk: PlannedChunk, left: number): Taken {
  const records = recordsOf(chunk.body, chunk.firstLine);
  if (records.length + chunk.oversize.length <= left) return { records, oversize: chunk.oversize, cut: false };
  const lines = [...records.map((r) => r.n), ...chunk.oversize.map((o) => o.n)].sort((a, b) => a - b);
  const last = lines[left - 1] ?? 0;
  return { records: records.filter((r) => r.n <= last), oversize: chunk.oversize.filter((o) => o.n <= last), cut: true };
}

function addCounts(c: SampleCounts, r: TransformResult, oversize: number, pairs: Set<string>): void {
  const filtered = Object.values(r.filtered).reduce((a, b) => a + b, 0);
  c.read += r.read + oversize;
  c.rejected += r.rejected.length + oversize;
  c.filtered += filtered;
  c.duplicates += r.duplicates;
  c.sent += r.read - r.rejected.length - filtered - r.duplicates;
  c.events += r.events.length;
  for (const x of r.rejected) c.byReason[x.code] = (c.byReason[x.code] ?? 0) + 1;
  for (const [k, v] of Object.entries(r.filtered)) c.byFilter[k] = (c.byFilter[k] ?? 0) + v;
  for (const e of r.events) {
    c.byEvent[e.event] = (c.byEvent[e.event] ?? 0) + 1;
    if (e.timestamp === undefined) c.noTimestamp++;
    else {
      if (!c.firstTimestamp || e.timestamp < c.firstTimestamp) c.firstTimestamp = e.timestamp;
      if (!c.lastTimestamp || e.timestamp > c.lastTimestamp) c.lastTimestamp = e.timestamp;
    }
  }
  for (const l of r.links) {
    const k = linkKey(l);
    if (!pairs.has(k)) {
      pairs.add(k);
      c.links++;
    }
  }
  c.once += onceOf(r).length;
}

/**
 * Each record transformed on its own (the same transform), so its events, links and once-events
 * stand beside it; the chunk's own result says whether it was a repeat within the chunk.
 */
function viewRecords(taken: Taken, chunkResult: TransformResult, fmt: Format, ctx: TransformContext, part: string | undefined, max: number): RecordView[] {
  const sentLines = new Set(chunkResult.eventLines);
  const all: Array<RawRecord | { n: number; oversize: number }> = [...taken.records, ...taken.oversize.map((o) => ({ n: o.n, oversize: o.bytes }))].sort((a, b) => a.n - b.n);
  return all.slice(0, max).map((rec) => {
    const base = { n: rec.n, ...(part ? { part } : {}), events: [], links: [], once: [] };
    if ('oversize' in rec) {
      return { ...base, text: `(${rec.oversize} bytes, not read)`, outcome: 'rejected' as const, code: 'record_too_large', reason: `record is ${rec.oversize} bytes, over the per-record limit` };
    }
    const one = transformRecords([rec], fmt, ctx);
    const text = rec.text.length > TEXT_CLIP ? `${rec.text.slice(0, TEXT_CLIP)}…` : rec.text;
    const rejected = one.rejected[0];
    if (rejected) return { ...base, text, outcome: 'rejected' as const, code: rejected.code, reason: rejected.reason };
    const rule = Object.keys(one.filtered)[0];
    if (rule) return { ...base, text, outcome: 'filtered' as const, rule };
    return {
      ...base,
      text,
      outcome: one.events.length && !sentLines.has(rec.n) ? ('duplicate' as const) : ('sent' as const),
      events: one.events,
      links: one.links.map((l) => identifyEvent(l, ctx)),
      once: onceOf(one).map((o) => o.event),
    };
  });
}

// Once-ever events travel with the transform's result where the transform provides them.
function onceOf(r: TransformResult): OnceEvent[] {
  return (r as TransformResult & { once?: OnceEvent[] }).once ?? [];
}

function emptyCounts(): SampleCounts {
  return { read: 0, sent: 0, rejected: 0, filtered: 0, duplicates: 0, events: 0, noTimestamp: 0, links: 0, once: 0, byReason: {}, byFilter: {}, byEvent: {} };
}

/**
 * The stored bytes the sample covers. For a plain NDJSON file, the lines cut so far (exact);
 * otherwise the bytes read from the source, which run ahead of what was decoded by up to a read
 * buffer (about 1 MiB).
 */
function storedRead(src: CountingSource, unit: RecordUnit, lineBytes: number, size: number): number {
  return Math.min(size, !src.compressed && unit === 'line' ? lineBytes : src.bytes);
}

/** Counts the stored bytes read through a source (whole-file reads and zip range reads). */
class CountingSource implements ByteSource {
  bytes = 0;
  /** gzip or zip, from the first bytes. */
  compressed = false;
  constructor(private readonly inner: ByteSource) {}
  get uri() {
    return this.inner.uri;
  }
  get size() {
    return this.inner.size;
  }
  async open(): Promise<AsyncIterable<Buffer>> {
    const raw = await this.inner.open();
    const self = this;
    return (async function* () {
      for await (const b of raw) {
        if (self.bytes === 0) self.compressed = (b[0] === 0x1f && b[1] === 0x8b) || (b[0] === 0x50 && b[1] === 0x4b);
        self.bytes += (b as Buffer).length;
        yield b as Buffer;
      }
    })();
  }
  range(start: number, end: number): Readable {
    return this.inner.range(start, end).on('data', (b: Buffer) => (this.bytes += b.length));
  }
}

// ---- text output ----

const num = (v: number) => v.toLocaleString('en-US');
const list = (counts: Record<string, number>, max = Infinity) => {
  const all = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const shown = all.slice(0, max).map(([k, v]) => `${k} ${num(v)}`);
  if (all.length > max) shown.push(`${all.length - max} more`);
  return shown.join(', ');
};

/** The preview as a person reads it: each record beside what it becomes, then the counts. */
export function formatPreview(p: PreviewResult): string {
  const out: string[] = [];
  const m = p.mapping;
  out.push(`${p.file} (${(p.size / 1e6).toFixed(1)} MB)`);
  out.push(`  format   ${p.format}${p.detected ? ` (detected from the first record${pathHint(p.file) ? `; path says ${pathHint(p.file)}` : ''})` : ' (from the mapping config)'}, records by ${p.unit}`);
  out.push(`  mapping  ${p.mappingSource}: person properties as ${m.personMode === 'set' ? '$set' : '$set_once'}, ${m.originProperty} = "${p.origin}"${mappingNotes(m)}`);
  for (const s of p.skipped) out.push(`  skipped  ${s}`);
  for (const r of p.records) {
    out.push('');
    const where = `${r.part ? `${r.part} ` : ''}${p.unit} ${r.n}`;
    const what =
      r.outcome === 'rejected' ? `rejected: ${r.code} (${r.reason})`
      : r.outcome === 'filtered' ? `filtered by ${r.rule}`
      : r.outcome === 'duplicate' ? 'duplicate of an earlier record in its chunk: not sent again'
      : `${r.events.length} event${r.events.length === 1 ? '' : 's'}${r.links.length ? `, ${r.links.length} link${r.links.length === 1 ? '' : 's'}` : ''}${r.once.length ? `, ${r.once.length} once-ever` : ''}`;
    out.push(`${where} → ${what}`);
    out.push(`  ${clip(r.text, 200)}`);
    for (const e of r.events) out.push(...eventLines('event', e, m.originProperty));
    for (const e of r.links) out.push(`  link   ${e.event}  ${e.properties.$anon_distinct_id} → ${e.distinct_id}  uuid ${e.uuid}${e.timestamp ? `  ${e.timestamp}` : ''} (sent once ever)`);
    for (const e of r.once) out.push(...eventLines('once', e, m.originProperty));
  }
  const s = p.sample;
  out.push('');
  const covered = s.complete ? 'the whole file' : s.compressed ? 'a sample from the start' : `a sample: the first ${(100 * s.bytesRead / Math.max(1, p.size)).toFixed(1)} % of the file`;
  out.push(`${num(s.read)} records read (${covered}; ${(s.rawBytes / 1e6).toFixed(1)} MB decoded in ${(p.ms / 1000).toFixed(2)} s; nothing sent)`);
  out.push(`  sent       ${num(s.sent)} → ${num(s.events)} events${s.events ? ` (${list(s.byEvent, 6)})` : ''}`);
  out.push(`  links      ${num(s.links)} device↔user pairs → ${num(s.links)} $identify${s.once ? `; ${num(s.once)} once-ever events` : ''}`);
  out.push(`  rejected   ${num(s.rejected)}${s.rejected ? ` (${list(s.byReason)})` : ''}`);
  out.push(`  filtered   ${num(s.filtered)}${s.filtered ? ` (${list(s.byFilter)})` : ''}`);
  out.push(`  duplicates ${num(s.duplicates)}`);
  if (s.firstTimestamp) out.push(`  time       ${s.firstTimestamp} … ${s.lastTimestamp}${s.noTimestamp ? `; ${num(s.noTimestamp)} events without a timestamp (PostHog stamps them at ingestion)` : ''}`);
  if (p.error) out.push(`  error      ${p.error}`);
  return out.join('\n');
}

function mappingNotes(m: MappingConfig): string {
  const notes: string[] = [];
  const renames = Object.keys(m.events.rename).length + Object.keys(m.properties.rename).length;
  if (renames) notes.push(`${renames} renames`);
  if (m.events.allow) notes.push(`events allowed: ${m.events.allow.length}`);
  if (m.events.deny.length) notes.push(`events denied: ${m.events.deny.length}`);
  if (m.properties.keep) notes.push(`properties kept: ${m.properties.keep.length}`);
  if (m.properties.drop.length) notes.push(`properties dropped: ${m.properties.drop.length}`);
  if (m.after || m.before) notes.push(`time window ${m.after ?? '…'} to ${m.before ?? '…'}`);
  return notes.length ? `; ${notes.join(', ')}` : '';
}

function eventLines(label: string, e: PostHogEvent, originProperty: string): string[] {
  const props = e.properties;
  const plain = Object.keys(props).filter((k) => !['$set', '$set_once', '$groups', originProperty].includes(k));
  const lines = [`  ${label.padEnd(6)} ${e.event}  uuid ${e.uuid}  ${e.timestamp ?? '(no timestamp: time of ingestion)'}  distinct_id ${e.distinct_id}`];
  lines.push(`         properties (${plain.length}): ${clip(plain.join(', '), 200)}`);
  for (const k of ['$set', '$set_once', '$groups'] as const) {
    if (props[k] !== undefined) lines.push(`         ${k}: ${clip(JSON.stringify(props[k]), 200)}`);
  }
  return lines;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
