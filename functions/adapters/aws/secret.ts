import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

// Read once per container and kept for a while; dropped early when PostHog refuses the key, so
// a corrected secret takes effect without waiting for new containers.
const TTL_MS = 5 * 60_000;
let cached: { key: Promise<string>; at: number } | undefined;

/**
 * The PostHog project API key from Secrets Manager. The secret holds either the bare key or
 * JSON `{"apiKey": "phc_..."}`.
 */
export function projectApiKey(secrets: SecretsManagerClient, secretId: string): Promise<string> {
  if (cached && Date.now() - cached.at < TTL_MS) return cached.key;
  const key = secrets.send(new GetSecretValueCommand({ SecretId: secretId })).then((res) => {
    const raw = (res.SecretString ?? '').trim();
    let value = raw;
    if (raw.startsWith('{')) value = String((JSON.parse(raw) as { apiKey?: unknown }).apiKey ?? '').trim();
    if (!value || value === 'REPLACE_ME') throw new Error(`secret ${secretId} holds no PostHog project API key yet: put one with aws secretsmanager put-secret-value`);
    return value;
  });
  const entry = { key, at: Date.now() };
  cached = entry;
  key.catch(() => {
    if (cached === entry) cached = undefined; // a failed read is retried on the next invocation
  });
  return key;
}

/** Forgets the cached key (PostHog answered 401/403: the secret may have been corrected). */
export function forgetApiKey(): void {
  cached = undefined;
}
