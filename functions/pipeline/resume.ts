import type { ByteSource } from '../core/input';
import type { ChunkMessage } from '../core/messages';
import { finishFile } from './finish';
import type { Checkpoints, ChunkQueue, Manifest, Reports, Staging } from './ports';
import type { ChunkLimits } from './split/job';
import { replanChunks } from './split/replan';
import type { ReadRetry } from './split/source';

export interface ResumeDeps {
  checkpoints: Checkpoints;
  staging: Staging & { exists(key: string): Promise<boolean> };
  queue: ChunkQueue;
  reports: Reports;
  /** The source object of a file, for re-planning chunks whose staged body is gone. */
  openSource(m: Manifest): Promise<ByteSource>;
  stagingKey(fileId: string, index: number): string;
  /** Limits for manifests written before they were frozen in it. */
  limits: ChunkLimits;
  read?: ReadRetry;
}

export interface FileResumed {
  fileId: string;
  uri: string;
  /** Chunk messages sent to the queue again (every chunk not done). */
  requeued: number;
  /** Of those, chunks whose staged body was gone and was cut again from the source. */
  restaged: number;
  /** Set when every chunk was done and only the report was missing. */
  reported?: boolean;
}

/**
 * Re-queues every chunk the checkpoint table says is not done, re-staging from the source any
 * whose staged body is gone. SQS keeps a message 14 days and staged bodies expire after 14
 * days; the table keeps every chunk, so this brings back whatever they lost. Sending a chunk
 * that is also still in the queue is harmless: the chunk checkpoint counts it once.
 */
export async function requeuePending(m: Manifest, deps: ResumeDeps): Promise<FileResumed> {
  const out: FileResumed = { fileId: m.fileId, uri: m.file.uri, requeued: 0, restaged: 0 };
  const pending = (await deps.checkpoints.pendingChunks?.(m.fileId)) ?? [];
  const messages = new Map<number, ChunkMessage>();
  const rows = new Map(pending.map((p) => [p.chunk, p.row]));
  const lost = new Set<number>();
  for (const { chunk, row } of pending) {
    // The row keeps the message the chunk was queued with (mapping aside: it is in the manifest).
    if (row) messages.set(chunk, { ...row, mapping: m.mapping } as ChunkMessage);
    if (!row || !(await deps.staging.exists(row.staged))) lost.add(chunk);
  }
  if (lost.size) {
    const source = await deps.openSource(m);
    for await (const { chunk, part, unit } of replanChunks(source, m, lost, { limits: deps.limits, ...(deps.read ? { read: deps.read } : {}) })) {
      const staged = rows.get(chunk.index)?.staged ?? deps.stagingKey(m.fileId, chunk.index);
      await deps.staging.put(staged, chunk.body);
      out.restaged++;
      if (messages.has(chunk.index)) continue;
      // A row written before rows kept their message: build it as the split does.
      messages.set(chunk.index, {
        v: 1,
        fileId: m.fileId,
        file: m.file,
        chunk: chunk.index,
        format: m.format as ChunkMessage['format'],
        mapping: m.mapping,
        ...(part ? { part } : {}),
        unit,
        firstLine: chunk.firstLine,
        records: chunk.records,
        staged,
        importedAt: m.startedAt,
        oversize: chunk.oversize,
      });
    }
    if (out.restaged < lost.size) throw new Error(`${m.file.uri}: ${lost.size - out.restaged} chunks could not be cut again from the source (has the object changed?)`);
  }
  const all = [...messages.values()].sort((a, b) => a.chunk - b.chunk);
  for (let i = 0; i < all.length; i += 10) await deps.queue.send(all.slice(i, i + 10));
  out.requeued = all.length;
  // Every chunk done but the report never written (the last sender died before it).
  if (!pending.length && m.status === 'split') out.reported = await finishFile(m.fileId, deps);
  return out;
}
