import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Copies of the published vendor sample records (from ../shared/vendor-samples). */
export const SAMPLES = join(import.meta.dirname, '..', 'fixtures', 'vendor-samples');

export function sampleLines(name: string): string[] {
  return readFileSync(join(SAMPLES, name), 'utf8').split('\n').filter((l) => l.trim());
}

/**
 * N PostHog-format records built from the published sample line, each a distinct event; every
 * `badEvery`-th record is invalid in a rotating way. Returns the text and the valid count.
 */
export function posthogRecords(n: number, opts: { badEvery?: number; seed?: string } = {}): { text: string; valid: number; invalid: number } {
  const base = JSON.parse(sampleLines('posthog-event-line.jsonl')[0]!) as Record<string, unknown>;
  const lines: string[] = [];
  let valid = 0;
  const start = Date.parse('2024-01-01T00:00:00Z');
  for (let i = 0; i < n; i++) {
    const rec: Record<string, unknown> = {
      ...base,
      distinct_id: `user_${i % 97}`,
      timestamp: new Date(start + i * 1000).toISOString(),
      properties: { ...(base.properties as object), $current_url: `https://example.com/p/${opts.seed ?? ''}${i}` },
    };
    const bad = opts.badEvery && i % opts.badEvery === opts.badEvery - 1;
    if (bad) {
      const kind = Math.floor(i / opts.badEvery!) % 3;
      if (kind === 0) delete rec.distinct_id;
      else if (kind === 1) rec.timestamp = 'yesterday';
      else rec.timestamp = '2999-01-01T00:00:00Z';
      lines.push(JSON.stringify(rec));
    } else {
      lines.push(JSON.stringify(rec));
      valid++;
    }
  }
  return { text: lines.join('\n') + '\n', valid, invalid: n - valid };
}
