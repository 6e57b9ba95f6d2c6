import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PostHogEvent } from '../../functions/core/event';
import { formatByName } from '../../functions/core/formats';
import type { FormatResult, TransformContext } from '../../functions/core/formats/types';
import { parseMapping } from '../../functions/core/mapping';
import { sessionUuid, uuidv7Time } from '../../functions/core/session';
import { transformRecords, type TransformResult } from '../../functions/core/transform';
import { sampleLines } from '../support/fixtures';

// One test per row of the README's mapping tables, each running vendor-shaped records (the
// published samples, web and mobile) through the transform.

type Obj = Record<string, unknown>;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const ctx = (mapping: Obj = {}): TransformContext => ({ origin: 'file', now: NOW, mapping: parseMapping(mapping, 'test') });
const sample = (name: string, i = 0) => JSON.parse(sampleLines(name)[i]!) as Obj;

function through(format: string, records: Obj[], mapping: Obj = {}): TransformResult {
  return transformRecords(records.map((r, i) => ({ n: i + 1, text: JSON.stringify(r) })), formatByName(format), ctx(mapping));
}
function one(format: string, record: Obj, mapping: Obj = {}): PostHogEvent {
  const res = through(format, [record], mapping);
  assert.deepEqual(res.rejected, [], 'the record is sent');
  assert.equal(res.events.length, 1);
  return res.events[0]!;
}
function formatResult(format: string, record: Obj, mapping: Obj = {}): FormatResult {
  const out = formatByName(format).toEvents(record, ctx(mapping));
  assert.ok('events' in out, JSON.stringify(out));
  return out;
}

const ampWeb = () => sample('amplitude-web-line.json');
const ampIos = () => sample('amplitude-ios-line.json');
/** The iOS sample as Amplitude's Android SDK sends it. */
const ampAndroid = (): Obj => ({
  ...ampIos(),
  uuid: 'b7e1c0de-1111-4222-8333-944455566677',
  platform: 'Android',
  os_name: 'android',
  os_version: '14',
  device_brand: 'google',
  device_manufacturer: 'Google',
  device_model: 'Pixel 7a',
  device_family: 'Google Phone',
  device_type: 'Google Pixel 7a',
  language: 'German',
  library: 'amplitude-android-kotlin/1.16.0',
});
/** The web sample from a phone browser: Mobile Safari on an iPhone. */
const ampWebPhone = (): Obj => ({ ...ampWeb(), uuid: 'c1d2e3f4-0000-4000-8000-000000000001', os_name: 'Mobile Safari', os_version: '17.4', device_family: 'Apple iPhone', device_type: 'Apple iPhone', device_model: 'iPhone' });

describe('Amplitude → PostHog SDK vocabulary', () => {
  test('event_type: page views, screen views and lifecycle events get the SDKs\' names', () => {
    assert.equal(one('amplitude', ampWeb()).event, '$pageview');
    assert.equal(one('amplitude', ampIos()).event, 'Checkout Started');
    const screen = one('amplitude', { ...ampIos(), event_type: '[Amplitude] Screen Viewed', event_properties: { '[Amplitude] Screen Name': 'Checkout' } });
    assert.equal(screen.event, '$screen');
    assert.equal(screen.properties.$screen_name, 'Checkout');
    const updated = one('amplitude', { ...ampAndroid(), event_type: '[Amplitude] Application Updated', event_properties: { '[Amplitude] Version': '5.2.0', '[Amplitude] Build': '520', '[Amplitude] Previous Version': '5.1.0', '[Amplitude] Previous Build': '510' } });
    assert.equal(updated.event, 'Application Updated');
    assert.deepEqual([updated.properties.version, updated.properties.build, updated.properties.previous_version, updated.properties.previous_build, updated.properties.$app_build], ['5.2.0', '520', '5.1.0', '510', '520']);
  });

  test('session_start / session_end are filtered with a reason, and kept when the config says so', () => {
    const start = { ...ampIos(), uuid: undefined, event_type: 'session_start', event_properties: {} };
    const end = { ...start, event_type: 'session_end', $insert_id: 'end-1' };
    const res = through('amplitude', [start, end, ampIos()]);
    assert.deepEqual(res.filtered, { amplitude_session_event: 2 });
    assert.equal(res.events.length, 1);
    const kept = through('amplitude', [start, end], { amplitude: { keepSessionEvents: true } });
    assert.deepEqual(kept.events.map((e) => e.event), ['session_start', 'session_end']);
  });

  test('web: os_name / os_version hold the browser → $browser, $browser_version (a number, as posthog-js sends it)', () => {
    const e = one('amplitude', ampWeb());
    assert.equal(e.properties.$browser, 'Firefox');
    assert.equal(e.properties.$browser_version, 125);
    assert.equal(e.properties.$os_version, undefined, 'the browser version is not the OS version');
    const phone = one('amplitude', ampWebPhone());
    assert.deepEqual([phone.properties.$browser, phone.properties.$browser_version], ['Mobile Safari', 17.4]);
    const edge = one('amplitude', { ...ampWeb(), os_name: 'Edge', os_version: '124.0.2478.80' });
    assert.deepEqual([edge.properties.$browser, edge.properties.$browser_version], ['Microsoft Edge', 124]);
    const chromeIos = one('amplitude', { ...ampWebPhone(), os_name: 'Chrome', os_version: '124' });
    assert.equal(chromeIos.properties.$browser, 'Chrome iOS');
  });

  test('web: the device fields hold the OS → $os and posthog-js\'s $device_type (Desktop, Mobile, Tablet)', () => {
    const e = one('amplitude', ampWeb());
    assert.deepEqual([e.properties.$os, e.properties.$device_type], ['Windows', 'Desktop']);
    const phone = one('amplitude', ampWebPhone());
    assert.deepEqual([phone.properties.$os, phone.properties.$device_type], ['iOS', 'Mobile']);
    const ipad = one('amplitude', { ...ampWebPhone(), device_family: 'Apple iPad', device_type: 'Apple iPad', device_model: 'iPad' });
    assert.deepEqual([ipad.properties.$os, ipad.properties.$device_type], ['iOS', 'Tablet']);
    const mac = one('amplitude', { ...ampWeb(), device_family: 'Mac', device_type: 'Mac', device_model: 'Mac OS' });
    assert.deepEqual([mac.properties.$os, mac.properties.$device_type], ['Mac OS X', 'Desktop']);
    assert.equal(e.properties.amplitude_device_family, 'Windows', 'the raw value is kept');
  });

  test('web: language → $browser_language and $browser_language_prefix', () => {
    const e = one('amplitude', ampWeb());
    assert.deepEqual([e.properties.$browser_language, e.properties.$browser_language_prefix, e.properties.$locale], ['fr-FR', 'fr', undefined]);
  });

  test('iOS / Android: os_name → $os and $os_name spelled "iOS" / "Android"; os_version → $os_version', () => {
    const ios = one('amplitude', ampIos());
    assert.deepEqual([ios.properties.$os, ios.properties.$os_name, ios.properties.$os_version], ['iOS', 'iOS', '17.4.1']);
    assert.equal(ios.properties.$browser, undefined, 'no browser in an app');
    const android = one('amplitude', ampAndroid());
    assert.deepEqual([android.properties.$os, android.properties.$os_name, android.properties.$os_version], ['Android', 'Android', '14']);
  });

  test('iOS / Android: device_model, device_manufacturer → $device_model, $device_manufacturer; $device_type Mobile / Tablet', () => {
    const ios = one('amplitude', ampIos());
    assert.deepEqual([ios.properties.$device_model, ios.properties.$device_manufacturer, ios.properties.$device_type], ['iPhone15,3', 'Apple', 'Mobile']);
    const android = one('amplitude', ampAndroid());
    assert.deepEqual([android.properties.$device_model, android.properties.$device_manufacturer, android.properties.$device_type], ['Pixel 7a', 'Google', 'Mobile']);
    const ipad = one('amplitude', { ...ampIos(), device_model: 'iPad13,4', device_family: 'Apple iPad', device_type: 'Apple iPad Pro' });
    assert.equal(ipad.properties.$device_type, 'Tablet');
    assert.deepEqual([ios.properties.amplitude_device_type, ios.properties.amplitude_device_brand], ['Apple iPhone 14 Pro Max', 'Apple']);
  });

  test('version_name → $app_version; device_carrier → $network_carrier; language → $locale as a code', () => {
    const ios = one('amplitude', ampIos());
    assert.deepEqual([ios.properties.$app_version, ios.properties.$network_carrier, ios.properties.$locale], ['5.2.0', 'T-Mobile', 'en']);
    assert.equal(one('amplitude', ampAndroid()).properties.$locale, 'de');
  });

  test('page: Page Location (else Page URL) → $current_url; Path → $pathname; Domain → $host; Title → title', () => {
    const e = one('amplitude', ampWeb());
    assert.deepEqual([e.properties.$current_url, e.properties.$pathname, e.properties.$host, e.properties.title], ['https://app.example.org/billing', '/billing', 'app.example.org', 'Billing']);
    const withQuery = one('amplitude', { ...ampWeb(), event_properties: { '[Amplitude] Page URL': 'https://a.example/x', '[Amplitude] Page Location': 'https://a.example/x?utm_source=hn' } });
    assert.equal(withQuery.properties.$current_url, 'https://a.example/x?utm_source=hn');
    for (const k of Object.keys(e.properties)) assert.ok(!k.startsWith('[Amplitude] Page') || k === '[Amplitude] Page Counter', `${k} is renamed`);
  });

  test('viewport height / width → $viewport_height / $viewport_width', () => {
    const e = one('amplitude', ampWeb());
    assert.deepEqual([e.properties.$viewport_height, e.properties.$viewport_width], [768, 1366]);
  });

  test('referrer / referring_domain → $referrer / $referring_domain (the domain derived when missing)', () => {
    const e = one('amplitude', ampWeb());
    assert.deepEqual([e.properties.$referrer, e.properties.$referring_domain], ['https://news.ycombinator.com/', 'news.ycombinator.com']);
    const derived = one('amplitude', { ...ampWeb(), event_properties: { referrer: 'https://www.google.com/search?q=x' } });
    assert.equal(derived.properties.$referring_domain, 'www.google.com');
  });

  test('ip_address → $ip, and no vendor $geoip_* (PostHog geolocates the IP, country code included)', () => {
    const e = one('amplitude', ampWeb());
    assert.equal(e.properties.$ip, '198.51.100.23');
    for (const k of Object.keys(e.properties)) assert.ok(!k.startsWith('$geoip_'), `${k} is left to PostHog`);
    assert.equal(e.properties.$geoip_disable, undefined, 'the format never turns geolocation off itself');
  });

  test('without an IP: city / region / country / lat / lng → $geoip_*, with $geoip_country_code from the country name', () => {
    const e = one('amplitude', { ...ampWeb(), ip_address: null });
    assert.deepEqual(
      [e.properties.$geoip_city_name, e.properties.$geoip_subdivision_1_name, e.properties.$geoip_country_name, e.properties.$geoip_country_code, e.properties.$geoip_latitude, e.properties.$geoip_longitude],
      ['Lyon', 'Auvergne-Rhone-Alpes', 'France', 'FR', 45.76, 4.84],
    );
    const ios = one('amplitude', { ...ampIos(), ip_address: null });
    assert.deepEqual([ios.properties.$geoip_country_name, ios.properties.$geoip_country_code], ['United States', 'US']);
    for (const [country, code] of [['United Kingdom', 'GB'], ['Czech Republic', 'CZ'], ['Hong Kong', 'HK'], ['South Korea', 'KR'], ['Russia', 'RU'], ['Turkey', 'TR']]) {
      assert.equal(one('amplitude', { ...ampIos(), ip_address: null, country }).properties.$geoip_country_code, code, country);
    }
    assert.equal(one('amplitude', { ...ampIos(), ip_address: null, country: 'Atlantis' }).properties.$geoip_country_code, undefined, 'unknown names get no code');
  });

  test('session_id → $session_id: a UUIDv7 whose time is the session start, the same for every event of the session', () => {
    const first = one('amplitude', ampWeb());
    const later = one('amplitude', { ...ampWeb(), uuid: undefined, $insert_id: 'later', event_time: '2025-05-12 08:40:00.000000' });
    const sid = first.properties.$session_id as string;
    assert.match(sid, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(uuidv7Time(sid), 1747037590000);
    assert.equal(later.properties.$session_id, sid);
    assert.equal(first.properties.amplitude_session_id, 1747037590000);
    const otherDevice = one('amplitude', { ...ampWeb(), device_id: 'another-device' });
    assert.notEqual(otherDevice.properties.$session_id, sid, 'a session belongs to one device');
    const ios = one('amplitude', ampIos());
    assert.equal(uuidv7Time(ios.properties.$session_id as string), 1747040000000);
    const none = one('amplitude', { ...ampIos(), session_id: -1 });
    assert.deepEqual([none.properties.$session_id, none.properties.amplitude_session_id], [undefined, undefined]);
  });

  test('user_properties → person properties under $set_once (or $set with personMode "set")', () => {
    assert.equal((one('amplitude', ampWeb()).properties.$set_once as Obj).plan, 'team');
    const set = one('amplitude', ampWeb(), { personMode: 'set' });
    assert.equal((set.properties.$set as Obj).plan, 'team');
    assert.equal((set.properties.$set_once as Obj).plan, undefined);
  });

  test('initial_utm_* / initial_referrer / initial_referring_domain → $set_once $initial_*, always; "EMPTY" is no value', () => {
    for (const personMode of ['set_once', 'set']) {
      const once = one('amplitude', ampWeb(), { personMode }).properties.$set_once as Obj;
      assert.deepEqual(
        [once.$initial_utm_source, once.$initial_referrer, once.$initial_referring_domain],
        ['hn', 'https://news.ycombinator.com/', 'news.ycombinator.com'],
      );
      assert.ok(!('$initial_utm_medium' in once) && !('initial_utm_medium' in once), '"EMPTY" is not sent');
      assert.ok(!('initial_utm_source' in once), 'renamed, not copied');
    }
    const empty = one('amplitude', { ...ampWeb(), event_properties: { referrer: 'EMPTY', plan: 'EMPTY', n: 1 } });
    assert.deepEqual([empty.properties.$referrer, empty.properties.plan, empty.properties.n], [undefined, undefined, 1]);
  });

  test('group_properties → person properties (as PostHog\'s guide does) and one $groupidentify per group state, sent once', () => {
    const mapping = { amplitude: { groupTypes: ['team'] } };
    const out = formatResult('amplitude', ampWeb(), mapping);
    assert.deepEqual((out.events[0]!.properties.$set_once as Obj).team, { team_9: { seats: 12 } });
    assert.equal(out.once?.length, 1);
    const g = out.once![0]!;
    assert.equal(g.event.event, '$groupidentify');
    assert.equal(g.event.distinct_id, '$team_team_9');
    assert.deepEqual([g.event.properties.$group_type, g.event.properties.$group_key, g.event.properties.$group_set], ['team', 'team_9', { seats: 12 }]);
    assert.equal(g.event.timestamp, '2025-05-12T08:15:02.120Z');
    // Same state in another record, chunk or run: same key and uuid; a change: a new one.
    const again = formatResult('amplitude', { ...ampWeb(), uuid: undefined, $insert_id: 'other', event_time: '2025-06-01 00:00:00.000000' }, mapping).once![0]!;
    assert.deepEqual([again.key, again.event.uuid], [g.key, g.event.uuid]);
    const changed = formatResult('amplitude', { ...ampWeb(), group_properties: { team: { team_9: { seats: 13 } } } }, mapping).once![0]!;
    assert.notEqual(changed.key, g.key);
    assert.notEqual(changed.event.uuid, g.event.uuid);
    const emptyOnly = formatResult('amplitude', { ...ampWeb(), group_properties: { team: { team_9: { plan: 'EMPTY' } } } }, mapping);
    assert.equal(emptyOnly.once, undefined, 'no properties, nothing to identify');
  });

  test('an Amplitude $groupidentify record becomes PostHog\'s $groupidentify for its group', () => {
    const rec = { ...ampWeb(), event_type: '$groupidentify', event_properties: {}, group_properties: { team: { team_9: { seats: 20 } } } };
    const out = formatResult('amplitude', rec, { amplitude: { groupTypes: ['team'] } });
    const e = out.events[0]!;
    assert.deepEqual([e.event, e.properties.$group_type, e.properties.$group_key, e.properties.$group_set], ['$groupidentify', 'team', 'team_9', { seats: 20 }]);
    assert.equal(out.once, undefined, 'the record itself carries the update');
    assert.equal(formatResult('amplitude', rec).events[0]!.event, 'amplitude_group_identify', 'without a listed type, not a $groupidentify PostHog would ignore');
  });

  test('groups → $groups with one string key per listed type; several keys are rejected with a reason', () => {
    const mapping = { amplitude: { groupTypes: ['team', 'org'] } };
    assert.deepEqual(one('amplitude', ampWeb(), mapping).properties.$groups, { team: 'team_9' });
    const older = one('amplitude', { ...ampWeb(), groups: { team: 'team_9', org: ['acme'] } }, mapping);
    assert.deepEqual(older.properties.$groups, { org: 'acme', team: 'team_9' });
    const res = through('amplitude', [{ ...ampWeb(), groups: { team: ['team_9', 'team_10'] } }], mapping);
    assert.equal(res.events.length, 0);
    assert.equal(res.rejected[0]!.code, 'invalid_groups');
    assert.match(res.rejected[0]!.reason, /2 keys; PostHog takes one key per group type/);
    assert.equal(through('amplitude', [{ ...ampWeb(), groups: { team: [] } }], mapping).events[0]!.properties.$groups, undefined);
  });

  test('group types: at most 5, chosen in the config; an unlisted type (all while unset) stays as amplitude_group_<type>', () => {
    const six = { team: ['t1'], org: ['o1'], region: ['eu'], plan: ['pro'], seat: ['s1'], shard: ['x9', 'x10'] };
    const listed = one('amplitude', { ...ampWeb(), groups: six }, { amplitude: { groupTypes: ['team', 'org', 'region', 'plan', 'seat'] } });
    assert.deepEqual(listed.properties.$groups, { org: 'o1', plan: 'pro', region: 'eu', seat: 's1', team: 't1' });
    assert.deepEqual(listed.properties.amplitude_group_shard, ['x9', 'x10'], 'never silently dropped');
    const unset = one('amplitude', { ...ampWeb(), groups: six });
    assert.equal(unset.properties.$groups, undefined);
    assert.equal(unset.properties.amplitude_group_team, 't1');
    assert.throws(() => ctx({ amplitude: { groupTypes: ['a', 'b', 'c', 'd', 'e', 'f'] } }), /at most 5 group types/);
    assert.throws(() => ctx({ amplitude: { groupTypes: ['a', 'a'] } }), /unique/);
  });

  test('amplitude_id, event_id, platform, library, $insert_id → amplitude_* (kept for tracing)', () => {
    const e = one('amplitude', ampIos());
    assert.deepEqual(
      [e.properties.amplitude_id, e.properties.amplitude_event_id, e.properties.amplitude_platform, e.properties.amplitude_library, e.properties.amplitude_insert_id],
      [552211009988, 204, 'iOS', 'amplitude-swift/1.6.0', 'AB12CD34-5E6F-4711-8899-0A1B2C3D4E5F'],
    );
  });
});

const mpWeb = () => sample('mixpanel-web-line.jsonl');
/** The web sample as Mixpanel's Swift SDK sends it. */
const mpIos = (): Obj => {
  const r = mpWeb() as { event: string; properties: Obj };
  const { $browser: _b, $browser_version: _v, $current_url: _u, current_domain: _d, current_url_path: _p, current_page_title: _t, $referrer: _r, $referring_domain: _rd, ...rest } = r.properties;
  return {
    event: 'Checkout Started',
    properties: { ...rest, $insert_id: 'ios-1', mp_lib: 'swift', $lib_version: '4.2.0', $os: 'iOS', $os_version: '17.4.1', $model: 'iPhone15,3', $manufacturer: 'Apple', $app_version_string: '5.2.0', $app_build_number: '520', $carrier: 'T-Mobile', $wifi: true, $screen_height: 932, $screen_width: 430 },
  };
};

describe('Mixpanel → PostHog SDK vocabulary', () => {
  test('$browser, $browser_version, $os, $screen_*, $current_url, $referrer, $referring_domain, utm_*: the same names and values', () => {
    const e = one('mixpanel', mpWeb());
    assert.deepEqual(
      [e.properties.$browser, e.properties.$browser_version, e.properties.$os, e.properties.$screen_height, e.properties.$screen_width, e.properties.$current_url, e.properties.$referrer, e.properties.$referring_domain, e.properties.utm_source],
      ['Firefox', 125, 'Windows', 768, 1366, 'https://app.example.org/billing', 'https://news.ycombinator.com/', 'news.ycombinator.com', 'hn'],
    );
    assert.equal(e.properties.$device_type, 'Desktop', 'derived as posthog-js sends it');
  });

  test('current_domain / current_url_path / current_page_title → $host / $pathname / title', () => {
    const e = one('mixpanel', mpWeb());
    assert.deepEqual([e.properties.$host, e.properties.$pathname, e.properties.title], ['app.example.org', '/billing', 'Billing']);
    assert.equal(e.properties.current_domain, undefined);
  });

  test('mp_lib → $lib; $lib_version kept', () => {
    const e = one('mixpanel', mpWeb());
    assert.deepEqual([e.properties.$lib, e.properties.$lib_version, e.properties.mp_lib], ['web', '2.55.0', undefined]);
  });

  test('$city / $region / mp_country_code → $geoip_city_name / $geoip_subdivision_1_name / $geoip_country_code, with $geoip_country_name', () => {
    const e = one('mixpanel', mpWeb());
    assert.deepEqual(
      [e.properties.$geoip_city_name, e.properties.$geoip_subdivision_1_name, e.properties.$geoip_country_code, e.properties.$geoip_country_name],
      ['Lyon', 'Auvergne-Rhone-Alpes', 'FR', 'France'],
    );
  });

  test('mobile: $os → $os and $os_name; $model / $manufacturer / $app_version_string / $app_build_number / $carrier / $wifi → PostHog\'s names', () => {
    const e = one('mixpanel', mpIos());
    assert.deepEqual(
      [e.properties.$os, e.properties.$os_name, e.properties.$os_version, e.properties.$device_model, e.properties.$device_manufacturer, e.properties.$app_version, e.properties.$app_build, e.properties.$network_carrier, e.properties.$network_wifi, e.properties.$device_type],
      ['iOS', 'iOS', '17.4.1', 'iPhone15,3', 'Apple', '5.2.0', '520', 'T-Mobile', true, 'Mobile'],
    );
  });

  test('$initial_referrer / $initial_referring_domain (repeated on every event by Mixpanel JS) → person $set_once', () => {
    const r = mpWeb() as { event: string; properties: Obj };
    const e = one('mixpanel', { ...r, properties: { ...r.properties, $initial_referrer: '$direct', $initial_referring_domain: '$direct' } });
    assert.deepEqual(e.properties.$set_once, { $initial_referrer: '$direct', $initial_referring_domain: '$direct' });
    assert.equal(e.properties.$initial_referrer, undefined);
  });

  test('$device: ids: the id before identity is the distinct_id; $device_id + $user_id link the device', () => {
    const res = through('mixpanel', [mpWeb()]);
    assert.equal(res.events[0]!.distinct_id, 'u-7781');
    assert.deepEqual(res.links.map((l) => [l.anon, l.user]), [['$device:196c0a1b2c3-0a1b2c3d4e5f6-4c657b58-1fa400-196c0a1b2c3', 'u-7781']]);
  });

  test('uuid from what Mixpanel dedups on: event, time, distinct_id, $insert_id — shared insert ids of different events do not collapse', () => {
    const r = mpWeb() as { event: string; properties: Obj };
    const base = one('mixpanel', r).uuid;
    assert.equal(one('mixpanel', { ...r, properties: { ...r.properties, $city: 'Paris' } }).uuid, base, 'other properties do not count');
    const variants = [
      { ...r, event: 'Signed up' },
      { ...r, properties: { ...r.properties, time: 1747037703 } },
      { ...r, properties: { ...r.properties, distinct_id: 'u-9999' } },
      { ...r, properties: { ...r.properties, $insert_id: 'another' } },
    ];
    for (const v of variants) assert.notEqual(one('mixpanel', v).uuid, base);
    // Seconds and milliseconds for the same instant are the same time.
    assert.equal(one('mixpanel', { ...r, properties: { ...r.properties, time: 1747037702000 } }).uuid, base);
    // Chunk boundaries: the same records split differently give the same uuids.
    const records = [r, ...variants];
    const whole = through('mixpanel', records).events.map((e) => e.uuid);
    const split = [...through('mixpanel', records.slice(0, 2)).events, ...through('mixpanel', records.slice(2)).events].map((e) => e.uuid);
    assert.deepEqual(split, whole);
    assert.equal(new Set(whole).size, 5);
  });
});

const segTrack = () => sample('segment-archive-lines.jsonl');
/** A Segment analytics-ios track call, shaped from Segment's spec (context.app/device/os/screen/network). */
const segIos = (): Obj => ({
  anonymousId: '8C1D2E3F-4A5B-4C6D-8E7F-901A2B3C4D5E',
  userId: null,
  type: 'track',
  event: 'Checkout Started',
  messageId: '3a1c9c1e-6f0d-4b8e-9f3a-2d4c5b6a7e8f',
  timestamp: '2025-05-12T08:15:02.120Z',
  properties: { items: 2 },
  integrations: { 'Actions Amplitude': { session_id: 1747040000000 } },
  context: {
    app: { name: 'Shop', version: '5.2.0', build: '520', namespace: 'com.example.shop' },
    device: { id: 'B5372DB0-C21E-11E4-8DFC-AA07A5B093DB', manufacturer: 'Apple', model: 'iPhone15,3', name: 'iPhone', type: 'ios' },
    library: { name: 'analytics-ios', version: '4.1.8' },
    locale: 'en-US',
    network: { carrier: 'T-Mobile', cellular: true, wifi: false, bluetooth: false },
    os: { name: 'iOS', version: '17.4.1' },
    screen: { width: 430, height: 932, density: 3 },
    timezone: 'America/Chicago',
    location: { city: 'Austin', country: 'United States', region: 'Texas', latitude: 30.27, longitude: -97.74 },
  },
});

describe('Segment → PostHog SDK vocabulary', () => {
  test('context.userAgent → $raw_user_agent and $browser / $browser_version / $os / $os_version / $device_type as posthog-js parses it', () => {
    const e = one('segment', segTrack());
    assert.deepEqual(
      [e.properties.$browser, e.properties.$browser_version, e.properties.$os, e.properties.$os_version, e.properties.$device_type],
      ['Chrome', 46, 'Mac OS X', '10.11.0', 'Desktop'],
    );
    assert.match(e.properties.$raw_user_agent as string, /^Mozilla\/5\.0 \(Macintosh/);
    const phone = one('segment', { ...segTrack(), context: { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1' } });
    assert.deepEqual([phone.properties.$browser, phone.properties.$os, phone.properties.$device, phone.properties.$device_type], ['Mobile Safari', 'iOS', 'iPhone', 'Mobile']);
  });

  test('context.os → $os (and $os_name on mobile), $os_version', () => {
    const e = one('segment', segIos());
    assert.deepEqual([e.properties.$os, e.properties.$os_name, e.properties.$os_version], ['iOS', 'iOS', '17.4.1']);
  });

  test('context.device → $device_id, $device_manufacturer, $device_model, $device_name, $device_type', () => {
    const e = one('segment', segIos());
    assert.deepEqual(
      [e.properties.$device_id, e.properties.$device_manufacturer, e.properties.$device_model, e.properties.$device_name, e.properties.$device_type],
      ['B5372DB0-C21E-11E4-8DFC-AA07A5B093DB', 'Apple', 'iPhone15,3', 'iPhone', 'Mobile'],
    );
  });

  test('context.screen → $screen_width / $screen_height / $screen_density', () => {
    const e = one('segment', segIos());
    assert.deepEqual([e.properties.$screen_width, e.properties.$screen_height, e.properties.$screen_density], [430, 932, 3]);
  });

  test('context.app → $app_name, $app_version, $app_build, $app_namespace', () => {
    const e = one('segment', segIos());
    assert.deepEqual([e.properties.$app_name, e.properties.$app_version, e.properties.$app_build, e.properties.$app_namespace], ['Shop', '5.2.0', '520', 'com.example.shop']);
  });

  test('context.network → $network_carrier / $network_wifi / $network_cellular / $network_bluetooth', () => {
    const e = one('segment', segIos());
    assert.deepEqual([e.properties.$network_carrier, e.properties.$network_wifi, e.properties.$network_cellular, e.properties.$network_bluetooth], ['T-Mobile', false, true, false]);
  });

  test('context.locale → $locale (web also $browser_language); context.timezone → $timezone', () => {
    const e = one('segment', segIos());
    assert.deepEqual([e.properties.$locale, e.properties.$timezone, e.properties.$browser_language], ['en-US', 'America/Chicago', undefined]);
    const web = one('segment', { ...segTrack(), context: { ...(segTrack().context as Obj), locale: 'fr-FR' } });
    assert.deepEqual([web.properties.$locale, web.properties.$browser_language, web.properties.$browser_language_prefix], ['fr-FR', 'fr-FR', 'fr']);
  });

  test('context.page → $current_url, $host, $pathname, $referrer, $referring_domain ("$direct" when empty)', () => {
    const e = one('segment', segTrack());
    assert.deepEqual(
      [e.properties.$current_url, e.properties.$host, e.properties.$pathname, e.properties.$referrer, e.properties.$referring_domain],
      ['https://segment.com/academy/', 'segment.com', '/academy/', '$direct', '$direct'],
    );
    const ctxWithRef = { ...(segTrack().context as Obj), page: { url: 'https://a.example/', referrer: 'https://www.google.com/' } };
    assert.equal(one('segment', { ...segTrack(), context: ctxWithRef }).properties.$referring_domain, 'www.google.com');
  });

  test('context.ip → $ip (PostHog geolocates); context.location → $geoip_* with the country code only without an IP', () => {
    const web = one('segment', segTrack());
    assert.equal(web.properties.$ip, '108.0.78.21');
    assert.equal(web.properties.$geoip_country_code, undefined);
    const ios = one('segment', segIos());
    assert.deepEqual(
      [ios.properties.$geoip_city_name, ios.properties.$geoip_subdivision_1_name, ios.properties.$geoip_country_name, ios.properties.$geoip_country_code, ios.properties.$geoip_latitude],
      ['Austin', 'Texas', 'United States', 'US', 30.27],
    );
  });

  test('context.library → $lib / $lib_version; context.campaign → utm_*', () => {
    const e = one('segment', { ...segTrack(), context: { ...(segTrack().context as Obj), campaign: { source: 'hn', medium: 'social', name: 'launch' } } });
    assert.deepEqual([e.properties.$lib, e.properties.$lib_version, e.properties.utm_source, e.properties.utm_medium, e.properties.utm_campaign], ['analytics.js', '2.11.1', 'hn', 'social', 'launch']);
  });

  test('integrations["Actions Amplitude"].session_id → $session_id (UUIDv7 at the session start) and amplitude_session_id', () => {
    const e = one('segment', segIos());
    assert.equal(uuidv7Time(e.properties.$session_id as string), 1747040000000);
    assert.equal(e.properties.amplitude_session_id, 1747040000000);
    const next = one('segment', { ...segIos(), messageId: 'next', timestamp: '2025-05-12T08:20:00.000Z' });
    assert.equal(next.properties.$session_id, e.properties.$session_id);
    assert.equal(one('segment', segTrack()).properties.$session_id, undefined, 'no session id, none made up');
  });
});

describe('session ids', () => {
  test('deterministic, version 7, variant bits set, time = start; implausible starts give none', () => {
    const a = sessionUuid('amplitude', 'dev', 1747037590000, 1747037600000)!;
    assert.equal(a, sessionUuid('amplitude', 'dev', 1747037590000, 1747037999000));
    assert.equal(a[14], '7');
    assert.ok('89ab'.includes(a[19]!));
    assert.equal(uuidv7Time(a), 1747037590000);
    assert.notEqual(a, sessionUuid('amplitude', 'dev', 1747037590001, 1747037600000));
    assert.equal(sessionUuid('amplitude', 'dev', -1, 1747037600000), undefined);
    assert.equal(sessionUuid('amplitude', 'dev', 1747037590, 1747037600000), undefined, 'seconds are not a start in ms');
    assert.equal(sessionUuid('amplitude', 'dev', 1747037590000 + 2 * 86_400_000, 1747037590000), undefined, 'a start days after the event');
    assert.equal(sessionUuid('amplitude', '', 1747037590000, 1747037600000), undefined);
  });
});

describe('campaign parameters', () => {
  test('Amplitude page URL query → utm_* / gclid event properties, as posthog-js sends them', () => {
    const rec = { ...JSON.parse(sampleLines('amplitude-web-line.json')[0]!), event_properties: { '[Amplitude] Page Location': 'https://app.example.org/?utm_source=hn&utm_campaign=launch&gclid=abc&other=1', utm_campaign: 'own' } };
    const e = one('amplitude', rec);
    assert.deepEqual([e.properties.utm_source, e.properties.utm_campaign, e.properties.gclid, e.properties.other], ['hn', 'own', 'abc', undefined]);
  });
});
