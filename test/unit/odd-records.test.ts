// Records that are valid JSON but meet JavaScript's own corners: names that are also
// Object.prototype's (`constructor`, `toString`, `__proto__`) and text that is not Unicode.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { v5 as packageV5 } from 'uuid';
import { formatByName } from '../../functions/core/formats';
import { parseMapping } from '../../functions/core/mapping';
import { countByDay } from '../../functions/core/report';
import { transformRecords } from '../../functions/core/transform';
import { deriveUuid } from '../../functions/core/uuid';

const ctx = (mapping: object = {}) => ({ origin: 'odd.jsonl', now: Date.parse('2026-06-01T00:00:00Z'), mapping: parseMapping(mapping, 'test') });
const run = (format: string, records: unknown[], mapping?: object) =>
  transformRecords(records.map((r, i) => ({ n: i + 1, text: typeof r === 'string' ? r : JSON.stringify(r) })), formatByName(format), ctx(mapping));

const NAMES = ['constructor', 'toString', 'hasOwnProperty', '__proto__'];

describe('records named like Object.prototype', () => {
  test('amplitude: event_type and event properties keep their names and values', () => {
    const res = run(
      'amplitude',
      NAMES.map((n, i) => ({ event_type: n, user_id: `u${i}`, event_time: '2024-05-01 10:00:00.000', $insert_id: `i${i}`, event_properties: { constructor: 'c', toString: 't' } })),
    );
    assert.deepEqual(res.events.map((e) => e.event), NAMES);
    for (const e of res.events) {
      assert.equal(e.properties.constructor, 'c');
      assert.equal(e.properties.toString, 't');
    }
    assert.equal(res.rejected.length, 0);
  });

  test('mixpanel: event names and property names', () => {
    const res = run(
      'mixpanel',
      NAMES.map((n, i) => ({ event: n, properties: { distinct_id: `u${i}`, time: 1714557600, $insert_id: `m${i}`, constructor: 'c', valueOf: 'v' } })),
    );
    assert.deepEqual(res.events.map((e) => e.event), NAMES);
    for (const e of res.events) {
      assert.equal(e.properties.constructor, 'c');
      assert.equal(e.properties.valueOf, 'v');
    }
  });

  test('a mapping with renames leaves such names alone', () => {
    const res = run('posthog', [{ event: 'constructor', distinct_id: 'u1', timestamp: '2024-05-01T10:00:00Z', properties: { toString: 1 } }], {
      events: { rename: { other: 'x' } },
      properties: { rename: { other: 'y' } },
    });
    assert.equal(res.events[0]!.event, 'constructor');
    assert.equal(res.events[0]!.properties.toString, 1);
  });

  test('the per-day counts (verify, reports) count them like any other name', () => {
    const counts = countByDay(NAMES.map((event) => ({ event, timestamp: '2024-05-01T10:00:00Z' })));
    assert.deepEqual(JSON.parse(JSON.stringify(counts)), { '2024-05-01': Object.fromEntries(NAMES.map((n) => [n, 1])) });
  });
});

describe('text that is not Unicode', () => {
  test('a lone surrogate in an id that makes the uuid rejects that record alone (the chunk goes on)', () => {
    const ok = { event_type: 'a', user_id: 'u1', event_time: '2024-05-01 10:00:00.000', $insert_id: 'fine' };
    const res = run('amplitude', [ok, '{"event_type":"b","user_id":"u2","event_time":"2024-05-01 10:00:00.000","$insert_id":"x\\ud800y"}', { ...ok, $insert_id: 'fine2' }]);
    assert.equal(res.events.length, 2);
    assert.deepEqual(
      res.rejected.map((r) => [r.n, r.code]),
      [[2, 'invalid_utf8']],
    );
    assert.match(res.rejected[0]!.reason, /lone UTF-16 surrogate/);
  });

  test('deriveUuid is RFC 4122 version 5, as the uuid package computes it (uuids must never change)', () => {
    const NS = '6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b';
    for (const parts of [['amplitude', 'd', 'i'], ['x'], ['mixpanel', 'é ü 漢字 🎉'], ['long', 'z'.repeat(70_000)]]) {
      assert.equal(deriveUuid(parts[0]!, ...parts.slice(1)), packageV5(`${parts[0]}\u0000${parts.slice(1).join('\u0000')}`, NS));
    }
  });
});
