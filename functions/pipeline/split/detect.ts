import { detectFormat } from '../../core/detect';
import type { FormatName } from '../../core/formats/names';
import { firstLine, type RecordUnit } from '../../core/input';

/**
 * The detect stage: the format of a part from its first record, or the config's claim checked
 * against it (a file under the wrong prefix would have every record rejected: say so once).
 * `bytes` is the part replayed from its start; `format` is undefined for a part with no records.
 */
export async function detectPart(
  bytes: AsyncIterable<Buffer>,
  claim: { format?: FormatName; check: boolean },
  unit: RecordUnit,
  name: string,
): Promise<{ format: FormatName | undefined; bytes: AsyncIterable<Buffer> }> {
  if (claim.format && !claim.check) return { format: claim.format, bytes };
  const first = await firstLine(bytes);
  if (first.line === undefined) return { format: undefined, bytes: first.stream };
  if (!claim.format) {
    const format = detectFormat(first.line, unit, name);
    if (!format) throw new Error(`cannot tell the format from the first record; set "format" in the mapping config or --format`);
    return { format, bytes: first.stream };
  }
  const looks = detectFormat(first.line, unit, '');
  if (looks && !compatible(looks, claim.format)) throw new Error(`the config says format "${claim.format}" but the first record looks like "${looks}"`);
  return { format: claim.format, bytes: first.stream };
}

// posthog and posthog-export records differ only in the extra fields an export carries.
function compatible(a: FormatName, b: FormatName): boolean {
  const family = (f: FormatName) => (f === 'posthog-export' ? 'posthog' : f === 'users' ? 'csv' : f);
  return family(a) === family(b);
}
