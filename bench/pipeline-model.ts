// The deployed pipeline as a whole, modelled from measured per-chunk costs: how long 1 B events
// take at a given sender concurrency, and which limit binds first. Pure arithmetic; every
// assumption is an input and is printed with the table.

export interface ModelInput {
  /** Sender CPU time per chunk on one full core (measured by the bench's sender run). */
  cpuMsPerChunk: number;
  chunkEvents: number;
  batchSize: number;
  /** /batch/ requests in flight per chunk (IN_FLIGHT). */
  inFlight: number;
  /** Round trip of one /batch/ request to PostHog, ingestion included. */
  rttMs: number;
  /** Share of a core the sender's memory size buys (1024 MB: 0.58; 1769 MB: 1). */
  vcpu: number;
  /** What PostHog takes for this project, events/s (a plan or an agreed limit). */
  posthogEventsPerSec: number;
  /** Lambda concurrency the account grants (default quota 1,000, shared with everything else). */
  accountConcurrency: number;
}

export interface Limit {
  name: string;
  eventsPerSec: number;
}

// DynamoDB on-demand: one item takes at most 1,000 write units a second. The hot items are the
// file's manifest (one transaction of 2 items, 2 units each, per chunk) and the rate-budget
// window (one update per /batch/ request when a budget is set).
const ITEM_WCU_PER_SEC = 1000;
// SQS standard queues: practically unbounded; the event source's pollers are not the limit.

/** Events per second each limit allows at `concurrency` senders, lowest first. */
export function limits(m: ModelInput, concurrency: number): Limit[] {
  const requests = Math.ceil(m.chunkEvents / m.batchSize);
  const waves = Math.ceil(requests / m.inFlight);
  const chunkSec = m.cpuMsPerChunk / m.vcpu / 1000 + (waves * m.rttMs) / 1000;
  const perSender = m.chunkEvents / chunkSec;
  const out: Limit[] = [
    { name: `senders (${concurrency} × ${Math.round(perSender).toLocaleString('en-US')} events/s)`, eventsPerSec: Math.min(concurrency, m.accountConcurrency) * perSender },
    { name: 'PostHog ingestion (given)', eventsPerSec: m.posthogEventsPerSec },
    { name: 'DynamoDB: one file\'s manifest item (2 WCU per chunk)', eventsPerSec: (ITEM_WCU_PER_SEC / 4) * m.chunkEvents },
    { name: 'DynamoDB: rate-budget window item (1 WCU per request)', eventsPerSec: ITEM_WCU_PER_SEC * m.batchSize },
    { name: `Lambda account concurrency (${m.accountConcurrency})`, eventsPerSec: m.accountConcurrency * perSender },
  ];
  return out.sort((a, b) => a.eventsPerSec - b.eventsPerSec);
}

/** Senders needed to reach `eventsPerSec` (what to set `senderConcurrency` to). */
export function sendersFor(m: ModelInput, eventsPerSec: number): number {
  const perSender = limits(m, 1).find((l) => l.name.startsWith('senders'))!.eventsPerSec;
  return Math.ceil(eventsPerSec / perSender);
}
