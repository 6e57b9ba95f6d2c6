import { posthogFormat } from './posthog';
import type { Format } from './types';

const FORMATS: Record<string, Format> = { posthog: posthogFormat };

export const FORMAT_NAMES = Object.keys(FORMATS);

export function formatByName(name: string): Format {
  const f = FORMATS[name];
  if (!f) throw new Error(`unknown format "${name}"; known: ${FORMAT_NAMES.join(', ')}`);
  return f;
}
