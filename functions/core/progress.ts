import type { Manifest } from '../pipeline/ports';

/**
 * Why a file is stalled, or undefined: it is neither finished nor cancelled and has made no
 * progress (split or chunk done) for `afterMs`.
 */
export function stalled(m: Manifest, now: number, afterMs: number): string | undefined {
  if (m.status === 'reported' || m.cancelled) return undefined;
  const last = Date.parse(m.updatedAt ?? m.startedAt);
  if (!Number.isFinite(last) || now - last < afterMs) return undefined;
  const minutes = Math.floor((now - last) / 60_000);
  return `no progress for ${minutes} min (${m.status === 'splitting' ? 'splitting' : `${m.doneChunks}/${m.chunks ?? '?'} chunks done`})`;
}
