import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { mergeMapping, parseMapping, type MappingConfig } from '../../core/mapping';

export const CONFIG_NAME = 'backfill.config.json';

/** The folders whose config applies to a key, nearest first, up to the drop prefix. */
export function configFolders(key: string, dropPrefix: string): string[] {
  const dirs: string[] = [];
  let dir = key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : '';
  for (;;) {
    dirs.push(dir);
    if (!dir || dir === dropPrefix || !dir.startsWith(dropPrefix)) break;
    dir = dir.slice(0, dir.slice(0, -1).lastIndexOf('/') + 1);
  }
  return dirs;
}

/**
 * Whether a key exists, by listing: S3 answers a GetObject of a missing key with 403, not 404,
 * when the caller may not list the bucket, so a read cannot tell "no config" from "not
 * allowed". The splitter may list only under the drop prefix (an `s3:prefix` condition), and
 * an exact key sorts first among the keys it prefixes.
 */
async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  return res.Contents?.[0]?.Key === key;
}

async function readConfig(s3: S3Client, bucket: string, key: string): Promise<Record<string, unknown>> {
  const where = `s3://${bucket}/${key}`;
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  let raw: unknown;
  try {
    raw = JSON.parse(await res.Body!.transformToString());
  } catch (err) {
    throw new Error(`${where}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: invalid mapping config: not a JSON object`);
  return raw as Record<string, unknown>;
}

/**
 * The mapping for a dropped key: the stack's base config (CDK context), overlaid by the nearest
 * `backfill.config.json` in the key's folder or a parent folder inside the drop prefix. A config
 * that is listed but cannot be read fails the file: a permission error is never "no config".
 */
export async function mappingFor(s3: S3Client, bucket: string, key: string, dropPrefix: string, base: Record<string, unknown>): Promise<MappingConfig> {
  const candidates = configFolders(key, dropPrefix).map((d) => `${d}${CONFIG_NAME}`);
  const found = await Promise.all(candidates.map((c) => exists(s3, bucket, c)));
  const nearest = candidates.find((_, i) => found[i]);
  if (nearest === undefined) return parseMapping(base, 'the stack\'s mapping (CDK context "mapping")');
  return parseMapping(mergeMapping(base, await readConfig(s3, bucket, nearest)), `s3://${bucket}/${nearest}`);
}
