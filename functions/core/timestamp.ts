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
    const fast = exactUtc(value);
    if (fast !== undefined) {
      // Already UTC digits: the text is the input's own, without a Date to format it.
      if (fast - now <= MAX_FUTURE_MS) return `${value.slice(0, 10)}T${value.slice(11, 19)}.${String(((fast % 1000) + 1000) % 1000).padStart(3, '0')}Z`;
      ms = fast;
    } else {
      const slow = parseIso(value);
      if (typeof slow !== 'number') return slow;
      ms = slow;
    }
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

/** Any ISO 8601 form the pattern allows, zone and all; a rejection for what it does not. */
function parseIso(value: string): number | Rejection {
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
  return base + (frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0) - offsetMinutes(zone) * 60_000;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The forms exports use nearly always, read without a regex or Date round trip:
 * `YYYY-MM-DD HH:MM:SS[.f…]` (Amplitude) and `YYYY-MM-DDTHH:MM:SS[.f…]Z`. Undefined for
 * anything else, or anything `parseIso` would question (year below 100, a date that does not
 * exist): `parseIso` then decides, as before.
 */
function exactUtc(s: string): number | undefined {
  const len = s.length;
  if (len < 19 || len > 30) return undefined;
  const sep = s.charCodeAt(10);
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (sep !== 32 && sep !== 84) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const sec = digits(s, 17, 2);
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return undefined; // -1: not digits
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > DAYS[mo - 1]! + (leap ? 1 : 0)) return undefined;
  let i = 19;
  let fracMs = 0;
  if (i < len && s.charCodeAt(i) === 46) {
    const start = ++i;
    while (i < len && i - start < 9) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (i - start < 3) fracMs += c * (i - start === 0 ? 100 : i - start === 1 ? 10 : 1);
      i++;
    }
    if (i === start) return undefined;
  }
  if (i < len && s.charCodeAt(i) === 90) i++; // Z
  if (i !== len) return undefined;
  return Date.UTC(y, mo - 1, d, h, mi, sec) + fracMs;
}

/** The number `n` decimal digits at `at` spell, or -1 when one is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
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
