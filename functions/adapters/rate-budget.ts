import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RateBudget } from '../pipeline/ports';

/** The budget could not be had before the caller's deadline; `retryAt` is when to try again. */
export class BudgetExhausted extends Error {
  constructor(readonly retryAt: number) {
    super('rate budget spent until the deadline');
    this.name = 'BudgetExhausted';
  }
}

export interface AcquireOptions {
  /** Wait for a window with room only while it opens before this time (epoch ms); else throw BudgetExhausted. */
  deadline?: number;
}

/**
 * An events-per-window budget shared by every sender, kept in the checkpoint table as one
 * counter per window (pk `rate`, sk `w#<window>`). A request takes its events from the current
 * window with a conditional add; when the window is spent it waits for the next one.
 *
 * Every window holds exactly: a request only takes from a window with at least `guardMs` left,
 * so it leaves (and lands) inside the window it paid for; one whose add came back too late
 * gives its events back and takes them from the next window.
 */
export class DynamoRateBudget implements RateBudget {
  private readonly guardMs: number;
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly perWindow: number,
    private readonly windowMs: number,
  ) {
    this.guardMs = Math.min(windowMs / 5, 2_000);
  }

  async acquire(events: number, opts: AcquireOptions = {}): Promise<void> {
    // A request larger than a whole window may go alone into an empty one.
    const max = Math.max(0, this.perWindow - events);
    for (;;) {
      const now = Date.now();
      const window = Math.floor(now / this.windowMs);
      const closes = (window + 1) * this.windowMs - this.guardMs;
      if (now < closes && (await this.take(window, events, max, now))) {
        if (Date.now() < closes) return;
        await this.give(window, events); // too late to leave inside this window
      }
      const next = (window + 1) * this.windowMs;
      if (opts.deadline !== undefined && next > opts.deadline) throw new BudgetExhausted(next);
      // Jitter spreads the senders that all wake for the next window.
      await sleep(next - Date.now() + Math.random() * Math.min(100, this.guardMs / 2));
    }
  }

  private async take(window: number, events: number, max: number, now: number): Promise<boolean> {
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
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  private async give(window: number, events: number): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: 'rate', sk: `w#${window}` },
        UpdateExpression: 'SET used = used - :n',
        ExpressionAttributeValues: { ':n': events },
      }),
    );
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
