import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface ReplayOptions {
  dlqUrl: string;
  queueUrl: string;
  /** Stop after this many messages. */
  max?: number;
  /** Count and describe, move nothing (messages become visible again at the end). */
  dryRun?: boolean;
}

export interface ReplayResult {
  moved: number;
  seen: number;
  /** file#chunk of each message seen, for the dry-run listing. */
  chunks: string[];
}

/**
 * Moves messages from the DLQ back to the main queue with receive → send → delete, so it works
 * where StartMessageMoveTask does not. The moved copy gets a new message id; the sender keys
 * idempotency on the chunk, so that is harmless. A crash between send and delete leaves a
 * duplicate in the main queue, which the chunk checkpoint also absorbs.
 */
export async function replayDlq(sqs: SQSClient, opts: ReplayOptions): Promise<ReplayResult> {
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  const held: Message[] = [];
  const result: ReplayResult = { moved: 0, seen: 0, chunks: [] };
  try {
    while (result.seen < max) {
      const res = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: opts.dlqUrl,
          MaxNumberOfMessages: Math.min(10, max - result.seen),
          WaitTimeSeconds: 1,
          VisibilityTimeout: 120,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      const messages = res.Messages ?? [];
      if (!messages.length) break;
      result.seen += messages.length;
      for (const m of messages) result.chunks.push(describe(m.Body));
      if (opts.dryRun) {
        held.push(...messages);
        continue;
      }
      const sent = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: opts.queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? '' })),
        }),
      );
      const ok = new Set((sent.Successful ?? []).map((s) => Number(s.Id)));
      const done = messages.filter((_, i) => ok.has(i));
      if (done.length) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: opts.dlqUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
      result.moved += done.length;
      held.push(...messages.filter((_, i) => !ok.has(i)));
    }
  } finally {
    // Whatever was received but not moved goes back to the DLQ at once.
    for (let i = 0; i < held.length; i += 10) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: opts.dlqUrl,
          Entries: held.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      );
    }
  }
  return result;
}

function describe(body: string | undefined): string {
  try {
    const m = JSON.parse(body ?? '') as { file?: { uri?: string }; chunk?: number };
    return `${m.file?.uri ?? '?'}#${m.chunk ?? '?'}`;
  } catch {
    return '(not a chunk message)';
  }
}
