// Golden output of the transform: any change of any event (uuid, $session_id, timestamp,
// properties, key order), link, once-event, rejection or count changes a hash below. The records
// are generated deterministically to walk every branch the formats take per record; a change
// meant to alter output must update the hash on purpose, saying why in its commit.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { amplitudeRecord } from '../../bench/data';
import { formatByName } from '../../functions/core/formats';
import { parseMapping } from '../../functions/core/mapping';
import { transformRecords, type RawRecord, type TransformResult } from '../../functions/core/transform';
import { posthogRecords, sampleLines } from '../support/fixtures';
import { mulberry32 } from '../support/capture-stand-in';
import { amplitudeRecords, amplitudeTime, mixpanelLines, segmentLines } from '../support/vendors';

type Obj = Record<string, unknown>;
const NOW = Date.parse('2026-06-01T00:00:00Z');

const MAPPINGS: Record<string, Obj> = {
  default: {},
  busy: {
    personMode: 'set',
    originProperty: 'src',
    amplitude: { groupTypes: ['company', 'org'], keepSessionEvents: true },
    events: { rename: { Search: 'search', 'Course Clicked': 'course' }, deny: ['Checkout Started'] },
    properties: { rename: { $ip: 'ip2', product_id: 'pid' }, drop: ['currency'], extra: { team: 'x', n: 1 } },
    after: '2024-01-01T00:20:00Z',
    before: '2026-01-01T00:00:00Z',
  },
  keep: { properties: { keep: ['price', 'title'] }, events: { allow: ['$pageview', 'Product Viewed', 'Signed up', 'course', '$identify', 'Course Clicked'] } },
};

const lines = (records: unknown[]) => records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));
const raw = (texts: string[]): RawRecord[] => texts.map((text, i) => ({ n: i + 1, text }));

const UAS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1',
  'curl/8.4.0',
];

// Timestamps in every shape parseTimestamp meets, valid and not.
const TIMES: unknown[] = [
  '2024-03-01 10:11:12.123456', '2024-03-01T10:11:12Z', '2024-03-01T10:11:12.5+02:00', '2024-03-01T10:11:12.123456789-0530',
  '2024-03-01 10:11', '2024-03-01', ' 2024-03-01T10:11:12z ', '2024-02-30 10:00:00', '2024-03-01 25:00:00', '2024-03-01 10:00:60',
  '2024-3-1', 1709287872, 1709287872123, 1709287872.5, '1709287872', '2099-01-01T00:00:00Z', null, true, '', 'yesterday', -5, 1e20,
  '2024-03-01T10:11:12.000Z', '0999-12-31T23:59:59Z', '2024-03-01 10:11:12 +01:00', '2024-03-01T10:11:12.1234Z',
];

function amplitudeVariants(n: number): string[] {
  const r = mulberry32(7);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const a = amplitudeRecord(i, r, 300);
    switch (i % 16) {
      case 1: delete a.uuid; break;
      case 2: delete a.uuid; delete a.$insert_id; break;
      case 3: Object.assign(a, { platform: 'iOS', os_name: 'ios', device_model: 'iPhone14,2', device_family: 'Apple iPhone', device_carrier: 'Verizon', language: 'English', device_manufacturer: 'Apple' }); break;
      case 4: Object.assign(a, { platform: 'Android', os_name: 'android', device_manufacturer: 'Samsung', device_type: 'Samsung Galaxy Tab', language: 'de-DE' }); break;
      case 5: Object.assign(a, { platform: 'Node.js', ip_address: null, location_lat: 52.5, location_lng: 13.4, country: ['United States', 'Czech Republic', 'XX', 'de', 'Côte d’Ivoire'][i % 5], language: 'fr_FR' }); break;
      case 6: Object.assign(a, { groups: { company: ['acme'], org: 'o1', team: [], other: ['a', 'b'], blank: 'EMPTY' }, group_properties: { company: { acme: { name: 'Acme', size: 'EMPTY', deep: { x: null, y: 1 } } }, org: { name: `Org ${i % 3}` } } }); break;
      case 7: Object.assign(a, { event_type: '$groupidentify', groups: { company: 'acme' }, group_properties: { company: { acme: { plan: 'big' } } } }); break;
      case 8: a.session_id = [-1, 1700000000, '1704067200000', 99e12, 0][i % 5]; break;
      case 9: a.event_time = TIMES[i % TIMES.length]; break;
      case 10: a.event_type = i % 32 === 10 ? 'session_start' : '$identify'; break;
      case 11: Object.assign(a, { user_properties: { plan: 'EMPTY', initial_utm_source: 'x', initial_gclid: 'g', initial_foo: 'f', nested: { a: null } }, event_properties: { '[Amplitude] Page Location': 'https://a.example/x?utm_campaign=c&gclid=1&utm_source=', '[Amplitude] Page URL': 'https://a.example/x', referrer: 'https://ref.example/y', '[Amplitude] Build': '77', blank: '' } }); break;
      case 12: Object.assign(a, { user_id: i % 3 ? a.device_id : 42, device_id: i % 3 ? a.device_id : null, event_time: null, client_event_time: null, server_received_time: amplitudeTime(Date.UTC(2024, 1, 1) + i) }); break;
      case 13: Object.assign(a, { os_name: ['Mobile Safari', 'Chrome WebView', 'Edge', 'Firefox'][i % 4], device_family: ['iOS', 'Android', 'Mac OS X', 'Chromebook'][i % 4], os_version: ['17.4.1', '', '125', 'x'][i % 4], device_type: null, language: ['en-US', '', null, 'pt_BR'][i % 4] }); break;
      case 14: Object.assign(a, { event_properties: i % 2 ? 'nope' : { a: 1, '[Amplitude] Viewport Height': 900 }, uuid: i % 3 ? 'NOT-A-UUID' : 'A6EC45F6-0016-4907-B433-5BF4E4A56908' }); break;
      case 15: if (i % 2) a.user_id = null, a.device_id = ''; else a.event_type = '  '; break;
    }
    out.push(a);
  }
  // Exact repeats (duplicates), broken lines and non-objects.
  return [...lines(out), ...lines(out.slice(0, 40)), '{"event_type":', '[1,2]', 'null', '"x"'];
}

function segmentVariants(n: number): string[] {
  const [track] = sampleLines('segment-archive-lines.jsonl').map((l) => JSON.parse(l) as Obj);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const ctx = structuredClone(track!.context) as Obj;
    ctx.userAgent = UAS[i % UAS.length];
    if (i % 3 === 0) Object.assign(ctx, { os: { name: ['iOS', 'android', 'Mac OS X'][i % 3 === 0 ? (i / 3) % 3 : 0], version: '17' }, device: { id: `dev-${i % 9}`, model: 'iPhone15,3', type: 'ios', manufacturer: 'Apple' }, app: { name: 'App', version: '1.2', build: '9' }, network: { wifi: true, carrier: 'T' }, screen: { width: 390, height: 844 }, locale: 'en-GB', timezone: 'Europe/London', traits: { email: 'a@b.c' } });
    if (i % 4 === 1) { delete ctx.ip; ctx.location = { city: 'Paris', country: 'France', latitude: 48.8 }; }
    if (i % 5 === 2) ctx.page = { ...(ctx.page as Obj), referrer: 'https://www.google.com/search?q=x', url: 'https://segment.com/academy/?utm_source=s&utm_medium=m' };
    const rec: Obj = { ...track!, context: ctx, messageId: i % 6 === 0 ? `${i}` : `m-${i}`, timestamp: TIMES[i % TIMES.length] ?? '2015-12-12T19:11:01.249Z' };
    if (i % 7 === 3) rec.integrations = { 'Actions Amplitude': { session_id: 1449947461000 - (i % 4) * 1000 } };
    if (i % 7 === 4) rec.integrations = { Amplitude: { session_id: '1449947461000' } };
    if (i % 8 === 5) rec.type = ['page', 'screen', 'identify', 'group', 'alias', 'bogus'][i % 6];
    if (i % 9 === 6) delete rec.userId;
    out.push(rec);
  }
  return [...lines(out), ...segmentLines(140).lines, ...sampleLines('segment-archive-lines.jsonl')];
}

function mixpanelVariants(): string[] {
  const web = JSON.parse(sampleLines('mixpanel-web-line.jsonl')[0]!) as { event: string; properties: Obj };
  const out: unknown[] = [];
  for (let i = 0; i < 120; i++) {
    const p: Obj = { ...web.properties, time: TIMES[i % TIMES.length], $insert_id: i % 5 ? `ins-${i}` : undefined, mp_lib: ['web', 'iphone', 'android', 'python'][i % 4], $model: i % 3 ? 'iPad7,1' : undefined, $initial_referrer: i % 2 ? 'https://x.example' : undefined };
    if (i % 11 === 0) delete p.distinct_id;
    out.push({ event: i % 13 === 0 ? '' : web.event, properties: p });
  }
  return [...lines(out), ...mixpanelLines(150).lines, ...sampleLines('mixpanel-export-lines.jsonl'), ...sampleLines('mixpanel-web-line.jsonl')];
}

function posthogVariants(): string[] {
  const out: unknown[] = [];
  for (let i = 0; i < 120; i++) {
    const rec: Obj = { event: i % 10 === 0 ? '$pageview' : 'clicked', distinct_id: i % 17 ? `u${i % 13}` : i, timestamp: TIMES[i % TIMES.length], properties: { $ip: i % 3 ? '1.2.3.4' : '', $geoip_disable: i % 4 === 0, n: i, nested: { b: 1, a: [1, { z: 2, y: 3 }] } } };
    if (i % 2) rec.uuid = `0190c3a8-6ad0-7c4e-9b2c-${String(i).padStart(12, '0')}`;
    if (i % 5 === 1) rec.$set = { plan: 'pro' };
    if (i % 5 === 2) (rec.properties as Obj).$set_once = { first: 'a' };
    if (i % 19 === 3) rec.uuid = 'bad';
    out.push(rec);
  }
  return [...lines(out), posthogRecords(150, { badEvery: 7 }).text, ...sampleLines('posthog-event-line.jsonl')].flatMap((t) => t.split('\n')).filter((l) => l);
}

function exportVariants(): string[] {
  return lines(Array.from({ length: 60 }, (_, i) => ({
    uuid: i % 3 ? `0190c3a8-6ad0-7c4e-9b2c-${String(i).padStart(12, '0')}` : undefined,
    event: '$autocapture', distinct_id: `d${i % 7}`, timestamp: `2024-05-0${1 + (i % 9)} 12:00:00.000`, team_id: 2, person_id: 'p', elements_chain: 'a:nth-child="1"',
    properties: i % 2 ? JSON.stringify({ $ip: '1.1.1.1', token: 't', $sent_at: 'x', k: i }) : { $current_url: 'https://x', $plugins_failed: [], k: i },
  })));
}

function csvAndUsers(): Array<[string, string[]]> {
  const rows = Array.from({ length: 40 }, (_, i) => ({ event: `e${i % 3}`, distinct_id: `u${i}`, timestamp: String(TIMES[i % TIMES.length] ?? ''), n: String(i), flag: i % 2 ? 'TRUE' : 'false', id: '007', blank: '' }));
  const users = Array.from({ length: 40 }, (_, i) => (i % 2 ? { distinct_id: `u${i}`, properties: { email: `u${i}@x`, plan: null }, timestamp: TIMES[i % TIMES.length] } : { distinct_id: `u${i}`, name: 'N', age: '33' }));
  return [['csv', lines(rows)], ['users', lines(users)]];
}

function allSamples(): Array<[string, string[]]> {
  return [
    ['amplitude', [...sampleLines('amplitude-export-line.json'), ...sampleLines('amplitude-ios-line.json'), ...sampleLines('amplitude-web-line.json'), ...lines(amplitudeRecords(60).records)]],
  ];
}

const CASES: Array<[string, () => Array<[string, string[]]>]> = [
  ['amplitude (bench generator, varied)', () => [['amplitude', amplitudeVariants(2400)]]],
  ['amplitude (vendor samples)', allSamples],
  ['segment', () => [['segment', segmentVariants(300)]]],
  ['mixpanel', () => [['mixpanel', mixpanelVariants()]]],
  ['posthog and posthog-export', () => [['posthog', posthogVariants()], ['posthog-export', exportVariants()]]],
  ['csv and users', csvAndUsers],
];

// sha256 of the JSON of every result, per mapping, in order.
const GOLDEN: Record<string, string> = {
  'amplitude (bench generator, varied)': '05c21118ae0378f4eec32d82b9c2cb11dfd49a325bab1db39f5e2e27ec746667',
  'amplitude (vendor samples)': 'c05bf224a6a9a2de82226ad2b531a9665e55ccfcd3c3f35870c973422bef0558',
  segment: 'b58f1327354413b8d8a04a0d368a1401047690149ad9c28e62b0b7015c42f55e',
  mixpanel: 'a49f8d5949c9dd307d613cd527db3a85dcc2028e720435a44fa3d057f4c56430',
  'posthog and posthog-export': '22946158945b4405de7a70bfad0519e39add5957acf84e9e57b779e386b353bf',
  'csv and users': 'e9000657bc5a068b2ed64bf734d5239112aa91a763d2547308053f0df46e699a',
};

/** Every set transformed under every mapping, in order. */
function* results(sets: Array<[string, string[]]>): Generator<{ where: string; out: TransformResult }> {
  for (const [name, mapping] of Object.entries(MAPPINGS)) {
    for (const [format, texts] of sets) {
      const ctx = { origin: `s3://bucket/${format}.json.gz`, now: NOW, mapping: parseMapping(mapping, name) };
      yield { where: `${format}/${name}`, out: transformRecords(raw(texts), formatByName(format), ctx) };
    }
  }
}

function digest(sets: Array<[string, string[]]>): string {
  const h = createHash('sha256');
  for (const { out } of results(sets)) {
    // eventBytes only packs requests (an upper bound, tested below), not output.
    const { eventBytes: _, ...rest } = out;
    h.update(JSON.stringify(rest));
  }
  return h.digest('hex');
}

describe('transform output is byte-identical to the golden run', () => {
  for (const [name, build] of CASES) {
    test(name, () => {
      const sets = build();
      const first = digest(sets);
      // Twice in one process: per-process caches must not change a result.
      assert.equal(digest(sets), first, 'a second run in the same process differs');
      assert.equal(first, GOLDEN[name], `output of ${name} changed`);
    });
  }
});

// A request is packed by each event's eventBytes (capture refuses bodies over about 10 MiB), which
// is the record's bytes plus what the chunk adds, serialized only where it could come near 1 MB.
describe('eventBytes is never less than the event as serialized', () => {
  for (const [name, build] of CASES) {
    test(name, () => {
      let events = 0;
      for (const { where, out } of results(build())) {
        out.events.forEach((e, i) => {
          const size = Buffer.byteLength(JSON.stringify(e));
          assert.ok(out.eventBytes[i]! >= size, `${where}: ${e.event} is ${size} bytes, counted ${out.eventBytes[i]}`);
          events++;
        });
      }
      assert.ok(events > 20, `only ${events} events checked`);
    });
  }

  test('an event from a large record is measured: just under 1 MB is sent, just over is rejected', () => {
    const ctx = { origin: 'f.jsonl', now: NOW, mapping: parseMapping({}, 'default') };
    const record = (blob: number) => JSON.stringify({ event: 'big', distinct_id: 'u', timestamp: '2024-01-01T00:00:00Z', properties: { blob: 'x'.repeat(blob) } });
    const probe = transformRecords(raw([record(200_000)]), formatByName('posthog'), ctx);
    const overhead = Buffer.byteLength(JSON.stringify(probe.events[0])) - 200_000;
    assert.equal(probe.eventBytes[0], 200_000 + overhead, 'a record over the estimate threshold is measured exactly');
    const out = transformRecords(raw([record(1_000_000 - overhead), record(1_000_001 - overhead)]), formatByName('posthog'), ctx);
    assert.equal(out.eventBytes[0], 1_000_000);
    assert.deepEqual(out.rejected.map((r) => [r.n, r.code]), [[2, 'event_too_large']]);
  });
});
