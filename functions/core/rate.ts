import type { Manifest } from '../pipeline/ports';

export interface Progress {
  /** Records read so far, and in the whole file once the split is over. */
  recordsDone: number;
  recordsTotal?: number;
  /** Chunks done / planned (planned known once the split is over). */
  chunksDone: number;
  chunksTotal?: number;
  /** Records per second since the file started (to its last progress when it is over). */
  recordsPerSecond?: number;
  /** Seconds left at that rate, when the total is known and the file is still going. */
  etaSeconds?: number;
  /** 0..1 by records when the total is known, else by chunks. */
  fraction?: number;
  lastActivity: string;
}

/** Rate and ETA of one file from its manifest, the records its done chunks read and its last progress. */
export function progressOf(m: Manifest, recordsDone: number, lastActivity: string, now: number): Progress {
  const over = m.status === 'reported';
  const end = over ? Date.parse(lastActivity) : now;
  const seconds = (end - Date.parse(m.startedAt)) / 1000;
  const rate = seconds > 0 && recordsDone > 0 ? recordsDone / seconds : undefined;
  const total = m.status === 'splitting' ? undefined : m.records;
  const left = total === undefined ? undefined : Math.max(0, total - recordsDone);
  return {
    recordsDone,
    ...(total !== undefined ? { recordsTotal: total } : {}),
    chunksDone: m.doneChunks,
    ...(m.chunks !== undefined ? { chunksTotal: m.chunks } : {}),
    ...(rate !== undefined ? { recordsPerSecond: Math.round(rate) } : {}),
    ...(!over && !m.cancelled && rate && left !== undefined ? { etaSeconds: Math.ceil(left / rate) } : {}),
    ...(over ? { fraction: 1 } : total ? { fraction: Math.min(1, recordsDone / total) } : m.chunks ? { fraction: m.doneChunks / m.chunks } : {}),
    lastActivity,
  };
}

/** The later of two ISO times (either may be missing). */
export function later(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h${String(m % 60).padStart(2, '0')}m` : `${Math.floor(h / 24)}d${h % 24}h`;
}
