import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { importFile, type ImportOptions } from '../../functions/cli/import';
import { countsQuery, localReports, verifyReports } from '../../functions/cli/verify';
import { PostHogQuery } from '../../functions/adapters/posthog-query';
import { compareCounts } from '../../functions/core/verify';
import { Limits } from '../../functions/core/settings';
import { CaptureStandIn, type Accepted } from '../support/capture-stand-in';
import { parseCountsQuery, QueryStandIn } from '../support/query-stand-in';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'backfill.mjs');
const run = promisify(execFile);
const KEY = 'phc_verify_test';
const PERSONAL = 'phx_personal_test';
const PROJECT = 4242;

/** PostHog-format records over 5 days and 3 event names; every 25th lacks its distinct_id. */
function records(n: number, tag: string): { text: string; sent: number } {
  const lines: string[] = [];
  let sent = 0;
  for (let i = 0; i < n; i++) {
    const day = `2024-03-0${1 + (i % 5)}`;
    const rec: Record<string, unknown> = { event: `event_${i % 3}`, distinct_id: `u${i % 17}`, timestamp: `${day}T0${i % 10}:00:00Z`, properties: { i, tag } };
    if (i % 25 === 24) delete rec.distinct_id;
    else sent++;
    lines.push(JSON.stringify(rec));
  }
  return { text: `${lines.join('\n')}\n`, sent };
}

describe('backfill verify against a query API stand-in', () => {
  let capture: CaptureStandIn;
  let query: QueryStandIn;
  /** What the stand-in's PostHog holds: the accepted events, plus changes a test makes. */
  let held: () => Accepted[];
  const dir = mkdtempSync(join(tmpdir(), 'verify-'));
  const stateDir = join(dir, 'state');
  let sentA = 0;
  const opts = (over: Partial<ImportOptions> = {}): ImportOptions => ({
    stateDir,
    limits: Limits.parse({ chunkRecords: 100, batchSize: 50 }),
    attempts: 1,
    retryDelayMs: 5,
    progress: false,
    host: capture.url,
    apiKey: KEY,
    ...over,
  });
  const verify = async (...extra: string[]) => {
    try {
      const r = await run(process.execPath, [BIN, 'verify', '--state-dir', stateDir, '--host', query.url, '--project-id', String(PROJECT), ...extra], {
        env: { ...process.env, POSTHOG_PERSONAL_API_KEY: PERSONAL },
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  before(async () => {
    capture = await new CaptureStandIn({ apiKey: KEY }).start();
    held = () => [...capture.events.values()];
    query = await new QueryStandIn({ apiKey: PERSONAL, projectId: PROJECT, events: () => held() }).start();
    // Two files posted (one with a quote in its name, the origin goes into the HogQL), and one
    // written to --out (never posted: verify must leave it out).
    const a = records(600, 'a');
    sentA = a.sent;
    writeFileSync(join(dir, "it's-a.jsonl"), a.text);
    await importFile(join(dir, "it's-a.jsonl"), opts());
    writeFileSync(join(dir, 'b.jsonl'), records(300, 'b').text);
    await importFile(join(dir, 'b.jsonl'), opts());
    writeFileSync(join(dir, 'c.jsonl'), records(50, 'c').text);
    await importFile(join(dir, 'c.jsonl'), opts({ host: undefined, apiKey: undefined, out: join(dir, 'c.out.ndjson') }));
  });
  after(async () => {
    await capture.stop();
    await query.stop();
  });

  test('agrees when PostHog holds every event we sent, with repeats not merged yet; pages through the rows', async () => {
    const events = [...capture.events.values()];
    // Eventual dedup: some events are still stored twice. Counting distinct uuids hides that.
    held = () => [...events, ...events.slice(0, 40)];
    const before = query.queries.length;
    const r = await verify('--page-size', '7', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.agrees, true);
    assert.deepEqual(out.files.map((f: { origin: string }) => f.origin).sort(), ["b.jsonl", "it's-a.jsonl"]);
    assert.equal(out.files.find((f: { origin: string }) => f.origin === "it's-a.jsonl").ours, sentA);
    // 2 files × 5 days × 3 events = 30 rows, 7 per page: 5 pages.
    assert.equal(query.queries.length - before, 5);
    assert.match(query.queries.at(-1)!, /LIMIT 7 OFFSET 28$/);
  });

  test('lists every difference and exits 1 when PostHog lacks events or holds extra ones', async () => {
    const events = [...capture.events.values()];
    const lost = events.filter((e) => e.properties?.tag === 'a' && e.event === 'event_1' && e.timestamp!.startsWith('2024-03-02')).slice(0, 3);
    const lostIds = new Set(lost.map((e) => e.uuid));
    const extra: Accepted = { uuid: '00000000-0000-4000-8000-000000000001', event: 'stray', distinct_id: 'x', timestamp: '2024-03-04T12:00:00.000Z', properties: { $import_source: 'b.jsonl' } };
    held = () => [...events.filter((e) => !lostIds.has(e.uuid)), extra];
    const r = await verify();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /it's-a\.jsonl \(\$import_source = "it's-a\.jsonl"\): 1 difference/);
    assert.match(r.stdout, /2024-03-02 event_1: ours \d+, PostHog \d+ \(3 missing in PostHog\)/);
    assert.match(r.stdout, /b\.jsonl \(\$import_source = "b\.jsonl"\): 1 difference/);
    assert.match(r.stdout, /2024-03-04 stray: ours 0, PostHog 1 \(1 more in PostHog\)/);
    assert.match(r.stdout, /2 of 2 files differ/);
  });

  test('waits out a 429 as Retry-After says, retries a 503, then answers', async () => {
    held = () => [...capture.events.values()];
    query.fail({ status: 429, retryAfter: '1' }, { status: 503 });
    const t0 = Date.now();
    const client = new PostHogQuery({ host: query.url, projectId: PROJECT, personalApiKey: PERSONAL, retryDelayMs: 10 });
    const verdicts = await verifyReports(await localReports(stateDir), client, { originProperty: '$import_source' });
    assert.deepEqual(verdicts.map((v) => v.status), ['agrees', 'agrees']);
    assert.ok(Date.now() - t0 >= 1000, 'waited the Retry-After second');
    assert.equal(client.throttled, 1);
    assert.equal(query.answered[429], 1);
    assert.equal(query.answered[503], 1);
  });

  test('a wrong personal API key fails at once with what to fix (401), not as a disagreement', async () => {
    const before = query.answered[401] ?? 0;
    const r = await run(process.execPath, [BIN, 'verify', '--state-dir', stateDir, '--host', query.url, '--project-id', String(PROJECT)], {
      env: { ...process.env, POSTHOG_PERSONAL_API_KEY: 'phx_wrong' },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    assert.equal((r as { code?: number }).code, 2);
    assert.match(r.stderr, /refused the personal API key \(401: Personal API key .* invalid\.\); it needs the query:read scope/);
    assert.equal(query.answered[401], before + 1, 'exactly one try');
    assert.ok(!r.stderr.includes('phx_wrong'), 'the key is not printed');
  });

  test('events without a timestamp are compared by event over all days; the query has no day range then', () => {
    const ours = { '2024-03-01': { a: 2 }, none: { a: 1, b: 1 } };
    assert.deepEqual(compareCounts(ours, { '2024-03-01': { a: 2 }, '2026-11-25': { a: 1, b: 1 } }), []);
    assert.deepEqual(compareCounts(ours, { '2024-03-01': { a: 2 }, '2026-11-25': { b: 1 } }), [{ day: 'all days', event: 'a', ours: 3, posthog: 2 }]);
    const q = countsQuery('my prop`x', ["o'1", 'o\\2'], undefined, 10, 20);
    assert.doesNotMatch(q, /toDateTime/);
    const parsed = parseCountsQuery(q);
    assert.notEqual(typeof parsed, 'string', String(parsed));
    assert.deepEqual(parsed, { property: 'my prop`x', origins: ["o'1", 'o\\2'], limit: 10, offset: 20 });
  });
});
