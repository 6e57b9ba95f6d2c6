import type { PostHogEvent, Rejection } from '../event';
import type { MappingConfig } from '../mapping';

export interface TransformContext {
  /** Value of the origin-trace property: where the record came from (file). */
  origin: string;
  /** Reference time for the future-timestamp check. */
  now: number;
  /** Renames, filters, person mode and per-format settings. */
  mapping: MappingConfig;
}

/** A device (anonymous id) seen with a user id: linked once, ever, through the sent-alias table. */
export interface IdentityLink {
  anon: string;
  user: string;
  timestamp?: string;
}

/**
 * An event that must reach PostHog once ever (across chunks, files and runs), e.g. a
 * `$groupidentify` for one state of a group: it is claimed in the sent-alias table under `key`
 * before it is sent, so the first chunk that shows it sends it and no other does.
 */
export interface OnceEvent {
  /** Identity of what the event states (not of the record that showed it). */
  key: string;
  event: PostHogEvent;
}

export interface FormatResult {
  events: PostHogEvent[];
  links?: IdentityLink[];
  once?: OnceEvent[];
}

/** A record dropped on purpose (by the source's own settings or the mapping), with the rule. */
export interface Filtered {
  filtered: string;
}

export type FormatOutput = FormatResult | Rejection | Filtered;

/** A source format turns one parsed record into events (or says why it cannot or should not). */
export interface Format {
  name: string;
  toEvents(record: unknown, ctx: TransformContext): FormatOutput;
}
