import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ChunkMessage } from '../../core/messages';
import type { ChunkQueue } from '../../pipeline/ports';

/** Chunk messages to SQS, ten per SendMessageBatch; partial failures are retried, then thrown. */
export class SqsChunkQueue implements ChunkQueue {
  constructor(private readonly sqs: SQSClient, private readonly queueUrl: string) {}

  async send(messages: ChunkMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      let entries = messages.slice(i, i + 10).map((m) => ({ Id: `c${m.chunk}`, MessageBody: JSON.stringify(m) }));
      // Ten messages share SendMessageBatch's 1 MiB; chunk messages are claim checks of a few hundred bytes.
      const total = entries.reduce((n, e) => n + Buffer.byteLength(e.MessageBody), 0);
      if (total > 1_048_576) throw new Error(`chunk messages of ${total} bytes exceed SQS's 1 MiB batch limit`);
      for (let attempt = 0; entries.length; attempt++) {
        const res = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
        const failed = new Set((res.Failed ?? []).map((f) => f.Id));
        if (!failed.size) break;
        if (attempt >= 4) throw new Error(`SQS refused ${failed.size} chunk messages: ${res.Failed?.[0]?.Code ?? 'unknown'}`);
        entries = entries.filter((e) => failed.has(e.Id));
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }
}
