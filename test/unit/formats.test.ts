import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { detectFormat, pathHint } from '../../functions/core/detect';
import type { PostHogEvent } from '../../functions/core/event';
import { formatByName } from '../../functions/core/formats';
import type { FormatOutput, TransformContext } from '../../functions/core/formats/types';
import { DEFAULT_MAPPING, parseMapping } from '../../functions/core/mapping';
import { transformRecords } from '../../functions/core/transform';
import { isValidUuid } from '../../functions/core/uuid';
import { sampleLines } from '../support/fixtures';
import { amplitudeRecords, mixpanelLines, segmentLines } from '../support/vendors';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const ctx = (mapping: Record<string, unknown> = {}): TransformContext => ({ origin: 'file', now: NOW, mapping: parseMapping(mapping, 'test') });
const run = (format: string, record: unknown, c = ctx()): FormatOutput => formatByName(format).toEvents(record, c);
function events(out: FormatOutput): PostHogEvent[] {
  assert.ok('events' in out, `expected events, got ${JSON.stringify(out)}`);
  return out.events;
}

describe('Amplitude', () => {
  const sample = JSON.parse(sampleLines('amplitude-export-line.json')[0]!) as Record<string, unknown>;

  test('the published sample maps to one event with its own uuid, UTC time and a device link', () => {
    const out = run('amplitude', sample);
    const [e] = events(out);
    assert.equal(e!.uuid, 'a6ec45f6-0016-4907-b433-5bf4e4a56908');
    assert.equal(e!.event, 'Property Drop Purchased');
    assert.equal(e!.distinct_id, '2b59c518-dc2b-43f6-9444-85a84d5b1e1f');
    assert.equal(e!.timestamp, '2025-07-01T16:34:54.837Z');
    assert.equal(e!.properties['Total Price'], 6396);
    assert.equal(e!.properties.$device_id, 'f48913e6-c106-5429-a296-9f9588859c3b');
    assert.equal(e!.properties.amplitude_id, 1263130950579);
    assert.equal(e!.properties.amplitude_session_id, undefined, 'session_id -1 means none');
    assert.ok(!('city' in e!.properties) && !('$geoip_city_name' in e!.properties), 'null fields are not sent');
    assert.deepEqual((out as { links: unknown[] }).links, [{ anon: 'f48913e6-c106-5429-a296-9f9588859c3b', user: '2b59c518-dc2b-43f6-9444-85a84d5b1e1f', timestamp: '2025-07-01T16:34:54.837Z' }]);
  });

  test('anonymous events use the device id; the uuid falls back to device + $insert_id', () => {
    const { uuid: _u, ...noUuid } = sample;
    const a = events(run('amplitude', { ...noUuid, user_id: null }))[0]!;
    assert.equal(a.distinct_id, 'f48913e6-c106-5429-a296-9f9588859c3b');
    assert.ok(isValidUuid(a.uuid));
    assert.equal(a.uuid, events(run('amplitude', { ...noUuid, user_id: null, event_properties: { changed: true } }))[0]!.uuid, 'same device + $insert_id, same uuid');
    assert.deepEqual((run('amplitude', { ...noUuid, user_id: null }) as { links: unknown[] }).links, []);
  });

  test('time falls back from event_time to client_event_time to server_received_time, in UTC', () => {
    const { event_time: _e, client_event_time: _c, ...rest } = sample;
    assert.equal(events(run('amplitude', rest))[0]!.timestamp, '2025-07-01T17:14:33.145Z');
    assert.equal(events(run('amplitude', { ...sample, event_time: '2025-07-01T16:34:54' }))[0]!.timestamp, '2025-07-01T16:34:54.000Z');
    assert.equal((run('amplitude', { ...rest, server_received_time: null }) as { code: string }).code, 'invalid_timestamp');
  });

  test('page views, user properties as $set_once, location, and the $set mode', () => {
    const [page] = amplitudeRecords(1).records;
    const e = events(run('amplitude', page))[0]!;
    assert.equal(e.event, '$pageview');
    assert.equal(e.properties.$current_url, 'https://example.com/0');
    assert.deepEqual(e.properties.$set_once, { plan: 'free' });
    assert.equal(e.properties.$geoip_city_name, 'Berlin');
    assert.deepEqual(events(run('amplitude', page, ctx({ personMode: 'set' })))[0]!.properties.$set, { plan: 'free' });
  });

  test('records without ids or event type are rejected', () => {
    assert.equal((run('amplitude', { ...sample, user_id: null, device_id: null }) as { code: string }).code, 'missing_distinct_id');
    assert.equal((run('amplitude', { ...sample, event_type: '' }) as { code: string }).code, 'missing_event');
  });
});

describe('Mixpanel', () => {
  test('the published sample: seconds, $insert_id uuid, internal properties dropped', () => {
    const raw = JSON.parse(sampleLines('mixpanel-export-lines.jsonl')[0]!) as { event: string; properties: Record<string, unknown> };
    const rec = { ...raw, properties: { ...raw.properties, distinct_id: 'u1' } };
    const e = events(run('mixpanel', rec))[0]!;
    assert.equal(e.timestamp, '2020-10-13T17:48:31.000Z');
    assert.equal(e.event, 'Signed up');
    assert.equal(e.properties.mp_processing_time_ms, undefined);
    assert.equal(e.properties.time, undefined);
    assert.equal(e.uuid, events(run('mixpanel', { ...rec, properties: { ...rec.properties, extra: 1 } }))[0]!.uuid);
  });

  test('milliseconds, $device: ids, page views, geo renames and links', () => {
    const { lines } = mixpanelLines(8);
    const anon = events(run('mixpanel', JSON.parse(lines[0]!)))[0]!;
    assert.equal(anon.distinct_id, 'anon-dev0', '$distinct_id_before_identity replaces a $device: id');
    assert.equal(anon.event, '$pageview');
    assert.equal(anon.timestamp, '2020-10-13T17:48:31.123Z');
    assert.equal(anon.properties.$geoip_city_name, 'Paris');
    assert.equal(anon.properties.$geoip_country_code, 'FR');
    assert.equal(anon.properties.$mp_api_endpoint, undefined);
    const user = run('mixpanel', JSON.parse(lines[1]!));
    assert.equal(events(user)[0]!.distinct_id, 'user1');
    assert.deepEqual((user as { links: unknown[] }).links, [{ anon: '$device:dev1', user: 'user1', timestamp: '2020-10-13T17:49:31.000Z' }]);
  });

  test('duplicate lines of a raw export collapse to one uuid', () => {
    const { lines, unique } = mixpanelLines(40);
    const res = transformRecords(lines.map((text, i) => ({ n: i + 1, text })), formatByName('mixpanel'), ctx());
    assert.equal(res.events.length, unique, 'repeats in one chunk are not sent again');
    assert.equal(res.duplicates, lines.length - unique);
    assert.equal(new Set(res.events.map((e) => e.uuid)).size, unique);
  });
});

describe('Segment', () => {
  const [trackSample, aliasSample] = sampleLines('segment-archive-lines.jsonl').map((l) => JSON.parse(l) as Record<string, unknown>);

  test('track: userId, timestamp, messageId uuid, context mapped, transport fields gone', () => {
    const e = events(run('segment', trackSample))[0]!;
    assert.equal(e.event, 'Course Clicked');
    assert.equal(e.distinct_id, 'AiUGstSDIg');
    assert.equal(e.timestamp, '2015-12-12T19:11:01.249Z');
    assert.equal(e.properties.$ip, '108.0.78.21');
    assert.equal(e.properties.$lib, 'analytics.js');
    assert.equal(e.properties.$current_url, 'https://segment.com/academy/');
    assert.equal(e.properties.segment_context_groupId, 'GroupId1');
    assert.equal(e.properties.title, 'Intro to Analytics');
    for (const k of ['sentAt', 'messageId', 'receivedAt', 'integrations', 'type']) assert.equal(e.properties[k], undefined);
    assert.equal(e.properties.$geoip_disable, undefined, 'the user\'s own IP may be geo-located');
  });

  test('alias → $create_alias on userId with the previous id', () => {
    const e = events(run('segment', aliasSample))[0]!;
    assert.equal(e.event, '$create_alias');
    assert.equal(e.distinct_id, '507f191e81');
    assert.equal(e.properties.alias, '39239-239239-239239-23923');
  });

  test('page, screen, identify, group', () => {
    const { lines } = segmentLines(7);
    const [, page, screen, identify, group] = lines.slice(0, 5).map((l) => events(run('segment', JSON.parse(l)))[0]);
    assert.equal(page!.event, '$pageview');
    assert.equal(page!.properties.$pathname, '/academy/');
    assert.equal(screen!.event, '$screen');
    assert.equal(screen!.properties.$screen_name, 'Home');
    assert.equal(identify!.event, '$identify');
    assert.equal(identify!.properties.$anon_distinct_id, '23adfd82-aa0f-45a7-a756-24f2a7a4c895');
    assert.deepEqual(identify!.properties.$set_once, { email: 'u3@example.com' });
    assert.equal(group!.event, '$groupidentify');
    assert.deepEqual([group!.properties.$group_type, group!.properties.$group_key, group!.properties.$group_set], ['company', 'g1', { name: 'Acme' }]);
  });

  test('integrations that turn PostHog off filter the message; PostHog: true keeps it', () => {
    assert.deepEqual(run('segment', { ...trackSample, integrations: { All: false } }), { filtered: 'segment_integrations' });
    assert.deepEqual(run('segment', { ...trackSample, integrations: { PostHog: false } }), { filtered: 'segment_integrations' });
    assert.equal(events(run('segment', { ...trackSample, integrations: { All: false, PostHog: true } })).length, 1);
    assert.equal(events(run('segment', { ...trackSample, integrations: { All: false, posthog: { apiKey: 'x' } } })).length, 1);
  });
});

describe('PostHog export, CSV and users', () => {
  test('a PostHog export keeps uuid, event, distinct_id, timestamp; strips instance fields', () => {
    const e = events(
      run('posthog-export', {
        uuid: '0190c2a4-9c3e-7a11-8d2f-3b4c5d6e7f80',
        event: '$autocapture',
        distinct_id: 'u1',
        timestamp: '2024-03-01 10:00:00.123456',
        team_id: 2,
        person_id: 'p',
        created_at: '2024-03-01 10:00:01',
        elements_chain: 'button:text="Buy"',
        properties: JSON.stringify({ $current_url: 'https://x', token: 'phc_old', $lib: 'web' }),
      }),
    )[0]!;
    assert.equal(e.uuid, '0190c2a4-9c3e-7a11-8d2f-3b4c5d6e7f80');
    assert.equal(e.timestamp, '2024-03-01T10:00:00.123Z');
    assert.equal(e.properties.token, undefined);
    assert.equal(e.properties.$elements_chain, 'button:text="Buy"');
    assert.equal(e.properties.$lib, 'web');
    assert.equal(e.properties.team_id, undefined);
  });

  test('CSV rows: named columns, typed cells, a constant event name, missing columns', () => {
    const e = events(run('csv', { event: 'signup', distinct_id: 'u1', timestamp: '2024-01-01T00:00:00Z', plan: 'pro', seats: '5', zip: '02134', trial: 'false', note: '' }))[0]!;
    assert.deepEqual([e.event, e.distinct_id, e.timestamp], ['signup', 'u1', '2024-01-01T00:00:00.000Z']);
    assert.deepEqual({ plan: e.properties.plan, seats: e.properties.seats, zip: e.properties.zip, trial: e.properties.trial, note: e.properties.note }, { plan: 'pro', seats: 5, zip: '02134', trial: false, note: undefined });
    const c = ctx({ csv: { eventName: 'order', distinctId: 'customer', timestamp: 'at' } });
    const o = events(run('csv', { customer: 'c9', at: '1704067200', total: '9.5' }, c))[0]!;
    assert.deepEqual([o.event, o.distinct_id, o.timestamp, o.properties.total], ['order', 'c9', '2024-01-01T00:00:00.000Z', 9.5]);
    assert.equal((run('csv', { event: 'x' }) as { code: string }).code, 'missing_distinct_id');
  });

  test('users become $identify with $set_once person properties', () => {
    const a = events(run('users', { distinct_id: 'u1', properties: { email: 'a@x' } }))[0]!;
    assert.equal(a.event, '$identify');
    assert.deepEqual(a.properties.$set_once, { email: 'a@x' });
    const b = events(run('users', { distinct_id: 'u2', email: 'b@x', age: '31' }, ctx({ personMode: 'set' })))[0]!;
    assert.deepEqual(b.properties.$set, { email: 'b@x', age: 31 });
  });
});

describe('detection', () => {
  test('each vendor sample is recognised from its first record', () => {
    assert.equal(detectFormat(sampleLines('amplitude-export-line.json')[0], 'line', 'x.json.gz'), 'amplitude');
    assert.equal(detectFormat(sampleLines('mixpanel-export-lines.jsonl')[0], 'line', 'x.jsonl'), 'mixpanel');
    assert.equal(detectFormat(sampleLines('segment-archive-lines.jsonl')[0], 'line', 'x.gz'), 'segment');
    assert.equal(detectFormat(sampleLines('posthog-event-line.jsonl')[0], 'line', 'x.jsonl'), 'posthog');
    assert.equal(detectFormat('{"uuid":"u","event":"e","distinct_id":"d","team_id":1}', 'line', 'x'), 'posthog-export');
    assert.equal(detectFormat('{"distinct_id":"d","properties":{}}', 'line', 'x'), 'users');
    assert.equal(detectFormat('{"a":1}', 'row', 'events.csv'), 'csv');
    assert.equal(detectFormat('{"a":1}', 'row', 'exports/users.csv'), 'users');
    assert.equal(detectFormat('{"foo":1}', 'line', 'x.jsonl'), undefined);
    assert.equal(detectFormat('{"foo":1}', 'line', 'segment-logs/src1/1450000000000/x.gz'), 'segment');
  });

  test('path hints', () => {
    assert.equal(pathHint('posthog/amplitude/export.zip'), 'amplitude');
    assert.equal(pathHint('posthog/mixpanel-2024.jsonl'), 'mixpanel');
    assert.equal(pathHint('posthog/events.jsonl'), undefined);
  });
});

describe('mapping config', () => {
  const base = { event: 'clicked', distinct_id: 'u', timestamp: '2024-06-01T00:00:00Z', properties: { a: 1, b: 2, secret: 's', $current_url: 'x' } };
  const mapOne = (mapping: Record<string, unknown>, record: unknown = base) =>
    transformRecords([{ n: 1, text: JSON.stringify(record) }], formatByName('posthog'), ctx(mapping));

  test('renames, keep / drop, extra properties and the origin property name', () => {
    const res = mapOne({ events: { rename: { clicked: 'button_clicked' } }, properties: { rename: { a: 'alpha' }, keep: ['alpha', 'b', 'secret'], drop: ['secret'], extra: { migrated: true } }, originProperty: 'source_file' });
    const e = res.events[0]!;
    assert.equal(e.event, 'button_clicked');
    assert.deepEqual(Object.keys(e.properties).sort(), ['$current_url', '$geoip_disable', '$lib', 'alpha', 'b', 'migrated', 'source_file']);
    assert.equal(e.uuid, mapOne({}).events[0]!.uuid, 'mapping does not change the uuid');
  });

  test('allow / deny lists and the time window filter with a named rule', () => {
    assert.deepEqual(mapOne({ events: { deny: ['clicked'] } }).filtered, { event_denied: 1 });
    assert.deepEqual(mapOne({ events: { allow: ['other'] } }).filtered, { event_not_allowed: 1 });
    assert.deepEqual(mapOne({ after: '2024-07-01T00:00:00Z' }).filtered, { before_window: 1 });
    assert.deepEqual(mapOne({ before: '2024-06-01T00:00:00Z' }).filtered, { after_window: 1 });
    assert.equal(mapOne({ after: '2024-05-01', before: '2024-07-01' }).events.length, 1);
  });

  test('a bad config is a clear error naming every problem', () => {
    assert.throws(() => parseMapping({ format: 'excel', evnets: {} }, 'posthog/backfill.config.json'), (err: Error) => {
      assert.match(err.message, /^posthog\/backfill\.config\.json: invalid mapping config: /);
      assert.match(err.message, /format/);
      assert.match(err.message, /evnets/);
      return true;
    });
    assert.throws(() => parseMapping({ after: '2024-07-01', before: '2024-01-01' }, 'c'), /`after` must be before `before`/);
    assert.throws(() => parseMapping({ after: 'last tuesday' }, 'c'), /after: must be an ISO 8601 date/);
    assert.equal(DEFAULT_MAPPING.personMode, 'set_once');
  });
});

describe('duplicates within a chunk', () => {
  test('a record repeating an earlier one is counted as a duplicate, not sent twice', () => {
    const { lines } = mixpanelLines(10);
    const records = [...lines.slice(0, 10), lines[3]!, lines[3]!].map((text, i) => ({ n: i + 1, text }));
    const res = transformRecords(records, formatByName('mixpanel'), ctx());
    assert.equal(res.events.length, 10);
    assert.equal(res.duplicates, 2);
    assert.equal(res.read, 12);
  });
});
