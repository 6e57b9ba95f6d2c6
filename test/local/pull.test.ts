import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import { pullCommand, type PullCliOptions } from '../../functions/cli/pull';
import { Limits } from '../../functions/core/settings';
import { FileStateStore, LockBusy } from '../../functions/sources/state';
import { sourceStatuses } from '../../functions/sources/status';
import { CaptureStandIn } from '../support/capture-stand-in';
import { AmplitudeExportStandIn, MixpanelExportStandIn, PostHogQueryStandIn, posthogRows } from '../support/export-apis';
import { amplitudeRecords, mixpanelLines } from '../support/vendors';

const KEY = 'phc_pull_test';
const H = 3_600_000;
const T0 = Date.UTC(2024, 2, 1); // 2024-03-01T00:00Z
const FAST = { attempts: 4, baseDelayMs: 20, maxDelayMs: 3_000 };
const AMP_ENV = { AMPLITUDE_API_KEY: 'amp-key', AMPLITUDE_SECRET_KEY: 'amp-secret' };
const MP_ENV = { MIXPANEL_SERVICE_ACCOUNT_USERNAME: 'sa.user', MIXPANEL_SERVICE_ACCOUNT_SECRET: 'sa-secret' };
const PH_ENV = { POSTHOG_PERSONAL_API_KEY: 'phx_personal' };

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const dir = () => mkdtempSync(join(tmpdir(), 'pull-'));
const files = (root: string): string[] =>
  existsSync(root) ? readdirSync(root, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(root.length + 1)).sort() : [];
const watermark = async (state: string, name: string) => (await new FileStateStore(join(state, 'sources')).get(name))?.watermark;

/** Distinct record uuids/ids in an Amplitude zip (every member read). */
async function zipLines(path: string): Promise<string[]> {
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.open(path, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z!))));
  const lines: string[] = [];
  await new Promise<void>((res, rej) => {
    zip.on('entry', (entry: yauzl.Entry) =>
      zip.openReadStream(entry, (e, s) => {
        if (e) return rej(e);
        const parts: Buffer[] = [];
        s!.on('data', (b: Buffer) => parts.push(b)).on('end', () => {
          lines.push(...gunzipSync(Buffer.concat(parts)).toString().split('\n').filter(Boolean));
          zip.readEntry();
        });
      }),
    );
    zip.on('end', res).on('error', rej);
    zip.readEntry();
  });
  return lines;
}

describe('backfill pull (local, vendor stand-ins on loopback)', () => {
  let amp: AmplitudeExportStandIn;
  let mp: MixpanelExportStandIn;
  let ph: PostHogQueryStandIn;
  before(async () => {
    amp = await new AmplitudeExportStandIn().start();
    mp = await new MixpanelExportStandIn().start();
    ph = await new PostHogQueryStandIn().start();
  });
  after(async () => {
    await Promise.all([amp.stop(), mp.stop(), ph.stop()]);
  });

  const ampOpts = (state: string, over: Partial<PullCliOptions> = {}): PullCliOptions => ({
    type: 'amplitude',
    baseUrl: amp.url,
    stateDir: state,
    progress: false,
    env: AMP_ENV,
    retry: FAST,
    limits: Limits.parse({ chunkRecords: 200, batchSize: 100 }),
    ...over,
  });

  test('Amplitude: hours with and without data; a 404 hour writes nothing and still moves the watermark', async () => {
    const d = dir();
    amp.hours.clear();
    const { records } = amplitudeRecords(300, T0);
    amp.add(T0, records.slice(0, 100));
    amp.add(T0 + H, records.slice(100, 250));
    amp.add(T0 + 3 * H, records.slice(250));
    const before = amp.requests;
    const res = await pullCommand(ampOpts(join(d, 'state'), { name: 'amp', outDir: join(d, 'out'), from: '2024-03-01', to: '2024-03-01T04:00:00Z' }));
    assert.equal(amp.requests - before, 4, 'one request per hour');
    assert.deepEqual(res.windows.map((w) => [w.start.slice(11, 13), Boolean(w.location)]), [['00', true], ['01', true], ['02', false], ['03', true]]);
    assert.deepEqual(files(join(d, 'out')), ['amp/2024-03-01/amplitude-20240301T00.zip', 'amp/2024-03-01/amplitude-20240301T01.zip', 'amp/2024-03-01/amplitude-20240301T03.zip']);
    assert.equal((await zipLines(join(d, 'out', 'amp/2024-03-01/amplitude-20240301T01.zip'))).length, 150, 'the vendor zip, as sent');
    assert.equal(await watermark(join(d, 'state'), 'amp'), '2024-03-01T04:00:00.000Z');
    const [st] = await sourceStatuses(new FileStateStore(join(d, 'state', 'sources')));
    assert.equal(st!.watermark, '2024-03-01T04:00:00.000Z');
    assert.ok(st!.lastSuccessAt && !st!.failing);
  });

  test('Amplitude: pull and import with --host sends every record once, with its device links', async () => {
    const d = dir();
    const capture = await new CaptureStandIn({ apiKey: KEY }).start();
    try {
      amp.hours.clear();
      const { records, pairs } = amplitudeRecords(300, T0);
      amp.add(T0, records.slice(0, 120));
      amp.add(T0 + 2 * H, records.slice(120));
      const res = await pullCommand(ampOpts(join(d, 'state'), { host: capture.url, apiKey: KEY, from: '2024-03-01T00:00:00Z', to: '2024-03-01T03:00:00Z' }));
      assert.deepEqual(res.imported.map((i) => i.read), [120, 180]);
      assert.equal(capture.unique, 300 + pairs.length);
      assert.equal(capture.received, capture.unique, 'nothing sent twice');
    } finally {
      await capture.stop();
    }
  });

  test('a refused key (401) stops the run at once: no retry, no object, watermark kept, the error stored', async () => {
    const d = dir();
    amp.hours.clear();
    amp.add(T0, amplitudeRecords(10, T0).records);
    const before = amp.requests;
    await assert.rejects(
      pullCommand(ampOpts(join(d, 'state'), { outDir: join(d, 'out'), from: '2024-03-01', to: '2024-03-01T01:00:00Z', env: { ...AMP_ENV, AMPLITUDE_SECRET_KEY: 'wrong' } })),
      /credentials were refused \(HTTP 401\)/,
    );
    assert.equal(amp.requests - before, 1);
    assert.deepEqual(files(join(d, 'out')), []);
    const [st] = await sourceStatuses(new FileStateStore(join(d, 'state', 'sources')));
    assert.equal(st!.watermark, undefined);
    assert.equal(st!.failing, true);
    assert.match(st!.lastError!, /401/);
    assert.doesNotMatch(st!.lastError!, /wrong|amp-key/, 'no credential in the stored error');
  });

  test('429 with Retry-After is waited out, then the window is pulled', async () => {
    const d = dir();
    amp.hours.clear();
    amp.add(T0, amplitudeRecords(20, T0).records);
    amp.fail({ kind: 'status', status: 429, retryAfter: 1 });
    const before = amp.injected.status;
    const t = Date.now();
    const res = await pullCommand(ampOpts(join(d, 'state'), { outDir: join(d, 'out'), from: '2024-03-01', to: '2024-03-01T01:00:00Z' }));
    assert.equal(amp.injected.status - before, 1, 'the 429 was really sent');
    assert.ok(Date.now() - t >= 950, 'waited what Retry-After said');
    assert.equal(res.windows[0]!.location !== undefined, true);
  });

  test('a reset mid-download: the half object is never kept; the window is pulled again whole, or the run fails without moving the watermark', async () => {
    const d = dir();
    amp.hours.clear();
    amp.add(T0, amplitudeRecords(200, T0).records);
    const resets = amp.injected.reset;
    amp.fail({ kind: 'midBodyReset' });
    const out = join(d, 'out');
    const res = await pullCommand(ampOpts(join(d, 'state'), { outDir: out, from: '2024-03-01', to: '2024-03-01T01:00:00Z' }));
    assert.equal(amp.injected.reset - resets, 1);
    assert.equal((await zipLines(join(out, res.windows[0]!.location!.slice(out.length + 1)))).length, 200, 'the kept object is whole');
    assert.deepEqual(files(out), ['amplitude/2024-03-01/amplitude-20240301T00.zip'], 'no partial file left');

    // Every try reset: the run fails, nothing is written for the window, the watermark stays.
    const d2 = dir();
    amp.outage({ kind: 'midBodyReset' });
    try {
      await assert.rejects(pullCommand(ampOpts(join(d2, 'state'), { outDir: join(d2, 'out'), from: '2024-03-01', to: '2024-03-01T01:00:00Z' })));
    } finally {
      amp.outage(undefined);
    }
    assert.deepEqual(files(join(d2, 'out')), []);
    assert.equal(await watermark(join(d2, 'state'), 'amplitude'), undefined);
  });

  test('a crash between writing a window and moving the watermark: the next run pulls it again to the same key and imports it once', async () => {
    const d = dir();
    const capture = await new CaptureStandIn({ apiKey: KEY }).start();
    try {
      amp.hours.clear();
      const { records, pairs } = amplitudeRecords(150, T0);
      amp.add(T0, records.slice(0, 100));
      amp.add(T0 + H, records.slice(100));
      let crashed = 0;
      const crashOnce = async () => {
        if (!crashed++) throw new Error('crash after upload');
      };
      const state = join(d, 'state');
      const o = ampOpts(state, { host: capture.url, apiKey: KEY, from: '2024-03-01', to: '2024-03-01T02:00:00Z', afterWriteHook: crashOnce });
      await assert.rejects(pullCommand(o), /crash after upload/);
      assert.equal(await watermark(state, 'amplitude'), undefined, 'the watermark did not move');
      assert.deepEqual(files(join(state, 'pulled')), ['amplitude/2024-03-01/amplitude-20240301T00.zip'], 'the object was complete');
      const served = amp.served.length;
      await pullCommand(o);
      assert.equal(amp.served.length - served, 2, 'hour 0 pulled again, then hour 1');
      assert.deepEqual(files(join(state, 'pulled')), ['amplitude/2024-03-01/amplitude-20240301T00.zip', 'amplitude/2024-03-01/amplitude-20240301T01.zip'], 'same key, no second copy');
      assert.equal(capture.unique, 150 + pairs.length);
      assert.equal(await watermark(state, 'amplitude'), '2024-03-01T02:00:00.000Z');
    } finally {
      await capture.stop();
    }
  });

  test('two runs of one source at once: one pulls, the other refuses (lock) and moves nothing', async () => {
    const d = dir();
    amp.hours.clear();
    for (let h = 0; h < 4; h++) amp.add(T0 + h * H, amplitudeRecords(50, T0 + h * H).records);
    const served = amp.served.length;
    const o = ampOpts(join(d, 'state'), { outDir: join(d, 'out'), from: '2024-03-01', to: '2024-03-01T04:00:00Z' });
    const results = await Promise.allSettled([pullCommand(o), pullCommand(o)]);
    const busy = results.filter((r) => r.status === 'rejected');
    assert.equal(busy.length, 1);
    assert.ok((busy[0] as PromiseRejectedResult).reason instanceof LockBusy);
    assert.equal(amp.served.length - served, 4, 'each hour pulled once');
    assert.equal(await watermark(join(d, 'state'), 'amplitude'), '2024-03-01T04:00:00.000Z');
    assert.ok(!existsSync(join(d, 'state', 'sources', 'amplitude.lock')), 'the lock is freed');
  });

  test('late Amplitude data: the lateness window is pulled again to the same keys; PostHog gets each record once', async () => {
    const d = dir();
    const capture = await new CaptureStandIn({ apiKey: KEY }).start();
    try {
      amp.hours.clear();
      const { records, pairs } = amplitudeRecords(400, T0);
      amp.add(T0, records.slice(0, 100));
      amp.add(T0 + H, records.slice(100, 200));
      const state = join(d, 'state');
      const o = ampOpts(state, { host: capture.url, apiKey: KEY, latenessHours: 2 });
      await pullCommand({ ...o, from: '2024-03-01', to: '2024-03-01T02:00:00Z' });
      assert.equal(capture.unique, 200 + pairs.length);
      // Late uploads for hour 1, and new data in hour 2; the next run continues from the watermark.
      amp.add(T0 + H, records.slice(200, 300));
      amp.add(T0 + 2 * H, records.slice(300));
      const res = await pullCommand({ ...o, to: '2024-03-01T03:00:00Z' });
      assert.deepEqual(res.windows.map((w) => w.key), ['2024-03-01/amplitude-20240301T00.zip', '2024-03-01/amplitude-20240301T01.zip', '2024-03-01/amplitude-20240301T02.zip'], 'watermark 02:00 less 2 h of lateness');
      assert.equal(capture.unique, 400 + pairs.length, 'the late records arrived; nothing is counted twice');
      assert.equal(new Set([...capture.events.keys()]).size, capture.unique);
      assert.equal(files(join(state, 'pulled')).length, 3, 'one object per hour');
    } finally {
      await capture.stop();
    }
  });

  test('Mixpanel: days (from_date = to_date), an empty day writes nothing, 429s of the rate limit are waited out, imported once', async () => {
    const d = dir();
    const capture = await new CaptureStandIn({ apiKey: KEY }).start();
    try {
      const { lines, unique } = mixpanelLines(1_500); // 2020-10-13 17:48 .. 2020-10-14 18:47 UTC
      mp.days.clear();
      mp.add(lines);
      mp.fail({ kind: 'status', status: 429 }, { kind: 'status', status: 429, retryAfter: 1 });
      const o: PullCliOptions = { type: 'mixpanel', baseUrl: mp.url, projectId: '3141', stateDir: join(d, 'state'), progress: false, env: MP_ENV, retry: FAST };
      const res = await pullCommand({ ...o, outDir: join(d, 'out'), from: '2020-10-12', to: '2020-10-15' });
      assert.equal(mp.injected.status, 2);
      assert.deepEqual(res.windows.map((w) => [w.start.slice(0, 10), Boolean(w.location)]), [['2020-10-12', false], ['2020-10-13', true], ['2020-10-14', true]]);
      const written = files(join(d, 'out')).map((f) => gunzipSync(readFileSync(join(d, 'out', f))).toString().split('\n').filter(Boolean).length);
      assert.equal(written.reduce((a, b) => a + b, 0), lines.length, 'the NDJSON as sent (gzip), duplicates and all');

      await pullCommand({ ...o, stateDir: join(d, 'state2'), host: capture.url, apiKey: KEY, from: '2020-10-13', to: '2020-10-15' });
      const events = [...capture.events.values()].filter((e) => e.event !== '$identify');
      assert.equal(events.length, unique, 'exact repeats collapse on $insert_id');
    } finally {
      await capture.stop();
    }
  });

  test('Mixpanel: its queries-per-hour limit (429) is waited out until the quota frees up; one query at a time', async () => {
    const limited = await new MixpanelExportStandIn(undefined, undefined, { perHour: 2, hourMs: 300 }).start();
    try {
      limited.add(mixpanelLines(3_000).lines); // three days
      const res = await pullCommand({ type: 'mixpanel', baseUrl: limited.url, projectId: '3141', stateDir: dir(), outDir: dir(), progress: false, env: MP_ENV, from: '2020-10-13', to: '2020-10-16', retry: { attempts: 8, baseDelayMs: 50, maxDelayMs: 1_000 } });
      assert.ok(limited.rateLimited >= 1, 'the limit was hit');
      assert.equal(res.windows.filter((w) => w.location).length, 3);
      assert.equal(limited.maxInFlight, 1);
    } finally {
      await limited.stop();
    }
  });

  test('Mixpanel: without --project-id or credentials the command says what is missing', async () => {
    const o: PullCliOptions = { type: 'mixpanel', baseUrl: mp.url, stateDir: dir(), outDir: dir(), progress: false, env: MP_ENV };
    await assert.rejects(pullCommand(o), /--project-id/);
    await assert.rejects(pullCommand({ ...o, projectId: '3141', env: {} }), /MIXPANEL_SERVICE_ACCOUNT_USERNAME/);
  });

  test('PostHog: events by exact window, paged by (timestamp, uuid) with ties, persons, omniload URI; imported with their own uuids', async () => {
    const d = dir();
    const capture = await new CaptureStandIn({ apiKey: KEY }).start();
    try {
      ph.events = posthogRows(130, T0, 3);
      // Ties: several events in the same microsecond straddle a page boundary.
      for (const e of ph.events.slice(45, 55)) e.timestamp = ph.events[45]!.timestamp;
      ph.persons = Array.from({ length: 37 }, (_, i) => ({ distinct_id: `user-${i}`, properties: { email: `u${i}@example.com` } }));
      const uri = `posthog://?personal_api_key=phx_personal&project_id=42&base_url=${encodeURIComponent(ph.url)}`;
      const o: PullCliOptions = { type: 'posthog', sourceUri: uri, stateDir: join(d, 'state'), progress: false, env: {}, retry: FAST, windowHours: 2, pageSize: 40 };
      const queries = ph.queries.length;
      const res = await pullCommand({ ...o, outDir: join(d, 'out'), from: '2024-03-01T00:30:00Z', to: '2024-03-01T03:00:00Z', persons: true });
      assert.deepEqual(res.windows.map((w) => [w.start.slice(11, 16), w.end.slice(11, 16)]), [['00:30', '02:00'], ['02:00', '03:00']], 'exact times, cut at the window grid');
      const lines = files(join(d, 'out')).filter((f) => f.includes('events')).flatMap((f) => readFileSync(join(d, 'out', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
      const expected = ph.events.filter((e) => e.timestamp >= '2024-03-01T00:30');
      assert.equal(lines.length, expected.length);
      assert.deepEqual(new Set(lines.map((l) => l.uuid)), new Set(expected.map((e) => e.uuid)), 'no row skipped or repeated across pages');
      assert.ok(ph.queries.length - queries > 6, 'paged: 40 rows per query');
      assert.ok(files(join(d, 'out')).includes('posthog/persons/posthog-persons.users.jsonl'));

      // Pull and import: every event keeps its uuid; persons arrive as $identify.
      await pullCommand({ ...o, stateDir: join(d, 'state2'), host: capture.url, apiKey: KEY, from: '2024-03-01T00:30:00Z', to: '2024-03-01T03:00:00Z', persons: true });
      for (const e of expected) assert.ok(capture.events.has(e.uuid), 'own uuid kept');
      assert.equal([...capture.events.values()].filter((e) => e.event === '$identify').length, 37);
      assert.equal(capture.unique, expected.length + 37);
    } finally {
      await capture.stop();
    }
  });

  test('npx backfill pull … --host --api-key: pull and import from the command line, then status shows the source', async () => {
    const d = dir();
    const capture = await new CaptureStandIn({ apiKey: KEY }).start();
    try {
      const { lines, unique } = mixpanelLines(400);
      mp.days.clear();
      mp.add(lines);
      const args = ['pull', 'mixpanel', '--from', '2020-10-13', '--to', '2020-10-15', '--base-url', mp.url, '--project-id', '3141', '--host', capture.url, '--api-key', KEY, '--state-dir', join(d, 'state')];
      const env = { ...process.env, ...MP_ENV };
      const out = await promisify(execFile)(process.execPath, [BIN, ...args], { env });
      assert.match(out.stdout, /2020-10-13\/mixpanel-2020-10-13\.jsonl {2}\d+ bytes/);
      assert.match(out.stdout, /mixpanel: 2 windows pulled \(2 with data, \d+ bytes\), watermark 2020-10-15T00:00:00.000Z; 4\d\d events imported/);
      assert.equal([...capture.events.values()].filter((e) => e.event !== '$identify').length, unique);
      const status = await promisify(execFile)(process.execPath, [BIN, 'status', '--state-dir', join(d, 'state')], { env });
      assert.match(status.stdout, /mixpanel \[mixpanel\] watermark 2020-10-15T00:00:00.000Z \(lag [\d.]+ days\), last success 20/);
    } finally {
      await capture.stop();
    }
  });
});
