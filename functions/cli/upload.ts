import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { awsClients } from '../adapters/aws/clients';
import { uploadToDrop, type UploadOutcome } from '../adapters/aws/drop-upload';
import { FileSource } from '../adapters/local/file-source';
import { detectFormat } from '../core/detect';
import type { FormatName } from '../core/formats/names';
import { firstLine, openParts } from '../core/input';

/**
 * Folders under the drop prefix, one per source, named so that the path agrees with what
 * detection reads from the content (and tells a users CSV from an events CSV, which content
 * alone cannot): see core/detect.ts pathHint.
 */
export const FOLDER: Record<FormatName, string> = {
  amplitude: 'amplitude/',
  mixpanel: 'mixpanel/',
  segment: 'segment-logs/',
  posthog: '',
  'posthog-export': '',
  csv: 'csv/',
  users: 'users/',
};

export interface UploadOptions {
  bucket: string;
  /** The stack's drop prefix (`posthog/` by default). */
  prefix: string;
  /** A folder under the prefix for every file, instead of one chosen from the file's format. */
  folder?: string;
  partSize?: number;
  progress: boolean;
  signal?: AbortSignal;
}

export interface FileUpload extends UploadOutcome {
  file: string;
  format?: string;
}

/** Reads a file's first record as the splitter will, and names its format (undefined: cannot tell). */
export async function formatOfFile(path: string): Promise<FormatName | undefined> {
  const parts = openParts(await FileSource.open(path), { csv: 'auto' });
  try {
    for await (const part of parts) {
      if (part.skipped) continue;
      const first = await firstLine(part.bytes);
      await (first.stream as AsyncGenerator<Buffer>).return?.(undefined);
      if (first.line !== undefined) return detectFormat(first.line, part.unit, part.name ?? path);
    }
    return undefined;
  } finally {
    await parts.return(undefined);
  }
}

/** The key a file goes to: prefix, the source's folder, the file's name. */
export async function dropKey(path: string, opts: Pick<UploadOptions, 'prefix' | 'folder'>): Promise<{ key: string; format?: FormatName }> {
  const prefix = opts.prefix && !opts.prefix.endsWith('/') ? `${opts.prefix}/` : opts.prefix;
  if (opts.folder !== undefined) return { key: `${prefix}${opts.folder.replace(/^\/+|\/+$/g, '')}${opts.folder ? '/' : ''}${basename(path)}` };
  const format = await formatOfFile(path);
  if (!format) throw new Error(`${path}: cannot tell the format from the first record; name a folder with --folder (e.g. amplitude, mixpanel, segment-logs)`);
  return { key: `${prefix}${FOLDER[format]}${basename(path)}`, format };
}

/** Uploads files one after another (each in parallel parts); stops at the first failure. */
export async function uploadFiles(paths: string[], opts: UploadOptions): Promise<FileUpload[]> {
  const { s3 } = awsClients();
  // Every key is worked out (and every file read) before anything is sent.
  const plan = [];
  for (const path of paths) plan.push({ path, size: (await stat(path)).size, ...(await dropKey(path, opts)) });
  const bars = opts.progress ? new MultiBar({ format: '{file} [{bar}] {percentage}% | {value}/{total} bytes | {eta_formatted} left', hideCursor: true, clearOnComplete: false }, Presets.shades_classic) : undefined;
  const out: FileUpload[] = [];
  try {
    for (const f of plan) {
      const bar: SingleBar | undefined = bars?.create(f.size, 0, { file: basename(f.path) });
      const res = await uploadToDrop(s3, { path: f.path, key: f.key }, {
        bucket: opts.bucket,
        ...(opts.partSize ? { partSize: opts.partSize } : {}),
        onProgress: (n) => bar?.update(n),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      bar?.update(f.size);
      out.push({ file: f.path, ...(f.format ? { format: f.format } : {}), ...res });
    }
  } finally {
    bars?.stop();
  }
  return out;
}
