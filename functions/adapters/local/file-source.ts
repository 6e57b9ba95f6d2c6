import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ByteSource } from '../../core/input';

/** A local file as a byte source; `onRead` reports progress through the whole-file stream. */
export class FileSource implements ByteSource {
  private constructor(readonly uri: string, readonly size: number, private readonly onRead?: (bytes: number) => void) {}

  static async open(path: string, onRead?: (bytes: number) => void): Promise<FileSource> {
    const st = await stat(path);
    if (!st.isFile()) throw new Error(`${path}: not a file`);
    return new FileSource(path, st.size, onRead);
  }

  async open(from = 0): Promise<AsyncIterable<Buffer>> {
    const s = createReadStream(this.uri, { start: from, highWaterMark: 1 << 20 });
    if (this.onRead) s.on('data', () => this.onRead!(from + s.bytesRead));
    return s as AsyncIterable<Buffer>;
  }

  range(start: number, end: number): Readable {
    this.onRead?.(end);
    return createReadStream(this.uri, { start, end: Math.max(start, end - 1), highWaterMark: 1 << 20 });
  }
}
