import { Worker } from 'node:worker_threads';
import type { ChunkMessage } from '../../core/messages';
import type { PostHogSinkOptions } from '../posthog-sink';
import { serve } from './rpc';

/** What a send worker is started with: everything but the ports served from the main thread. */
export interface SendWorkerData {
  sink: Omit<PostHogSinkOptions, 'acquire'>;
  /** Whether the rate budget is served (`budget` target). */
  budget: boolean;
  reportsDir: string;
  origin: string;
}

/**
 * Each worker's V8 heap. V8 sizes a heap from the machine's memory (gigabytes on a large machine)
 * and collects lazily below that, so an uncapped worker's RSS grows far past what it holds. A
 * small young generation saved ~140 MB per thread for ~20 % more of its CPU in collections
 * (README, Performance).
 */
export interface WorkerHeap {
  /** Old generation, MB: well above a worker's live set (its one or two chunks in flight). */
  oldMb: number;
  /** Young generation, MB (V8 splits it into semi-spaces). */
  youngMb: number;
}

export const DEFAULT_WORKER_HEAP: WorkerHeap = { oldMb: 192, youngMb: 12 };

export type SendTask = { task: number; msg: ChunkMessage; body: Uint8Array };
export type SendDone = { task: number; error?: string };

// Sources run through tsx (tests, an unbuilt checkout): a worker does not inherit the loader,
// so it registers tsx itself before importing its script.
function startWorker(script: URL | string, workerData: SendWorkerData, heap: WorkerHeap): Worker {
  const url = String(script instanceof URL ? script : new URL(script, 'file://'));
  const resourceLimits = { maxOldGenerationSizeMb: heap.oldMb, maxYoungGenerationSizeMb: heap.youngMb };
  if (!url.endsWith('.ts')) return new Worker(new URL(url), { workerData, resourceLimits });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((t) => { t.register(); return import(${JSON.stringify(url)}); })`, { eval: true, workerData, resourceLimits });
}

type Slot = { worker: Worker; busy: number; dead?: Error };

// A worker that dies (out of its heap, a crash) is replaced, so its chunk's retry gets a fresh
// one; past this many replacements per thread the pool gives up and the import stops.
const RESPAWNS_PER_WORKER = 3;

/**
 * Local mode on every core: each chunk is transformed and sent (posthog-node's JSON and gzip
 * included) in one of N worker threads, while this thread reads the file and keeps the state
 * that must have one writer: checkpoints, the sent-alias table and the rate budget, served to the
 * workers over their message ports. A chunk that fails comes back as an error for the caller to
 * retry, exactly as in one thread.
 */
export class SendWorkers {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { slot: Slot; resolve(): void; reject(e: Error): void }>();
  private next = 0;
  private respawns: number;
  private closing = false;

  constructor(
    private readonly script: URL | string,
    count: number,
    private readonly data: SendWorkerData,
    private readonly targets: Record<string, object>,
    private readonly heap: WorkerHeap = DEFAULT_WORKER_HEAP,
  ) {
    this.respawns = RESPAWNS_PER_WORKER * count;
    for (let i = 0; i < count; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = startWorker(this.script, this.data, this.heap);
    const slot: Slot = { worker, busy: 0 };
    serve(worker as unknown as import('node:worker_threads').MessagePort, this.targets);
    worker.on('message', (m: SendDone) => {
      if (typeof m?.task !== 'number') return;
      const p = this.pending.get(m.task);
      if (!p) return;
      this.pending.delete(m.task);
      slot.busy--;
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve();
    });
    const die = (err: Error) => {
      if (slot.dead) return;
      slot.dead = err;
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(err);
      }
      if (this.closing || this.respawns <= 0) return;
      this.respawns--;
      this.slots[this.slots.indexOf(slot)] = this.spawn();
    };
    worker.on('error', (err: Error & { code?: string }) =>
      die(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new Error(`a send worker ran out of its ${this.heap.oldMb} MB heap: run again with a larger --worker-heap-mb`) : err),
    );
    worker.on('exit', (code) => die(new Error(`send worker exited (${code})`)));
    return slot;
  }

  /** Sends one chunk in the least busy live worker; resolves when its checkpoint is written. */
  send(msg: ChunkMessage, body: Buffer): Promise<void> {
    const live = this.slots.filter((s) => !s.dead);
    if (!live.length) return Promise.reject(this.slots[0]?.dead ?? new Error('no send workers'));
    const slot = live.reduce((a, b) => (b.busy < a.busy ? b : a));
    const task = this.next++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(task, { slot, resolve, reject });
      slot.worker.postMessage({ task, msg, body } satisfies SendTask);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
