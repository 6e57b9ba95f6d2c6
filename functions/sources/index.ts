import { z } from 'zod';
import { AmplitudeConfig, AmplitudeCredentials, amplitudeSource } from './amplitude';
import type { RetryPolicy } from './http';
import { MixpanelConfig, MixpanelCredentials, mixpanelSource } from './mixpanel';
import { parsePostHogUri, PostHogConfig, PostHogCredentials, posthogSource } from './posthog';
import type { PullSource } from './types';
import { parseInstant } from './windows';

export { SOURCE_TYPES, type SourceType, type PullSource } from './types';

/** One configured source, as a user gives it (CLI flags or one entry of CDK context `sources`). */
export const SourceSettings = z.discriminatedUnion('type', [AmplitudeConfig, MixpanelConfig, PostHogConfig]);
export type SourceSettings = z.infer<typeof SourceSettings>;

const startDate = z.string().refine((s) => {
  try {
    parseInstant(s);
    return true;
  } catch {
    return false;
  }
}, 'an ISO 8601 date or time, e.g. 2024-01-01');

/** What a deployed source adds: a name, a schedule, where its history starts, its secret. */
const Deployed = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and -, at most 40'),
  schedule: z.string().regex(/^(rate|cron)\(.+\)$/, 'an EventBridge Scheduler expression: rate(1 hour) or cron(…)').default('rate(1 hour)'),
  startDate,
  /** An existing Secrets Manager secret (name or ARN) with the credentials; else one is created. */
  secretName: z.string().min(1).optional(),
};
export const DeployedSource = z.discriminatedUnion('type', [AmplitudeConfig.extend(Deployed), MixpanelConfig.extend(Deployed), PostHogConfig.extend(Deployed)]);
export type DeployedSource = z.infer<typeof DeployedSource>;
export const DeployedSources = z.array(DeployedSource).superRefine((list, ctx) => {
  const seen = new Set<string>();
  for (const s of list) {
    if (seen.has(s.name)) ctx.addIssue({ code: 'custom', message: `source name "${s.name}" is used twice` });
    seen.add(s.name);
  }
});

/** The credentials each source needs, as stored in its secret (JSON). */
export const CREDENTIAL_FIELDS = {
  amplitude: '{"apiKey":"…","secretKey":"…"}',
  mixpanel: '{"username":"<service account username>","secret":"<service account secret>"}',
  posthog: '{"personalApiKey":"phx_…"}',
} as const;

export function buildSource(cfg: SourceSettings, creds: unknown, retry?: RetryPolicy): PullSource {
  const check = <T>(schema: z.ZodType<T>): T => {
    const r = schema.safeParse(creds);
    if (!r.success) throw new Error(`credentials for ${cfg.type} are incomplete: expected ${CREDENTIAL_FIELDS[cfg.type]} (${r.error.issues.map((i) => i.path.join('.')).join(', ')} missing)`);
    return r.data;
  };
  switch (cfg.type) {
    case 'amplitude':
      return amplitudeSource(cfg, check(AmplitudeCredentials), retry);
    case 'mixpanel':
      return mixpanelSource(cfg, check(MixpanelCredentials), retry);
    case 'posthog':
      return posthogSource(cfg, check(PostHogCredentials), retry);
  }
}

/** Credentials from a secret's JSON (PostHog may also hold omniload's URI as `uri`). */
export function credentialsFromSecret(type: SourceSettings['type'], secret: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(secret);
  } catch {
    throw new Error(`the ${type} secret is not JSON: expected ${CREDENTIAL_FIELDS[type]}`);
  }
  if (type === 'posthog' && v && typeof (v as { uri?: unknown }).uri === 'string') return parsePostHogUri((v as { uri: string }).uri);
  return (v ?? {}) as Record<string, unknown>;
}

/** Local credentials: the environment variables named in the README. */
export function credentialsFromEnv(type: SourceSettings['type'], env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  switch (type) {
    case 'amplitude':
      return { apiKey: env.AMPLITUDE_API_KEY, secretKey: env.AMPLITUDE_SECRET_KEY };
    case 'mixpanel':
      return { username: env.MIXPANEL_SERVICE_ACCOUNT_USERNAME, secret: env.MIXPANEL_SERVICE_ACCOUNT_SECRET };
    case 'posthog':
      return { personalApiKey: env.POSTHOG_PERSONAL_API_KEY };
  }
}

export const ENV_NAMES = {
  amplitude: 'AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY',
  mixpanel: 'MIXPANEL_SERVICE_ACCOUNT_USERNAME and MIXPANEL_SERVICE_ACCOUNT_SECRET',
  posthog: 'POSTHOG_PERSONAL_API_KEY (or --source-uri)',
} as const;
