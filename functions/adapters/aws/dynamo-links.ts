import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { IdentityLinks } from '../../pipeline/ports';

interface Row {
  pair: string;
  owner: string;
  status: 'claimed' | 'sent' | 'refused';
}

/**
 * The sent-alias table in DynamoDB: pk `pair` (a link's hash of device + user, or a once-event's
 * key hash), owner (file#chunk), status `claimed` → `sent` or `refused` (with capture's reason).
 */
export class DynamoLinks implements IdentityLinks {
  constructor(private readonly ddb: DynamoDBDocumentClient, private readonly table: string) {}

  async claim(keys: string[], owner: string): Promise<string[]> {
    const rows = await this.read(keys);
    const mine: string[] = [];
    for (const key of keys) {
      const row = rows.get(key);
      if (row) {
        if (row.owner === owner && row.status === 'claimed') mine.push(key); // our own retry
        continue;
      }
      // Two deliveries of the same chunk may race here; both must come away owning the claim,
      // or the one that loses could finish the chunk without the link while the winner fails.
      try {
        await this.ddb.send(
          new PutCommand({
            TableName: this.table,
            Item: { pair: key, owner, status: 'claimed' },
            ConditionExpression: 'attribute_not_exists(pair) OR (#owner = :owner AND #status = :claimed)',
            ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
            ExpressionAttributeValues: { ':owner': owner, ':claimed': 'claimed' },
          }),
        );
        mine.push(key);
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err; // another chunk got it first, or it is final
      }
    }
    return mine;
  }

  async confirm(keys: string[], owner: string): Promise<void> {
    for (const key of keys) await this.settle(key, owner, 'sent', {});
  }

  async refuse(refused: Array<{ key: string; reason: string }>, owner: string): Promise<void> {
    for (const r of refused) await this.settle(r.key, owner, 'refused', { reason: r.reason.slice(0, 500) });
  }

  private async settle(key: string, owner: string, status: 'sent' | 'refused', extra: Record<string, string>): Promise<void> {
    const names = Object.keys(extra);
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pair: key },
        UpdateExpression: `SET #status = :status, ${status === 'sent' ? 'sentAt' : 'refusedAt'} = :now${names.map((n) => `, ${n} = :${n}`).join('')}`,
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner' },
        ExpressionAttributeValues: { ':status': status, ':owner': owner, ':now': new Date().toISOString(), ...Object.fromEntries(names.map((n) => [`:${n}`, extra[n]])) },
      }),
    );
  }

  // BatchGetItem takes 100 keys; unprocessed keys are asked for again.
  private async read(keys: string[]): Promise<Map<string, Row>> {
    const out = new Map<string, Row>();
    for (let i = 0; i < keys.length; i += 100) {
      let request: Record<string, { Keys: Array<Record<string, string>>; ConsistentRead: boolean }> | undefined = {
        [this.table]: { Keys: keys.slice(i, i + 100).map((pair) => ({ pair })), ConsistentRead: true },
      };
      for (let attempt = 0; request && Object.keys(request).length; attempt++) {
        const res = await this.ddb.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of res.Responses?.[this.table] ?? []) out.set(item.pair as string, item as Row);
        request = res.UnprocessedKeys as typeof request;
        if (request && Object.keys(request).length) await new Promise((r) => setTimeout(r, 50 * 2 ** Math.min(attempt, 6)));
      }
    }
    return out;
  }
}
