// The AWS bill per 10 M events: request counts measured by running the real handlers on moto
// behind a counting proxy, Lambda time from the measured chunk durations, priced by the shared model in functions/core/cost.ts.
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerEnv } from '../functions/config';
import { ASSUME, invocationSeconds, priceUsage, vcpuShare, type Cost as PricedCost } from '../functions/core/cost';
import { createSender } from '../functions/sender/handler';
import { createSplitter } from '../functions/splitter/handler';
import { CaptureStandIn } from '../test/support/capture-stand-in';
import { createStack, drain, s3Event, upload } from '../test/support/aws-env';
import { startMoto } from '../test/support/moto';
import { writeAmplitudeFile } from './data';

export interface CostInput {
  /** CPU time (all threads) per chunk in the sender, measured on this machine. */
  senderCpuMsPerChunk?: number;
  chunkRecords: number;
  /** Splitter CPU time per MB of gzipped input, measured on this machine. */
  splitterCpuMsPerMbGz?: number;
  gzBytesPerEvent: number;
}

export interface Cost extends PricedCost {
  notes: string[];
}

const EVENTS = 10_000_000;

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

    // Lambda: the CPU time measured here stretched to the function's vCPU share, plus PostHog's
    // round trips (the shared model in functions/core/cost.ts).
    const invocationSec = invocationSeconds(input.chunkRecords, HandlerEnv.parse({ CHECKPOINT_TABLE: 'x' }).IN_FLIGHT, input.senderCpuMsPerChunk);
    const splitterSec = ((input.splitterCpuMsPerMbGz ?? ASSUME.splitterCpuMsPerMbGz) * (EVENTS * input.gzBytesPerEvent)) / 1e6 / vcpuShare() / 1000;

    // SQS: the splitter's sends as counted; the event source's receive and delete per batch of 2.
    const sqsSends = count((c) => c.service === 'sqs' && c.op.startsWith('SendMessage'));
    const sqs = sqsSends + (chunks / 2) * 2;

    // DynamoDB (checkpoints; the alias table is modelled from the pairs): units from the counted calls.
    let wru = 0;
    let rru = 0;
    for (const c of all.filter((x) => x.service === 'dynamodb' && notAlias(x))) {
      if (c.op === 'TransactWriteItems') wru += 2 * (c.items ?? 1); // transactions cost double
      else if (['PutItem', 'UpdateItem', 'DeleteItem'].includes(c.op)) wru += 1;
      else if (c.op === 'GetItem') rru += 1;
      else if (c.op === 'Query' || c.op === 'Scan') rru += Math.max(1, Math.ceil(c.bytesOut / 4096));
      else if (c.op === 'BatchGetItem') rru += Math.max(1, Math.ceil(c.bytesOut / 4096));
    }

    const priced = priceUsage({
      events: EVENTS,
      chunks,
      files: EVENTS / ASSUME.eventsPerFile,
      invocationSec,
      splitterSec,
      sqsRequests: sqs,
      ddbWru: wru * scale,
      ddbRru: rru * scale,
      pairs: EVENTS * ASSUME.pairsPerEvent,
      s3Puts: count((c) => c.service === 's3' && (c.op.startsWith('PUT') || c.op.startsWith('POST') || c.op.includes('list'))),
      s3Gets: count((c) => c.service === 's3' && (c.op === 'GET' || c.op === 'HEAD')),
      stagedGb: (all.filter((c) => c.service === 's3' && c.op === 'PUT').reduce((n, c) => n + c.bytesIn, 0) * scale) / 1e9,
      secretsCalls: count((c) => c.service === 'secretsmanager'),
    });
    return {
      ...priced,
      notes: [
        `cost sample: ${records.toLocaleString('en-US')} events, ${drained.invocations} sender invocations on moto, scaled ×${scale.toFixed(1)}`,
        `assumed: CPU time measured here stretched to ${vcpuShare().toFixed(2)} vCPU (Lambda at ${ASSUME.memoryGb * 1024} MB), ${ASSUME.posthogMsPerRequest} ms per /batch/ round trip to PostHog, ${ASSUME.pairsPerEvent} device↔user pairs per event each seen in ${ASSUME.chunksPerPair} chunks, ${ASSUME.eventsPerFile.toLocaleString('en-US')} events per file`,
        'Secrets Manager calls are the sample\'s (per container in AWS)',
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
