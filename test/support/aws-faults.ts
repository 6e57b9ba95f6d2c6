import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * AWS-side faults, injected by a loopback proxy in front of moto: the handlers reach it through
 * AWS_ENDPOINT_URL (see `use()`), every request is forwarded to moto unchanged unless a fault is
 * drawn for it, and each injected fault is counted per kind. The answers are shaped as AWS sends
 * them on the wire (S3: REST/XML; DynamoDB and SQS: AWS JSON 1.0; Lambda: REST/JSON).
 */
export interface AwsFaultRates {
  /** S3 GetObject of a matching key: headers and part of the body, then the connection is reset. */
  s3Reset?: number;
  /** S3 GetObject of a matching key: 503 SlowDown. */
  s3SlowDown?: number;
  /** Any DynamoDB call: 400 ThrottlingException or ProvisionedThroughputExceededException. */
  ddbThrottle?: number;
  /** DynamoDB TransactWriteItems: 400 TransactionCanceledException, one reason TransactionConflict. */
  ddbConflict?: number;
  /** SQS SendMessageBatch: each entry fails with this chance (HTTP 200, listed under Failed). */
  sqsEntryFail?: number;
  /** Lambda Invoke: 500 ServiceException or 429 TooManyRequestsException. */
  lambdaInvoke?: number;
}

export type FaultKind = 's3Reset' | 's3SlowDown' | 'ddbThrottle' | 'ddbConflict' | 'sqsEntryFail' | 'lambdaInvoke';

export interface AwsFaultOptions {
  rates?: AwsFaultRates;
  seed?: number;
  /** Which S3 keys GetObject faults apply to (default: input objects, not the pipeline's own). */
  s3Keys?(key: string): boolean;
  /**
   * Lambda's side of an async Invoke: moto's Lambda would need a container, so the proxy answers
   * Invoke itself (202, as Lambda does for InvocationType Event) and hands the payload here.
   * Returning 'drop' closes the connection with no answer (the caller died before it got one).
   */
  onInvoke?(functionName: string, payload: unknown): void | 'drop';
  /** Secret keys by access key id, to sign a SendMessageBatch again after entries were taken out. */
  secrets?: Record<string, string>;
}

const JSON10 = 'application/x-amz-json-1.0';
const DDB = 'com.amazonaws.dynamodb.v20120810#';

export class AwsFaults {
  readonly injected: Record<FaultKind, number> = { s3Reset: 0, s3SlowDown: 0, ddbThrottle: 0, ddbConflict: 0, sqsEntryFail: 0, lambdaInvoke: 0 };
  /** Requests seen per DynamoDB / SQS operation or S3 GetObject, faulted or not. */
  readonly calls = new Map<string, number>();
  /** Every SendMessageBatch entry id that reached moto (to check only failed entries are resent). */
  readonly sqsEntriesForwarded: string[] = [];
  rates: AwsFaultRates;
  /** Forced faults: the next N requests of a kind get it, whatever the rates. */
  private readonly forced = new Map<FaultKind, number>();
  private server?: Server;
  private target = '';
  private seed: number;
  url = '';

  constructor(private readonly opts: AwsFaultOptions = {}) {
    this.rates = { ...opts.rates };
    this.seed = opts.seed ?? 1;
  }

  async start(target: string): Promise<this> {
    this.target = target;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500).end(String(err.message));
        else res.destroy();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** Points the AWS SDK (clients created from now on) at the proxy; returns the undo. */
  use(): () => void {
    const before = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = this.url;
    return () => {
      process.env.AWS_ENDPOINT_URL = before;
    };
  }

  /** Switches faults: merges into the current rates (0 turns a kind off). */
  set(rates: AwsFaultRates): void {
    Object.assign(this.rates, rates);
  }

  /** The next `n` requests that can carry `kind` get it. */
  force(kind: FaultKind, n = 1): void {
    this.forced.set(kind, (this.forced.get(kind) ?? 0) + n);
  }

  // mulberry32: the same faults for the same seed and request order.
  private rand(): number {
    let t = (this.seed += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private draw(kind: FaultKind): boolean {
    const f = this.forced.get(kind) ?? 0;
    if (f > 0) {
      this.forced.set(kind, f - 1);
      return true;
    }
    return this.rand() < (this.rates[kind] ?? 0);
  }

  private count(op: string): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
  }

  /** Milliseconds spent answering, per operation (to see where a slow run waits). */
  readonly busy = new Map<string, number>();

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = Date.now();
    const op = String(req.headers['x-amz-target'] ?? `${req.method} ${(req.url ?? '').split('?')[0]!.split('/').length > 2 ? 'object' : 'bucket'}`);
    res.once('close', () => this.busy.set(op, (this.busy.get(op) ?? 0) + Date.now() - t0));
    const body = await readAll(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const url = new URL(req.url ?? '/', 'http://x');

    if (target.startsWith('DynamoDB_20120810.')) return this.dynamo(target.slice(18), req, body, res);
    if (target === 'AmazonSQS.SendMessageBatch') return this.sendMessageBatch(req, body, res);
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (invoke && req.method === 'POST') return this.invoke(decodeURIComponent(invoke[1]!), body, res);
    if (req.method === 'GET' && isGetObject(url)) return this.getObject(req, url, body, res);
    return this.forward(req, body, res);
  }

  private async dynamo(op: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    this.count(`dynamodb.${op}`);
    if (this.draw('ddbThrottle')) {
      this.injected.ddbThrottle++;
      // On-demand tables answer ThrottlingException; provisioned ones the older name. Both, alternately.
      const pt = this.injected.ddbThrottle % 2 === 0;
      return awsJson(res, 400, {
        __type: `${DDB}${pt ? 'ProvisionedThroughputExceededException' : 'ThrottlingException'}`,
        message: pt
          ? 'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.'
          : 'Rate of requests exceeds the allowed throughput.',
      });
    }
    if (op === 'TransactWriteItems' && this.draw('ddbConflict')) {
      this.injected.ddbConflict++;
      const items = (JSON.parse(body.toString('utf8')) as { TransactItems?: unknown[] }).TransactItems ?? [];
      // One item is in another transaction; the rest would have gone through. Nothing is written.
      const hit = Math.floor(this.rand() * items.length);
      const reasons = items.map((_, i) => (i === hit ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' } : { Code: 'None' }));
      return awsJson(res, 400, {
        __type: `${DDB}TransactionCanceledException`,
        CancellationReasons: reasons,
        Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
      });
    }
    return this.forward(req, body, res);
  }

  private async sendMessageBatch(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    this.count('sqs.SendMessageBatch');
    const input = JSON.parse(body.toString('utf8')) as { QueueUrl: string; Entries: Array<{ Id: string }> };
    const failed = input.Entries.filter(() => this.draw('sqsEntryFail')).map((e) => e.Id);
    if (!failed.length) {
      this.sqsEntriesForwarded.push(...input.Entries.map((e) => e.Id));
      return this.forward(req, body, res);
    }
    this.injected.sqsEntryFail += failed.length;
    const rest = input.Entries.filter((e) => !failed.includes(e.Id));
    let ok: { Successful?: unknown[]; Failed?: unknown[] } = { Successful: [], Failed: [] };
    if (rest.length) {
      const out = Buffer.from(JSON.stringify({ ...input, Entries: rest }));
      const answer = await this.send(req.method!, req.url!, await this.resign(req.headers, out, 'sqs'), out);
      if (answer.status !== 200) return relay(res, answer);
      ok = JSON.parse(answer.body.toString('utf8'));
      this.sqsEntriesForwarded.push(...rest.map((e) => e.Id));
    }
    // What SQS answers when it could not take some entries: HTTP 200, those entries under Failed.
    const entryFailures = failed.map((Id) => ({ Id, SenderFault: false, Code: 'InternalError', Message: 'We encountered an internal error. Please try again.' }));
    return awsJson(res, 200, { Successful: ok.Successful ?? [], Failed: [...(ok.Failed ?? []), ...entryFailures] });
  }

  private async invoke(functionName: string, body: Buffer, res: ServerResponse): Promise<void> {
    this.count('lambda.Invoke');
    if (this.draw('lambdaInvoke')) {
      this.injected.lambdaInvoke++;
      const throttle = this.injected.lambdaInvoke % 2 === 0;
      res.setHeader('x-amzn-ErrorType', throttle ? 'TooManyRequestsException' : 'ServiceException');
      res.setHeader('x-amzn-RequestId', randomUUID());
      res.writeHead(throttle ? 429 : 500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(throttle ? { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', Type: 'User', message: 'Rate Exceeded.' } : { Type: 'Service', message: 'Service error.' }));
      return;
    }
    const payload: unknown = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    if (this.opts.onInvoke?.(functionName, payload) === 'drop') {
      res.socket?.destroy();
      return;
    }
    res.writeHead(202, { 'x-amzn-RequestId': randomUUID(), 'content-type': 'application/json' });
    res.end();
  }

  private async getObject(req: IncomingMessage, url: URL, body: Buffer, res: ServerResponse): Promise<void> {
    const [, , ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const applies = (this.opts.s3Keys ?? ((k: string) => !k.startsWith('_backfill/') && !k.endsWith('backfill.config.json')))(key);
    if (!applies) return this.forward(req, body, res);
    this.count('s3.GetObject');
    if (this.draw('s3SlowDown')) {
      this.injected.s3SlowDown++;
      const id = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
      res.writeHead(503, { 'content-type': 'application/xml', 'x-amz-request-id': id });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>${id}</RequestId><HostId>${id}</HostId></Error>`);
      return;
    }
    if (this.draw('s3Reset')) {
      const answer = await this.send(req.method!, req.url!, req.headers, body);
      // Only a body long enough to cut is cut; headers as S3 sent them, then part of the bytes.
      if (answer.status < 300 && answer.body.length > 1) {
        this.injected.s3Reset++;
        res.writeHead(answer.status, answer.headers);
        const cut = 1 + Math.floor(this.rand() * (answer.body.length - 1));
        res.write(answer.body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 5));
        return;
      }
      return relay(res, answer);
    }
    return this.forward(req, body, res);
  }

  private async forward(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    relay(res, await this.send(req.method!, req.url!, req.headers, body), req.method === 'HEAD');
  }

  private send(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    const t = new URL(this.target);
    return new Promise((resolve, reject) => {
      const out = request({ host: t.hostname, port: t.port, method, path, headers: { ...headers, 'content-length': String(body.length) } }, (r) => {
        readAll(r).then((b) => resolve({ status: r.statusCode ?? 500, headers: r.headers, body: b }), reject);
      });
      out.once('error', reject);
      out.end(body);
    });
  }

  /** Secret keys of more access key ids (a stack's roles, created after the proxy started). */
  addSecrets(secrets: Record<string, string>): void {
    this.opts.secrets = { ...this.opts.secrets, ...secrets };
  }

  /** A changed body needs a new signature (moto checks them when IAM is enforced). */
  private async resign(headers: IncomingHttpHeaders, body: Buffer, service: string): Promise<IncomingHttpHeaders> {
    const auth = String(headers.authorization ?? '');
    const m = /Credential=([^/]+)\/\d{8}\/([^/]+)\//.exec(auth);
    if (!m) return headers;
    const [, accessKeyId, region] = m as unknown as [string, string, string];
    const secretAccessKey = this.opts.secrets?.[accessKeyId] ?? (accessKeyId === process.env.AWS_ACCESS_KEY_ID ? process.env.AWS_SECRET_ACCESS_KEY : undefined);
    if (!secretAccessKey) throw new Error(`aws-faults: no secret for access key ${accessKeyId}: pass it in options.secrets`);
    const host = String(headers.host);
    const kept: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) {
      if (['authorization', 'x-amz-date', 'x-amz-security-token', 'content-length', 'x-amz-content-sha256'].includes(k) || v === undefined) continue;
      kept[k] = Array.isArray(v) ? v.join(',') : v;
    }
    kept['content-length'] = String(body.length);
    const signer = new SignatureV4({ service, region, credentials: { accessKeyId, secretAccessKey, ...(headers['x-amz-security-token'] ? { sessionToken: String(headers['x-amz-security-token']) } : {}) }, sha256: NodeSha256 });
    const [hostname, port] = host.split(':');
    const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: hostname!, ...(port ? { port: Number(port) } : {}), path: '/', query: {}, headers: kept, body });
    return signed.headers;
  }
}

class NodeSha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

const bytes = (d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array =>
  typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** Path-style GET of an object: /bucket/key, not a bucket-level call (?list-type, ?uploads, ...). */
function isGetObject(url: URL): boolean {
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length < 2) return false;
  for (const k of url.searchParams.keys()) if (!['versionId', 'x-id', 'partNumber'].includes(k)) return false;
  return true;
}

function awsJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': JSON10, 'x-amzn-RequestId': randomUUID() });
  res.end(JSON.stringify(body));
}

function relay(res: ServerResponse, answer: { status: number; headers: IncomingHttpHeaders; body: Buffer }, head = false): void {
  const headers = { ...answer.headers };
  delete headers['transfer-encoding'];
  // A HEAD answer's Content-Length is the object's, with no body.
  if (!head) headers['content-length'] = String(answer.body.length);
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (b: Buffer) => parts.push(b));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}
