import { open, type FileHandle } from 'node:fs/promises';
import type { PostHogEvent } from '../core/event';
import type { EventSink, SendResult } from '../pipeline/ports';

/**
 * Writes exactly the events that would be posted, one JSON object per line. Each chunk is one
 * append; `truncate` cuts a half-written tail on resume so a re-run never duplicates a line.
 */
export class NdjsonSink implements EventSink {
  private fh?: FileHandle;
  constructor(private readonly path: string) {}

  async open(size: number | undefined): Promise<number> {
    this.fh = await open(this.path, size === undefined ? 'w' : 'a+');
    if (size !== undefined) await this.fh.truncate(size);
    return (await this.fh.stat()).size;
  }

  async send(events: PostHogEvent[]): Promise<SendResult> {
    if (!this.fh) throw new Error('NdjsonSink.open was not called');
    if (events.length) await this.fh.write(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    return { rejected: [] };
  }

  async size(): Promise<number> {
    return this.fh ? (await this.fh.stat()).size : 0;
  }

  async close(): Promise<void> {
    await this.fh?.close();
  }
}
