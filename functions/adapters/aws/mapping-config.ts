import type { S3Client } from '@aws-sdk/client-s3';
import { mergeMapping, parseMapping, type MappingConfig } from '../../core/mapping';
import { readJsonObject } from './s3';

export const CONFIG_NAME = 'backfill.config.json';

/**
 * The mapping for a dropped key: the stack's base config (CDK context), overlaid by the nearest
 * `backfill.config.json` in the key's folder or a parent folder inside the drop prefix.
 */
export async function mappingFor(s3: S3Client, bucket: string, key: string, dropPrefix: string, base: Record<string, unknown>): Promise<MappingConfig> {
  const dirs: string[] = [];
  let dir = key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : '';
  for (;;) {
    dirs.push(dir);
    if (!dir || dir === dropPrefix || !dir.startsWith(dropPrefix)) break;
    dir = dir.slice(0, dir.slice(0, -1).lastIndexOf('/') + 1);
  }
  for (const d of dirs) {
    const raw = await readJsonObject(s3, bucket, `${d}${CONFIG_NAME}`);
    if (raw !== undefined) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`s3://${bucket}/${d}${CONFIG_NAME}: invalid mapping config: not a JSON object`);
      return parseMapping(mergeMapping(base, raw as Record<string, unknown>), `s3://${bucket}/${d}${CONFIG_NAME}`);
    }
  }
  return parseMapping(base, 'the stack\'s mapping (CDK context "mapping")');
}
