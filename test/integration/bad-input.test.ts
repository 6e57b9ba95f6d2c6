import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import yazl from 'yazl';
import type { FileReport } from '../../functions/core/report';
import { CaptureStandIn } from '../support/capture-stand-in';
import { createStack, drain, queueDepth, readJson, rejectedRows, s3Event, upload, type Stack } from '../support/aws-env';
import { posthogRecords } from '../support/fixtures';
import { startMoto, type Moto } from '../support/moto';
import { segmentLines } from '../support/vendors';

const KEY = 'phc_corpus';
const good = (n: number, seed: string) => posthogRecords(n, { seed });
const line = (o: object) => JSON.stringify(o);
const ok = { event: 'e', distinct_id: 'u', timestamp: '2024-01-01T00:00:00Z' };

async function zipOf(members: Array<[string, Buffer | string]>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, body] of members) zip.addBuffer(Buffer.from(body), name);
  zip.end();
  const parts: Buffer[] = [];
  for await (const b of zip.outputStream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

describe('bad-input corpus: each file ends in a clear report, nothing lost, no crash loop', () => {
  let moto: Moto;
  let capture: CaptureStandIn;
  let stack: Stack;
  before(async () => {
    moto = await startMoto();
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    // Small bomb limits so a bomb is cheap to build; the defaults are 500x past 256 MiB.
    stack = await createStack(capture.url, KEY, { CHUNK_RECORDS: 100, DROP_PREFIX: 'posthog/', MAX_INFLATE_RATIO: 50, INFLATE_RATIO_AFTER: 100_000 });
  });
  after(async () => {
    await capture?.stop();
    await moto?.stop();
  });

  /** Drops a file and runs it through; the handlers must return (no throw means no retry loop). */
  async function run(key: string, body: Buffer | string) {
    const before = capture.unique;
    const obj = await upload(stack.bucket, `posthog/${key}`, body);
    await stack.splitter()(s3Event(stack.bucket, `posthog/${key}`, obj));
    await drain(stack.queueUrl, stack.sender());
    assert.equal(await queueDepth(stack.queueUrl), 0);
    const report = await readJson<FileReport>(stack.bucket, `_backfill/reports/posthog/${key}.report.json`);
    assert.equal(report.reconciled, true, 'read = sent + rejected + filtered');
    if (report.error) assert.ok(report.error.startsWith(`s3://${stack.bucket}/posthog/${key}: `), 'the error names the file');
    return { report, rows: await rejectedRows(stack.bucket, `posthog/${key}`), newUuids: capture.unique - before };
  }

  test('1. an empty object', async () => {
    const { report } = await run('empty.jsonl', '');
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /the file holds no records/);
  });

  test('2. a truncated gzip: what was read is sent, the report says where reading stopped', async () => {
    const gz = gzipSync(good(2_000, 'trunc').text);
    const { report, newUuids } = await run('truncated.jsonl.gz', gz.subarray(0, Math.floor(gz.length * 0.6)));
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /reading stopped after \d+ records: unexpected end of file/);
    assert.ok(report.records.read > 500);
    assert.equal(newUuids, report.records.sent);
  });

  test('3. a gzip of garbage', async () => {
    const { report } = await run('garbage.gz', gzipSync(randomBytes(20_000)));
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /unknown file type: binary content/);
  });

  test('4. a zip with a plain (non-gzip) member next to a gzip one: both are read', async () => {
    const a = good(150, 'zip-a').text;
    const b = good(120, 'zip-b').text;
    const { report, newUuids } = await run('mixed.zip', await zipOf([['a.jsonl', a], ['b.jsonl.gz', gzipSync(b)]]));
    assert.equal(report.status, 'complete');
    assert.equal(report.records.sent, 270);
    assert.equal(newUuids, 270);
  });

  test('5. a zip bomb is refused, not inflated', async () => {
    // One record, then 50 MB of padding from ~50 KB: refused once past 50x, the record still sent.
    const bomb = gzipSync(Buffer.concat([Buffer.from(`${line(ok)}\n`), Buffer.alloc(50 * 2 ** 20, 0x20)]));
    const { report, newUuids } = await run('bomb.jsonl.gz', bomb);
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /refused as a decompression bomb/);
    assert.deepEqual([report.records.read, report.records.sent, newUuids], [1, 1, 1]);
    const zipped = await run('bomb.zip', await zipOf([['big.jsonl', Buffer.alloc(20 * 2 ** 20, 0x20)]]));
    assert.match(zipped.report.error!, /refused as a decompression bomb/);
    assert.equal(zipped.report.records.read, 0);
  });

  test('6. a nested archive member is skipped with its reason; the other members are read', async () => {
    const inner = await zipOf([['x.jsonl', good(10, 'inner').text]]);
    const { report } = await run('nested.zip', await zipOf([['inner.zip', inner], ['ok.jsonl', good(40, 'outer').text]]));
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /inner\.zip: skipped: a zip inside an archive is not supported/);
    assert.equal(report.records.sent, 40);
  });

  test('7. a single 10 MB line is rejected by size without being buffered; its neighbours go', async () => {
    const big = line({ ...ok, properties: { blob: 'x'.repeat(10 * 1024 * 1024) } });
    const { report, rows } = await run('ten-mb-line.jsonl', [line({ ...ok, distinct_id: 'a' }), big, line({ ...ok, distinct_id: 'b' })].join('\n'));
    assert.deepEqual([report.records.sent, report.records.rejected], [2, 1]);
    assert.deepEqual([rows[0]!.line, rows[0]!.code], [2, 'record_too_large']);
  });

  test('8. invalid UTF-8 is rejected at its line, not silently repaired', async () => {
    const bad = Buffer.concat([Buffer.from('{"event":"e","distinct_id":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const body = Buffer.concat([Buffer.from(`${line({ ...ok, distinct_id: 'first' })}\n`), bad, Buffer.from(`\n${line({ ...ok, distinct_id: 'last' })}\n`)]);
    const { report, rows } = await run('bad-utf8.jsonl', body);
    assert.deepEqual([report.records.sent, report.records.rejected], [2, 1]);
    assert.deepEqual([rows[0]!.line, rows[0]!.code, rows[0]!.reason], [2, 'invalid_utf8', 'the line is not valid UTF-8']);
  });

  test('9. a UTF-8 BOM', async () => {
    const { report, newUuids } = await run('bom.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(good(30, 'bom').text)]));
    assert.deepEqual([report.status, report.records.sent, newUuids], ['complete', 30, 30]);
  });

  test('10. CRLF line endings, with a bad line numbered right', async () => {
    const text = `${good(30, 'crlf').text}{"event":"e"}\n${good(5, 'crlf2').text}`.replace(/\n/g, '\r\n');
    const { report, rows } = await run('crlf.jsonl', text);
    assert.deepEqual([report.status, report.records.sent, report.records.rejected], ['complete', 35, 1]);
    assert.deepEqual([rows[0]!.line, rows[0]!.record], [31, '{"event":"e"}']);
  });

  test('11. a JSON array file, with a bad element reported by its position', async () => {
    const arr = JSON.stringify([ok, { ...ok, distinct_id: 'v' }, { event: 'no id' }, { ...ok, distinct_id: 'w' }]);
    const { report, rows } = await run('array.json', arr);
    assert.deepEqual([report.unit, report.records.sent, report.records.rejected], ['element', 3, 1]);
    assert.deepEqual([rows[0]!.line, rows[0]!.code], [3, 'missing_distinct_id']);
  });

  test('12. the wrong format for its prefix fails once, clearly, instead of rejecting every record', async () => {
    await upload(stack.bucket, 'posthog/amp-only/backfill.config.json', JSON.stringify({ format: 'amplitude' }));
    const { report, newUuids } = await run('amp-only/segment.jsonl', segmentLines(20).lines.join('\n'));
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /the config says format "amplitude" but the first record looks like "segment"/);
    assert.equal(newUuids, 0);
  });

  // One bad record between two good ones: the bad one is rejected at line 2 with its reason.
  const badLines: Array<[string, string, string, RegExp]> = [
    ['13. a record missing distinct_id', line({ event: 'e', timestamp: ok.timestamp }), 'missing_distinct_id', /distinct_id is missing/],
    ['14. an unparseable timestamp', line({ ...ok, timestamp: '31/12/2024 10:00' }), 'invalid_timestamp', /not ISO 8601/],
    ['15. a far-future timestamp', line({ ...ok, timestamp: '2999-01-01T00:00:00Z' }), 'future_timestamp', /more than 23 h in the future/],
    ['16. properties that are not an object', line({ ...ok, properties: 'plan=pro' }), 'invalid_properties', /properties is not an object/],
    ['17. a line of broken JSON', '{"event": "e", "distinct_id": ', 'invalid_json', /not valid JSON/],
  ];
  for (const [name, bad, code, reason] of badLines) {
    test(name, async () => {
      const key = `${code}.jsonl`;
      const { report, rows, newUuids } = await run(key, [line({ ...ok, distinct_id: `${code}-a` }), bad, line({ ...ok, distinct_id: `${code}-b` })].join('\n'));
      assert.deepEqual([report.status, report.records.read, report.records.sent, report.records.rejected], ['complete', 3, 2, 1]);
      assert.equal(newUuids, 2);
      assert.deepEqual([rows.length, rows[0]!.file, rows[0]!.line, rows[0]!.code], [1, `s3://${stack.bucket}/posthog/${key}`, 2, code]);
      assert.match(String(rows[0]!.reason), reason);
      assert.equal(rows[0]!.record, bad);
    });
  }

  test('18. an unknown file type', async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2_000)]);
    const { report } = await run('picture.png', png);
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /unknown file type/);
  });

  test('19. a format that cannot be told from content or path', async () => {
    const { report } = await run('mystery.jsonl', `${line({ a: 1 })}\n`);
    assert.equal(report.status, 'failed');
    assert.match(report.error!, /cannot tell the format from the first record; set "format"/);
  });
});
