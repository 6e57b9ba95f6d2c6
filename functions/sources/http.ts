import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The vendor refused the credentials (401/403): retrying cannot help; the run stops. */
export class AuthError extends Error {
  constructor(readonly status: number, what: string) {
    super(`${what}: the credentials were refused (HTTP ${status})`);
    this.name = 'AuthError';
  }
}

/** An answer that is neither data, "no data" nor worth retrying. */
export class HttpError extends Error {
  constructor(readonly status: number, what: string, detail = '') {
    super(`${what}: HTTP ${status}${detail ? `: ${detail}` : ''}`);
    this.name = 'HttpError';
  }
}

export interface RetryPolicy {
  /** Tries per request (429, 5xx, network errors) before the run stops. */
  attempts: number;
  /** Backoff base when the server gives no Retry-After. */
  baseDelayMs: number;
  /** Longest single wait, also for a Retry-After. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 2_000, maxDelayMs: 15 * 60_000 };

export interface Req {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** For errors and logs: never the URL (it may carry credentials). */
  what: string;
  /** Statuses that mean "no data in this window" (Amplitude: 404). */
  empty?: number[];
  timeoutMs?: number;
}

export const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

/**
 * One request, with retries for 429 (waiting what Retry-After says), 5xx and network errors.
 * Returns the response with its body unread (the caller streams it), or undefined for a status
 * that means "no data". Bodies are passed on as the server sent them (no decompression).
 */
export async function send(req: Req, retry: RetryPolicy = DEFAULT_RETRY, sleep = delay): Promise<IncomingMessage | undefined> {
  for (let attempt = 1; ; attempt++) {
    let wait: number;
    try {
      const res = await once(req);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return res;
      const detail = await smallBody(res);
      if (req.empty?.includes(status)) return undefined;
      if (status === 401 || status === 403) throw new AuthError(status, req.what);
      if (status !== 429 && status < 500 && status !== 408) throw new HttpError(status, req.what, detail);
      if (attempt >= retry.attempts) throw new HttpError(status, req.what, `gave up after ${attempt} tries`);
      wait = retryAfterMs(res.headers['retry-after']) ?? backoff(attempt, retry);
    } catch (err) {
      if (err instanceof AuthError || err instanceof HttpError) throw err;
      if (attempt >= retry.attempts) throw new Error(`${req.what}: ${(err as Error).message} (after ${attempt} tries)`);
      wait = backoff(attempt, retry);
    }
    await sleep(Math.min(wait, retry.maxDelayMs));
  }
}

function once(req: Req): Promise<IncomingMessage> {
  const url = new URL(req.url);
  const fn = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const r = fn(url, { method: req.method ?? 'GET', headers: { 'user-agent': 'posthog-backfill', ...req.headers } }, resolve);
    r.setTimeout(req.timeoutMs ?? 120_000, () => r.destroy(new Error('no answer in time')));
    r.on('error', reject);
    r.end(req.body);
  });
}

/** An error answer's body, cut short: for the message only. */
async function smallBody(res: IncomingMessage): Promise<string> {
  let text = '';
  try {
    for await (const b of res) if (text.length < 300) text += String(b);
  } catch {
    /* a reset while reading an error body changes nothing */
  }
  return text.slice(0, 200).replace(/\s+/g, ' ').trim();
}

/** Retry-After as seconds or an HTTP date. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const backoff = (attempt: number, r: RetryPolicy) => r.baseDelayMs * 2 ** (attempt - 1);
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
