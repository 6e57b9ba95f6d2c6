import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/** Where pulled windows go: the drop bucket, or a local folder. */
export interface Drop {
  /**
   * Writes `body` to `key` as it arrives. Resolves once the object is complete; if the body or
   * the write fails, nothing new is at `key` (an object is only ever visible whole).
   */
  write(key: string, body: Readable, onBytes?: (total: number) => void): Promise<{ bytes: number; location: string }>;
}

/** Counts bytes as they pass; a failure of the source passes through as an error. */
function counted(body: Readable, onBytes: (total: number) => void): Readable {
  let total = 0;
  async function* pass() {
    for await (const b of body) {
      total += (b as Buffer).length;
      onBytes(total);
      yield b as Buffer;
    }
  }
  return Readable.from(pass(), { objectMode: false });
}

/** A local folder: written to a temporary name, renamed into place only when complete. */
export class DirDrop implements Drop {
  constructor(readonly dir: string) {}

  async write(key: string, body: Readable, onBytes?: (n: number) => void) {
    const path = join(this.dir, key);
    const tmp = `${path}.partial-${process.pid}`;
    await mkdir(dirname(path), { recursive: true });
    let bytes = 0;
    try {
      await pipeline(counted(body, (n) => ((bytes = n), onBytes?.(n))), createWriteStream(tmp));
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { bytes, location: path };
  }
}

/**
 * The drop bucket under `<prefix><source>/`, streamed with lib-storage (multipart past 5 MB;
 * a failed upload is aborted, so no partial object appears and no ObjectCreated fires).
 */
export class S3Drop implements Drop {
  constructor(private readonly s3: S3Client, private readonly bucket: string, private readonly prefix: string) {}

  async write(key: string, body: Readable, onBytes?: (n: number) => void) {
    const Key = `${this.prefix}${key}`;
    let bytes = 0;
    const upload = new Upload({
      client: this.s3,
      params: { Bucket: this.bucket, Key, Body: counted(body, (n) => ((bytes = n), onBytes?.(n))) },
      queueSize: 2,
      leavePartsOnError: false,
    });
    await upload.done();
    return { bytes, location: `s3://${this.bucket}/${Key}` };
  }
}

/** The body, or undefined when it ends without a byte (an empty window writes no object). */
export async function nonEmpty(body: Readable): Promise<Readable | undefined> {
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return undefined;
  async function* rest() {
    yield first.value as Buffer;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value as Buffer;
    }
  }
  return Readable.from(rest(), { objectMode: false });
}
