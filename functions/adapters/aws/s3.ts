import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PassThrough, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';

import type { ByteSource } from '../../core/input';
import type { FileRef } from '../../core/messages';
import { rejectedNdjson, type FileReport } from '../../core/report';
import type { RejectedRecord } from '../../core/transform';
import type { Reports, Staging } from '../../pipeline/ports';

// Off the main thread (libuv's pool), so the splitter reads on while a chunk is compressed.
const gzipAsync = promisify(gzip);

/** Prefix for everything the pipeline writes into the drop bucket; never read as input. */
export const WORK_PREFIX = '_backfill/';

/**
 * An S3 object as a byte source: streamed from the start, or read by range (zip members).
 * Raw bytes always: an object stored with Content-Encoding: gzip is gunzipped by us, from its
 * magic bytes, not by the transport.
 */
export class S3Source implements ByteSource {
  readonly uri: string;
  private constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly version: string | undefined,
    private readonly eTag: string | undefined,
    readonly size: number,
  ) {
    this.uri = `s3://${bucket}/${key}`;
  }

  static async open(s3: S3Client, bucket: string, key: string, version?: string): Promise<S3Source> {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...(version ? { VersionId: version } : {}) }));
    return new S3Source(s3, bucket, key, version, head.ETag, head.ContentLength ?? 0);
  }

  /** Every read is of the same object: its version, or (unversioned bucket) If-Match its ETag. */
  private get pin() {
    return { Bucket: this.bucket, Key: this.key, ...(this.version ? { VersionId: this.version } : this.eTag ? { IfMatch: this.eTag } : {}) };
  }

  async open(from = 0): Promise<AsyncIterable<Buffer>> {
    if (from >= this.size && from > 0) return (async function* () {})();
    const res = await this.s3.send(new GetObjectCommand({ ...this.pin, ...(from > 0 ? { Range: `bytes=${from}-` } : {}) }));
    if (!res.Body) throw new Error(`${this.uri}: empty response body`);
    return res.Body as Readable;
  }

  range(start: number, end: number): Readable {
    const out = new PassThrough();
    if (end <= start) {
      out.end();
      return out;
    }
    this.s3
      .send(new GetObjectCommand({ ...this.pin, Range: `bytes=${start}-${end - 1}` }))
      .then((res) => (res.Body as Readable).on('error', (e) => out.destroy(e)).pipe(out))
      .catch((e: Error) => out.destroy(e));
    return out;
  }
}

/** Reads a small JSON object (a mapping config); undefined when there is none. */
export async function readJsonObject(s3: S3Client, bucket: string, key: string): Promise<unknown | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = await res.Body!.transformToString();
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(`s3://${bucket}/${key}: not valid JSON: ${(err as Error).message}`);
    }
  } catch (err) {
    if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** Chunk bodies staged gzipped (level 1: cheap, and 5-10x fewer bytes stored and read). */
export class S3Staging implements Staging {
  // Chunks compressed and uploaded at once while the splitter reads on (libuv's pool has 4 threads).
  readonly inFlight = 4;
  constructor(private readonly s3: S3Client, private readonly bucket: string) {}

  async put(key: string, body: Buffer): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: await gzipAsync(body, { level: 1 }) }));
  }

  async get(key: string): Promise<Buffer> {
    const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return gunzipSync(Buffer.from(await res.Body!.transformToByteArray()));
  }

  /** Whether a staged body is still there (a done chunk's is deleted; leftovers expire after 14 days). */
  async exists(key: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

export const stagingKey = (fileId: string, index: number) => `${WORK_PREFIX}staging/${fileId}/${String(index).padStart(6, '0')}.ndjson.gz`;

/** Reports next to the data, under the work prefix, named after the source key. */
export class S3Reports implements Reports {
  constructor(private readonly s3: S3Client, private readonly bucket: string) {}

  rejectedLocation(file: FileRef, fileId: string): string {
    return `s3://${this.bucket}/${this.rejectedPrefix(file, fileId)}`;
  }

  async putRejected(file: FileRef, fileId: string, chunk: number, rows: RejectedRecord[], part?: string): Promise<string> {
    const key = `${this.rejectedPrefix(file, fileId)}chunk-${String(chunk).padStart(6, '0')}.ndjson`;
    const body = rejectedNdjson(file.uri, part, rows);
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson' }));
    return `s3://${this.bucket}/${key}`;
  }

  async putReport(file: FileRef, report: FileReport): Promise<string> {
    const key = `${WORK_PREFIX}reports/${file.key ?? report.fileId}.report.json`;
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: JSON.stringify(report, null, 2), ContentType: 'application/json' }),
    );
    return `s3://${this.bucket}/${key}`;
  }

  private rejectedPrefix(file: FileRef, fileId: string): string {
    return `${WORK_PREFIX}rejected/${file.key ?? fileId}/`;
  }
}
