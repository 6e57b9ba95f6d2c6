import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RateBudget } from '../pipeline/ports';

/**
 * An events-per-window budget shared by every sender, kept in the checkpoint table as one
 * counter per window (pk `rate`, sk `w#<window>`). A request takes its events from the current
 * window with a conditional add; when the window is spent it waits for the next one.
 */
export class DynamoRateBudget implements RateBudget {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly perWindow: number,
    private readonly windowMs: number,
  ) {}

  async acquire(events: number): Promise<void> {
    // A request larger than a whole window may go alone into an empty one.
    const max = Math.max(0, this.perWindow - events);
    for (;;) {
      const now = Date.now();
      const window = Math.floor(now / this.windowMs);
      try {
        await this.ddb.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: 'rate', sk: `w#${window}` },
            UpdateExpression: 'SET used = if_not_exists(used, :zero) + :n, expiresAt = :ttl',
            ConditionExpression: 'attribute_not_exists(used) OR used <= :max',
            ExpressionAttributeValues: { ':zero': 0, ':n': events, ':max': max, ':ttl': Math.ceil(now / 1000) + 3600 },
          }),
        );
        return;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        await sleep((window + 1) * this.windowMs - now + Math.random() * Math.min(100, this.windowMs / 10));
      }
    }
  }
}

/** The same budget for one machine (local mode). */
export class MemoryRateBudget implements RateBudget {
  private window = -1;
  private used = 0;
  constructor(private readonly perWindow: number, private readonly windowMs: number) {}

  async acquire(events: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      const w = Math.floor(now / this.windowMs);
      if (w !== this.window) {
        this.window = w;
        this.used = 0;
      }
      if (this.used === 0 || this.used + events <= this.perWindow) {
        this.used += events;
        return;
      }
      await sleep((w + 1) * this.windowMs - now);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
