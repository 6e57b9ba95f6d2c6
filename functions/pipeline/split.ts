import type { FormatName } from '../core/formats/names';
import type { ByteSource, InflateLimits } from '../core/input';
import type { MappingConfig } from '../core/mapping';
import type { ChunkMessage, FileRef } from '../core/messages';
import type { Limits } from '../core/settings';
import { finishFile } from './finish';
import type { Checkpoints, ChunkQueue, Reports, SplitPosition, Staging } from './ports';
import { decodeFrom, decodeOptions } from './split/decode';
import { detectPart } from './split/detect';
import { Enqueuer } from './split/enqueue';
import { SplitJob, type SplitStart } from './split/job';
import { planPart, positionAfter } from './split/plan';
import { resumingSource, type ReadRetry } from './split/source';
import { Stager, StagingFailed } from './split/stage';

export type { SplitStart } from './split/job';

export interface SplitDeps {
  checkpoints: Checkpoints;
  staging: Staging;
  queue: ChunkQueue;
  reports: Reports;
  limits: Limits;
  /** Decompression-bomb guards (defaults: 200 GiB per file, 500x past 256 MiB). */
  inflate?: InflateLimits;
  /** How often a read cut short is resumed before the file fails (default: 6 reads, 0.5 s backoff). */
  read?: ReadRetry;
  /** Key under which chunk `index` of file `fileId` is staged. */
  stagingKey(fileId: string, index: number): string;
  log?: (msg: string, data?: Record<string, unknown>) => void;
  /** Asked after each queued chunk: true when this run (the `hop`-th hand-over) should stop and hand over the rest. */
  shouldPause?: (hop: number) => boolean;
}

export interface SplitResult {
  fileId: string;
  format?: string;
  chunks: number;
  records: number;
  queued: number;
  /** already-split: a duplicate event; superseded: the chain is past this run and was handed on. */
  skipped: 'already-split' | 'superseded' | undefined;
  error?: string;
  /** Set when the run paused: the next run (hop `hop`) starts at chunk `fromChunk`. */
  pausedAt?: { fromChunk: number; hop: number };
}

/**
 * Splits one file into staged chunks and queues them: source → decode → detect → plan → stage →
 * enqueue, with the job (manifest, chunk rows, pause point) around them. Safe to run again for
 * the same file (a duplicate S3 event, a crash halfway): chunks are cut identically, a chunk
 * already done is not queued again, a fully split file is skipped, and a run that finds a pause
 * point goes on from there. The mapping config is loaded by the first run and frozen in the
 * manifest; a bad one ends in a failed report (nothing sent) rather than a crash loop.
 */
export async function splitFile(
  file: FileRef,
  fileId: string,
  source: ByteSource,
  loadMapping: () => Promise<MappingConfig>,
  deps: SplitDeps,
  start: SplitStart = { fromChunk: 0 },
): Promise<SplitResult> {
  const job = new SplitJob(file, fileId, deps.checkpoints);
  const begin = await job.begin(start);
  if (begin.skip) {
    const m = begin.manifest;
    return { fileId, format: m.format, chunks: m.chunks ?? 0, records: m.records ?? 0, queued: 0, skipped: begin.skip };
  }
  const at: SplitPosition = begin.at ?? { chunk: 0, records: 0, line: 0, byte: 0 };
  let chunks = at.chunk;
  let records = at.records;
  let format = begin.format as FormatName | undefined;
  const errors: string[] = [];
  const enqueue = new Enqueuer(deps.queue);
  const stage = new Stager(deps.staging, (m) => enqueue.push(m));

  let mapping: MappingConfig | undefined = begin.mapping;
  // Chunk cuts depend on the limits: every run of a file (and `backfill resume`) uses the first run's.
  const limits = { ...deps.limits, ...begin.limits };
  try {
    mapping ??= await loadMapping();
    // A continuation trusts the format the first run found; a first run checks the config's claim.
    const claim = { format: format ?? (mapping.format !== 'auto' ? mapping.format : undefined), check: !format };
    const reader = resumingSource(source, deps.read);
    for await (const part of decodeFrom(reader, { ...decodeOptions(claim.format, mapping), ...(deps.inflate ? { limits: deps.inflate } : {}) }, begin.at)) {
      if (part.skipped) {
        errors.push(`${part.name}: skipped: ${part.skipped}`);
        continue;
      }
      const detected = await detectPart(part.bytes, { ...claim, check: claim.check && chunks === 0 }, part.unit, part.name ?? file.key ?? file.uri);
      if (!detected.format) continue; // an empty part holds no records to tell from
      format = claim.format = detected.format;
      await job.open(format, part.unit, mapping, limits);
      for await (const chunk of planPart({ ...part, bytes: detected.bytes }, limits, chunks)) {
        chunks++;
        records += chunk.records;
        const staged = deps.stagingKey(fileId, chunk.index);
        const message: ChunkMessage = {
          v: 1,
          fileId,
          file,
          chunk: chunk.index,
          format,
          mapping,
          ...(part.name ? { part: part.name } : {}),
          unit: part.unit,
          firstLine: chunk.firstLine,
          records: chunk.records,
          staged,
          ...(job.importedAt ? { importedAt: job.importedAt } : {}),
          oversize: chunk.oversize,
        };
        if ((await job.addChunk(message)) === 'done') continue;
        await stage.add(message, chunk.body);
        if (deps.shouldPause?.(begin.hop)) {
          await stage.settle();
          await enqueue.flush();
          // Only one run may pause at a given point: a second run of the same hop stops here.
          const first = await job.pause(positionAfter(chunk, part, records), begin.hop + 1);
          const pausedAt = { fromChunk: chunk.index + 1, hop: begin.hop + 1 };
          return { fileId, format, chunks, records, queued: enqueue.queued, skipped: first ? undefined : 'superseded', ...(first ? { pausedAt } : {}) };
        }
      }
    }
  } catch (err) {
    if (err instanceof StagingFailed) throw err.cause; // storage trouble: the whole split is retried
    // A bad config, an unknown format, an unreadable rest of file (truncated gzip, broken JSON
    // array, a read that failed every retry): the split ends there; what was read is still sent,
    // and the report says why.
    errors.push(`${records ? `reading stopped after ${records} records: ` : ''}${(err as Error).message}`);
    deps.log?.('split stopped', { fileId, records, reason: (err as Error).message });
  }
  // Chunks cut before an error still go once their bodies are stored.
  try {
    await stage.settle();
  } catch (err) {
    throw err instanceof StagingFailed ? err.cause : err;
  }
  if (!records && !errors.length) errors.push('the file holds no records');
  const error = errors.length ? `${file.uri}: ${errors.join('; ')}` : undefined;
  await enqueue.flush();
  await job.open(format ?? 'unknown', 'line', mapping, limits);
  await job.finish({ chunks, records, ...(error ? { error } : {}) });
  // A file whose chunks are all done already (or that has none) is reported here.
  await finishFile(fileId, deps);
  return { fileId, format, chunks, records, queued: enqueue.queued, skipped: undefined, ...(error ? { error } : {}) };
}
