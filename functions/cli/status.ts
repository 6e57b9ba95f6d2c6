import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { awsClients } from '../adapters/aws/clients';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { chunkActivity, listFiles } from '../adapters/aws/manifests';
import { FileCheckpoints } from '../adapters/local/file-checkpoints';
import { DEFAULT_STALLED_AFTER_MS, stalled } from '../core/progress';
import { duration, later, progressOf, type Progress } from '../core/rate';
import { addStats, emptyStats, type ChunkStats } from '../core/report';
import { importOf } from '../pipeline/metrics';
import type { Checkpoints, Manifest } from '../pipeline/ports';
import { formatSourceStatuses, sourceStatusFor } from '../sources/status';

export interface FileStatus {
  manifest: Manifest;
  totals: ChunkStats;
  reconciled: boolean;
  progress: Progress;
  /** Why the file counts as stalled (no progress for the threshold), if it does. */
  stalled?: string;
}

export interface StatusOptions {
  /** No progress for this long: stalled (default 30 min, as the stack's alarm). */
  stalledAfterMs?: number;
  now?: number;
}


/** Every file a local state dir knows, with its progress and totals so far. */
export async function localStatus(stateDir: string, opts: StatusOptions = {}): Promise<FileStatus[]> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch {
    return [];
  }
  const out: FileStatus[] = [];
  for (const name of names.filter((n) => /^[0-9a-f]{32}\.json$/.test(n)).sort()) {
    const path = join(stateDir, name);
    const cp = await FileCheckpoints.load(path);
    const manifest = await cp.getManifest();
    if (!manifest) continue;
    // The manifest's time is its last change or its last done chunk (from the journal); the
    // file's own time covers a manifest written by a version that did not stamp every change.
    const written = (await stat(path)).mtime.toISOString();
    out.push(fileStatus(manifest, await cp.chunkStats(), later(manifest.updatedAt, written)!, opts));
  }
  return out;
}

/**
 * Every file the deployed checkpoint table knows. Files are listed from the manifest index
 * (one small entry per file, never a scan of the chunk rows); each file then costs one read
 * of its manifest and one query of its own chunk rows.
 */
export async function deployedStatus(table: string, opts: StatusOptions = {}): Promise<FileStatus[]> {
  const { ddb } = awsClients();
  const cp = new DynamoCheckpoints(ddb, table);
  const out: FileStatus[] = [];
  for (const { fileId } of await listFiles(ddb, table)) {
    const manifest = await cp.getManifest(fileId);
    if (!manifest) continue;
    const { stats, lastDoneAt } = await chunkActivity(ddb, table, fileId);
    out.push(fileStatus(manifest, stats, later(manifest.updatedAt, later(lastDoneAt, manifest.startedAt))!, opts));
  }
  return out.sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt));
}

function fileStatus(manifest: Manifest, chunks: ChunkStats[], lastActivity: string, opts: StatusOptions): FileStatus {
  const now = opts.now ?? Date.now();
  const totals = chunks.reduce(addStats, emptyStats());
  const t = totals;
  const why = stalled({ ...manifest, updatedAt: lastActivity }, now, opts.stalledAfterMs ?? DEFAULT_STALLED_AFTER_MS);
  return {
    manifest,
    totals,
    reconciled: t.read === t.sent + t.rejected + t.filtered + t.duplicates,
    // A stalled file has no ETA: its rate since the start says nothing about when it ends.
    progress: why ? { ...progressOf(manifest, t.read, lastActivity, now), etaSeconds: undefined } : progressOf(manifest, t.read, lastActivity, now),
    ...(why ? { stalled: why } : {}),
  };
}

export interface ImportStatus {
  /** The folder the files were dropped in (the dashboard's Import dimension). */
  import: string;
  files: number;
  finished: number;
  stalled: number;
  totals: ChunkStats;
  recordsDone: number;
  /** Known when every file of the import has finished splitting. */
  recordsTotal?: number;
  /** Sum of the rates of the files still going. */
  recordsPerSecond?: number;
  etaSeconds?: number;
}

/** Files grouped by import; the rate is what the unfinished files make together now. */
export function byImport(files: FileStatus[]): ImportStatus[] {
  const groups = new Map<string, FileStatus[]>();
  for (const f of files) {
    const k = importOf(f.manifest.file);
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  return [...groups].map(([name, fs]) => summarize(name, fs));
}

function summarize(name: string, fs: FileStatus[]): ImportStatus {
  const going = fs.filter((f) => f.manifest.status !== 'reported' && !f.manifest.cancelled);
  const totalKnown = fs.every((f) => f.progress.recordsTotal !== undefined);
  const recordsDone = fs.reduce((n, f) => n + f.progress.recordsDone, 0);
  const recordsTotal = totalKnown ? fs.reduce((n, f) => n + (f.manifest.cancelled ? f.progress.recordsDone : f.progress.recordsTotal!), 0) : undefined;
  const rate = going.reduce((n, f) => n + (f.stalled ? 0 : (f.progress.recordsPerSecond ?? 0)), 0);
  return {
    import: name,
    files: fs.length,
    finished: fs.length - going.length,
    stalled: fs.filter((f) => f.stalled).length,
    totals: fs.map((f) => f.totals).reduce(addStats, emptyStats()),
    recordsDone,
    ...(recordsTotal !== undefined ? { recordsTotal } : {}),
    ...(going.length && rate > 0 ? { recordsPerSecond: rate } : {}),
    ...(going.length && rate > 0 && recordsTotal !== undefined ? { etaSeconds: Math.ceil((recordsTotal - recordsDone) / rate) } : {}),
  };
}

export function stateOf(m: Manifest): string {
  if (m.cancelled) return m.status === 'reported' ? 'cancelled' : 'cancelling';
  return m.status === 'splitting' ? 'splitting' : m.status === 'reported' ? (m.error ? 'done with errors' : 'done') : 'sending';
}

/** One block per file, one line per import, the last line sums every file (the whole import). */
export function formatStatus(files: FileStatus[]): string {
  if (!files.length) return 'no imports found';
  const lines: string[] = [];
  for (const f of files) {
    const { manifest: m, totals: t, progress: p } = f;
    const chunks = m.chunks === undefined ? `${m.doneChunks} chunks done` : `${m.doneChunks}/${m.chunks} chunks`;
    lines.push(`${m.file.uri} [${m.format}] ${stateOf(m)}, ${chunks}${pace(p.recordsDone, p.recordsTotal, p.recordsPerSecond, p.etaSeconds)}`);
    lines.push(`  ${counts(t)}`);
    if (f.stalled) lines.push(`  STALLED: ${f.stalled}`);
    if (m.error) lines.push(`  error: ${m.error}`);
  }
  const imports = byImport(files);
  if (imports.length > 1 || imports[0]!.files > 1) {
    for (const i of imports) {
      lines.push(
        `import ${i.import}: ${i.finished}/${i.files} files finished${i.stalled ? `, ${i.stalled} STALLED` : ''}${pace(i.recordsDone, i.recordsTotal, i.recordsPerSecond, i.etaSeconds)}`,
      );
    }
  }
  lines.push(`all ${files.length} files: ${counts(files.map((f) => f.totals).reduce(addStats, emptyStats()))}`);
  return lines.join('\n');
}

function pace(done: number, total: number | undefined, rate: number | undefined, eta: number | undefined): string {
  const of = total !== undefined ? `${done}/${total} records` : `${done} records`;
  return `; ${of}${rate ? `, ${rate.toLocaleString('en-US')} records/s` : ''}${eta !== undefined ? `, ETA ${duration(eta)}` : ''}`;
}

function counts(t: ChunkStats): string {
  const reasons = Object.entries(t.byReason).map(([k, v]) => `${k} ${v}`).join(', ');
  return (
    `read ${t.read} = sent ${t.sent} + rejected ${t.rejected}${reasons ? ` (${reasons})` : ''} + filtered ${t.filtered} + duplicates ${t.duplicates}` +
    `; ${t.events} events, ${t.links} identity links`
  );
}

/** Pull sources (`backfill pull`, the puller Lambdas): watermark, last success, next run, lag, last error. */
export async function pullSourcesText(where: { stateDir?: string; table?: string }): Promise<string | undefined> {
  const sources = await sourceStatusFor(where);
  return sources.length ? formatSourceStatuses(sources) : undefined;
}

/** The same, for scripts: every file, every import, the sums. */
export function statusJson(files: FileStatus[]) {
  const all = files.map((f) => f.totals).reduce(addStats, emptyStats());
  return {
    files: files.map((f) => ({
      file: f.manifest.file.uri,
      fileId: f.manifest.fileId,
      import: importOf(f.manifest.file),
      format: f.manifest.format,
      state: stateOf(f.manifest),
      startedAt: f.manifest.startedAt,
      ...f.progress,
      ...(f.stalled ? { stalled: f.stalled } : {}),
      reconciled: f.reconciled,
      records: f.totals,
      ...(f.manifest.error ? { error: f.manifest.error } : {}),
    })),
    imports: byImport(files),
    all: { files: files.length, stalled: files.filter((f) => f.stalled).length, records: all, reconciled: files.every((f) => f.reconciled) },
  };
}
