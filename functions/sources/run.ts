import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { nonEmpty, type Drop } from './drop';
import { AuthError } from './http';
import type { StateStore } from './state';
import type { PullSource } from './types';
import { alignedWindows, iso, runRange, type Window } from './windows';

export interface PullOptions {
  name: string;
  source: PullSource;
  drop: Drop;
  store: StateStore;
  /** Explicit range (`--from` inclusive, `--to` exclusive); without `from`, continue from the watermark. */
  from?: number;
  to?: number;
  /** Where a source with no watermark starts (deployed: the configured start date). */
  startDate?: number;
  schedule?: string;
  /** Also pull what is not windowed (PostHog persons). */
  snapshot?: boolean;
  /** No new window is started after this instant (the Lambda's time limit). */
  deadline?: number;
  /** How long the lock holds if this run dies without freeing it. */
  lockTtlMs: number;
  /** Tries per window when the body fails halfway (a reset): the window is written again whole. */
  windowAttempts?: number;
  now?: () => number;
  /** After a window's object is complete and before the watermark moves (local: import it). */
  afterWrite?(w: PulledWindow): Promise<void>;
  onProgress?(w: Window, key: string, bytes: number): void;
}

export interface PulledWindow {
  start: string;
  end: string;
  key: string;
  /** Undefined when the window had no data (nothing written). */
  location?: string;
  bytes: number;
  ms: number;
}

export interface PullResult {
  windows: PulledWindow[];
  snapshot?: PulledWindow;
  watermark?: string;
  /** Windows left for the next run (the time limit was reached). */
  remaining: number;
}

/**
 * One run of one source: take the source's lock, pull each window of the range into one
 * object, and move the watermark past a window only once its object is complete. A run that
 * dies between the two pulls that window again, to the same key, on the next run.
 */
export async function runPull(o: PullOptions): Promise<PullResult> {
  const now = o.now ?? Date.now;
  const owner = randomUUID();
  const state = await o.store.lock(o.name, owner, o.lockTtlMs, { type: o.source.type, ...(o.schedule ? { schedule: o.schedule } : {}) });
  const result: PullResult = { windows: [], remaining: 0, ...(state.watermark ? { watermark: state.watermark } : {}) };
  try {
    const windows = planWindows(o.source, { from: o.from, to: o.to, watermark: state.watermark ? Date.parse(state.watermark) : undefined, startDate: o.startDate, now: now() });
    for (let i = 0; i < windows.length; i++) {
      // The deadline is the Lambda's, on the wall clock (`now` only places the windows).
      if (o.deadline !== undefined && Date.now() >= o.deadline) {
        result.remaining = windows.length - i;
        break;
      }
      const w = windows[i]!;
      const pulled = await pullWindow(o, w.key, w, () => o.source.fetch(w));
      await o.afterWrite?.(pulled);
      await o.store.advance(o.name, owner, { watermark: iso(w.end) });
      result.windows.push(pulled);
      result.watermark = iso(Math.max(Date.parse(result.watermark ?? iso(0)), w.end));
    }
    const snap = o.snapshot && result.remaining === 0 ? o.source.snapshot?.() : undefined;
    if (snap) {
      const t = now();
      const pulled = await pullWindow(o, snap.key, { start: t, end: t }, snap.fetch);
      await o.afterWrite?.(pulled);
      await o.store.advance(o.name, owner, { personsAt: iso(t) });
      result.snapshot = pulled;
    }
    await o.store.release(o.name, owner, {});
    return result;
  } catch (err) {
    await o.store.release(o.name, owner, { error: (err as Error).message }).catch(() => undefined);
    throw err;
  }
}

export function planWindows(
  source: PullSource,
  r: { from?: number; to?: number; watermark?: number; startDate?: number; now: number },
): Array<Window & { key: string }> {
  // Without an explicit end, only windows that are over: the current one is pulled next time.
  const to = r.to ?? Math.floor((r.now - source.availableAfterMs) / source.windowMs) * source.windowMs;
  const range = runRange({ from: r.from, to, watermark: r.watermark, startDate: r.startDate, latenessMs: source.latenessMs, now: r.now });
  return alignedWindows(range.from, range.to, source.windowMs).map((cell) => {
    const w = source.wholeCells ? cell : { start: Math.max(cell.start, range.from), end: Math.min(cell.end, range.to) };
    return { ...w, key: source.key(w) };
  });
}

async function pullWindow(o: PullOptions, key: string, w: Window, fetch: () => Promise<Readable | undefined>): Promise<PulledWindow> {
  const attempts = o.windowAttempts ?? 3;
  const t0 = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch();
      const body = res ? await nonEmpty(res) : undefined;
      const base = { start: iso(w.start), end: iso(w.end), key };
      if (!body) return { ...base, bytes: 0, ms: Date.now() - t0 };
      const out = await o.drop.write(`${o.name}/${key}`, body, (n) => o.onProgress?.(w, key, n));
      return { ...base, location: out.location, bytes: out.bytes, ms: Date.now() - t0 };
    } catch (err) {
      // Refused credentials and answers the HTTP layer already gave up on end the run.
      if (err instanceof AuthError || attempt >= attempts || !isBodyFailure(err)) throw err;
    }
  }
}

/** The connection failed while the body was being read: worth pulling the window again. */
function isBodyFailure(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE'].includes(e.code ?? '') || /aborted|socket hang up|terminated|premature/i.test(e.message ?? '');
}
