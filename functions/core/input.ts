import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { streamArray } from 'stream-json/streamers/stream-array.js';

/** How records are numbered in reports: NDJSON lines, or elements of a top-level JSON array. */
export type RecordUnit = 'line' | 'element';

export interface DecodedInput {
  unit: RecordUnit;
  /** NDJSON bytes: the file's own lines, or one line per array element. */
  bytes: AsyncIterable<Buffer>;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Decodes a raw object stream without buffering it: gunzips when the bytes start with the gzip
 * magic (whatever the name or Content-Encoding says), drops a UTF-8 BOM, and turns a top-level
 * JSON array into one line per element.
 */
export async function decodeInput(raw: AsyncIterable<Buffer>): Promise<DecodedInput> {
  const head = await peek(raw, 2);
  let bytes: AsyncIterable<Buffer> = head.stream;
  if (head.bytes[0] === 0x1f && head.bytes[1] === 0x8b) bytes = gunzip(head.stream);

  const text = await peek(bytes, 3);
  bytes = text.bytes.subarray(0, 3).equals(BOM) ? skip(text.stream, 3) : text.stream;

  const first = await firstNonSpace(bytes);
  if (first.byte === 0x5b /* [ */) return { unit: 'element', bytes: arrayToLines(first.stream) };
  return { unit: 'line', bytes: first.stream };
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
  const bytes = Buffer.concat(held);
  async function* replay(): AsyncGenerator<Buffer> {
    if (bytes.length) yield bytes;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield toBuffer(r.value);
    }
  }
  return { bytes, stream: replay() };
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
    held.push(r.value);
    for (const c of r.value) {
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        byte = c;
        break;
      }
    }
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* held;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { byte, stream: replay() };
}

async function* skip(source: AsyncIterable<Buffer>, n: number): AsyncGenerator<Buffer> {
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

function gunzip(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const from = Readable.from(source, { objectMode: false });
  const z = createGunzip();
  from.on('error', (e) => z.destroy(e));
  return from.pipe(z);
}

async function* arrayToLines(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const from = Readable.from(source, { objectMode: false });
  const elements = streamArray.withParserAsStream();
  from.on('error', (e) => elements.destroy(e));
  from.pipe(elements);
  let batch: string[] = [];
  for await (const { value } of elements as AsyncIterable<{ value: unknown }>) {
    batch.push(JSON.stringify(value));
    if (batch.length >= 256) {
      yield Buffer.from(`${batch.join('\n')}\n`);
      batch = [];
    }
  }
  if (batch.length) yield Buffer.from(`${batch.join('\n')}\n`);
}

function toBuffer(v: unknown): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array);
}
