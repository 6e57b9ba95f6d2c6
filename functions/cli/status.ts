import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { awsClients } from '../adapters/aws/clients';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { FileCheckpoints } from '../adapters/local/file-checkpoints';
import { addStats, emptyStats, type ChunkStats } from '../core/report';
import type { Checkpoints, Manifest } from '../pipeline/ports';
import { formatSourceStatuses, sourceStatusFor } from '../sources/status';

export interface FileStatus {
  manifest: Manifest;
  totals: ChunkStats;
  reconciled: boolean;
}

/** Every file a local state dir knows, with its progress and totals so far. */
export async function localStatus(stateDir: string): Promise<FileStatus[]> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch {
    return [];
  }
  const out: FileStatus[] = [];
  for (const name of names.filter((n) => /^[0-9a-f]{32}\.json$/.test(n)).sort()) {
    const cp = await FileCheckpoints.load(join(stateDir, name));
    const s = await statusOf(cp, name.slice(0, -5));
    if (s) out.push(s);
  }
  return out;
}

/** Every file the deployed checkpoint table knows. */
export async function deployedStatus(table: string): Promise<FileStatus[]> {
  const { ddb } = awsClients();
  const cp = new DynamoCheckpoints(ddb, table);
  const ids: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const res = await ddb.send(
      new ScanCommand({ TableName: table, FilterExpression: 'sk = :m', ExpressionAttributeValues: { ':m': 'manifest' }, ProjectionExpression: 'fileId', ExclusiveStartKey: start }),
    );
    for (const item of res.Items ?? []) ids.push(item.fileId as string);
    start = res.LastEvaluatedKey;
  } while (start);
  const out: FileStatus[] = [];
  for (const id of ids) {
    const s = await statusOf(cp, id);
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt));
}

async function statusOf(cp: Checkpoints, fileId: string): Promise<FileStatus | undefined> {
  const manifest = await cp.getManifest(fileId);
  if (!manifest) return undefined;
  const totals = (await cp.chunkStats(fileId)).reduce(addStats, emptyStats());
  const t = totals;
  return { manifest, totals, reconciled: t.read === t.sent + t.rejected + t.filtered + t.duplicates };
}

/** One block per file; the last line sums every file (the whole import). */
export function formatStatus(files: FileStatus[]): string {
  if (!files.length) return 'no imports found';
  const lines: string[] = [];
  let all = emptyStats();
  for (const { manifest: m, totals: t } of files) {
    all = addStats(all, t);
    const state = m.status === 'splitting' ? 'splitting' : m.status === 'reported' ? (m.error ? 'done with errors' : 'done') : 'sending';
    const chunks = m.chunks === undefined ? `${m.doneChunks} chunks done` : `${m.doneChunks}/${m.chunks} chunks`;
    lines.push(`${m.file.uri} [${m.format}] ${state}, ${chunks}`);
    lines.push(`  ${counts(t)}`);
    if (m.error) lines.push(`  error: ${m.error}`);
  }
  lines.push(`all ${files.length} files: ${counts(all)}`);
  return lines.join('\n');
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
