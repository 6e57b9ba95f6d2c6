import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { IdentityLink } from '../../core/formats/types';
import { linkKey } from '../../core/links';
import type { IdentityLinks } from '../../pipeline/ports';

interface Row {
  pair: string;
  owner: string;
  status: 'claimed' | 'sent';
}

/** The sent-alias table in DynamoDB: pk `pair` (hash of device + user), owner, status. */
export class DynamoLinks implements IdentityLinks {
  constructor(private readonly ddb: DynamoDBDocumentClient, private readonly table: string) {}

  async claim(links: IdentityLink[], owner: string): Promise<IdentityLink[]> {
    const rows = await this.read(links.map(linkKey));
    const mine: IdentityLink[] = [];
    for (const l of links) {
      const key = linkKey(l);
      const row = rows.get(key);
      if (row) {
        if (row.owner === owner && row.status === 'claimed') mine.push(l); // our own retry
        continue;
      }
      // Two deliveries of the same chunk may race here; both must come away owning the claim,
      // or the one that loses could finish the chunk without the link while the winner fails.
      try {
        await this.ddb.send(
          new PutCommand({
            TableName: this.table,
            Item: { pair: key, owner, status: 'claimed', anon: l.anon, user: l.user },
            ConditionExpression: 'attribute_not_exists(pair) OR (#owner = :owner AND #status = :claimed)',
            ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
            ExpressionAttributeValues: { ':owner': owner, ':claimed': 'claimed' },
          }),
        );
        mine.push(l);
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err; // another chunk got it first, or it is sent
      }
    }
    return mine;
  }

  async confirm(links: IdentityLink[], owner: string): Promise<void> {
    for (const l of links) {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pair: linkKey(l) },
          UpdateExpression: 'SET #status = :sent, sentAt = :now',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner' },
          ExpressionAttributeValues: { ':sent': 'sent', ':owner': owner, ':now': new Date().toISOString() },
        }),
      );
    }
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
