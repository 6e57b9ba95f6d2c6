import { z } from 'zod';
import { basic, send, DEFAULT_RETRY, type RetryPolicy } from './http';
import type { PullSource } from './types';
import { amplitudeHour, day, HOUR_MS, type Window } from './windows';

const HOSTS = { us: 'https://amplitude.com', eu: 'https://analytics.eu.amplitude.com' } as const;

export const AmplitudeConfig = z
  .object({
    type: z.literal('amplitude'),
    /** Data residency: the EU project is served from analytics.eu.amplitude.com. */
    region: z.enum(['us', 'eu']).default('us'),
    baseUrl: z.string().url().optional(),
    /** Hours of upload time per request (Amplitude's export is by hour). */
    windowHours: z.number().int().min(1).max(24).default(1),
    /** Hours before the watermark pulled again on each run: Amplitude data can arrive late. */
    latenessHours: z.number().int().min(0).default(24),
  })
  .strict();
export type AmplitudeConfig = z.infer<typeof AmplitudeConfig>;

export const AmplitudeCredentials = z.object({ apiKey: z.string().min(1), secretKey: z.string().min(1) });
export type AmplitudeCredentials = z.infer<typeof AmplitudeCredentials>;

/**
 * Amplitude Export API: `GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH` (both hours
 * inclusive), HTTP Basic with the API key and secret key; a zip of hourly gzipped JSON files,
 * 404 when the range holds no data. The zip is written as it arrives.
 */
export function amplitudeSource(cfg: AmplitudeConfig, creds: AmplitudeCredentials, retry: RetryPolicy = DEFAULT_RETRY): PullSource {
  const base = (cfg.baseUrl ?? HOSTS[cfg.region]).replace(/\/+$/, '');
  const lastHour = (w: Window) => amplitudeHour(w.end - HOUR_MS);
  return {
    type: 'amplitude',
    windowMs: cfg.windowHours * HOUR_MS,
    wholeCells: true,
    availableAfterMs: 2 * HOUR_MS, // Amplitude: "available to export within 2 hours" of upload
    latenessMs: cfg.latenessHours * HOUR_MS,
    key: (w) => `${day(w.start)}/amplitude-${amplitudeHour(w.start)}${cfg.windowHours > 1 ? `-${lastHour(w)}` : ''}.zip`,
    async fetch(w) {
      const q = new URLSearchParams({ start: amplitudeHour(w.start), end: lastHour(w) });
      return send(
        { url: `${base}/api/2/export?${q}`, headers: { authorization: basic(creds.apiKey, creds.secretKey) }, what: `Amplitude export ${q.get('start')}..${q.get('end')}`, empty: [404] },
        retry,
      );
    },
  };
}
