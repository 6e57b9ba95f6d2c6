import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { posthogFormat } from '../../functions/core/formats/posthog';
import type { TransformContext } from '../../functions/core/formats/types';
import type { PostHogEvent, Rejection } from '../../functions/core/event';
import { parseTimestamp } from '../../functions/core/timestamp';
import { transformRecords } from '../../functions/core/transform';
import { deriveUuid, isValidUuid } from '../../functions/core/uuid';
import { decodeS3Key, fileIdentity } from '../../functions/core/identity';
import { DEFAULT_MAPPING } from '../../functions/core/mapping';
import { TupleMemo } from '../../functions/core/tuple-memo';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const ctx: TransformContext = { origin: 'export.jsonl', now: NOW, mapping: DEFAULT_MAPPING };
const setMode: TransformContext = { ...ctx, mapping: { ...DEFAULT_MAPPING, personMode: 'set' } };

function one(record: unknown, c: TransformContext = ctx): PostHogEvent {
  const out = posthogFormat.toEvents(record, c);
  assert.ok('events' in out, `expected events, got ${JSON.stringify(out)}`);
  assert.equal(out.events.length, 1);
  return out.events[0]!;
}
function rejected(record: unknown): Rejection {
  const out = posthogFormat.toEvents(record, ctx);
  assert.ok('code' in out, 'expected a rejection');
  return out;
}

describe('uuid', () => {
  test('derived uuids are valid, deterministic and differ by identity', () => {
    const a = deriveUuid('posthog', 'x');
    assert.ok(isValidUuid(a));
    assert.equal(a, deriveUuid('posthog', 'x'));
    assert.notEqual(a, deriveUuid('posthog', 'y'));
    assert.notEqual(a, deriveUuid('amplitude', 'x'));
    // Parts are separated, so ("ab","c") and ("a","bc") do not collide.
    assert.notEqual(deriveUuid('s', 'ab', 'c'), deriveUuid('s', 'a', 'bc'));
  });

  test('only hyphenated UUIDs count as valid', () => {
    assert.ok(isValidUuid('0190C2A4-9C3E-7A11-8D2F-3B4C5D6E7F80'));
    assert.ok(!isValidUuid('0190c2a49c3e7a118d2f3b4c5d6e7f80'));
    assert.ok(!isValidUuid('not-a-uuid'));
    assert.ok(!isValidUuid(42));
  });
});

describe('timestamps', () => {
  test('a zone-less timestamp is UTC, never local time', () => {
    const before = process.env.TZ;
    process.env.TZ = 'America/Los_Angeles';
    try {
      assert.equal(parseTimestamp('2025-07-01 16:34:54.837000', NOW), '2025-07-01T16:34:54.837Z');
      assert.equal(parseTimestamp('2025-07-01T16:34:54', NOW), '2025-07-01T16:34:54.000Z');
      assert.equal(parseTimestamp('2025-07-01', NOW), '2025-07-01T00:00:00.000Z');
    } finally {
      process.env.TZ = before;
    }
  });

  test('offsets, Z and epoch seconds or milliseconds', () => {
    assert.equal(parseTimestamp('2024-01-01T00:00:00Z', NOW), '2024-01-01T00:00:00.000Z');
    assert.equal(parseTimestamp('2024-01-01T02:00:00+02:00', NOW), '2024-01-01T00:00:00.000Z');
    assert.equal(parseTimestamp('2024-01-01T02:00:00+0200', NOW), '2024-01-01T00:00:00.000Z');
    assert.equal(parseTimestamp(1602611311, NOW), '2020-10-13T17:48:31.000Z');
    assert.equal(parseTimestamp(1602611311123, NOW), '2020-10-13T17:48:31.123Z');
  });

  test('unparseable and far-future timestamps are rejected, 22 h ahead is fine', () => {
    assert.equal((parseTimestamp('yesterday', NOW) as Rejection).code, 'invalid_timestamp');
    assert.equal((parseTimestamp('2024-13-01T00:00:00Z', NOW) as Rejection).code, 'invalid_timestamp');
    assert.equal((parseTimestamp('2024-02-30T00:00:00Z', NOW) as Rejection).code, 'invalid_timestamp');
    assert.equal((parseTimestamp('2024-01-01T25:00:00Z', NOW) as Rejection).code, 'invalid_timestamp');
    assert.equal((parseTimestamp({}, NOW) as Rejection).code, 'invalid_timestamp');
    assert.equal((parseTimestamp(Number.NaN, NOW) as Rejection).code, 'invalid_timestamp');
    assert.equal((parseTimestamp(new Date(NOW + 24 * 3600e3).toISOString(), NOW) as Rejection).code, 'future_timestamp');
    assert.equal(parseTimestamp(new Date(NOW + 22 * 3600e3).toISOString(), NOW), new Date(NOW + 22 * 3600e3).toISOString());
  });
});

describe('PostHog JSON format', () => {
  const base = { event: '$pageview', distinct_id: 'user_123', properties: { $current_url: 'https://example.com' }, timestamp: '2024-01-01T00:00:00Z' };

  test('maps a record to an event with origin, $lib and ISO UTC timestamp', () => {
    const e = one(base);
    assert.equal(e.event, '$pageview');
    assert.equal(e.distinct_id, 'user_123');
    assert.equal(e.timestamp, '2024-01-01T00:00:00.000Z');
    // No $ip of the user's own: never geolocated (by the sender's address).
    assert.deepEqual(e.properties, { $current_url: 'https://example.com', $import_source: 'export.jsonl', $lib: 'posthog-backfill', $geoip_disable: true });
    assert.ok(isValidUuid(e.uuid));
  });

  test('the uuid depends on the record only: not on the file, person mode or key order', () => {
    const a = one(base);
    const b = one({ timestamp: base.timestamp, properties: base.properties, distinct_id: 'user_123', event: '$pageview' }, { ...setMode, origin: 'other-file.json.gz' });
    assert.equal(a.uuid, b.uuid);
    assert.notEqual(a.uuid, one({ ...base, timestamp: '2024-01-01T00:00:01Z' }).uuid);
  });

  test("a record's own valid uuid is kept (lower-cased); an invalid one is rejected", () => {
    assert.equal(one({ ...base, uuid: '0190C2A4-9C3E-7A11-8D2F-3B4C5D6E7F80' }).uuid, '0190c2a4-9c3e-7a11-8d2f-3b4c5d6e7f80');
    assert.equal(rejected({ ...base, uuid: 'abc' }).code, 'invalid_uuid');
  });

  test('records without a timestamp are accepted and carry none (PostHog uses ingestion time)', () => {
    const { timestamp: _t, ...rest } = base;
    assert.equal(one(rest).timestamp, undefined);
  });

  test('numeric distinct ids become strings; missing or blank ones are rejected', () => {
    assert.equal(one({ ...base, distinct_id: 42 }).distinct_id, '42');
    assert.equal(rejected({ ...base, distinct_id: '  ' }).code, 'missing_distinct_id');
    const { distinct_id: _d, ...noId } = base;
    assert.equal(rejected(noId).code, 'missing_distinct_id');
  });

  test('each malformed shape is rejected with its own reason', () => {
    assert.equal(rejected([base]).code, 'not_an_object');
    assert.equal(rejected('x').code, 'not_an_object');
    assert.equal(rejected({ ...base, event: '' }).code, 'missing_event');
    assert.equal(rejected({ ...base, event: 7 }).code, 'invalid_record');
    assert.equal(rejected({ ...base, properties: [1, 2] }).code, 'invalid_properties');
    assert.equal(rejected({ ...base, properties: { $set: 'x' } }).code, 'invalid_properties');
    assert.equal(rejected({ ...base, timestamp: 'soon' }).code, 'invalid_timestamp');
  });

  test('$set becomes $set_once by default so history never overwrites newer live values', () => {
    const e = one({ ...base, properties: { $set: { plan: 'free', email: 'a@x' }, $set_once: { plan: 'trial' } } });
    assert.equal(e.properties.$set, undefined);
    assert.deepEqual(e.properties.$set_once, { plan: 'trial', email: 'a@x' });
    const s = one({ ...base, properties: { $set: { plan: 'free' } } }, setMode);
    assert.deepEqual(s.properties.$set, { plan: 'free' });
  });

  test('top-level $set is kept with the person updates', () => {
    const e = one({ ...base, $set: { name: 'Ada' } });
    assert.deepEqual(e.properties.$set_once, { name: 'Ada' });
  });

  test("a record's own $lib is kept", () => {
    assert.equal(one({ ...base, properties: { $lib: 'web' } }).properties.$lib, 'web');
  });
});

describe('transformRecords', () => {
  test('every record becomes an event or a rejection with its line and reason', () => {
    const records = [
      { n: 1, text: JSON.stringify({ event: 'a', distinct_id: 'u', timestamp: '2024-01-01T00:00:00Z' }) },
      { n: 3, text: '{"event": "b", "distinct_id": ' },
      { n: 4, text: JSON.stringify({ event: 'big', distinct_id: 'u', properties: { blob: 'x'.repeat(1_000_001) } }) },
    ];
    const out = transformRecords(records, posthogFormat, ctx);
    assert.equal(out.read, 3);
    assert.equal(out.events.length, 1);
    assert.deepEqual(out.rejected.map((r) => [r.n, r.code]), [[3, 'invalid_json'], [4, 'event_too_large']]);
    assert.match(out.rejected[0]!.reason, /not valid JSON/);
    assert.equal(out.rejected[0]!.record, records[1]!.text);
    assert.ok(out.rejected[1]!.record!.length <= 65_537, 'huge records are clipped in the report');
  });
});

describe('file identity', () => {
  test('S3 keys are URL-decoded with + as space', () => {
    assert.equal(decodeS3Key('posthog/my+export+%282024%29.jsonl.gz'), 'posthog/my export (2024).jsonl.gz');
    assert.equal(decodeS3Key('a%2Bb'), 'a+b');
  });
  test('a new version of the same key is a new file', () => {
    assert.notEqual(fileIdentity('s3://b/k', 'v1'), fileIdentity('s3://b/k', 'v2'));
    assert.equal(fileIdentity('s3://b/k', 'v1'), fileIdentity('s3://b/k', 'v1'));
  });
});

describe('TupleMemo', () => {
  test('finds a tuple by value, tells strings from numbers, and takes null, absent and objects as one', () => {
    const memo = new TupleMemo<string>(10);
    memo.set(['Chrome', 126, null], 'a');
    assert.equal(memo.get(['Chrome', 126, null]), 'a');
    assert.equal(memo.get(['Chrome', 126, undefined]), 'a');
    assert.equal(memo.get(['Chrome', 126, {}]), 'a');
    assert.equal(memo.get(['Chrome', '126', null]), undefined);
    assert.equal(memo.get(['Chrome', 126, '']), undefined);
    assert.equal(memo.get(['Chrome', 127, null]), undefined);
  });

  test('is cleared whole when it holds its limit', () => {
    const memo = new TupleMemo<number>(3);
    for (let i = 0; i < 3; i++) memo.set(['k', i], i);
    memo.set(['k', 0], 0); // an existing entry replaced is not a new one
    assert.equal(memo.get(['k', 2]), 2);
    memo.set(['k', 3], 3);
    assert.equal(memo.get(['k', 0]), undefined);
    assert.equal(memo.get(['k', 3]), 3);
  });
});
