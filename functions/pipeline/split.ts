import { planChunks } from '../core/chunks';
import { detectFormat } from '../core/detect';
import type { FormatName } from '../core/formats/names';
import { firstLine, openParts, type ByteSource, type DecodeOptions, type InflateLimits } from '../core/input';
import type { MappingConfig } from '../core/mapping';
import type { ChunkMessage, FileRef } from '../core/messages';
import type { Limits } from '../core/settings';
import { finishFile } from './finish';
import type { Checkpoints, ChunkQueue, Reports, Staging } from './ports';

export interface SplitDeps {
  checkpoints: Checkpoints;
  staging: Staging;
  queue: ChunkQueue;
  reports: Reports;
  limits: Limits;
  /** Decompression-bomb guards (defaults: 200 GiB per file, 500x past 256 MiB). */
  inflate?: InflateLimits;
  /** Key under which chunk `index` of file `fileId` is staged. */
  stagingKey(fileId: string, index: number): string;
  log?: (msg: string, data?: Record<string, unknown>) => void;
  /** Asked after each queued chunk: true when this run should stop and hand over the rest. */
  shouldPause?: () => boolean;
}

/** Where a continuation picks up: chunks before `fromChunk` are re-cut but not queued again. */
export interface Resume {
  fromChunk: number;
}

export interface SplitResult {
  fileId: string;
  format?: string;
  chunks: number;
  records: number;
  queued: number;
  /** already-split: a duplicate event; superseded: a duplicate continuation of a run that went on. */
  skipped: 'already-split' | 'superseded' | undefined;
  error?: string;
  /** Set when the run paused: the continuation starts here. */
  pausedAt?: Resume;
}

// SendMessageBatch takes at most 10 entries.
const SQS_BATCH = 10;

/**
 * Splits one file into staged chunks and queues them. Safe to run again for the same file (a
 * duplicate S3 event, a crash halfway): chunks are cut identically, a chunk already done is not
 * queued again, and a fully split file is skipped. The mapping config is loaded inside, so a bad
 * one ends in a failed report (nothing sent) rather than a crash loop.
 */
export async function splitFile(
  file: FileRef,
  fileId: string,
  source: ByteSource,
  loadMapping: () => Promise<MappingConfig>,
  deps: SplitDeps,
  resume: Resume = { fromChunk: 0 },
): Promise<SplitResult> {
  const existing = await deps.checkpoints.getManifest(fileId);
  if (existing && existing.status !== 'splitting') {
    return { fileId, format: existing.format, chunks: existing.chunks ?? 0, records: existing.records ?? 0, queued: 0, skipped: 'already-split' };
  }
  if (resume.fromChunk > 0 && (existing?.nextChunk ?? 0) > resume.fromChunk) {
    return { fileId, chunks: 0, records: 0, queued: 0, skipped: 'superseded' };
  }
  const startedAt = new Date().toISOString();
  let opened = false;
  // The stored manifest's startedAt (an earlier run's, when this one re-splits the file).
  let importedAt: string | undefined;
  const open = async (format: string, unit: ChunkMessage['unit']) => {
    opened = true;
    importedAt = (await deps.checkpoints.openFile({ fileId, file, format, unit, startedAt })).startedAt;
  };

  let chunks = 0;
  let records = 0;
  let queued = 0;
  let format: FormatName | undefined;
  let configured: FormatName | undefined;
  const errors: string[] = [];
  let pending: ChunkMessage[] = [];
  // Staging uploads (and their compression) overlap the reading of the next chunks; a chunk's
  // message is queued only once its body is stored, in chunk order.
  const staging: Array<Promise<ChunkMessage>> = [];
  const settle = async (keep: number) => {
    while (staging.length > keep) {
      pending.push(await staging.shift()!);
      if (pending.length >= (deps.queue.maxBatch ?? SQS_BATCH)) await flush();
    }
  };
  const flush = async () => {
    if (!pending.length) return;
    await deps.queue.send(pending);
    queued += pending.length;
    pending = [];
  };

  try {
    const mapping = await loadMapping();
    if (mapping.format !== 'auto') format = configured = mapping.format;
    for await (const part of openParts(source, { ...decodeOptions(format, mapping), ...(deps.inflate ? { limits: deps.inflate } : {}) })) {
      if (part.skipped) {
        errors.push(`${part.name}: skipped: ${part.skipped}`);
        continue;
      }
      let bytes = part.bytes;
      if (!format || (configured && chunks === 0)) {
        const first = await firstLine(bytes);
        bytes = first.stream;
        if (first.line === undefined) continue; // an empty part holds no records to tell from
        if (!format) {
          format = detectFormat(first.line, part.unit, part.name ?? file.key ?? file.uri);
          if (!format) throw new Error(`cannot tell the format from the first record; set "format" in the mapping config or --format`);
        } else {
          // A file under the wrong prefix would have every record rejected: say so once instead.
          const looks = detectFormat(first.line, part.unit, '');
          if (looks && !compatible(looks, format)) throw new Error(`the config says format "${format}" but the first record looks like "${looks}"`);
        }
      }
      if (!opened) await open(format, part.unit);
      for await (const chunk of planChunks(bytes, deps.limits, chunks)) {
        chunks++;
        records += chunk.records;
        // A continuation re-cuts the chunks an earlier run queued (cutting is deterministic) and
        // only counts them; reading past them costs a re-read, never a re-send.
        if (chunk.index < resume.fromChunk) continue;
        const status = await deps.checkpoints.addChunk(fileId, chunk.index);
        if (status === 'done') continue;
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
          ...(importedAt ? { importedAt } : {}),
          oversize: chunk.oversize,
        };
        const put = deps.staging.put(staged, chunk.body).then(
          () => message,
          (err: unknown) => Promise.reject(new StagingFailed(err)),
        );
        put.catch(() => undefined); // awaited in order by settle(); this only avoids an unhandled rejection
        staging.push(put);
        await settle((deps.staging.inFlight ?? 1) - 1);
        if (deps.shouldPause?.()) {
          await settle(0);
          await flush();
          // Only one run may hand over at a given point: a retried run must not fork the chain.
          const first = await deps.checkpoints.recordPause(fileId, chunk.index + 1);
          return { fileId, format, chunks, records, queued, skipped: first ? undefined : 'superseded', ...(first ? { pausedAt: { fromChunk: chunk.index + 1 } } : {}) };
        }
      }
    }
  } catch (err) {
    if (err instanceof StagingFailed) throw err.cause; // storage trouble: the whole split is retried
    // A bad config, an unknown format, an unreadable rest of file (truncated gzip, broken JSON
    // array): the split ends there; what was read is still sent, and the report says why.
    errors.push(`${records ? `reading stopped after ${records} records: ` : ''}${(err as Error).message}`);
    deps.log?.('split stopped', { fileId, records, reason: (err as Error).message });
  }
  // Chunks cut before an error still go once their bodies are stored.
  try {
    await settle(0);
  } catch (err) {
    throw err instanceof StagingFailed ? err.cause : err;
  }
  if (!records && !errors.length) errors.push('the file holds no records');
  const error = errors.length ? `${file.uri}: ${errors.join('; ')}` : undefined;
  await flush();
  if (!opened) await open(format ?? 'unknown', 'line');
  await deps.checkpoints.finishSplit(fileId, { chunks, records, ...(error ? { error } : {}) });
  // A file whose chunks are all done already (or that has none) is reported here.
  await finishFile(fileId, deps);
  return { fileId, format, chunks, records, queued, skipped: undefined, ...(error ? { error } : {}) };
}

class StagingFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('staging failed');
  }
}

function decodeOptions(format: FormatName | undefined, mapping: MappingConfig): DecodeOptions {
  const csv = format === 'csv' ? 'always' : format === undefined || format === 'users' ? 'auto' : 'never';
  return { csv, delimiter: mapping.csv.delimiter };
}

// posthog and posthog-export records differ only in the extra fields an export carries.
function compatible(a: FormatName, b: FormatName): boolean {
  const family = (f: FormatName) => (f === 'posthog-export' ? 'posthog' : f === 'users' ? 'csv' : f);
  return family(a) === family(b);
}
