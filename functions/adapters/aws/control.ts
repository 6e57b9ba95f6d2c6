import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { RateBudget } from '../../pipeline/ports';
import { DynamoRateBudget } from '../rate-budget';

// Settings an operator changes while an import runs (`backfill set`), kept in one row of the
// checkpoint table. Senders read it with a short cache, so a change needs no redeploy.
const KEY = { pk: 'control', sk: 'settings' };
export const CONTROL_CACHE_MS = 30_000;

export const ControlSettings = z.object({
  /** Events per minute for all senders together; 0 lifts the budget. Unset: the deployed value. */
  eventsPerMinute: z.number().int().min(0).optional(),
  updatedAt: z.string().optional(),
});
export type ControlSettings = z.infer<typeof ControlSettings>;

export async function readControl(ddb: DynamoDBDocumentClient, table: string): Promise<ControlSettings> {
  const res = await ddb.send(new GetCommand({ TableName: table, Key: KEY }));
  const { pk: _pk, sk: _sk, ...rest } = res.Item ?? {};
  const parsed = ControlSettings.safeParse(rest);
  // A row nobody can read must not stop the import: the deployed settings apply.
  return parsed.success ? parsed.data : {};
}

export async function writeControl(ddb: DynamoDBDocumentClient, table: string, s: Omit<ControlSettings, 'updatedAt'>): Promise<void> {
  await ddb.send(
    new UpdateCommand({
      TableName: table,
      Key: KEY,
      UpdateExpression: 'SET eventsPerMinute = :e, updatedAt = :now',
      ExpressionAttributeValues: { ':e': s.eventsPerMinute, ':now': new Date().toISOString() },
    }),
  );
}

/**
 * The shared rate budget with its size read from the control row (cached `cacheMs`); the
 * deployed `RATE_LIMIT_EVENTS` applies until someone sets one. No budget: requests go at once.
 */
export class ControlledRateBudget implements RateBudget {
  private cached?: { at: number; perWindow: number };
  private budget?: { perWindow: number; inner: DynamoRateBudget };

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly deployedPerWindow: number,
    private readonly windowMs: number,
    private readonly cacheMs = CONTROL_CACHE_MS,
  ) {}

  async acquire(events: number, opts: { deadline?: number } = {}): Promise<void> {
    const perWindow = await this.perWindow();
    if (perWindow <= 0) return;
    if (this.budget?.perWindow !== perWindow) this.budget = { perWindow, inner: new DynamoRateBudget(this.ddb, this.table, perWindow, this.windowMs) };
    await this.budget.inner.acquire(events, opts);
  }

  private async perWindow(): Promise<number> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.perWindow;
    const c = await readControl(this.ddb, this.table);
    const perWindow = c.eventsPerMinute === undefined ? this.deployedPerWindow : Math.round((c.eventsPerMinute * this.windowMs) / 60_000);
    this.cached = { at: now, perWindow };
    return perWindow;
  }
}
