import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChunkStats } from '../../core/report';

/**
 * The checkpoint table's sparse index of manifests: keyed on attributes only manifest rows
 * carry (`unit`, `startedAt`), so listing files reads one small index entry per file instead
 * of scanning every chunk row. The index is defined in infra/stack.ts.
 */
export const MANIFEST_INDEX = 'manifests';
const UNITS = ['line', 'element', 'row'] as const;

/** What the index holds of a manifest (status changes rarely, so projecting it costs little). */
export interface ListedFile {
  fileId: string;
  status: string;
  cancelled?: boolean;
}
export const INDEX_PROJECTION = ['status', 'cancelled'];

/** Every file in the table, oldest first within each record unit. */
export async function listFiles(ddb: DynamoDBDocumentClient, table: string): Promise<ListedFile[]> {
  const files: ListedFile[] = [];
  for (const unit of UNITS) {
    let start: Record<string, unknown> | undefined;
    do {
      const res = await ddb.send(
        new QueryCommand({
          TableName: table,
          IndexName: MANIFEST_INDEX,
          KeyConditionExpression: '#u = :u',
          ExpressionAttributeNames: { '#u': 'unit' },
          ExpressionAttributeValues: { ':u': unit },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) {
        if (item.sk !== 'manifest') continue;
        files.push({ fileId: String(item.pk).replace(/^file#/, ''), status: String(item.status), ...(item.cancelled ? { cancelled: true } : {}) });
      }
      start = res.LastEvaluatedKey;
    } while (start);
  }
  return files;
}

/** A file's done chunks: their stats and the time of the latest one. */
export async function chunkActivity(ddb: DynamoDBDocumentClient, table: string, fileId: string): Promise<{ stats: ChunkStats[]; lastDoneAt?: string }> {
  const stats: ChunkStats[] = [];
  let lastDoneAt: string | undefined;
  let start: Record<string, unknown> | undefined;
  do {
    const res = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :chunk)',
        ExpressionAttributeValues: { ':pk': `file#${fileId}`, ':chunk': 'chunk#' },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of res.Items ?? []) {
      if (item.stats) stats.push(item.stats as ChunkStats);
      if (typeof item.doneAt === 'string' && (!lastDoneAt || item.doneAt > lastDoneAt)) lastDoneAt = item.doneAt;
    }
    start = res.LastEvaluatedKey;
  } while (start);
  return { stats, ...(lastDoneAt ? { lastDoneAt } : {}) };
}
