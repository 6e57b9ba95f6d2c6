import type { ChunkMessage } from '../../core/messages';
import type { ChunkQueue, Staging } from '../../pipeline/ports';

/** Staged chunk bodies held in memory until the sender takes them (local mode). */
export class MemoryStaging implements Staging {
  private readonly bodies = new Map<string, Buffer>();

  async put(key: string, body: Buffer): Promise<void> {
    this.bodies.set(key, body);
  }

  async exists(key: string): Promise<boolean> {
    return this.bodies.has(key);
  }

  async get(key: string): Promise<Buffer> {
    const body = this.bodies.get(key);
    if (!body) throw new Error(`no staged chunk ${key}`);
    this.bodies.delete(key); // taken once: keeps memory to the chunks in flight
    return body;
  }
}

/**
 * The local queue: `send` hands each chunk to the consumer and returns once fewer than
 * `concurrency` chunks are being consumed, so reading the next chunk overlaps sending the last
 * ones while memory stays bounded. `drain` waits for the rest and surfaces the first failure.
 */
export class InProcessQueue implements ChunkQueue {
  // One at a time, so the splitter waits for the senders instead of staging ten chunks ahead.
  readonly maxBatch = 1;
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;

  constructor(
    private readonly consume: (msg: ChunkMessage) => Promise<void>,
    private readonly concurrency = 1,
  ) {}

  async send(messages: ChunkMessage[]): Promise<void> {
    for (const m of messages) {
      while (this.running.size >= this.concurrency) await Promise.race(this.running);
      if (this.failure) throw this.failure;
      const p: Promise<void> = this.consume(m).then(
        () => void this.running.delete(p),
        (err: unknown) => {
          this.running.delete(p);
          this.failure ??= err;
        },
      );
      this.running.add(p);
    }
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.failure) throw this.failure;
  }
}
