import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetEventSourceMappingCommand, LambdaClient, UpdateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsClients } from '../adapters/aws/clients';
import { readControl, writeControl, CONTROL_CACHE_MS } from '../adapters/aws/control';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { listFiles } from '../adapters/aws/manifests';
import { stackOutputs } from '../adapters/aws/stack-outputs';

// Steering a deployed import without a redeploy. Pausing disables the senders' SQS event source
// mapping: Lambda stops taking messages, chunks in flight finish, and every other chunk waits in
// the queue untouched (no receive, so no step toward the DLQ). A control row the senders
// polled would instead have to receive and return each message, using up its receives.

export interface Target {
  /** The senders' event source mapping (stack output SenderEventSourceMappingId). */
  mappingId?: string;
  /** The checkpoint table (stack output CheckpointTableName). */
  table?: string;
}

/** Fills what the command needs and was not given from the stack's outputs. */
export async function resolveTarget(o: { stack?: string; mappingId?: string; table?: string }, needs: Array<keyof Target> = ['mappingId', 'table']): Promise<Target> {
  if (needs.every((k) => o[k]) || !o.stack) return { ...(o.mappingId ? { mappingId: o.mappingId } : {}), ...(o.table ? { table: o.table } : {}) };
  const out = await stackOutputs(o.stack);
  const mappingId = o.mappingId ?? out.SenderEventSourceMappingId;
  const table = o.table ?? out.CheckpointTableName;
  return { ...(mappingId ? { mappingId } : {}), ...(table ? { table } : {}) };
}

const needMapping = (t: Target) => {
  if (!t.mappingId) throw new Error('no sender event source mapping: pass --stack NAME (output SenderEventSourceMappingId) or --mapping-id');
  return t.mappingId;
};
const needTable = (t: Target) => {
  if (!t.table) throw new Error('no checkpoint table: pass --stack NAME (output CheckpointTableName) or --table');
  return t.table;
};

export interface SenderState {
  state: string;
  enabled: boolean;
  maxConcurrency?: number;
}

async function senderState(lambda: LambdaClient, id: string): Promise<SenderState> {
  const m = await lambda.send(new GetEventSourceMappingCommand({ UUID: id }));
  const state = m.State ?? 'Unknown';
  return { state, enabled: ['Enabled', 'Enabling', 'Updating'].includes(state), ...(m.ScalingConfig?.MaximumConcurrency ? { maxConcurrency: m.ScalingConfig.MaximumConcurrency } : {}) };
}

/** Stops the senders taking chunks. Chunks already being sent finish; the rest wait in the queue. */
export async function pauseSenders(t: Target, lambda = new LambdaClient({})): Promise<SenderState> {
  const id = needMapping(t);
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: id, Enabled: false }));
  return senderState(lambda, id);
}

/** Lifts a pause: the senders take chunks again, where they left off. */
export async function liftPause(t: Target, lambda = new LambdaClient({})): Promise<SenderState> {
  const id = needMapping(t);
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: id, Enabled: true }));
  return senderState(lambda, id);
}

export interface SetOptions {
  eventsPerMinute?: number;
  senderConcurrency?: number;
}

/**
 * Run-time settings: the events-per-minute budget (the control row; senders pick it up within
 * their cache time, 30 s) and the senders' maximum concurrency (the event source mapping).
 */
export async function setSettings(t: Target, s: SetOptions, clients = { lambda: new LambdaClient({}), ddb: awsClients().ddb }): Promise<string[]> {
  const done: string[] = [];
  if (s.senderConcurrency !== undefined) {
    if (s.senderConcurrency < 2 || s.senderConcurrency > 1000) throw new Error('--sender-concurrency must be 2-1000 (the SQS event source\'s range)');
    const id = needMapping(t);
    await clients.lambda.send(new UpdateEventSourceMappingCommand({ UUID: id, ScalingConfig: { MaximumConcurrency: s.senderConcurrency } }));
    done.push(`sender concurrency: at most ${s.senderConcurrency} senders`);
  }
  if (s.eventsPerMinute !== undefined) {
    await writeControl(clients.ddb, needTable(t), { eventsPerMinute: s.eventsPerMinute });
    done.push(`${s.eventsPerMinute ? `events per minute: ${s.eventsPerMinute}` : 'events per minute: no budget'} (senders pick it up within ${CONTROL_CACHE_MS / 1000} s)`);
  }
  if (!done.length) throw new Error('nothing to set: give --events-per-minute N and/or --sender-concurrency N');
  return done;
}

/** What `set` would show: the current settings. */
export async function currentSettings(t: Target, clients = { lambda: new LambdaClient({}), ddb: awsClients().ddb }) {
  return {
    ...(t.mappingId ? { senders: await senderState(clients.lambda, t.mappingId) } : {}),
    ...(t.table ? { control: await readControl(clients.ddb, t.table) } : {}),
  };
}

/**
 * Cancels one file, named by its file id or its `s3://bucket/key`: senders skip its remaining
 * chunks (closed unread), and its report says `cancelled` with how many records were not read.
 * A finished file cannot be cancelled.
 */
export async function cancelFile(t: Target, file: string, ddb: DynamoDBDocumentClient = awsClients().ddb): Promise<{ fileId: string; uri: string }> {
  const table = needTable(t);
  const cp = new DynamoCheckpoints(ddb, table);
  const matches: Array<{ fileId: string; uri: string }> = [];
  for (const f of await listFiles(ddb, table)) {
    if (f.fileId === file) matches.push({ fileId: f.fileId, uri: (await cp.getManifest(f.fileId))?.file.uri ?? file });
    else if (file.startsWith('s3://') && f.status !== 'reported') {
      const m = await cp.getManifest(f.fileId);
      if (m?.file.uri === file) matches.push({ fileId: f.fileId, uri: m.file.uri });
    }
  }
  if (!matches.length) throw new Error(`no unfinished file ${file} (see \`backfill status\`)`);
  if (matches.length > 1) throw new Error(`${file} names ${matches.length} versions in progress; cancel one by its file id: ${matches.map((m) => m.fileId).join(', ')}`);
  const [target] = matches;
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: `file#${target!.fileId}`, sk: 'manifest' },
        UpdateExpression: 'SET cancelled = :t, updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk) AND #status <> :reported',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':t': true, ':now': new Date().toISOString(), ':reported': 'reported' },
      }),
    );
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) throw new Error(`${file} has already finished; nothing to cancel`);
    throw err;
  }
  return target!;
}
