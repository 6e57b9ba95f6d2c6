import type { FormatName } from '../../core/formats/names';
import { openParts, skipBytes, type ByteSource, type DecodeOptions, type Part } from '../../core/input';
import type { MappingConfig } from '../../core/mapping';
import type { PlanPosition } from '../../core/chunks';
import type { SplitPosition } from '../ports';

/** A part to plan, and where in its line stream planning starts. */
export interface DecodedPart extends Part {
  from: PlanPosition;
}

/**
 * The decode stage: the parts of the object (core/input), from a split position. Untransformed
 * text is read on from its byte offset (a ranged read: no byte is read twice); anything else
 * (gzip, a zip member, a JSON array, CSV) is decoded again from its start and the lines before
 * the position are passed over unplanned; zip members before the position are not opened.
 */
export async function* decodeFrom(source: ByteSource, opts: DecodeOptions, at?: SplitPosition): AsyncGenerator<DecodedPart> {
  const start = at ? { byte: at.byte, line: at.line } : { byte: 0, line: 0 };
  if (at?.seek !== undefined) {
    yield { unit: 'line', bytes: await source.open(at.seek), sourceOffset: at.seek - at.byte, from: start };
    return;
  }
  let first = true;
  for await (const part of openParts(source, { ...opts, ...(at?.part !== undefined ? { fromPart: at.part } : {}) })) {
    const resumed = first && at !== undefined && part.name === at.part;
    first = false;
    if (!resumed) {
      yield { ...part, from: { byte: 0, line: 0 } };
      continue;
    }
    yield { ...part, bytes: start.byte ? skipBytes(part.bytes, start.byte) : part.bytes, from: start };
  }
}

/** How to decode for a format (CSV only when the format reads CSV or is still unknown). */
export function decodeOptions(format: FormatName | undefined, mapping: MappingConfig): DecodeOptions {
  const csv = format === 'csv' ? 'always' : format === undefined || format === 'users' ? 'auto' : 'never';
  return { csv, delimiter: mapping.csv.delimiter };
}
