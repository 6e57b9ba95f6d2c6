import { isUtf8 } from 'node:buffer';
import type { Limits } from './settings';

/** A cut of the input: a contiguous run of lines starting at a record. */
export interface PlannedChunk {
  index: number;
  /** 1-based number of the chunk's first line. */
  firstLine: number;
  /** Records (non-blank lines) in the chunk, oversize ones included. */
  records: number;
  /** The lines firstLine.. as in the file, `\n`-terminated; an oversize line is left empty. */
  body: Buffer;
  /** Lines too long to be one event: rejected without ever being held in memory. */
  oversize: Array<{ n: number; bytes: number }>;
  /** Where the next chunk's scan starts: planning from here gives exactly the chunks after this one. */
  next: PlanPosition;
}

/** A point between two chunks of a stream: bytes and lines consumed before it. */
export interface PlanPosition {
  byte: number;
  line: number;
}

const NL = Buffer.from('\n');

/** Oversize lines travel in the chunk message; this bound keeps it far below SQS's 1 MiB. */
export const MAX_OVERSIZE_PER_CHUNK = 1000;

/**
 * Cuts a byte stream of NDJSON into chunks bounded by record count and bytes, at line
 * boundaries, holding at most one chunk in memory. Deterministic: the same bytes and limits
 * always give the same chunks, which is what makes re-splitting a file idempotent.
 */
export async function* planChunks(
  source: AsyncIterable<Buffer>,
  limits: Pick<Limits, 'chunkRecords' | 'chunkBytes' | 'maxRecordBytes'>,
  firstIndex = 0,
  from: PlanPosition = { byte: 0, line: 0 },
): AsyncGenerator<PlannedChunk> {
  let index = firstIndex;
  let lineNo = from.line;
  // Bytes of complete lines taken so far, and where the line being added starts.
  let consumed = from.byte;
  let lineStart = consumed;
  // The open chunk.
  let parts: Buffer[] = [];
  let bytes = 0;
  let records = 0;
  let firstLine = 0;
  let oversize: PlannedChunk['oversize'] = [];
  // A line split across source buffers.
  let carry: Buffer[] = [];
  let carryLen = 0;
  let tooLong = false;

  const cut = (next: PlanPosition): PlannedChunk => {
    const chunk = { index: index++, firstLine, records, body: Buffer.concat(parts, bytes), oversize, next };
    parts = [];
    bytes = 0;
    records = 0;
    oversize = [];
    return chunk;
  };

  // Adds one complete line (with its '\n' when present); returns a chunk when one is full.
  const addLine = (line: Buffer, over: number): PlannedChunk | undefined => {
    lineNo++;
    if (over === 0 && isBlank(line)) {
      if (records === 0) return undefined; // chunks start at a record
      parts.push(NL);
      bytes += 1;
      return undefined;
    }
    const size = over ? 1 : line.length;
    let full: PlannedChunk | undefined;
    if (records > 0 && (records >= limits.chunkRecords || bytes + size > limits.chunkBytes || oversize.length >= MAX_OVERSIZE_PER_CHUNK)) {
      // The line that does not fit starts the next chunk.
      full = cut({ byte: lineStart, line: lineNo - 1 });
    }
    if (records === 0) firstLine = lineNo;
    records++;
    if (over) {
      oversize.push({ n: lineNo, bytes: over });
      parts.push(NL);
    } else {
      parts.push(line);
      if (line[line.length - 1] !== 0x0a) parts.push(NL);
    }
    bytes += over ? 1 : line[line.length - 1] === 0x0a ? line.length : line.length + 1;
    return full;
  };

  try {
    for await (const buf of source) {
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl === -1) break;
        let full: PlannedChunk | undefined;
        lineStart = consumed;
        consumed += carryLen + nl + 1 - start;
        if (carryLen === 0 && !tooLong) {
          const line = buf.subarray(start, nl + 1);
          full = line.length - 1 > limits.maxRecordBytes ? addLine(line, line.length - 1) : addLine(line, 0);
        } else {
          const tail = buf.subarray(start, nl + 1);
          const total = carryLen + tail.length - 1;
          if (tooLong || total > limits.maxRecordBytes) full = addLine(NL, total);
          else full = addLine(Buffer.concat([...carry, tail], carryLen + tail.length), 0);
          carry = [];
          carryLen = 0;
          tooLong = false;
        }
        if (full) yield full;
        start = nl + 1;
      }
      if (start < buf.length) {
        const rest = buf.subarray(start);
        carryLen += rest.length;
        // Past the limit, stop holding the line: only its length is kept.
        if (carryLen > limits.maxRecordBytes) {
          tooLong = true;
          carry = [];
        } else {
          carry.push(Buffer.from(rest)); // copy: the source may reuse its buffer
        }
      }
    }
  } catch (err) {
    // The rest of the input is unreadable: hand over the complete lines read so far, then fail.
    if (records > 0) yield cut({ byte: consumed, line: lineNo });
    throw err;
  }
  if (carryLen > 0) {
    lineStart = consumed;
    consumed += carryLen;
    const full = tooLong || carryLen > limits.maxRecordBytes ? addLine(NL, carryLen) : addLine(Buffer.concat(carry, carryLen), 0);
    if (full) yield full;
  }
  if (records > 0) yield cut({ byte: consumed, line: lineNo });
}

function isBlank(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

/**
 * The records of a staged chunk body, numbered as in the source file; blank lines skipped. A
 * line that is not valid UTF-8 is marked, not silently repaired with U+FFFD.
 */
export function recordsOf(body: Buffer, firstLine: number): Array<{ n: number; text: string; invalidUtf8?: true }> {
  // Nearly always the whole body is valid, and so is every line of it (a '\n' byte is never part
  // of a multi-byte character): one decode, then lines cut from the text.
  if (isUtf8(body)) return linesOf(body.toString('utf8'), firstLine);
  const out: Array<{ n: number; text: string; invalidUtf8?: true }> = [];
  let n = firstLine;
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf(0x0a, start);
    if (end === -1) end = body.length;
    let stop = end;
    if (stop > start && body[stop - 1] === 0x0d) stop--;
    const line = body.subarray(start, stop);
    if (!isBlank(line)) out.push(isUtf8(line) ? { n, text: line.toString('utf8') } : { n, text: line.toString('utf8'), invalidUtf8: true });
    n++;
    start = end + 1;
  }
  return out;
}

/** `recordsOf` for a body known to be valid UTF-8, from its text. */
function linesOf(text: string, firstLine: number): Array<{ n: number; text: string }> {
  const out: Array<{ n: number; text: string }> = [];
  let n = firstLine;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 0x0d) stop--;
    if (!isBlankText(text, start, stop)) out.push({ n, text: text.slice(start, stop) });
    n++;
    start = end + 1;
  }
  return out;
}

// The same blanks as `isBlank`: space, tab, CR, LF.
function isBlankText(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}
