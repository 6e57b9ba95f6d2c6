import type { MessagePort } from 'node:worker_threads';

// Ports that must stay on one thread (the checkpoint file, the sent-alias log, the rate budget)
// are served from the main thread to the send workers as plain method calls over a MessagePort.
// Arguments and results are structured-cloned: the ports take and return plain data only.

type Call = { rpc: number; target: string; method: string; args: unknown[] };
type Reply = { rpc: number; value?: unknown; error?: string };

/** Answers calls on `port` with the methods of `targets` (awaited; errors sent back as messages). */
export function serve(port: MessagePort, targets: Record<string, object>): void {
  port.on('message', (m: Call) => {
    if (typeof m?.rpc !== 'number' || typeof m.method !== 'string') return;
    const target = targets[m.target] as Record<string, (...a: unknown[]) => unknown> | undefined;
    const fn = target?.[m.method];
    Promise.resolve()
      .then(() => {
        if (typeof fn !== 'function') throw new Error(`no method ${m.target}.${m.method}`);
        return fn.apply(target, m.args);
      })
      .then(
        (value) => port.postMessage({ rpc: m.rpc, value } satisfies Reply),
        (err: unknown) => port.postMessage({ rpc: m.rpc, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
      );
  });
}

/** The calling side: `remote<T>('name')` is an object whose every method is a call to `name` on the other side. */
export class RpcClient {
  private next = 0;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (m: Reply) => {
      const w = typeof m?.rpc === 'number' ? this.waiting.get(m.rpc) : undefined;
      if (!w) return;
      this.waiting.delete(m.rpc);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.value);
    });
  }

  call(target: string, method: string, args: unknown[]): Promise<unknown> {
    const rpc = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(rpc, { resolve, reject });
      this.port.postMessage({ rpc, target, method, args } satisfies Call);
    });
  }

  remote<T extends object>(target: string): T {
    return new Proxy({} as T, {
      get: (_, method) => (typeof method === 'string' && method !== 'then' ? (...args: unknown[]) => this.call(target, method, args) : undefined),
    });
  }
}
