import type { ChunkMessage } from '../../core/messages';
import type { Staging } from '../ports';

/** A staging upload failed: the whole split is retried (never a half-queued chunk). */
export class StagingFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('staging failed');
  }
}

/**
 * The stage stage: chunk bodies uploaded in chunk order, a few in flight while reading goes on
 * (`staging.inFlight`). A chunk's message is released only once its body is stored.
 */
export class Stager {
  private readonly inFlight: Array<Promise<ChunkMessage>> = [];

  constructor(
    private readonly staging: Staging,
    private readonly release: (m: ChunkMessage) => Promise<void>,
  ) {}

  async add(message: ChunkMessage, body: Buffer): Promise<void> {
    const put = this.staging.put(message.staged, body).then(
      () => message,
      (err: unknown) => Promise.reject(new StagingFailed(err)),
    );
    put.catch(() => undefined); // awaited in order below; this only avoids an unhandled rejection
    this.inFlight.push(put);
    await this.settle((this.staging.inFlight ?? 1) - 1);
  }

  /** Waits until at most `keep` uploads are in flight, releasing the stored ones in order. */
  async settle(keep = 0): Promise<void> {
    while (this.inFlight.length > keep) await this.release(await this.inFlight.shift()!);
  }
}
