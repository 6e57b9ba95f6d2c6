// A send worker of local mode (see adapters/local/send-workers.ts): transforms and sends the
// chunks it is given; checkpoints, links and the rate budget are the main thread's.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { DirReports } from '../adapters/local/dir-reports';
import { MemoryStaging } from '../adapters/local/memory';
import { RpcClient } from '../adapters/local/rpc';
import type { SendDone, SendTask, SendWorkerData } from '../adapters/local/send-workers';
import { PostHogSink } from '../adapters/posthog-sink';
import { formatByName } from '../core/formats';
import type { Checkpoints, IdentityLinks, RateBudget } from '../pipeline/ports';
import { sendChunk } from '../pipeline/send';

const port = parentPort as MessagePort;
const data = workerData as SendWorkerData;
const rpc = new RpcClient(port);
const budget = data.budget ? rpc.remote<RateBudget>('budget') : undefined;
const staging = new MemoryStaging();
const deps = {
  checkpoints: rpc.remote<Checkpoints>('checkpoints'),
  links: rpc.remote<IdentityLinks>('links'),
  // Rejected rows go to a file per chunk and the report is the same whoever writes it: no need
  // to route them through the main thread.
  reports: new DirReports(data.reportsDir),
  staging,
  sink: new PostHogSink({ ...data.sink, ...(budget ? { acquire: (n: number) => budget.acquire(n) } : {}) }),
  format: formatByName,
  origin: () => data.origin,
};

port.on('message', (m: SendTask) => {
  if (typeof m?.task !== 'number' || !m.msg) return;
  void (async () => {
    try {
      await staging.put(m.msg.staged, Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength));
      await sendChunk(m.msg, deps);
      port.postMessage({ task: m.task } satisfies SendDone);
    } catch (err) {
      port.postMessage({ task: m.task, error: err instanceof Error ? err.message : String(err) } satisfies SendDone);
    }
  })();
});
