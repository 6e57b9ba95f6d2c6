import type { ChunkMessage } from '../../core/messages';
import type { ChunkQueue, Staging } from '../../pipeline/ports';

/** Staged chunk bodies held in memory until the sender takes them (local mode). */
export class MemoryStaging implements Staging {
  private readonly bodies = new Map<string, Buffer>();

  async put(key: string, body: Buffer): Promise<void> {
    this.bodies.set(key, body);
  }

  async get(key: string): Promise<Buffer> {
    const body = this.bodies.get(key);
    if (!body) throw new Error(`no staged chunk ${key}`);
    this.bodies.delete(key); // taken once: keeps memory to the chunks in flight
    return body;
  }
}

/**
 * The local queue: `send` hands each chunk straight to the consumer and resolves when it is
 * done, so the splitter never runs ahead of the sender by more than one chunk.
 */
export class InProcessQueue implements ChunkQueue {
  constructor(private readonly consume: (msg: ChunkMessage) => Promise<void>) {}

  async send(messages: ChunkMessage[]): Promise<void> {
    for (const m of messages) await this.consume(m);
  }
}
