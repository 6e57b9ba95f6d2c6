import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

let cached: Promise<string> | undefined;

/**
 * The PostHog project API key, read once per container from Secrets Manager and cached. The
 * secret holds either the bare key or JSON `{"apiKey": "phc_..."}`.
 */
export function projectApiKey(secrets: SecretsManagerClient, secretId: string): Promise<string> {
  cached ??= secrets.send(new GetSecretValueCommand({ SecretId: secretId })).then((res) => {
    const raw = (res.SecretString ?? '').trim();
    let key = raw;
    if (raw.startsWith('{')) key = String((JSON.parse(raw) as { apiKey?: unknown }).apiKey ?? '');
    if (!key || key === 'REPLACE_ME') throw new Error(`secret ${secretId} holds no PostHog project API key yet: put one with aws secretsmanager put-secret-value`);
    return key;
  });
  cached.catch(() => (cached = undefined)); // a failed read is retried on the next invocation
  return cached;
}
