import { addStats, buildReport, emptyStats } from '../core/report';
import type { Checkpoints, Reports } from './ports';

/**
 * Writes the file's report once every chunk is done. Called after each chunk and after the
 * split; whichever comes last writes it. Writing twice is harmless: same content, same key.
 */
export async function finishFile(fileId: string, deps: { checkpoints: Checkpoints; reports: Reports }): Promise<boolean> {
  const m = await deps.checkpoints.getManifest(fileId);
  if (!m || m.status === 'splitting' || m.chunks === undefined || m.doneChunks < m.chunks) return false;
  if (m.status === 'reported') return true;
  // The done-count is a hint; the chunk rows are the truth (a store that let two deliveries of
  // one chunk both count would otherwise publish a report that misses the last chunks).
  const done = await deps.checkpoints.chunkStats(fileId);
  if (done.length < m.chunks) return false;
  const stats = done.reduce(addStats, emptyStats());
  const report = buildReport({
    file: m.file.uri,
    fileId,
    format: m.format,
    unit: m.unit,
    chunks: m.chunks,
    records: stats,
    ...(m.error ? { error: m.error } : {}),
    ...(m.cancelled ? { cancelled: true, notRead: Math.max(0, (m.records ?? 0) - stats.read) } : {}),
    ...(stats.rejected ? { rejectedReport: deps.reports.rejectedLocation(m.file, fileId) } : {}),
    startedAt: m.startedAt,
    completedAt: new Date().toISOString(),
  });
  await deps.reports.putReport(m.file, report);
  await deps.checkpoints.markReported(fileId);
  return true;
}
