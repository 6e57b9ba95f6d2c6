import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** The part of fetch that posthog-node calls (its `fetch` option). */
export interface HttpFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | Blob;
  signal?: AbortSignal;
  /** Redirects followed so far (internal). */
  redirects?: number;
}

export interface HttpFetchResponse {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

// Capture answers with a few bytes; an error page is kept up to this much (the rest is drained).
const MAX_BODY = 1 << 20;

// One keep-alive pool per process, shared by every sink: a Lambda sender makes a sink per chunk
// and must not pay a TLS handshake for each. Concurrency is bounded by the sinks' own in-flight
// limits, not here.
const agents = { 'http:': new HttpAgent({ keepAlive: true }), 'https:': new HttpsAgent({ keepAlive: true }) };

/**
 * posthog-node's requests over node:http/https instead of the global fetch. Node loads its fetch
 * (undici) on first use, which took ~100 ms of a one-record import's start (README, Performance);
 * node:http is already in the snapshot. The answer is read whole before it resolves, so the
 * socket goes back to the keep-alive pool at once and `text()` can be read any number of times.
 * An aborted signal (posthog-node's request timeout) destroys the request; a failure on a
 * kept-alive connection that was already closed is marked `staleSocket` (see retryOnStaleSocket).
 */
export async function httpFetch(url: string, init: HttpFetchInit = {}): Promise<HttpFetchResponse> {
  const target = new URL(url);
  const agent = agents[target.protocol as keyof typeof agents];
  if (!agent) throw new TypeError(`unsupported protocol ${target.protocol}`);
  const body = typeof init.body === 'string' ? Buffer.from(init.body) : init.body instanceof Blob ? Buffer.from(await init.body.arrayBuffer()) : init.body;
  const res = await once(target, agent, init, body);
  // A host that moved its capture elsewhere (307/308 keep the method and body, as fetch
  // follows them); any other answer is posthog-node's to judge.
  const location = res.headers.get('location');
  if ((res.status === 307 || res.status === 308) && location && (init.redirects ?? 0) < MAX_REDIRECTS) {
    return httpFetch(new URL(location, target).href, { ...init, body, redirects: (init.redirects ?? 0) + 1 });
  }
  return res;
}

const MAX_REDIRECTS = 5;

/** An error of a request sent on a kept-alive connection that turned out to be closed. */
export type StaleSocket = Error & { staleSocket?: boolean };

/**
 * Sends a request once more when it failed on a kept-alive connection the server had already
 * closed (its idle timeout; a Lambda thawed after its peer hung up): Node's documented remedy,
 * on a new connection, instead of posthog-node's retry after its backoff. Wrapped around the
 * fetch that pays the rate budget and counts attempts, so the second sending is paid and counted.
 */
export function retryOnStaleSocket<A extends unknown[], R>(inner: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await inner(...args);
    } catch (err) {
      if (!(err as StaleSocket).staleSocket) throw err;
      return inner(...args);
    }
  };
}

function once(target: URL, agent: HttpAgent, init: HttpFetchInit, body: Uint8Array | undefined): Promise<HttpFetchResponse> {
  const signal = init.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<HttpFetchResponse>((resolve, reject) => {
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = { ...init.headers };
    if (body) headers['Content-Length'] = body.byteLength;
    const req = send(target, { method: init.method ?? 'GET', headers, agent });
    const onAbort = () => req.destroy(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    req.on('error', (err: StaleSocket & { code?: string }) => {
      done();
      if (req.reusedSocket && !signal?.aborted && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) err.staleSocket = true;
      reject(err);
    });
    req.on('response', (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (b: Buffer) => {
        if (size < MAX_BODY) parts.push(b);
        size += b.length;
      });
      res.on('error', (err) => {
        done();
        reject(err);
      });
      // Cut off before its end (a reset, the abort above): an error, never a short answer.
      res.on('close', () => {
        if (res.complete) return;
        done();
        reject(signal?.aborted ? abortError(signal) : new Error('the connection closed before the answer ended'));
      });
      res.on('end', () => {
        done();
        const text = Buffer.concat(parts).subarray(0, MAX_BODY).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: { get: (name) => headerValue(res.headers[name.toLowerCase()]) },
          text: async () => text,
          json: async () => JSON.parse(text),
        });
      });
    });
    req.end(body);
  });
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}
