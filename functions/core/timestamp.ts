import { reject, type Rejection } from './event';

/** PostHog clamps timestamps further ahead than this; we reject them instead. */
export const MAX_FUTURE_MS = 23 * 3600 * 1000;

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses an ISO 8601 string (a zone-less one is UTC, never local time) or epoch seconds /
 * milliseconds, and returns ISO 8601 UTC with millisecond precision.
 */
export function parseTimestamp(value: unknown, now = Date.now()): string | Rejection {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return reject('invalid_timestamp', 'timestamp is not a finite number');
    ms = Math.abs(value) < 1e11 ? value * 1000 : value; // seconds below ~year 5138 in ms terms
  } else if (typeof value === 'string') {
    const m = ISO.exec(value.trim());
    if (!m) return reject('invalid_timestamp', `timestamp is not ISO 8601: ${clip(value)}`);
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
    const parts = [y, mo, d, h, mi, sec].map(Number) as [number, number, number, number, number, number];
    const [Y, M, D, H, Mi, S] = parts;
    const base = Date.UTC(Y, M - 1, D, H, Mi, S);
    const check = new Date(base);
    // Reject dates Date.UTC would roll over (Feb 30, hour 25) instead of silently shifting them.
    if (check.getUTCFullYear() !== Y || check.getUTCMonth() !== M - 1 || check.getUTCDate() !== D || check.getUTCHours() !== H || check.getUTCMinutes() !== Mi || S > 59) {
      return reject('invalid_timestamp', `timestamp is not a valid date: ${clip(value)}`);
    }
    ms = base + (frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0) - offsetMinutes(zone) * 60_000;
  } else {
    return reject('invalid_timestamp', `timestamp has type ${value === null ? 'null' : typeof value}`);
  }
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return reject('invalid_timestamp', 'timestamp is out of range');
  if (ms - now > MAX_FUTURE_MS) {
    return reject('future_timestamp', `timestamp ${date.toISOString()} is more than 23 h in the future`);
  }
  return date.toISOString();
}

function offsetMinutes(zone: string | undefined): number {
  if (!zone || zone.toUpperCase() === 'Z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
}

// Reasons may quote a short piece of the bad value so the user can find it; never more.
function clip(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}
