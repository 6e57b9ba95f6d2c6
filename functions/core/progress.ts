/** A file with no progress for this long is shown (and alarmed on) as stalled, unless told otherwise. */
export const DEFAULT_STALLED_AFTER_MS = 30 * 60_000;

/** What `stalled` reads of a file's manifest (pipeline's Manifest fits it; core imports nothing above it). */
export interface ProgressView {
  status: 'splitting' | 'split' | 'reported';
  chunks?: number;
  doneChunks: number;
  startedAt: string;
  updatedAt?: string;
  pause?: { chunk: number; hop: number; handedOver?: boolean };
  cancelled?: boolean;
}

/**
 * Says what a file that made no progress for `afterMs` waits for, or undefined when it is
 * moving (or done). Progress is the manifest's `updatedAt`: opened, split progress or pause,
 * split end, each chunk done.
 */
export function stalled(m: ProgressView, now: number, afterMs: number): string | undefined {
  if (m.status === 'reported' || m.cancelled) return undefined;
  const last = m.updatedAt ?? m.startedAt;
  const since = Date.parse(last);
  if (!Number.isFinite(since) || now - since < afterMs) return undefined;
  const quiet = `no progress since ${last} (${minutes(now - since)})`;
  if (m.status === 'splitting') {
    const p = m.pause;
    if (!p) return `splitting: ${quiet}; the split run stopped before its first pause point (run \`backfill resume\`)`;
    if (!p.handedOver) return `splitting: ${quiet}; paused before chunk ${p.chunk}, the hand-over never went out (run \`backfill resume\`)`;
    return `splitting: ${quiet}; hand-over at chunk ${p.chunk} (hop ${p.hop}) not picked up (run \`backfill resume\`)`;
  }
  const pending = (m.chunks ?? 0) - m.doneChunks;
  if (pending <= 0) return `split: ${quiet}; every chunk is done but the report was not written (run \`backfill resume\`)`;
  return `${pending} chunks pending, none done since ${last} (${minutes(now - since)}); check the queue and the DLQ, or run \`backfill resume\``;
}

function minutes(ms: number): string {
  const m = Math.floor(ms / 60_000);
  return m >= 120 ? `${Math.floor(m / 60)} h` : `${m} min`;
}
