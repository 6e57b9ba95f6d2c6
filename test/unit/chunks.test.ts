import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { planChunks, recordsOf, type PlannedChunk } from '../../functions/core/chunks';
import { decodeStream } from '../../functions/core/input';

const limits = { chunkRecords: 3, chunkBytes: 1_000_000, maxRecordBytes: 1_000 };

async function* pieces(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function plan(text: string | Buffer, l = limits, pieceSize = 1 << 16): Promise<PlannedChunk[]> {
  const out: PlannedChunk[] = [];
  for await (const c of planChunks(pieces(Buffer.from(text), pieceSize), l)) out.push(c);
  return out;
}

const records = (chunks: PlannedChunk[]) => chunks.flatMap((c) => recordsOf(c.body, c.firstLine));

describe('planChunks', () => {
  test('cuts by record count and numbers lines as in the file, skipping blank lines', async () => {
    const text = '{"a":1}\n\n{"a":2}\n{"a":3}\n   \n{"a":4}\n{"a":5}';
    const chunks = await plan(text);
    assert.deepEqual(chunks.map((c) => [c.index, c.firstLine, c.records]), [[0, 1, 3], [1, 6, 2]]);
    assert.deepEqual(records(chunks), [
      { n: 1, text: '{"a":1}' },
      { n: 3, text: '{"a":2}' },
      { n: 4, text: '{"a":3}' },
      { n: 6, text: '{"a":4}' },
      { n: 7, text: '{"a":5}' },
    ]);
  });

  test('cuts by bytes, never splitting a line', async () => {
    const line = JSON.stringify({ pad: 'x'.repeat(90) }); // 100 bytes + newline
    const text = Array.from({ length: 10 }, () => line).join('\n') + '\n';
    const chunks = await plan(text, { chunkRecords: 100, chunkBytes: 350, maxRecordBytes: 1000 });
    assert.deepEqual(chunks.map((c) => c.records), [3, 3, 3, 1]);
    for (const c of chunks) assert.ok(c.body.length <= 350);
    assert.equal(records(chunks).length, 10);
  });

  test('the same bytes give the same chunks however the stream is split', async () => {
    const text = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, s: 'é'.repeat(i) })).join('\r\n') + '\r\n';
    const whole = await plan(text, { chunkRecords: 7, chunkBytes: 400, maxRecordBytes: 1000 });
    for (const size of [1, 3, 17, 4096]) {
      const split = await plan(text, { chunkRecords: 7, chunkBytes: 400, maxRecordBytes: 1000 }, size);
      assert.deepEqual(split.map((c) => [c.firstLine, c.records, c.body.toString('hex')]), whole.map((c) => [c.firstLine, c.records, c.body.toString('hex')]));
    }
    assert.equal(records(whole)[0]!.text, '{"i":0,"s":""}', 'CRLF endings are stripped');
  });

  test('an oversize line is rejected by size without being held in memory', async () => {
    const big = `{"blob":"${'x'.repeat(5_000)}"}`;
    const text = `{"a":1}\n${big}\n{"a":2}\n${big}`; // last line has no newline
    for (const size of [64, 100_000]) {
      const chunks = await plan(text, limits, size);
      assert.deepEqual(chunks.flatMap((c) => c.oversize), [{ n: 2, bytes: big.length }, { n: 4, bytes: big.length }]);
      assert.deepEqual(records(chunks).map((r) => r.n), [1, 3]);
      assert.equal(chunks.reduce((a, c) => a + c.records, 0), 4, 'oversize lines still count as records read');
      for (const c of chunks) assert.ok(c.body.length < 100);
    }
  });

  test('an empty or blank file has no chunks', async () => {
    assert.deepEqual(await plan(''), []);
    assert.deepEqual(await plan('\n \n\r\n'), []);
  });
});

describe('decodeStream', () => {
  async function text(input: Buffer, pieceSize = 1 << 16) {
    const d = await decodeStream(pieces(input, pieceSize));
    const parts: Buffer[] = [];
    for await (const b of d.bytes) parts.push(Buffer.from(b));
    return { unit: d.unit, text: Buffer.concat(parts).toString('utf8') };
  }

  test('gzip is detected from the bytes, including multi-member gzip', async () => {
    const gz = Buffer.concat([gzipSync('{"a":1}\n'), gzipSync('{"a":2}\n')]);
    assert.deepEqual(await text(gz, 1), { unit: 'line', text: '{"a":1}\n{"a":2}\n' });
  });

  test('a UTF-8 BOM is dropped', async () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}\n')]);
    assert.equal((await text(bom, 1)).text, '{"a":1}\n');
    assert.equal((await text(gzipSync(bom))).text, '{"a":1}\n');
  });

  test('a top-level JSON array becomes one line per element', async () => {
    const arr = Buffer.from('  [\n {"event":"a","n":1},\n {"event":"b","nested":{"x":[1,2]}}\n]\n');
    assert.deepEqual(await text(arr, 5), { unit: 'element', text: '{"event":"a","n":1}\n{"event":"b","nested":{"x":[1,2]}}\n' });
  });

  test('a truncated gzip fails with an error, after yielding what it could', async () => {
    const gz = gzipSync(Array.from({ length: 2000 }, (_, i) => `{"i":${i}}`).join('\n'));
    await assert.rejects(text(gz.subarray(0, gz.length - 200)), /unexpected end of file/);
  });
});

describe('chunk message size', () => {
  test('a file of nothing but oversize lines still gives chunk messages far under 1 MiB', async () => {
    const { MAX_OVERSIZE_PER_CHUNK } = await import('../../functions/core/chunks');
    const big = 'x'.repeat(1_100);
    const text = Array.from({ length: 2_500 }, () => big).join('\n');
    const chunks = await plan(text, { chunkRecords: 5_000, chunkBytes: 8_000_000, maxRecordBytes: 1_000 }, 1 << 20);
    assert.deepEqual(chunks.map((c) => c.oversize.length), [MAX_OVERSIZE_PER_CHUNK, MAX_OVERSIZE_PER_CHUNK, 500]);
    for (const c of chunks) assert.ok(JSON.stringify(c.oversize).length < 64 * 1024);
  });
});

describe('planChunks from a position', () => {
  test("planning on from any chunk's `next` (bytes and lines) gives exactly the chunks after it", async () => {
    const long = 'y'.repeat(1_500); // over maxRecordBytes: oversize, measured not held
    const lines = ['', '{"a":1}', '', '{"a":2}', `{"big":"${long}"}`, '{"a":3}', '  ', '', '{"a":4}', '{"a":5}', '', '{"a":6}', '{"a":7}'];
    const text = Buffer.from(lines.join('\r\n'));
    for (const size of [1, 7, 1 << 16]) {
      const all = await plan(text, limits, size);
      assert.ok(all.length >= 3);
      for (const c of all) {
        const rest: PlannedChunk[] = [];
        for await (const r of planChunks(pieces(text.subarray(c.next.byte), size), limits, c.index + 1, c.next)) rest.push(r);
        assert.deepEqual(rest, all.slice(c.index + 1), `from after chunk ${c.index}, pieces of ${size}`);
      }
      assert.deepEqual(all.at(-1)!.next, { byte: text.length, line: lines.length });
    }
  });
});
