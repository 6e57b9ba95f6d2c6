import { z } from 'zod';
import { basic, send, type RetryPolicy } from './http';
import type { PullSource } from './types';
import { day, DAY_MS, HOUR_MS } from './windows';

const HOSTS = { us: 'https://data.mixpanel.com', eu: 'https://data-eu.mixpanel.com' } as const;

export const MixpanelConfig = z
  .object({
    type: z.literal('mixpanel'),
    projectId: z.coerce.string().regex(/^\d+$/, 'a numeric Mixpanel project id'),
    region: z.enum(['us', 'eu']).default('us'),
    baseUrl: z.string().url().optional(),
    latenessHours: z.number().int().min(0).default(24),
  })
  .strict();
export type MixpanelConfig = z.infer<typeof MixpanelConfig>;

export const MixpanelCredentials = z.object({ username: z.string().min(1), secret: z.string().min(1) });
export type MixpanelCredentials = z.infer<typeof MixpanelCredentials>;

/**
 * Mixpanel raw export: `GET /api/2.0/export?project_id&from_date&to_date` (days, both
 * inclusive), a service account over HTTP Basic, NDJSON (gzip when asked for; the pipeline
 * detects gzip by its bytes). Its rate limits answer 429; those are waited out.
 */
// 60 queries per hour: a 429 may need most of an hour to clear.
export const MIXPANEL_RETRY: RetryPolicy = { attempts: 10, baseDelayMs: 30_000, maxDelayMs: 15 * 60_000 };

export function mixpanelSource(cfg: MixpanelConfig, creds: MixpanelCredentials, retry: RetryPolicy = MIXPANEL_RETRY): PullSource {
  const base = (cfg.baseUrl ?? HOSTS[cfg.region]).replace(/\/+$/, '');
  return {
    type: 'mixpanel',
    windowMs: DAY_MS,
    wholeCells: true,
    availableAfterMs: 0,
    latenessMs: cfg.latenessHours * HOUR_MS,
    key: (w) => `${day(w.start)}/mixpanel-${day(w.start)}.jsonl`,
    async fetch(w) {
      const q = new URLSearchParams({ project_id: cfg.projectId, from_date: day(w.start), to_date: day(w.start) });
      const res = await send(
        {
          url: `${base}/api/2.0/export?${q}`,
          headers: { authorization: basic(creds.username, creds.secret), accept: 'text/plain', 'accept-encoding': 'gzip' },
          what: `Mixpanel export ${day(w.start)}`,
        },
        retry,
      );
      return res;
    },
  };
}
