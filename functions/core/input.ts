import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
// yauzl, csv-parse and stream-json load only when a zip, CSV or JSON array comes in (dynamic
// imports below): an NDJSON import, the common case, starts without them.

/** How records are numbered in reports: NDJSON lines, JSON array elements, or CSV data rows. */
export type RecordUnit = 'line' | 'element' | 'row';

/** An input object that can be read from the start (or a byte offset), or by byte range (what zip needs). */
export interface ByteSource {
  uri: string;
  size: number;
  /** Bytes [from, size): one attempt; a reset surfaces as an error (the split's source stage resumes it). */
  open(from?: number): Promise<AsyncIterable<Buffer>>;
  /** Bytes [start, end). */
  range(start: number, end: number): Readable;
}

/** One stream of records: the whole file, or one member of a zip. */
export interface Part {
  /** The zip member's path; absent for a plain file. */
  name?: string;
  unit: RecordUnit;
  /** NDJSON bytes: the file's own lines, one line per array element, or one per CSV row. */
  bytes: AsyncIterable<Buffer>;
  /** Set when this member cannot be read at all (nested archive, binary, encrypted): skipped. */
  skipped?: string;
  /**
   * Set when `bytes` are the object's own bytes, untransformed (a plain file, not gzip, zip,
   * JSON array or CSV): byte d of `bytes` is byte d + sourceOffset of the object (a BOM shifts
   * it by 3). A continuation can then read on from an offset instead of from byte 0.
   */
  sourceOffset?: number;
}

export interface DecodeOptions {
  /** Read text that is neither NDJSON nor a JSON array as CSV with a header row. */
  csv: 'auto' | 'always' | 'never';
  delimiter?: string;
  /** Decompression-bomb guards. */
  limits?: InflateLimits;
  /** Zip only: members before this one are passed over without being opened (a continuation). */
  fromPart?: string;
}

export interface InflateLimits {
  /** Most bytes one file may decompress to. */
  maxBytes: number;
  /** Most decompressed bytes per compressed byte, checked once past `ratioAfter` bytes. */
  maxRatio: number;
  ratioAfter: number;
}

export const DEFAULT_INFLATE_LIMITS: InflateLimits = { maxBytes: 200 * 2 ** 30, maxRatio: 500, ratioAfter: 256 * 2 ** 20 };

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const ZIP = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/**
 * The parts of an input, one after another, never holding the whole object: a zip is read
 * member by member through byte ranges (its directory is at the end), anything else streams.
 */
export async function* openParts(src: ByteSource, opts: DecodeOptions): AsyncGenerator<Part> {
  const limits = opts.limits ?? DEFAULT_INFLATE_LIMITS;
  const raw = await src.open();
  const head = await peek(raw, 4);
  if (!head.bytes.subarray(0, 4).equals(ZIP)) {
    yield { ...(await decodeStream(head.stream, opts)) };
    return;
  }
  await head.stream[Symbol.asyncIterator]().return?.(); // the range reads below replace it
  const { default: yauzl } = await import('yauzl');
  const zip = await yauzl.fromRandomAccessReaderPromise(rangeReader(yauzl, src), src.size, { lazyEntries: true, validateEntrySizes: true, autoClose: false });
  let total = 0;
  let skipping = opts.fromPart !== undefined;
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      if (skipping && entry.fileName !== opts.fromPart) continue;
      skipping = false;
      const skip = (why: string): Part => ({ name: entry.fileName, unit: 'line', bytes: (async function* () {})(), skipped: why });
      // The directory's sizes are checked before inflating; yauzl then holds the data to them.
      total += entry.uncompressedSize;
      if (total > limits.maxBytes) throw new Error(`zip expands to more than ${limits.maxBytes} bytes: refused as a decompression bomb`);
      if (entry.uncompressedSize > limits.ratioAfter && entry.uncompressedSize > limits.maxRatio * Math.max(1, entry.compressedSize)) {
        throw new Error(`zip member ${entry.fileName} expands ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))}x: refused as a decompression bomb`);
      }
      if (entry.isEncrypted()) {
        yield skip('encrypted zip member');
        continue;
      }
      const stream = await zip.openReadStreamPromise(entry);
      try {
        const { sourceOffset: _inMember, ...decoded } = await decodeStream(stream as AsyncIterable<Buffer>, opts);
        yield { name: entry.fileName, ...decoded };
      } catch (err) {
        if (!(err instanceof UnreadableMember)) throw err;
        stream.destroy();
        yield skip(err.message);
      }
    }
  } finally {
    zip.close();
  }
}

/** A member (or file) that is not data we can read at all; the rest of a zip goes on. */
export class UnreadableMember extends Error {}

/** yauzl reads the zip through byte ranges of the source (its class comes with the lazily loaded module). */
function rangeReader(yauzl: typeof import('yauzl'), src: ByteSource): import('yauzl').RandomAccessReader {
  class RangeReader extends yauzl.RandomAccessReader {
    override _readStreamForRange(start: number, end: number): Readable {
      return src.range(start, end);
    }
  }
  return new RangeReader();
}

/**
 * Decodes one stream: gunzips when the bytes start with the gzip magic (whatever the name or
 * Content-Encoding says), drops a UTF-8 BOM, and turns a top-level JSON array into one line per
 * element and CSV into one JSON line per row.
 */
export async function decodeStream(raw: AsyncIterable<Buffer>, opts: DecodeOptions = { csv: 'never' }): Promise<Omit<Part, 'name'>> {
  const head = await peek(raw, 4);
  if (head.bytes.subarray(0, 4).equals(ZIP)) throw new UnreadableMember('a zip inside an archive is not supported: unpack it and drop the inner files');
  let bytes: AsyncIterable<Buffer> = head.stream;
  const gzipped = head.bytes[0] === 0x1f && head.bytes[1] === 0x8b;
  if (gzipped) bytes = gunzip(head.stream, opts.limits ?? DEFAULT_INFLATE_LIMITS);

  const text = await peek(bytes, 4096);
  if (looksBinary(text.bytes)) {
    throw new UnreadableMember('unknown file type: binary content, not JSON, NDJSON or CSV (plain, gzipped or zipped)');
  }
  const bom = text.bytes.subarray(0, 3).equals(BOM);
  bytes = bom ? skipBytes(text.stream, 3) : text.stream;

  const first = await firstNonSpace(bytes);
  if (first.byte === 0x5b /* [ */ && opts.csv !== 'always') return { unit: 'element', bytes: await arrayToLines(first.stream) };
  if (first.byte !== undefined && first.byte !== 0x7b /* { */ && opts.csv !== 'never') return { unit: 'row', bytes: await csvToLines(first.stream, opts.delimiter ?? ',') };
  return { unit: 'line', bytes: first.stream, ...(gzipped ? {} : { sourceOffset: bom ? 3 : 0 }) };
}

interface Peeked {
  bytes: Buffer;
  stream: AsyncIterable<Buffer>;
}

/** Reads at least `n` bytes (fewer at EOF) and returns them with a stream that replays them. */
async function peek(source: AsyncIterable<Buffer>, n: number): Promise<Peeked> {
  const it = source[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = toBuffer(r.value);
    held.push(b);
    len += b.length;
  }
  return { bytes: Buffer.concat(held), stream: replay(held, it, done) };
}

async function firstNonSpace(source: AsyncIterable<Buffer>): Promise<{ byte: number | undefined; stream: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let byte: number | undefined;
  let done = false;
  while (byte === undefined) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = toBuffer(r.value);
    held.push(b);
    for (const c of b) {
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        byte = c;
        break;
      }
    }
  }
  return { byte, stream: replay(held, it, done) };
}

async function* replay(held: Buffer[], it: AsyncIterator<unknown>, done: boolean): AsyncGenerator<Buffer> {
  for (const b of held) if (b.length) yield b;
  if (done) return;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield toBuffer(r.value);
  }
}

/** The stream without its first `n` bytes. */
export async function* skipBytes(source: AsyncIterable<Buffer>, n: number): AsyncGenerator<Buffer> {
  let left = n;
  for await (const b of source) {
    if (left >= b.length) {
      left -= b.length;
      continue;
    }
    yield left ? b.subarray(left) : b;
    left = 0;
  }
}

/** Gunzip that refuses a decompression bomb: too many bytes, or too many per compressed byte. */
async function* gunzip(source: AsyncIterable<Buffer>, limits: InflateLimits): AsyncGenerator<Buffer> {
  let compressed = 0;
  const counted = (async function* () {
    for await (const b of source) {
      compressed += b.length;
      yield b;
    }
  })();
  const from = Readable.from(counted, { objectMode: false });
  // Large output pieces: each one crosses several async hops on its way to the chunk planner.
  const z = createGunzip({ chunkSize: 256 * 1024 });
  from.on('error', (e) => z.destroy(e));
  let out = 0;
  for await (const b of from.pipe(z) as AsyncIterable<Buffer>) {
    out += b.length;
    if (out > limits.maxBytes || (out > limits.ratioAfter && out > limits.maxRatio * compressed)) {
      from.destroy();
      throw new Error(`gzip expands past ${out} bytes from ${compressed} (${Math.round(out / Math.max(1, compressed))}x): refused as a decompression bomb`);
    }
    yield b;
  }
}

/**
 * NUL bytes, or mostly undecodable or control characters in the first bytes: not a text
 * export. A few bad bytes are not enough: those lines are rejected one by one instead.
 */
function looksBinary(sample: Buffer): boolean {
  if (sample.includes(0)) return true;
  if (isUtf8(sample)) return false;
  const text = sample.toString('utf8');
  let odd = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c === 0xfffd || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) odd++;
  }
  return odd > text.length * 0.05;
}

async function* linesOf(values: AsyncIterable<unknown>, pick: (v: unknown) => unknown): AsyncGenerator<Buffer> {
  let batch: string[] = [];
  for await (const v of values) {
    batch.push(JSON.stringify(pick(v)));
    if (batch.length >= 256) {
      yield Buffer.from(`${batch.join('\n')}\n`);
      batch = [];
    }
  }
  if (batch.length) yield Buffer.from(`${batch.join('\n')}\n`);
}

async function arrayToLines(source: AsyncIterable<Buffer>): Promise<AsyncIterable<Buffer>> {
  const { streamArray } = await import('stream-json/streamers/stream-array.js');
  const from = Readable.from(source, { objectMode: false });
  const elements = streamArray.withParserAsStream();
  from.on('error', (e) => elements.destroy(e));
  from.pipe(elements);
  return linesOf(elements, (v) => (v as { value: unknown }).value);
}

async function csvToLines(source: AsyncIterable<Buffer>, delimiter: string): Promise<AsyncIterable<Buffer>> {
  const { parse: parseCsv } = await import('csv-parse');
  const from = Readable.from(source, { objectMode: false });
  // Rows keep their header names and string values; the csv format types them.
  const rows = parseCsv({ columns: true, bom: true, delimiter, relax_column_count: true, skip_empty_lines: true, trim: false });
  from.on('error', (e) => rows.destroy(e));
  from.pipe(rows);
  return linesOf(rows, (v) => v);
}

function toBuffer(v: unknown): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array);
}

/** The first non-blank line of a stream (up to 1 MiB), and the stream replayed from the start. */
export async function firstLine(source: AsyncIterable<Buffer>): Promise<{ line: string | undefined; stream: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let len = 0;
  let done = false;
  let line: string | undefined;
  while (line === undefined && len < 1 << 20) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = toBuffer(r.value);
    held.push(b);
    len += b.length;
    line = Buffer.concat(held).toString('utf8').split('\n').find((l, i, all) => l.trim() && i < all.length - 1);
  }
  if (line === undefined && done) line = Buffer.concat(held).toString('utf8').split('\n').find((l) => l.trim());
  return { line: line?.replace(/\r$/, ''), stream: replay(held, it, done) };
}
