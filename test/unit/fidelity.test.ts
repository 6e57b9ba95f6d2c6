import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, mock, test } from 'node:test';
import { DirReports } from '../../functions/adapters/local/dir-reports';
import { FileCheckpoints } from '../../functions/adapters/local/file-checkpoints';
import { FileLinks } from '../../functions/adapters/local/file-links';
import { MemoryStaging } from '../../functions/adapters/local/memory';
import type { PostHogEvent } from '../../functions/core/event';
import { formatByName } from '../../functions/core/formats';
import type { Format, FormatOutput, TransformContext } from '../../functions/core/formats/types';
import { linkKey } from '../../functions/core/links';
import { DEFAULT_MAPPING, parseMapping } from '../../functions/core/mapping';
import type { ChunkMessage } from '../../functions/core/messages';
import { Limits } from '../../functions/core/settings';
import { transformRecords } from '../../functions/core/transform';
import { deriveUuid, isValidUuid } from '../../functions/core/uuid';
import type { EventSink, SendResult } from '../../functions/pipeline/ports';
import { sendChunk, type SendDeps } from '../../functions/pipeline/send';
import { splitFile } from '../../functions/pipeline/split';
import { sampleLines } from '../support/fixtures';
import { bufferSource } from '../support/sources';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const ctx = (mapping: Record<string, unknown> = {}): TransformContext => ({ origin: 'file', now: NOW, mapping: parseMapping(mapping, 'test') });
const run = (format: string, record: unknown, c = ctx()): FormatOutput => formatByName(format).toEvents(record, c);
function events(out: FormatOutput): PostHogEvent[] {
  assert.ok('events' in out, `expected events, got ${JSON.stringify(out)}`);
  return out.events;
}
const one = (format: string, record: unknown, c = ctx()) => events(run(format, record, c))[0]!;
const amplitude = (over: Record<string, unknown>) => ({ ...(JSON.parse(sampleLines('amplitude-export-line.json')[0]!) as object), ...over });

describe('own uuids', () => {
  test('any hyphenated 8-4-4-4-12 hex uuid is accepted, whatever its version and variant bits, and sent lower-cased', () => {
    for (const own of ['FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '01234567-89ab-0def-0123-456789abcdef', '00000000-0000-0000-0000-000000000000', 'abcdef01-2345-6789-cdef-0123456789ab']) {
      assert.ok(isValidUuid(own), own);
      assert.equal(one('posthog', { event: 'e', distinct_id: 'u', uuid: own }).uuid, own.toLowerCase());
      assert.equal(one('posthog-export', { event: 'e', distinct_id: 'u', uuid: own, timestamp: '2024-01-01T00:00:00Z' }).uuid, own.toLowerCase());
      assert.equal(one('csv', { event: 'e', distinct_id: 'u', uuid: own }).uuid, own.toLowerCase());
    }
  });

  test('anything capture refuses is still invalid_uuid', () => {
    for (const bad of ['0123456789abcdef0123456789abcdef', '{01234567-89ab-0def-0123-456789abcdef}', '01234567-89ab-0def-0123-456789abcdeg', '01234567-89ab-0def-0123-456789abcde', 'not-a-uuid']) {
      assert.equal((run('posthog', { event: 'e', distinct_id: 'u', uuid: bad }) as { code: string }).code, 'invalid_uuid', bad);
    }
  });
});

describe('geolocation: one rule for every format', () => {
  const IP = '203.0.113.7';
  // Per format: a record with the user's own IP, and the same without.
  const cases: Record<string, { withIp: unknown; without: unknown }> = {
    posthog: { withIp: { event: 'e', distinct_id: 'u', properties: { $ip: IP } }, without: { event: 'e', distinct_id: 'u', properties: {} } },
    'posthog-export': {
      withIp: { uuid: deriveUuid('t', '1'), event: 'e', distinct_id: 'u', timestamp: '2024-01-01T00:00:00Z', properties: JSON.stringify({ $ip: IP }) },
      without: { uuid: deriveUuid('t', '2'), event: 'e', distinct_id: 'u', timestamp: '2024-01-01T00:00:00Z', properties: '{}' },
    },
    csv: { withIp: { event: 'e', distinct_id: 'u', $ip: IP }, without: { event: 'e', distinct_id: 'u' } },
    amplitude: { withIp: amplitude({ ip_address: IP }), without: amplitude({ ip_address: null }) },
    mixpanel: {
      withIp: { event: 'e', properties: { time: 1700000000, distinct_id: 'u', $insert_id: 'i1', ip: IP, $ip: IP } },
      without: { event: 'e', properties: { time: 1700000000, distinct_id: 'u', $insert_id: 'i2' } },
    },
    segment: {
      withIp: { type: 'track', event: 'e', userId: 'u', messageId: 'm1', timestamp: '2024-01-01T00:00:00Z', context: { ip: IP } },
      without: { type: 'track', event: 'e', userId: 'u', messageId: 'm2', timestamp: '2024-01-01T00:00:00Z', context: {} },
    },
  };
  for (const [format, c] of Object.entries(cases)) {
    test(`${format}: on only with the user's own $ip`, () => {
      const withIp = one(format, c.withIp);
      assert.equal(withIp.properties.$ip, IP);
      assert.equal(withIp.properties.$geoip_disable, undefined, 'geolocated by the event\'s $ip');
      assert.equal(one(format, c.without).properties.$geoip_disable, true, 'never by the sender\'s address');
    });
  }

  test('users: person properties are no event $ip; geolocation stays off with or without one', () => {
    assert.equal(one('users', { distinct_id: 'u', properties: { $ip: IP } }).properties.$geoip_disable, true);
    assert.equal(one('users', { distinct_id: 'u', email: 'a@x' }).properties.$geoip_disable, true);
  });

  test("a record's own $geoip_disable: true is kept; false never turns it on without an $ip", () => {
    assert.equal(one('posthog', { event: 'e', distinct_id: 'u', properties: { $ip: IP, $geoip_disable: true } }).properties.$geoip_disable, true);
    assert.equal(one('posthog', { event: 'e', distinct_id: 'u', properties: { $geoip_disable: false } }).properties.$geoip_disable, true);
    assert.equal(one('csv', { event: 'e', distinct_id: 'u', $ip: IP, $geoip_disable: 'true' }).properties.$geoip_disable, true);
  });

  test('a mapping that drops or renames $ip leaves no event geolocated by the sender', () => {
    const rec = JSON.stringify({ event: 'e', distinct_id: 'u', properties: { $ip: IP } });
    for (const properties of [{ drop: ['$ip'] }, { rename: { $ip: 'ip' } }, { extra: { $geoip_disable: false }, drop: ['$ip'] }]) {
      const [e] = transformRecords([{ n: 1, text: rec }], formatByName('posthog'), ctx({ properties })).events;
      assert.equal(e!.properties.$ip, undefined);
      assert.equal(e!.properties.$geoip_disable, true, JSON.stringify(properties));
    }
    // The mapping does not decide geolocation (drop $ip to turn it off): the rule wins over `extra`.
    const [kept] = transformRecords([{ n: 1, text: rec }], formatByName('posthog'), ctx({ properties: { extra: { $geoip_disable: true, x: 1 } } })).events;
    assert.equal(kept!.properties.$geoip_disable, undefined);
    assert.equal(kept!.properties.x, 1);
  });
});

describe('uuids never come from the mapping', () => {
  test('CSV: the same row keeps its uuid whatever csv.eventName and the column names say', () => {
    const row = { event: 'signup', distinct_id: 'u1', customer: 'c1', timestamp: '2024-01-01T00:00:00Z', at: '2024-01-02T00:00:00Z', plan: 'pro' };
    const uuids = new Set(
      [{}, { csv: { eventName: 'order placed' } }, { csv: { distinctId: 'customer' } }, { csv: { timestamp: 'at' } }, { csv: { event: 'plan' } }].map((m) => one('csv', row, ctx(m)).uuid),
    );
    assert.equal(uuids.size, 1);
    assert.notEqual(one('csv', { ...row, plan: 'free' }).uuid, [...uuids][0], 'another row, another uuid');
  });

  test('users: the same record keeps its uuid whatever users.distinctId says', () => {
    const rec = { distinct_id: 'u1', user_id: 'u1', email: 'a@x' };
    assert.equal(one('users', rec).uuid, one('users', rec, ctx({ users: { distinctId: 'user_id' } })).uuid);
  });
});

describe('links of records that are not sent', () => {
  const deny = ctx({ events: { deny: ['Property Drop Purchased'] } });
  test('a record the mapping filters keeps its device link', () => {
    const rec = amplitude({ user_id: 'u1', device_id: 'd1' });
    const r = transformRecords([{ n: 1, text: JSON.stringify(rec) }], formatByName('amplitude'), deny);
    assert.deepEqual(r.filtered, { event_denied: 1 });
    assert.deepEqual(r.links.map((l) => [l.anon, l.user, l.n]), [['d1', 'u1', 1]]);
  });

  test('a record counted as a duplicate keeps its device link', () => {
    const a = amplitude({ user_id: 'u1', device_id: 'd1' });
    const b = { ...a, user_id: 'u2' }; // same uuid: a duplicate by uuid, but another user on the device
    const r = transformRecords([1, 2].map((n, i) => ({ n, text: JSON.stringify([a, b][i]) })), formatByName('amplitude'), ctx());
    assert.equal(r.duplicates, 1);
    assert.deepEqual(r.links.map((l) => [l.user, l.n]), [['u1', 1], ['u2', 2]]);
  });
});

// --- sendChunk with local adapters ---

const limits = Limits.parse({ chunkRecords: 100 });
const file = { uri: '/data/f.jsonl' };
type Refuse = (e: PostHogEvent) => string | undefined;

async function setup(refuse: Refuse = () => undefined, format: (name: string) => Format = formatByName) {
  const dir = mkdtempSync(join(tmpdir(), 'fidelity-'));
  const checkpoints = await FileCheckpoints.load(join(dir, 'cp.json'));
  const staging = new MemoryStaging();
  const reports = new DirReports(join(dir, 'reports'));
  const sent: PostHogEvent[] = [];
  const sink: EventSink = {
    send: async (evs) => {
      const rejected: SendResult['rejected'] = [];
      for (const e of evs) {
        const why = refuse(e);
        if (why) rejected.push({ uuid: e.uuid, status: 400, reason: `capture answered 400: ${why}` });
        else sent.push(structuredClone(e));
      }
      return { rejected };
    },
  };
  const links = await FileLinks.load(join(dir, 'links.json'));
  const deps: SendDeps = { checkpoints, staging, reports, sink, links, format, origin: () => 'f' };
  const split = async (fileId: string, text: string, m: Record<string, unknown> = {}) => {
    const msgs: ChunkMessage[] = [];
    await splitFile(file, fileId, bufferSource(text), async () => parseMapping(m, 't'), {
      checkpoints, staging, reports, limits, queue: { send: async (q) => void msgs.push(...q) }, stagingKey: (id, i) => `${id}/${i}`,
    });
    return msgs;
  };
  const rejectedRows = (fileId: string) => {
    const d = reports.rejectedLocation(file, fileId);
    return readdirSync(d).flatMap((f) => readFileSync(join(d, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
  };
  return { dir, checkpoints, staging, reports, sent, deps, links, split, rejectedRows };
}

describe('events without a timestamp', () => {
  test('get the split time frozen in the chunk message: the same chunk sent before and after midnight is identical', async () => {
    const s = await setup();
    const text = Array.from({ length: 50 }, (_, i) => JSON.stringify({ event: 'e', distinct_id: `u${i}` })).join('\n');
    const [msg] = await s.split('ts', text);
    const manifest = await s.checkpoints.getManifest();
    assert.equal(msg!.importedAt, manifest!.startedAt, 'frozen from the stored manifest');
    const body = await s.staging.get(msg!.staged);

    mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-03-01T23:59:50Z') });
    try {
      // First delivery: capture took the events, then the sender died before its checkpoint.
      await s.staging.put(msg!.staged, body);
      const dying: EventSink = { send: async (evs) => (s.sent.push(...structuredClone(evs)), Promise.reject(new Error('killed'))) };
      await assert.rejects(sendChunk(msg!, { ...s.deps, sink: dying }), /killed/);
      const first = s.sent.splice(0);
      mock.timers.setTime(Date.parse('2026-03-02T00:00:30Z')); // past midnight UTC
      await s.staging.put(msg!.staged, body);
      const out = await sendChunk(msg!, s.deps);
      assert.equal(first.length, 50);
      assert.deepEqual(s.sent, first, 'uuid, timestamp and properties identical on retry');
      assert.ok(first.every((e) => e.timestamp === manifest!.startedAt));
      assert.equal(out.status === 'sent' && out.stats.noTimestamp, 50, 'still counted as noTimestamp');
    } finally {
      mock.timers.reset();
    }
  });

  test('a chunk message queued by an older version (no importedAt) uses the manifest startedAt', async () => {
    const s = await setup();
    const [msg] = await s.split('old', JSON.stringify({ event: 'e', distinct_id: 'u' }));
    const { importedAt: _dropped, ...old } = msg!;
    await sendChunk(old as ChunkMessage, s.deps);
    assert.equal(s.sent[0]!.timestamp, (await s.checkpoints.getManifest())!.startedAt);
  });

  test('a re-split of the same file freezes the same time', async () => {
    const s = await setup();
    const text = JSON.stringify({ event: 'e', distinct_id: 'u' });
    const msgs: ChunkMessage[] = [];
    let fail = true;
    const queue = { send: async (q: ChunkMessage[]) => { if (fail) throw new Error('queue down'); msgs.push(...q); } };
    const deps = { checkpoints: s.checkpoints, staging: s.staging, reports: s.reports, limits, queue, stagingKey: (id: string, i: number) => `${id}/${i}` };
    await assert.rejects(splitFile(file, 'again', bufferSource(text), async () => DEFAULT_MAPPING, deps), /queue down/);
    const startedAt = (await s.checkpoints.getManifest())!.startedAt;
    await new Promise((r) => setTimeout(r, 5));
    fail = false;
    await splitFile(file, 'again', bufferSource(text), async () => DEFAULT_MAPPING, deps);
    assert.equal(msgs[0]!.importedAt, startedAt);
  });
});

describe('identity links: every link ends sent or reported', () => {
  const records = [
    amplitude({ uuid: deriveUuid('t', 'a'), user_id: 'blocked', device_id: 'd9', event_type: 'first' }),
    amplitude({ uuid: deriveUuid('t', 'b'), user_id: 'blocked', device_id: 'd9', event_type: 'second' }),
    amplitude({ uuid: deriveUuid('t', 'c'), user_id: 'fine', device_id: 'd1', event_type: 'third' }),
  ];
  // Line 1 shows no pair (no device); the blocked pair first shows on line 2.
  const text = [amplitude({ uuid: deriveUuid('t', 'z'), user_id: 'solo', device_id: null }), ...records].map((r) => JSON.stringify(r)).join('\n');

  test("a refused $identify is reported at the first record showing the pair, marked refused, and not sent by any later chunk", async () => {
    const s = await setup((e) => (e.event === '$identify' && e.distinct_id === 'blocked' ? 'distinct_id is blocked on this project' : undefined));
    const [msg] = await s.split('links', text, { format: 'amplitude' });
    const out = await sendChunk(msg!, s.deps);
    assert.ok(out.status === 'sent');
    assert.deepEqual([out.stats.links, out.stats.linksRefused, out.stats.sent, out.stats.rejected], [1, 1, 4, 0], 'the records themselves were sent');
    const rows = s.rejectedRows('links');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.line, 2, 'the first record that showed the pair');
    assert.equal(rows[0]!.derived, 'link');
    assert.match(String(rows[0]!.reason), /\$identify.*refused.*distinct_id is blocked/);
    const report = await s.reports.read('links');
    assert.equal(report!.reconciled, true);
    assert.equal(report!.records.linksRefused, 1);
    // Final: no chunk claims it again, and it is not left `claimed`.
    const key = linkKey({ anon: 'd9', user: 'blocked' });
    assert.deepEqual(await s.links.claim([key], 'other#0'), []);
    assert.equal(s.links.status(key), 'refused');
    const reloaded = await FileLinks.load(join(s.dir, 'links.json'));
    assert.deepEqual(await reloaded.claim([key], 'links#0'), [], 'not even its own chunk resends a refused link');
  });

  test('a filtered record still links its device; the link is sent and counted', async () => {
    const s = await setup();
    const [msg] = await s.split('filt', records.map((r) => JSON.stringify(r)).join('\n'), { format: 'amplitude', events: { deny: ['first', 'second'] } });
    const out = await sendChunk(msg!, s.deps);
    assert.ok(out.status === 'sent');
    assert.equal(out.stats.filtered, 2);
    assert.equal(out.stats.links, 2);
    assert.deepEqual(s.sent.filter((e) => e.event === '$identify').map((e) => e.distinct_id).sort(), ['blocked', 'fine']);
  });
});

describe('once-events (FormatResult.once)', () => {
  // A format like posthog that also states a group's properties once per (group, state).
  const groupFormat: Format = {
    name: 'posthog',
    toEvents(raw, c) {
      const res = formatByName('posthog').toEvents(raw, c);
      if (!('events' in res)) return res;
      const company = String((raw as { properties: { company: string } }).properties.company);
      const key = `company\u0000${company}\u0000v1`;
      const event: PostHogEvent = { uuid: deriveUuid('group', key), event: '$groupidentify', distinct_id: `$company_${company}`, properties: { $group_type: 'company', $group_key: company, $group_set: { name: company } } };
      return { ...res, once: [{ key, event }] };
    },
  };
  const text = Array.from({ length: 300 }, (_, i) => JSON.stringify({ event: 'e', distinct_id: `u${i}`, timestamp: '2024-01-01T00:00:00Z', properties: { company: ['acme', 'bad', 'globex'][i % 3] } })).join('\n');

  test('are claimed by key and sent once ever across chunks and files; refused ones are reported', async () => {
    const s = await setup((e) => (e.event === '$groupidentify' && e.properties.$group_key === 'bad' ? 'group key refused' : undefined), () => groupFormat);
    const msgs = await s.split('g1', text);
    assert.equal(msgs.length, 3);
    for (const m of msgs) await sendChunk(m, s.deps);
    const groups = s.sent.filter((e) => e.event === '$groupidentify');
    assert.deepEqual(groups.map((e) => e.properties.$group_key).sort(), ['acme', 'globex']);
    assert.ok(groups.every((e) => e.timestamp), 'an undated once-event gets the frozen time too');
    const report = await s.reports.read('g1');
    assert.deepEqual([report!.records.onceEvents, report!.records.onceRefused, report!.records.sent, report!.reconciled], [2, 1, 300, true]);
    const rows = s.rejectedRows('g1');
    assert.deepEqual(rows.map((r) => [r.line, r.derived]), [[2, 'once']]);
    assert.match(String(rows[0]!.reason), /\$groupidentify.*refused.*group key refused/);

    // Another file showing the same groups sends none of them again.
    const before = s.sent.length;
    for (const m of await s.split('g2', text.replace(/"u(\d+)"/g, '"w$1"'))) await sendChunk(m, s.deps);
    assert.equal(s.sent.slice(before).filter((e) => e.event === '$groupidentify').length, 0);
  });
});

describe('the sender never runs with an empty key', () => {
  test('a blank key in the secret fails loudly before any sink is built', async () => {
    const { mockClient } = await import('aws-sdk-client-mock');
    const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const { forgetApiKey, projectApiKey } = await import('../../functions/adapters/aws/secret');
    const secrets = new SecretsManagerClient({ region: 'us-east-1' });
    const mocked = mockClient(secrets);
    try {
      for (const SecretString of ['   ', '{"apiKey":" \\t"}', '{"apiKey":""}']) {
        forgetApiKey();
        mocked.on(GetSecretValueCommand).resolves({ SecretString });
        await assert.rejects(projectApiKey(secrets, 'k'), /holds no PostHog project API key/, SecretString);
      }
      assert.equal(mocked.calls().length, 3, 'the secret was really read each time');
    } finally {
      forgetApiKey();
      mocked.restore();
    }
  });
});
