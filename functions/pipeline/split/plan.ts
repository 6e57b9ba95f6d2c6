import { planChunks, type PlannedChunk } from '../../core/chunks';
import type { Limits } from '../../core/settings';
import type { SplitPosition } from '../ports';
import type { DecodedPart } from './decode';

/** The plan stage: deterministic chunk cuts of one part (core/chunks), numbered on from `index`. */
export function planPart(part: DecodedPart, limits: Pick<Limits, 'chunkRecords' | 'chunkBytes' | 'maxRecordBytes'>, index: number): AsyncGenerator<PlannedChunk> {
  return planChunks(part.bytes, limits, index, part.from);
}

/** The split position right after `chunk`: a later run planning from it cuts the same chunks. */
export function positionAfter(chunk: PlannedChunk, part: DecodedPart, records: number): SplitPosition {
  return {
    chunk: chunk.index + 1,
    records,
    ...(part.name !== undefined ? { part: part.name } : {}),
    line: chunk.next.line,
    byte: chunk.next.byte,
    ...(part.sourceOffset !== undefined ? { seek: part.sourceOffset + chunk.next.byte } : {}),
  };
}
