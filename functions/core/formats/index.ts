import { amplitudeFormat } from './amplitude';
import { csvFormat } from './csv';
import { mixpanelFormat } from './mixpanel';
import { FORMAT_NAMES, type FormatName } from './names';
import { posthogFormat } from './posthog';
import { posthogExportFormat } from './posthog-export';
import { segmentFormat } from './segment';
import type { Format } from './types';
import { usersFormat } from './users';

const FORMATS: Record<FormatName, Format> = {
  posthog: posthogFormat,
  'posthog-export': posthogExportFormat,
  amplitude: amplitudeFormat,
  segment: segmentFormat,
  mixpanel: mixpanelFormat,
  csv: csvFormat,
  users: usersFormat,
};

export { FORMAT_NAMES };

export function formatByName(name: string): Format {
  const f = FORMATS[name as FormatName];
  if (!f) throw new Error(`unknown format "${name}"; known: ${FORMAT_NAMES.join(', ')}`);
  return f;
}
