import { planChunks } from '../core/chunks';
import { decodeInput } from '../core/input';
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
  /** Key under which chunk `index` of file `fileId` is staged. */
  stagingKey(fileId: string, index: number): string;
  log?: (msg: string, data?: Record<string, unknown>) => void;
}

export interface SplitResult {
  fileId: string;
  chunks: number;
  records: number;
  queued: number;
  skipped: 'already-split' | undefined;
  error?: string;
}

// SendMessageBatch takes at most 10 entries.
const SQS_BATCH = 10;

/**
 * Splits one file into staged chunks and queues them. Safe to run again for the same file (a
 * duplicate S3 event, a crash halfway): chunks are cut identically, a chunk already done is not
 * queued again, and a fully split file is skipped.
 */
export async function splitFile(
  file: FileRef,
  fileId: string,
  format: string,
  raw: AsyncIterable<Buffer>,
  deps: SplitDeps,
): Promise<SplitResult> {
  const existing = await deps.checkpoints.getManifest(fileId);
  if (existing && existing.status !== 'splitting') {
    return { fileId, chunks: existing.chunks ?? 0, records: existing.records ?? 0, queued: 0, skipped: 'already-split' };
  }
  const decoded = await decodeInput(raw);
  await deps.checkpoints.openFile({ fileId, file, format, unit: decoded.unit, startedAt: new Date().toISOString() });

  let chunks = 0;
  let records = 0;
  let queued = 0;
  let error: string | undefined;
  let pending: ChunkMessage[] = [];
  const flush = async () => {
    if (!pending.length) return;
    await deps.queue.send(pending);
    queued += pending.length;
    pending = [];
  };

  try {
    for await (const chunk of planChunks(decoded.bytes, deps.limits)) {
      chunks++;
      records += chunk.records;
      const status = await deps.checkpoints.addChunk(fileId, chunk.index);
      if (status === 'done') continue;
      const staged = deps.stagingKey(fileId, chunk.index);
      await deps.staging.put(staged, chunk.body);
      pending.push({
        v: 1,
        fileId,
        file,
        chunk: chunk.index,
        format,
        unit: decoded.unit,
        firstLine: chunk.firstLine,
        records: chunk.records,
        staged,
        oversize: chunk.oversize,
      });
      if (pending.length >= SQS_BATCH) await flush();
    }
  } catch (err) {
    // An unreadable rest of file (truncated gzip, broken JSON array) ends the split; what was
    // read is still sent, and the report says where and why reading stopped.
    error = `${file.uri}: reading stopped after ${records} records: ${(err as Error).message}`;
    deps.log?.('input unreadable', { fileId, records, reason: (err as Error).message });
  }
  await flush();
  await deps.checkpoints.finishSplit(fileId, { chunks, records, ...(error ? { error } : {}) });
  // A file whose chunks are all done already (or that has none) is reported here.
  await finishFile(fileId, deps);
  return { fileId, chunks, records, queued, skipped: undefined, ...(error ? { error } : {}) };
}
