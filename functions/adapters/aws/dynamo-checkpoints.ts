import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, ScanCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChunkStats } from '../../core/report';
import type { Checkpoints, ChunkRow, Manifest, PausePoint } from '../../pipeline/ports';

// One table: pk = file#<fileId>; sk = "manifest" or chunk#<index, zero-padded>.
const pk = (fileId: string) => `file#${fileId}`;
const chunkSk = (i: number) => `chunk#${String(i).padStart(6, '0')}`;

export class DynamoCheckpoints implements Checkpoints {
  constructor(private readonly ddb: DynamoDBDocumentClient, private readonly table: string) {}

  async openFile(m: Omit<Manifest, 'doneChunks' | 'status'>): Promise<Manifest> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: pk(m.fileId), sk: 'manifest', ...m, status: 'splitting', doneChunks: 0, updatedAt: new Date().toISOString() },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
    return (await this.getManifest(m.fileId))!;
  }

  async addChunk(fileId: string, chunk: number, row?: ChunkRow): Promise<'pending' | 'done'> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          // The message is kept with the row: the table, not SQS, is the record of what is left.
          Item: { pk: pk(fileId), sk: chunkSk(chunk), status: 'pending', ...(row ? { message: row } : {}) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'pending';
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      return (await this.chunkStatus(fileId, chunk)) ?? 'pending';
    }
  }

  async chunkStatus(fileId: string, chunk: number): Promise<'pending' | 'done' | undefined> {
    const res = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { pk: pk(fileId), sk: chunkSk(chunk) }, ConsistentRead: true }));
    return res.Item?.status as 'pending' | 'done' | undefined;
  }

  async finishSplit(fileId: string, totals: { chunks: number; records: number; error?: string }): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: pk(fileId), sk: 'manifest' },
        UpdateExpression: `SET chunks = :c, #records = :r, #status = :split, updatedAt = :now${totals.error ? ', #error = :e' : ''}`,
        ConditionExpression: '#status = :splitting',
        ExpressionAttributeNames: { '#records': 'records', '#status': 'status', ...(totals.error ? { '#error': 'error' } : {}) },
        ExpressionAttributeValues: {
          ':c': totals.chunks,
          ':r': totals.records,
          ':split': 'split',
          ':splitting': 'splitting',
          ':now': new Date().toISOString(),
          ...(totals.error ? { ':e': totals.error } : {}),
        },
      }),
    ).catch((err) => {
      // A concurrent run of the same split got there first; its totals are the same.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    });
  }

  async recordPause(fileId: string, point: PausePoint): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(fileId), sk: 'manifest' },
          UpdateExpression: 'SET nextChunk = :n, #pause = :p, updatedAt = :now',
          ConditionExpression: '#status = :splitting AND (attribute_not_exists(nextChunk) OR nextChunk < :n)',
          ExpressionAttributeNames: { '#pause': 'pause', '#status': 'status' },
          ExpressionAttributeValues: { ':n': point.chunk, ':p': point, ':now': point.at, ':splitting': 'splitting' },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async handedOver(fileId: string, chunk: number): Promise<void> {
    await this.ddb
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: pk(fileId), sk: 'manifest' },
          UpdateExpression: 'SET #pause.handedOver = :t, updatedAt = :now',
          ConditionExpression: 'nextChunk = :n',
          ExpressionAttributeNames: { '#pause': 'pause' },
          ExpressionAttributeValues: { ':t': true, ':n': chunk, ':now': new Date().toISOString() },
        }),
      )
      .catch((err) => {
        // Another run already paused further on: that pause point is the one that counts.
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
  }

  async progress(fileId: string): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: pk(fileId), sk: 'manifest' },
        UpdateExpression: 'SET updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':now': new Date().toISOString() },
      }),
    ).catch((err) => {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    });
  }

  async pendingChunks(fileId: string): Promise<Array<{ chunk: number; row?: ChunkRow }>> {
    const out: Array<{ chunk: number; row?: ChunkRow }> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :chunk)',
          FilterExpression: '#status <> :done',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pk': pk(fileId), ':chunk': 'chunk#', ':done': 'done' },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) out.push({ chunk: Number(String(item.sk).slice('chunk#'.length)), ...(item.message ? { row: item.message as ChunkRow } : {}) });
      start = res.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async completeChunk(fileId: string, chunk: number, stats: ChunkStats): Promise<boolean> {
    // One transaction: the chunk turns done and the file's done-count moves, or neither.
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: { pk: pk(fileId), sk: chunkSk(chunk) },
                // The message is no longer needed once the chunk is done.
                UpdateExpression: 'SET #status = :done, stats = :stats, doneAt = :now REMOVE message',
                ConditionExpression: '#status = :pending',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':done': 'done', ':pending': 'pending', ':stats': stats, ':now': new Date().toISOString() },
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: { pk: pk(fileId), sk: 'manifest' },
                UpdateExpression: 'ADD doneChunks :one SET updatedAt = :now',
                ExpressionAttributeValues: { ':one': 1, ':now': new Date().toISOString() },
              },
            },
          ],
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
      throw err;
    }
  }

  async getManifest(fileId: string): Promise<Manifest | undefined> {
    const res = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { pk: pk(fileId), sk: 'manifest' }, ConsistentRead: true }));
    if (!res.Item) return undefined;
    const { pk: _pk, sk: _sk, ...m } = res.Item;
    return m as Manifest;
  }

  async chunkStats(fileId: string): Promise<ChunkStats[]> {
    const out: ChunkStats[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :chunk)',
          ExpressionAttributeValues: { ':pk': pk(fileId), ':chunk': 'chunk#' },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) if (item.stats) out.push(item.stats as ChunkStats);
      start = res.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** Every file's manifest (a scan: for operator commands, never on the hot path). */
  async listManifests(): Promise<Manifest[]> {
    const out: Manifest[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.ddb.send(
        new ScanCommand({ TableName: this.table, FilterExpression: 'sk = :m', ExpressionAttributeValues: { ':m': 'manifest' }, ExclusiveStartKey: start, ConsistentRead: true }),
      );
      for (const item of res.Items ?? []) {
        const { pk: _pk, sk: _sk, ...m } = item;
        out.push(m as Manifest);
      }
      start = res.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async markReported(fileId: string): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: pk(fileId), sk: 'manifest' },
        UpdateExpression: 'SET #status = :reported',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':reported': 'reported' },
      }),
    );
  }
}
