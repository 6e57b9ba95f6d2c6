import type { Readable } from 'node:stream';
import type { Window } from './windows';

export const SOURCE_TYPES = ['amplitude', 'mixpanel', 'posthog'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** One vendor's export API, seen window by window. */
export interface PullSource {
  type: SourceType;
  /** The grid windows are aligned to (ms). */
  windowMs: number;
  /** Whether a window must be whole grid cells (vendor APIs that take hours or days). */
  wholeCells: boolean;
  /** How long after its end a window's data can be exported (Amplitude: 2 hours). */
  availableAfterMs: number;
  /** Re-pulled before the watermark on every continuing run. */
  latenessMs: number;
  /** The object name of a window, relative to `<drop prefix><source name>/`. */
  key(w: Window): string;
  /** The window's export as the vendor sends it; undefined when the window has no data. */
  fetch(w: Window): Promise<Readable | undefined>;
  /** Everything that is not windowed (PostHog persons), if asked for. */
  snapshot?(): { key: string; fetch(): Promise<Readable | undefined> };
}
