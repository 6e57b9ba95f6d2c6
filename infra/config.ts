import { z } from 'zod';
import type { Node } from 'constructs';
import { FORMAT_NAMES } from '../functions/core/formats';
import { mergeMapping, parseMapping, type MappingConfig } from '../functions/core/mapping';
import { PersonMode } from '../functions/core/settings';

const num = z.coerce.number().int().positive();

/** Deploy-time settings, from CDK context (`-c key=value` or cdk.json). Validated before synth. */
export const StackConfig = z.object({
  posthogHost: z.string().url().refine((u) => u.startsWith('https://') || u.startsWith('http://'), 'must be an http(s) URL'),
  dropPrefix: z.string().default('posthog/').refine((p) => !p.startsWith('_backfill/'), 'the _backfill/ prefix is where the pipeline writes'),
  format: z.enum(['auto', ...FORMAT_NAMES]).default('auto'),
  /** Base mapping config for every file (a `backfill.config.json` next to the files overrides it). */
  mapping: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  personMode: PersonMode.default('set_once'),
  /** An existing Secrets Manager secret (name or ARN) with the project API key; else one is created. */
  apiKeySecret: z.string().min(1).optional(),
  chunkRecords: num.optional(),
  batchSize: num.optional(),
  /** Sender Lambdas running at once: the event source's maximum concurrency (2-1000). */
  senderConcurrency: num.min(2).max(1000).default(4),
  /** Events per minute shared by all senders (unset: no budget beyond the concurrency). */
  eventsPerMinute: num.optional(),
  /** Receives before a chunk message moves to the DLQ. */
  maxReceiveCount: num.max(1000).default(5),
  /** Where alarm notifications go (an SNS email subscription; confirm the mail AWS sends). */
  alarmEmail: z.string().email().optional(),
  /** Splitter Lambdas running at once (reserved concurrency); more files wait in Lambda's async queue. */
  splitterConcurrency: num.max(1000).default(10),
  /** Alarm when the oldest chunk message has waited this long. */
  oldestChunkAlarmMinutes: num.default(60),
  /** A file with no progress for this long counts as stalled (alarm and `backfill status`). */
  stalledAfterMinutes: num.default(30),
});
export type StackConfig = Omit<z.infer<typeof StackConfig>, 'mapping'> & { mapping: MappingConfig };

export function readStackConfig(node: Node): StackConfig {
  const keys = Object.keys(StackConfig.shape);
  const raw = Object.fromEntries(keys.map((k) => [k, node.tryGetContext(k)]).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = StackConfig.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid CDK context: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const { mapping, format, personMode, ...rest } = parsed.data;
  let extra: unknown = mapping ?? {};
  if (typeof extra === 'string') {
    try {
      extra = JSON.parse(extra);
    } catch {
      throw new Error('invalid CDK context: mapping: not JSON');
    }
  }
  // The base mapping every file gets; checked here so a bad one fails the synth, not the import.
  const base = parseMapping(mergeMapping({ format, personMode }, extra as Record<string, unknown>), 'CDK context "mapping"');
  return { ...rest, format, personMode, mapping: base };
}
