import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmplitudeConfig, amplitudeSource } from '../../functions/sources/amplitude';
import { DeployedSource } from '../../functions/sources';
import { parsePostHogUri, PostHogConfig, posthogSource } from '../../functions/sources/posthog';
import { planWindows } from '../../functions/sources/run';
import { statusOf } from '../../functions/sources/status';
import { retryAfterMs as retryAfterMsForTest } from '../../functions/sources/http';
import { parseInstant } from '../../functions/sources/windows';

const H = 3_600_000;
const T0 = Date.UTC(2024, 2, 1);
const amp = amplitudeSource(AmplitudeConfig.parse({ type: 'amplitude', latenessHours: 3 }), { apiKey: 'k', secretKey: 's' });
const ph = posthogSource(PostHogConfig.parse({ type: 'posthog', projectId: '1' }), { personalApiKey: 'p' });
const spans = (ws: Array<{ start: number; end: number }>) => ws.map((w) => `${new Date(w.start).toISOString().slice(5, 16)}/${new Date(w.end).toISOString().slice(11, 16)}`);

describe('pull windows and watermarks', () => {
  test('--from/--to: inclusive/exclusive, UTC; Amplitude rounds out to whole hours, PostHog keeps exact times', () => {
    assert.equal(parseInstant('2024-03-01'), T0);
    assert.equal(parseInstant('2024-03-01T05:00:00'), T0 + 5 * H, 'a zone-less time is UTC');
    assert.equal(parseInstant('2024-03-01T06:00:00+01:00'), T0 + 5 * H);
    assert.throws(() => parseInstant('yesterday'), /ISO 8601/);
    assert.deepEqual(spans(planWindows(amp, { from: T0 + 30 * 60_000, to: T0 + 2 * H + 1, now: Date.now() })), ['03-01T00:00/01:00', '03-01T01:00/02:00', '03-01T02:00/03:00']);
    assert.deepEqual(spans(planWindows(ph, { from: T0 + 30 * 60_000, to: T0 + 2 * H + 60_000, now: Date.now() })), ['03-01T00:30/01:00', '03-01T01:00/02:00', '03-01T02:00/02:01']);
    assert.deepEqual(planWindows(amp, { from: T0, to: T0 + 2 * H, now: Date.now() }).map((w) => w.key), ['2024-03-01/amplitude-20240301T00.zip', '2024-03-01/amplitude-20240301T01.zip']);
  });

  test('continuing: from the watermark less the lateness, never before the start date, up to the last complete window (Amplitude: 2 h back)', () => {
    const now = T0 + 10 * H + 20 * 60_000; // 10:20
    assert.deepEqual(spans(planWindows(amp, { watermark: T0 + 6 * H, now })), ['03-01T03:00/04:00', '03-01T04:00/05:00', '03-01T05:00/06:00', '03-01T06:00/07:00', '03-01T07:00/08:00']);
    assert.deepEqual(spans(planWindows(amp, { watermark: T0 + 6 * H, startDate: T0 + 5 * H, now })).slice(0, 1), ['03-01T05:00/06:00']);
    assert.deepEqual(spans(planWindows(ph, { watermark: T0 + 8 * H, now })), ['03-01T07:00/08:00', '03-01T08:00/09:00', '03-01T09:00/10:00']);
    assert.deepEqual(planWindows(amp, { startDate: T0 + 7 * H, now }).length, 1, 'first run: from the start date');
    assert.throws(() => planWindows(amp, { now }), /give --from/);
  });

  test('deployed config: validated, named, with a scheduler expression', () => {
    const ok = DeployedSource.parse({ name: 'amp-prod', type: 'amplitude', startDate: '2024-01-01' });
    assert.equal(ok.schedule, 'rate(1 hour)');
    assert.equal(ok.latenessHours, 24);
    assert.equal(DeployedSource.safeParse({ name: 'Amp', type: 'amplitude', startDate: '2024-01-01' }).success, false);
    assert.equal(DeployedSource.safeParse({ name: 'a', type: 'amplitude', startDate: 'soon' }).success, false);
    assert.equal(DeployedSource.safeParse({ name: 'a', type: 'amplitude', startDate: '2024-01-01', apiKey: 'no secrets in context' }).success, false, 'unknown keys refused');
  });

  test('omniload URI; Retry-After as seconds or a date; status: lag, next run, failing only until a later success', () => {
    assert.deepEqual(parsePostHogUri('posthog://?personal_api_key=phx_1&project_id=42&base_url=https%3A%2F%2Feu.posthog.com'), { personalApiKey: 'phx_1', projectId: '42', baseUrl: 'https://eu.posthog.com' });
    assert.throws(() => parsePostHogUri('postgres://x'), /posthog:\/\//);
    assert.equal(retryAfterMsForTest('2', 0), 2000);
    assert.equal(retryAfterMsForTest(new Date(5000).toUTCString(), 0), 5000);
    const s = statusOf({ name: 'a', schedule: 'rate(30 minutes)', watermark: new Date(T0).toISOString(), lastRunAt: new Date(T0 + H).toISOString(), lastSuccessAt: new Date(T0 + H).toISOString(), lastError: 'x', lastErrorAt: new Date(T0).toISOString() }, T0 + 2 * H);
    assert.deepEqual([s.lagMs, s.nextRun, s.failing], [2 * H, new Date(T0 + H + 30 * 60_000).toISOString(), false]);
  });
});
