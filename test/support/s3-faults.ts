import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small loopback proxy in front of moto that breaks S3 GetObject the way S3 does at scale:
 * a body cut off mid-way (connection reset after some bytes) and 503 SlowDown. Only GETs of
 * objects whose key contains `match` are touched; everything else passes through (and can be
 * watched with `onAnswer`). Point the S3 client at it with AWS_ENDPOINT_URL_S3.
 */
export class S3FaultProxy {
  private server?: Server;
  /** Faults still to inject, taken in order for each matching GetObject. */
  plan: Array<{ reset: number } | 'slowdown'> = [];
  match = '';
  readonly injected = { resets: 0, slowdowns: 0, gets: 0, ranged: 0 };
  /** The Range header of each matching GetObject ('' for a whole-object read). */
  ranges: string[] = [];
  /** Called with every request moto answered (method, URL, status), before the client sees the answer. */
  onAnswer?: (method: string, target: URL, status: number) => void;

  constructor(private readonly upstream: string) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return this;
  }

  /** Runs `fn` with the S3 clients it makes going through this proxy (clients made outside it do not). */
  async route<T>(fn: () => Promise<T>): Promise<T> {
    process.env.AWS_ENDPOINT_URL_S3 = this.url;
    try {
      return await fn();
    } finally {
      delete process.env.AWS_ENDPOINT_URL_S3;
    }
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const target = new URL(req.url ?? '/', this.upstream);
    const isGet = req.method === 'GET' && target.searchParams.get('x-id') === 'GetObject' && Boolean(this.match) && decodeURIComponent(target.pathname).includes(this.match);
    if (isGet) {
      this.injected.gets++;
      this.ranges.push(String(req.headers.range ?? ''));
      if (req.headers.range) this.injected.ranged++;
    }
    const fault = isGet ? this.plan.shift() : undefined;
    if (fault === 'slowdown') {
      this.injected.slowdowns++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const up = request(target, { method: req.method, headers: req.headers }, (upRes) => {
      this.onAnswer?.(req.method ?? '', target, upRes.statusCode ?? 502);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (!fault) {
        upRes.pipe(res);
        return;
      }
      // Send the headers and the first `reset` bytes of the body, then drop the connection.
      let sent = 0;
      upRes.on('data', (b: Buffer) => {
        if (sent >= fault.reset) return;
        const part = b.subarray(0, fault.reset - sent);
        sent += part.length;
        if (sent < fault.reset) {
          res.write(part);
          return;
        }
        this.injected.resets++;
        upRes.destroy();
        // Let the bytes reach the client before the reset (a reset discards unread bytes).
        res.write(part, () => setTimeout(() => res.socket?.destroy(), 30));
      });
      upRes.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }
}
