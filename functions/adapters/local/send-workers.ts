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

export type SendTask = { task: number; msg: ChunkMessage; body: Uint8Array };
export type SendDone = { task: number; error?: string };

// Sources run through tsx (tests, an unbuilt checkout): a worker does not inherit the loader,
// so it registers tsx itself before importing its script.
function startWorker(script: URL | string, workerData: SendWorkerData): Worker {
  const url = String(script instanceof URL ? script : new URL(script, 'file://'));
  if (!url.endsWith('.ts')) return new Worker(new URL(url), { workerData });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((t) => { t.register(); return import(${JSON.stringify(url)}); })`, { eval: true, workerData });
}

type Slot = { worker: Worker; busy: number; dead?: Error };

/**
 * Local mode on every core: each chunk is transformed and sent (posthog-node's JSON and gzip
 * included) in one of N worker threads, while this thread reads the file and keeps the state
 * that must have one writer: checkpoints, the sent-alias log and the rate budget, served to the
 * workers over their message ports. A chunk that fails comes back as an error for the caller to
 * retry, exactly as in one thread.
 */
export class SendWorkers {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { slot: Slot; resolve(): void; reject(e: Error): void }>();
  private next = 0;

  constructor(script: URL | string, count: number, data: SendWorkerData, targets: Record<string, object>) {
    for (let i = 0; i < count; i++) {
      const worker = startWorker(script, data);
      const slot: Slot = { worker, busy: 0 };
      serve(worker as unknown as import('node:worker_threads').MessagePort, targets);
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
        slot.dead = err;
        for (const [id, p] of this.pending) {
          if (p.slot !== slot) continue;
          this.pending.delete(id);
          p.reject(err);
        }
      };
      worker.on('error', die);
      worker.on('exit', (code) => die(new Error(`send worker exited (${code})`)));
      this.slots.push(slot);
    }
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
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
