import type { PostHogEvent, Rejection } from '../event';
import type { PersonMode } from '../settings';

export interface TransformContext {
  /** Value of the origin-trace property: where the record came from (file). */
  origin: string;
  /** `set_once` (default) keeps newer live person properties; `set` overwrites them. */
  personMode: PersonMode;
  /** Reference time for the future-timestamp check. */
  now: number;
}

/** A source format turns one parsed record into events (or says why it cannot). */
export interface Format {
  name: string;
  toEvents(record: unknown, ctx: TransformContext): PostHogEvent[] | Rejection;
}
