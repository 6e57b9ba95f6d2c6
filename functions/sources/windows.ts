/**
 * Windows and watermarks, shared by every pull source. A source works in windows of its own
 * (Amplitude hours, Mixpanel days, PostHog exact spans); a window is pulled whole into one
 * object whose key depends only on the window, so a re-pull overwrites rather than adds.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export interface Window {
  /** Inclusive start, epoch ms (UTC). */
  start: number;
  /** Exclusive end, epoch ms (UTC). */
  end: number;
}

/** `--from` / `--to` values: `2024-03-01` or `2024-03-01T05:00:00Z`; a zone-less time is UTC. */
export function parseInstant(text: string): number {
  const t = text.trim();
  const withZone = /^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00:00Z` : /[zZ]|[+-]\d{2}:?\d{2}$/.test(t) ? t : `${t}Z`;
  const ms = Date.parse(withZone);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t) || Number.isNaN(ms)) throw new Error(`"${text}" is not an ISO 8601 date or time (e.g. 2024-03-01 or 2024-03-01T05:00:00Z)`);
  return ms;
}

export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The windows of `size` ms that cover [from, to), aligned to multiples of `size` since the epoch
 * (so the same hour or day is always the same window and the same key). `from` is rounded
 * down and `to` up to the grid, so a partial hour or day is pulled whole.
 */
export function alignedWindows(from: number, to: number, size: number): Window[] {
  const out: Window[] = [];
  for (let s = Math.floor(from / size) * size; s < to; s += size) out.push({ start: s, end: s + size });
  return out;
}

/** Exact spans of at most `size` ms from `from` to `to` (PostHog: no grid, no rounding). */
export function exactWindows(from: number, to: number, size: number): Window[] {
  const out: Window[] = [];
  for (let s = from; s < to; s = Math.min(s + size, to)) out.push({ start: s, end: Math.min(s + size, to) });
  return out;
}

export interface RangeInput {
  /** Explicit `--from` (inclusive); without it the run continues from the watermark. */
  from?: number;
  /** Explicit `--to` (exclusive); default: the latest complete window before now. */
  to?: number;
  watermark?: number;
  /** First instant a scheduled source ever pulls. */
  startDate?: number;
  /** Re-pull this much before the watermark (late-arriving data). */
  latenessMs: number;
  now: number;
}

/**
 * Where a run starts and ends. An explicit range is pulled as asked. A continuing run starts at
 * the watermark minus the lateness window (never before the start date), so windows whose data
 * may still be arriving are pulled again to the same keys.
 */
export function runRange(r: RangeInput): { from: number; to: number } {
  const to = r.to ?? r.now;
  if (r.from !== undefined) return { from: r.from, to };
  if (r.watermark === undefined) {
    if (r.startDate === undefined) throw new Error('no watermark stored for this source yet: give --from (or a start date)');
    return { from: r.startDate, to };
  }
  const from = Math.max(r.watermark - r.latenessMs, r.startDate ?? -Infinity);
  return { from, to };
}

/** UTC `YYYYMMDDTHH` (Amplitude's export parameters). */
export function amplitudeHour(ms: number): string {
  return iso(ms).slice(0, 13).replace(/-/g, '');
}

/** UTC `YYYY-MM-DD`. */
export const day = (ms: number) => iso(ms).slice(0, 10);

/** A compact UTC stamp for keys: `20240301T050000Z`. */
export const stamp = (ms: number) => iso(ms).replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');

/** `rate(5 minutes)` → ms; undefined for cron and one-off expressions. */
export function rateMs(schedule: string | undefined): number | undefined {
  const m = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(schedule?.trim() ?? '');
  if (!m) return undefined;
  const unit = m[2]!.startsWith('minute') ? 60_000 : m[2]!.startsWith('hour') ? HOUR_MS : DAY_MS;
  return Number(m[1]) * unit;
}
