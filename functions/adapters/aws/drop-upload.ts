import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { AbortMultipartUploadCommand, HeadObjectCommand, ListMultipartUploadsCommand, NotFound, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/** Metadata naming the local file an object was uploaded from: its size and modification time. */
const SOURCE_META = 'backfill-source';

export interface DropUpload {
  path: string;
  key: string;
}

export interface DropUploadOptions {
  bucket: string;
  /** Bytes per part (S3: at least 5 MiB; at most 10,000 parts per object). */
  partSize?: number;
  /** Parts in flight. */
  queueSize?: number;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface UploadOutcome {
  key: string;
  bytes: number;
  /** skipped: the same file (size and mtime) is already there; replaced: another object was at the key. */
  status: 'uploaded' | 'replaced' | 'skipped';
  /** Incomplete multipart uploads of this key (left by an interrupted run) aborted first. */
  abortedStale: number;
}

const MIN_PART = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;

/**
 * Streams one local file into the drop bucket (multipart through lib-storage). Resumable per
 * file: an object already uploaded from the same file (size and mtime in its metadata) is
 * skipped; a file whose upload was interrupted is uploaded again from its start, after the
 * interrupted multipart upload is aborted (its parts would otherwise be stored and billed
 * unseen). The splitter starts only when an object is complete, so a half upload never imports.
 */
export async function uploadToDrop(s3: S3Client, file: DropUpload, opts: DropUploadOptions): Promise<UploadOutcome> {
  const st = await stat(file.path);
  const source = `${st.size}:${Math.trunc(st.mtimeMs)}`;
  const existing = await headObject(s3, opts.bucket, file.key);
  if (existing && existing.size === st.size && existing.source === source) {
    opts.onProgress?.(st.size);
    return { key: file.key, bytes: st.size, status: 'skipped', abortedStale: 0 };
  }
  const abortedStale = await abortStale(s3, opts.bucket, file.key);
  const partSize = Math.max(opts.partSize ?? 8 * 1024 * 1024, MIN_PART, Math.ceil(st.size / MAX_PARTS));
  const upload = new Upload({
    client: s3,
    params: { Bucket: opts.bucket, Key: file.key, Body: createReadStream(file.path, { highWaterMark: 1 << 20 }), Metadata: { [SOURCE_META]: source } },
    partSize,
    queueSize: opts.queueSize ?? 4,
    leavePartsOnError: false,
  });
  upload.on('httpUploadProgress', (p) => opts.onProgress?.(p.loaded ?? 0));
  const onAbort = () => void upload.abort().catch(() => undefined);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) throw new Error('upload interrupted');
    await upload.done();
  } catch (err) {
    // lib-storage aborts the multipart upload itself; make sure, so a re-run starts clean.
    await abortStale(s3, opts.bucket, file.key).catch(() => undefined);
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { key: file.key, bytes: st.size, status: existing ? 'replaced' : 'uploaded', abortedStale };
}

async function headObject(s3: S3Client, bucket: string, key: string): Promise<{ size: number; source?: string } | undefined> {
  try {
    const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: h.ContentLength ?? 0, ...(h.Metadata?.[SOURCE_META] ? { source: h.Metadata[SOURCE_META] } : {}) };
  } catch (err) {
    // A missing key is 404 with s3:ListBucket, 403 without it: either way, nothing to compare.
    if (err instanceof NotFound || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404 || (err as { name?: string }).name === 'NotFound') return undefined;
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) return undefined;
    throw err;
  }
}

/** Aborts every incomplete multipart upload of exactly this key; returns how many. */
async function abortStale(s3: S3Client, bucket: string, key: string): Promise<number> {
  let aborted = 0;
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: idMarker }));
    for (const u of page.Uploads ?? []) {
      if (u.Key !== key || !u.UploadId) continue;
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }));
      aborted++;
    }
    if (!page.IsTruncated) return aborted;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
  }
}
