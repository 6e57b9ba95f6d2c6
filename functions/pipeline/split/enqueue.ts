import type { ChunkMessage } from '../../core/messages';
import type { ChunkQueue } from '../ports';

// SendMessageBatch takes at most 10 entries.
const SQS_BATCH = 10;

/** The enqueue stage: chunk messages in batches (the queue adapter resends failed entries). */
export class Enqueuer {
  private pending: ChunkMessage[] = [];
  queued = 0;

  constructor(private readonly queue: ChunkQueue) {}

  async push(message: ChunkMessage): Promise<void> {
    this.pending.push(message);
    if (this.pending.length >= (this.queue.maxBatch ?? SQS_BATCH)) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.pending.length) return;
    await this.queue.send(this.pending);
    this.queued += this.pending.length;
    this.pending = [];
  }
}
