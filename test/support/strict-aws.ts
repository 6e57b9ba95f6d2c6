// A strict layer in front of moto, on loopback: answers as AWS does for the caller's role.
// moto checks no IAM by default, and its own IAM mode is too coarse for this stack (it checks
// DynamoDB and Secrets Manager calls against resource "*", names SendMessageBatch and
// TransactWriteItems as actions of their own, and denies every conditional Allow). So:
//  - requests signed with a role's credentials (registered by createStack) are authorised here
//    against that role's policies from the synthesized template, per action and resource as
//    IAM does (SendMessageBatch is sqs:SendMessage, each TransactWriteItems item is its own
//    PutItem/UpdateItem, GetObject with a versionId is s3:GetObjectVersion, ...);
//  - a GetObject/HeadObject of a missing key answers 403 AccessDenied, not 404, when the role
//    may not s3:ListBucket the bucket (AWS hides whether the key exists);
//  - anything else (the test's own admin calls) goes through untouched.
// Every denial is recorded: a handler that swallows an AccessDenied still fails its test.
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { evaluate, globMatch, grants, type PolicyDocument, type Request } from './iam-policy';

export const ACCOUNT = '123456789012';

export interface RoleRegistration {
  /** The function's name in the template (e.g. "splitter"), for messages. */
  role: string;
  policies: PolicyDocument[];
  /** Secret names to ARNs, so a SecretId given by name is checked against its ARN. */
  secretArns?: Record<string, string>;
}

export interface Denial {
  role: string;
  action: string;
  resource: string;
}

interface Classified {
  service: string;
  requests: Request[];
  /** A read of one object: a 404 for it becomes 403 without s3:ListBucket on the bucket. */
  objectRead?: { bucket: string; key: string };
}

export class StrictAws {
  private server?: Server;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 128 });
  private readonly roles = new Map<string, RoleRegistration>();
  readonly denials: Denial[] = [];
  /** 404s turned into 403s (a missing key read without s3:ListBucket). */
  readonly hiddenMisses: Array<{ role: string; bucket: string; key: string }> = [];
  /** Per role: the granted (action, resource) patterns that some request used. */
  private readonly used = new Map<string, Set<string>>();
  url = '';

  constructor(private readonly upstream: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`strict AWS layer: ${err.message}`);
    }));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Requests signed with this access key id are held to these policies. */
  register(accessKeyId: string, reg: RoleRegistration): void {
    this.roles.set(accessKeyId, reg);
  }

  /** Takes the denials seen so far (a test that expects some clears them this way). */
  takeDenials(): Denial[] {
    return this.denials.splice(0);
  }

  /** Granted patterns of a role's policies that no request has used yet. */
  unused(policies: PolicyDocument[], role: string): Array<{ action: string; resource: string }> {
    const used = this.used.get(role) ?? new Set();
    return grants(policies).filter((g) => !used.has(`${g.action}|${g.resource}`));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = req.headers.authorization ?? '';
    const scope = /Credential=([^/]+)\/[^/]+\/([^/]+)\/([^/]+)\//.exec(auth);
    const reg = scope ? this.roles.get(scope[1]!) : undefined;
    const needsBody = reg !== undefined && !(scope![3] === 's3' && req.method !== 'POST');
    const body = needsBody ? await readBody(req) : undefined;
    let classified: Classified | undefined;
    if (reg) {
      classified = classify(req, body!, scope![2]!, scope![3]!, reg);
      for (const r of classified.requests) {
        const decision = evaluate(reg.policies, r);
        if (decision !== 'allow') {
          this.denials.push({ role: reg.role, action: r.action, resource: r.resource });
          return deny(res, classified.service, reg.role, r, req.method === 'HEAD');
        }
        this.markUsed(reg, r);
      }
    }
    const up = httpRequest(`${this.upstream}${req.url}`, { method: req.method, headers: req.headers, agent: this.agent });
    up.on('response', (upRes) => {
      const read = classified?.objectRead;
      if (reg && read && upRes.statusCode === 404) {
        const list: Request = { action: 's3:ListBucket', resource: `arn:aws:s3:::${read.bucket}` };
        if (evaluate(reg.policies, list) !== 'allow') {
          upRes.resume();
          this.hiddenMisses.push({ role: reg.role, ...read });
          return deny(res, 's3', reg.role, list, req.method === 'HEAD', 'missing key read without s3:ListBucket');
        }
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.on('error', () => res.destroy());
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(err));
    });
    // A caller that goes away mid-request (an aborted upload) takes the upstream request with
    // it, as AWS's own front end would: nothing is left waiting for a body that never comes.
    req.on('error', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    if (body) up.end(body);
    else req.pipe(up);
  }

  private markUsed(reg: RoleRegistration, r: Request): void {
    let set = this.used.get(reg.role);
    if (!set) this.used.set(reg.role, (set = new Set()));
    for (const g of grants(reg.policies)) if (globMatch(g.action, r.action, true) && globMatch(g.resource, r.resource)) set.add(`${g.action}|${g.resource}`);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function deny(res: ServerResponse, service: string, role: string, r: Request, head: boolean, why = 'no policy of the role allows it'): void {
  const message = `User: arn:aws:sts::${ACCOUNT}:assumed-role/${role}/test is not authorized to perform: ${r.action} on resource: ${r.resource} (strict AWS layer: ${why})`;
  if (service === 's3') {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message><RequestId>strict</RequestId></Error>`;
    res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'strict' });
    res.end(head ? undefined : xml);
    return;
  }
  const status = service === 'dynamodb' || service === 'secretsmanager' ? 400 : 403;
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'strict', 'x-amzn-errortype': 'AccessDeniedException' });
  res.end(JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message, Message: message }));
}

const SQS_ACTION: Record<string, string> = {
  SendMessageBatch: 'SendMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
};

const TRANSACT_ACTION: Record<string, string> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem', Get: 'GetItem' };

/** The IAM actions and resources one request needs, as AWS authorises it. */
export function classify(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, body: Buffer, region: string, service: string, reg: Pick<RoleRegistration, 'secretArns'> = {}): Classified {
  const url = new URL(req.url ?? '/', 'http://local');
  if (service === 's3') return classifyS3(req.method ?? 'GET', url, req.headers, body);
  const target = String(req.headers['x-amz-target'] ?? '');
  const json = (): Record<string, unknown> => (body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {});
  const op = target ? target.slice(target.lastIndexOf('.') + 1) : new URLSearchParams(body.toString('utf8')).get('Action') ?? '';
  if (service === 'dynamodb') {
    const p = json();
    const table = (name: unknown) => `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${String(name)}`;
    if (op === 'TransactWriteItems' || op === 'TransactGetItems') {
      const items = (p.TransactItems as Array<Record<string, { TableName: string }>>) ?? [];
      return {
        service,
        requests: items.flatMap((it) => Object.entries(it).map(([kind, v]) => ({ action: `dynamodb:${TRANSACT_ACTION[kind] ?? kind}`, resource: table(v.TableName) }))),
      };
    }
    if (op === 'BatchGetItem' || op === 'BatchWriteItem') {
      return { service, requests: Object.keys((p.RequestItems as object) ?? {}).map((t) => ({ action: `dynamodb:${op}`, resource: table(t) })) };
    }
    const resource = p.TableName ? `${table(p.TableName)}${p.IndexName ? `/index/${String(p.IndexName)}` : ''}` : '*';
    return { service, requests: [{ action: `dynamodb:${op}`, resource }] };
  }
  if (service === 'sqs') {
    const p = target ? json() : Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    const queueUrl = String(p.QueueUrl ?? '');
    const name = queueUrl ? queueUrl.split('/').pop() : String(p.QueueName ?? '*');
    return { service, requests: [{ action: `sqs:${SQS_ACTION[op] ?? op}`, resource: `arn:aws:sqs:${region}:${ACCOUNT}:${name}` }] };
  }
  if (service === 'secretsmanager') {
    const id = String(json().SecretId ?? '*');
    const arn = id.startsWith('arn:') ? id : (reg.secretArns?.[id] ?? `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${id}`);
    return { service, requests: [{ action: `secretsmanager:${op}`, resource: arn }] };
  }
  if (service === 'lambda') {
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (m && req.method === 'POST') {
      const fn = decodeURIComponent(m[1]!);
      const arn = fn.startsWith('arn:') ? fn.split(':').slice(0, 7).join(':') : `arn:aws:lambda:${region}:${ACCOUNT}:function:${fn.split(':')[0]}`;
      return { service, requests: [{ action: 'lambda:InvokeFunction', resource: arn }] };
    }
  }
  if (service === 'sts' && op === 'GetCallerIdentity') return { service, requests: [] };
  // Unknown to this model: refuse loudly rather than let a role do what it may not.
  return { service, requests: [{ action: `${service}:${op || `${req.method} ${url.pathname}`} (not modelled in test/support/strict-aws.ts)`, resource: '*' }] };
}

function classifyS3(method: string, url: URL, headers: IncomingMessage['headers'], body: Buffer): Classified {
  const [, bucket = '', ...rest] = url.pathname.split('/');
  const key = rest.map(decodeURIComponent).join('/');
  const q = url.searchParams;
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `${bucketArn}/${key}`;
  const one = (action: string, resource: string, context?: Record<string, string>): Classified => ({ service: 's3', requests: [{ action: `s3:${action}`, resource, ...(context ? { context } : {}) }] });
  if (!key) {
    if (method === 'GET' && q.has('versions')) return one('ListBucketVersions', bucketArn);
    if (method === 'GET' && q.has('uploads')) return one('ListBucketMultipartUploads', bucketArn);
    if ((method === 'GET' && [...q.keys()].every((k) => ['list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner', 'marker', 'x-id'].includes(k))) || method === 'HEAD') {
      const context: Record<string, string> = {};
      if (q.has('prefix')) context['s3:prefix'] = q.get('prefix')!;
      if (q.has('delimiter')) context['s3:delimiter'] = q.get('delimiter')!;
      if (q.has('max-keys')) context['s3:max-keys'] = q.get('max-keys')!;
      return one('ListBucket', bucketArn, context);
    }
    if (method === 'POST' && q.has('delete')) {
      const keys = [...body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
      return { service: 's3', requests: keys.map((k) => ({ action: 's3:DeleteObject', resource: `${bucketArn}/${k}` })) };
    }
    return one(`${method} bucket ?${[...q.keys()].join('&')} (not modelled in test/support/strict-aws.ts)`, bucketArn);
  }
  const version = q.has('versionId');
  if (method === 'GET' || method === 'HEAD') {
    if (q.has('uploadId')) return one('ListMultipartUploadParts', objectArn);
    if (q.has('tagging')) return one(version ? 'GetObjectVersionTagging' : 'GetObjectTagging', objectArn);
    if (q.has('acl')) return one(version ? 'GetObjectVersionAcl' : 'GetObjectAcl', objectArn);
    if (q.has('attributes')) return one(version ? 'GetObjectVersionAttributes' : 'GetObjectAttributes', objectArn);
    return { ...one(version ? 'GetObjectVersion' : 'GetObject', objectArn), objectRead: { bucket, key } };
  }
  if (method === 'PUT') {
    if (q.has('tagging')) return one('PutObjectTagging', objectArn);
    if (q.has('acl')) return one('PutObjectAcl', objectArn);
    const source = headers['x-amz-copy-source'];
    if (typeof source === 'string') {
      const [path = '', query = ''] = decodeURIComponent(source).split('?');
      const src = path.replace(/^\//, '');
      return {
        service: 's3',
        requests: [
          { action: 's3:PutObject', resource: objectArn },
          { action: query.includes('versionId=') ? 's3:GetObjectVersion' : 's3:GetObject', resource: `arn:aws:s3:::${src}` },
        ],
      };
    }
    return one('PutObject', objectArn);
  }
  if (method === 'POST') {
    if (q.has('uploads') || q.has('uploadId')) return one('PutObject', objectArn);
    if (q.has('restore')) return one('RestoreObject', objectArn);
  }
  if (method === 'DELETE') {
    if (q.has('uploadId')) return one('AbortMultipartUpload', objectArn);
    if (q.has('tagging')) return one('DeleteObjectTagging', objectArn);
    return one(version ? 'DeleteObjectVersion' : 'DeleteObject', objectArn);
  }
  return one(`${method} object ?${[...q.keys()].join('&')} (not modelled in test/support/strict-aws.ts)`, objectArn);
}

