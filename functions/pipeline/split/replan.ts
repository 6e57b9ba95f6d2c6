import type { PlannedChunk } from '../../core/chunks';
import type { FormatName } from '../../core/formats/names';
import type { ByteSource, InflateLimits, RecordUnit } from '../../core/input';
import type { MappingConfig } from '../../core/mapping';
import type { Manifest } from '../ports';
import { decodeFrom, decodeOptions } from './decode';
import type { ChunkLimits } from './job';
import { planPart } from './plan';
import { resumingSource, type ReadRetry } from './source';

/**
 * Cuts the file again, exactly as its split did (same bytes, format, mapping and limits, all
 * frozen in the manifest), and yields the chunks asked for. Chunking is deterministic, so a
 * staged body that expired or was deleted is rebuilt byte for byte.
 */
export async function* replanChunks(
  source: ByteSource,
  m: Manifest,
  wanted: Set<number>,
  opts: { limits: ChunkLimits; inflate?: InflateLimits; read?: ReadRetry },
): AsyncGenerator<{ chunk: PlannedChunk; part?: string; unit: RecordUnit }> {
  const limits = m.limits ?? opts.limits;
  const decode = { ...decodeOptions(m.format as FormatName, m.mapping as MappingConfig), ...(opts.inflate ? { limits: opts.inflate } : {}) };
  let index = 0;
  let left = wanted.size;
  if (!left) return;
  for await (const part of decodeFrom(resumingSource(source, opts.read), decode)) {
    if (part.skipped) continue;
    for await (const chunk of planPart(part, limits, index)) {
      index++;
      if (!wanted.has(chunk.index)) continue;
      yield { chunk, unit: part.unit, ...(part.name !== undefined ? { part: part.name } : {}) };
      if (--left === 0) return;
    }
  }
}
