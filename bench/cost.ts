// The AWS bill per 10 M events: request counts measured by running the real handlers on moto
// behind a counting proxy, Lambda time from the measured chunk durations, list prices below.
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerEnv } from '../functions/config';
import { createSender } from '../functions/sender/handler';
import { createSplitter } from '../functions/splitter/handler';
import { CaptureStandIn } from '../test/support/capture-stand-in';
import { createStack, drain, s3Event, upload } from '../test/support/aws-env';
import { startMoto } from '../test/support/moto';
import { writeAmplitudeFile } from './data';

// us-east-1 list prices (USD), November 2026.
const PRICE = {
  region: 'us-east-1',
  lambdaGbSecondArm: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  sqsRequest: 0.4 / 1e6, // per 64 KB chunk of payload
  ddbWrite: 0.625 / 1e6, // on-demand write request unit
  ddbRead: 0.125 / 1e6, // on-demand read request unit
  s3Put: 0.005 / 1000, // PUT, COPY, POST, LIST
  s3Get: 0.0004 / 1000, // GET, HEAD
  s3GbMonth: 0.023,
  secretsCall: 0.05 / 10_000,
};

export interface CostInput {
  /** CPU time (all threads) per chunk in the sender, measured on this machine. */
  senderCpuMsPerChunk?: number;
  chunkRecords: number;
  /** Splitter CPU time per MB of gzipped input, measured on this machine. */
  splitterCpuMsPerMbGz?: number;
  gzBytesPerEvent: number;
}

export interface Cost {
  region: string;
  memoryMb: number;
  lines: Array<[string, { detail: string; usd: number }]>;
  total: number;
  notes: string[];
}

const EVENTS = 10_000_000;
const MEMORY_GB = 1; // both functions are deployed with 1024 MB
// Assumptions stated in the table's notes.
const POSTHOG_MS_PER_REQUEST = 400; // a 1000-event /batch/ request to PostHog Cloud, round trip and ingestion
const PAIRS_PER_EVENT = 0.01; // distinct device↔user pairs: one per 100 events
const CHUNKS_PER_PAIR = 5; // chunks in which each pair shows up (each reads it once)
const EVENTS_PER_FILE = 1_000_000; // one splitter run per file of this size

interface Counted {
  service: string;
  op: string;
  table?: string;
  /** Items written by a TransactWriteItems. */
  items?: number;
  bytesIn: number;
  bytesOut: number;
}

/** An HTTP proxy in front of moto that records each AWS request's service and operation. */
async function countingProxy(target: string): Promise<{ url: string; log: Counted[]; stop(): Promise<void> }> {
  const log: Counted[] = [];
  const to = new URL(target);
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const entry = classify(req, body);
      const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (r: IncomingMessage) => {
        const back: Buffer[] = [];
        r.on('data', (b: Buffer) => back.push(b));
        r.on('end', () => {
          const out = Buffer.concat(back);
          log.push({ ...entry, bytesIn: body.length, bytesOut: out.length });
          res.writeHead(r.statusCode ?? 500, r.headers);
          res.end(out);
        });
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

function classify(req: IncomingMessage, body: Buffer): Omit<Counted, 'bytesIn' | 'bytesOut'> {
  const target = String(req.headers['x-amz-target'] ?? '');
  if (target) {
    const [svc, op] = target.split('.');
    const service = svc!.startsWith('DynamoDB') ? 'dynamodb' : svc === 'AmazonSQS' ? 'sqs' : svc!.toLowerCase();
    let table: string | undefined;
    if (service === 'dynamodb') {
      const text = body.toString();
      table = /"TableName":"([^"]+)"/.exec(text)?.[1] ?? /"RequestItems":\{"([^"]+)"/.exec(text)?.[1] ?? /"TransactItems".*?"TableName":"([^"]+)"/.exec(text)?.[1];
    }
    const items = op === 'TransactWriteItems' ? (body.toString().match(/"TableName"/g) ?? []).length : undefined;
    return { service, op: op!, ...(table ? { table } : {}), ...(items ? { items } : {}) };
  }
  const scope = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? 'unknown';
  return { service: scope, op: `${req.method}${req.url?.includes('?list-type') ? ' list' : ''}` };
}

export async function costModel(input: CostInput): Promise<Cost> {
  const moto = await startMoto();
  const proxy = await countingProxy(process.env.AWS_ENDPOINT_URL!);
  process.env.AWS_ENDPOINT_URL = proxy.url;
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  const capture = await new CaptureStandIn({ keepEvents: false }).start();
  const dir = await mkdtemp(join(tmpdir(), 'bench-cost-'));
  try {
    // A sample run: 10 chunks of the deployed chunk size through the real handlers.
    const path = join(dir, 'sample.jsonl.gz');
    const { records } = await writeAmplitudeFile(path, 10 * input.chunkRecords * 1_450);
    const stack = await createStack(capture.url, 'phc_bench', { CHUNK_RECORDS: input.chunkRecords, BATCH_SIZE: 1000, POSTHOG_RETRIES: 0 });
    const obj = await upload(stack.bucket, 'posthog/sample.jsonl.gz', await readFile(path));
    proxy.log.length = 0;
    await createSplitter(stack.env)(s3Event(stack.bucket, 'posthog/sample.jsonl.gz', obj));
    const splitterLog = proxy.log.splice(0);
    const drained = await drain(stack.queueUrl, createSender(stack.env), { batchSize: 2 });
    const senderLog = proxy.log.splice(0);
    if (capture.unique < records) throw new Error(`cost sample: ${capture.unique} of ${records} events arrived`);

    const scale = EVENTS / records;
    const all = [...splitterLog, ...senderLog];
    const notAlias = (c: Counted) => c.table !== stack.env.ALIAS_TABLE;
    const count = (pred: (c: Counted) => boolean) => all.filter(pred).length * scale;
    const chunks = EVENTS / input.chunkRecords;

    // Lambda: a function at 1024 MB gets 1024/1769 of a vCPU, so the CPU time measured here is
    // stretched by that; each invocation takes 2 chunks at once, and waits for PostHog's round
    // trips (IN_FLIGHT requests at once per chunk) on top.
    const vcpu = (MEMORY_GB * 1024) / 1769;
    const requestsPerChunk = Math.ceil(input.chunkRecords / 1000);
    const invocationSec = ((2 * (input.senderCpuMsPerChunk ?? 500)) / vcpu + Math.ceil(requestsPerChunk / HandlerEnv.parse({ CHECKPOINT_TABLE: 'x' }).IN_FLIGHT) * POSTHOG_MS_PER_REQUEST) / 1000;
    const splitterSec = ((input.splitterCpuMsPerMbGz ?? 40) * (EVENTS * input.gzBytesPerEvent)) / 1e6 / vcpu / 1000;
    const invocations = chunks / 2 + EVENTS / EVENTS_PER_FILE;
    const lambdaGbS = ((chunks / 2) * invocationSec + splitterSec) * MEMORY_GB;

    // SQS: the splitter's sends as counted; the event source's receive and delete per batch of 2.
    const sqsSends = count((c) => c.service === 'sqs' && c.op.startsWith('SendMessage'));
    const sqs = sqsSends + (chunks / 2) * 2;

    // DynamoDB (checkpoints; the alias table is modelled below): units from the counted calls.
    let wru = 0;
    let rru = 0;
    for (const c of all.filter((x) => x.service === 'dynamodb' && notAlias(x))) {
      if (c.op === 'TransactWriteItems') wru += 2 * (c.items ?? 1); // transactions cost double
      else if (['PutItem', 'UpdateItem', 'DeleteItem'].includes(c.op)) wru += 1;
      else if (c.op === 'GetItem') rru += 1;
      else if (c.op === 'Query' || c.op === 'Scan') rru += Math.max(1, Math.ceil(c.bytesOut / 4096));
      else if (c.op === 'BatchGetItem') rru += Math.max(1, Math.ceil(c.bytesOut / 4096));
    }
    wru *= scale;
    rru *= scale;
    const pairs = EVENTS * PAIRS_PER_EVENT;
    const aliasWru = pairs * 2; // claim + confirm
    const aliasRru = pairs * CHUNKS_PER_PAIR;

    const s3Puts = count((c) => c.service === 's3' && (c.op.startsWith('PUT') || c.op.startsWith('POST') || c.op.includes('list')));
    const s3Gets = count((c) => c.service === 's3' && (c.op === 'GET' || c.op === 'HEAD'));
    const stagedGb = (all.filter((c) => c.service === 's3' && c.op === 'PUT').reduce((n, c) => n + c.bytesIn, 0) * scale) / 1e9;
    const secrets = count((c) => c.service === 'secretsmanager');

    const lines: Cost['lines'] = [
      ['Lambda compute', { detail: `${Math.round(lambdaGbS).toLocaleString('en-US')} GB-s (${invocationSec.toFixed(2)} s per 2-chunk invocation)`, usd: lambdaGbS * PRICE.lambdaGbSecondArm }],
      ['Lambda requests', { detail: `${Math.round(invocations).toLocaleString('en-US')} invocations`, usd: invocations * PRICE.lambdaRequest }],
      ['SQS', { detail: `${Math.round(sqs).toLocaleString('en-US')} requests`, usd: sqs * PRICE.sqsRequest }],
      ['DynamoDB checkpoints', { detail: `${Math.round(wru).toLocaleString('en-US')} WRU, ${Math.round(rru).toLocaleString('en-US')} RRU`, usd: wru * PRICE.ddbWrite + rru * PRICE.ddbRead }],
      ['DynamoDB sent-alias table', { detail: `${Math.round(aliasWru).toLocaleString('en-US')} WRU, ${Math.round(aliasRru).toLocaleString('en-US')} RRU`, usd: aliasWru * PRICE.ddbWrite + aliasRru * PRICE.ddbRead }],
      ['S3 requests', { detail: `${Math.round(s3Puts).toLocaleString('en-US')} PUT/LIST, ${Math.round(s3Gets).toLocaleString('en-US')} GET/HEAD`, usd: s3Puts * PRICE.s3Put + s3Gets * PRICE.s3Get }],
      // Removed when their chunk is done; the versioned bucket keeps the old version for a day.
      ['S3 staging storage', { detail: `${stagedGb.toFixed(2)} GB for a day`, usd: stagedGb * PRICE.s3GbMonth * (1 / 30) }],
      ['Secrets Manager', { detail: `${Math.round(secrets).toLocaleString('en-US')} calls (sample; per container in AWS)`, usd: secrets * PRICE.secretsCall }],
    ];
    const total = lines.reduce((n, [, v]) => n + v.usd, 0);
    return {
      region: PRICE.region,
      memoryMb: MEMORY_GB * 1024,
      lines,
      total,
      notes: [
        `cost sample: ${records.toLocaleString('en-US')} events, ${drained.invocations} sender invocations on moto, scaled ×${scale.toFixed(1)}`,
        `assumed: CPU time measured here stretched to ${((MEMORY_GB * 1024) / 1769).toFixed(2)} vCPU (Lambda at ${MEMORY_GB * 1024} MB), ${POSTHOG_MS_PER_REQUEST} ms per /batch/ round trip to PostHog, ${PAIRS_PER_EVENT} device↔user pairs per event each seen in ${CHUNKS_PER_PAIR} chunks, ${EVENTS_PER_FILE.toLocaleString('en-US')} events per file`,
        'not included: data transfer out to PostHog, CloudWatch logs, idle SQS polling by the event source (about 15k requests/day, $0.006)',
      ],
    };
  } finally {
    await capture.stop();
    await proxy.stop();
    await moto.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
