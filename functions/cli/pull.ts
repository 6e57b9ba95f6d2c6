import { join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { Limits } from '../core/settings';
import { buildSource, credentialsFromEnv, ENV_NAMES, SourceSettings, type SourceType } from '../sources';
import { DirDrop } from '../sources/drop';
import type { RetryPolicy } from '../sources/http';
import { parsePostHogUri } from '../sources/posthog';
import { runPull, type PulledWindow, type PullResult } from '../sources/run';
import { FileStateStore } from '../sources/state';
import { parseInstant } from '../sources/windows';
import { importFile } from './import';

export interface PullCliOptions {
  type: SourceType;
  from?: string;
  to?: string;
  baseUrl?: string;
  region?: 'us' | 'eu';
  projectId?: string;
  sourceUri?: string;
  /** Name of the source (its state and folder); default: the type. */
  name?: string;
  latenessHours?: number;
  windowHours?: number;
  persons?: boolean;
  /** PostHog: rows per query page. */
  pageSize?: number;
  outDir?: string;
  host?: string;
  apiKey?: string;
  stateDir: string;
  progress: boolean;
  env?: NodeJS.ProcessEnv;
  /** Tests: shorter waits. */
  retry?: RetryPolicy;
  limits?: Limits;
  /** Tests: a crash after a window's object is written, before the watermark moves. */
  afterWriteHook?(w: PulledWindow): Promise<void>;
}

export interface PullCliResult extends PullResult {
  /** Per imported window (with --host): events sent. */
  imported: Array<{ key: string; sent: number; read: number }>;
}

// A local run that dies leaves its lock file; a live process keeps it this long at most.
const LOCAL_LOCK_TTL_MS = 24 * 3_600_000;

/**
 * `backfill pull`: pull a source's windows into --out-dir, or (with --host) into the state
 * folder and import each window right after it is written, before the watermark moves.
 */
export async function pullCommand(o: PullCliOptions): Promise<PullCliResult> {
  if (o.host && o.outDir) throw new Error('give --out-dir or --host, not both');
  if (!o.host && !o.outDir) throw new Error('give --out-dir DIR (pull only) or --host URL --api-key KEY (pull and import)');
  if (o.host && !o.apiKey) throw new Error('--api-key (or POSTHOG_API_KEY) is required with --host');
  const env = o.env ?? process.env;
  const uri = o.sourceUri ? parsePostHogUri(o.sourceUri) : undefined;
  if (uri && o.type !== 'posthog') throw new Error('--source-uri is for the posthog source');
  const raw: Record<string, unknown> = {
    type: o.type,
    ...(o.region ? { region: o.region } : {}),
    ...((o.baseUrl ?? uri?.baseUrl) ? { baseUrl: o.baseUrl ?? uri?.baseUrl } : {}),
    ...((o.projectId ?? uri?.projectId) ? { projectId: o.projectId ?? uri?.projectId } : {}),
    ...(o.latenessHours !== undefined ? { latenessHours: o.latenessHours } : {}),
    ...(o.windowHours !== undefined && o.type !== 'mixpanel' ? { windowHours: o.windowHours } : {}),
    ...(o.persons && o.type === 'posthog' ? { persons: true } : {}),
    ...(o.pageSize && o.type === 'posthog' ? { pageSize: o.pageSize } : {}),
  };
  const parsed = SourceSettings.safeParse(raw);
  if (!parsed.success) throw new Error(`${o.type}: ${parsed.error.issues.map((i) => `${i.path.join('.') === 'projectId' ? '--project-id' : i.path.join('.')}: ${i.message}`).join('; ')}`);
  const creds = uri ? { personalApiKey: uri.personalApiKey } : credentialsFromEnv(o.type, env);
  if (Object.values(creds).some((v) => !v)) throw new Error(`${o.type} credentials: set ${ENV_NAMES[o.type]}`);
  const source = buildSource(parsed.data, creds, o.retry);
  const name = o.name ?? o.type;
  const dir = o.outDir ?? join(o.stateDir, 'pulled');
  const imported: PullCliResult['imported'] = [];

  let bar: SingleBar | undefined;
  const result = await runPull({
    name,
    source,
    drop: new DirDrop(dir),
    store: new FileStateStore(join(o.stateDir, 'sources')),
    ...(o.from ? { from: parseInstant(o.from) } : {}),
    ...(o.to ? { to: parseInstant(o.to) } : {}),
    snapshot: Boolean(o.persons),
    lockTtlMs: LOCAL_LOCK_TTL_MS,
    onProgress(_w, key, bytes) {
      if (!o.progress) return;
      if (!bar) {
        bar = new SingleBar({ format: `${key} {value} bytes`, hideCursor: true }, Presets.shades_classic);
        bar.start(0, 0);
      }
      bar.update(bytes);
    },
    async afterWrite(w) {
      bar?.stop();
      bar = undefined;
      await o.afterWriteHook?.(w);
      if (o.host && w.location) {
        const res = await importFile(w.location, {
          host: o.host,
          apiKey: o.apiKey,
          stateDir: o.stateDir,
          limits: o.limits ?? Limits.parse({}),
          attempts: 5,
          retryDelayMs: 1000,
          progress: false,
        });
        const r = res.report;
        if (!r || r.status === 'failed') throw new Error(`${w.key}: import failed${r?.error ? `: ${r.error}` : ''}; run the same command again`);
        imported.push({ key: w.key, sent: r.records.sent, read: r.records.read });
      }
    },
  });
  return { ...result, imported };
}

/** One line per window, for the terminal. */
export function formatPull(name: string, r: PullCliResult): string {
  const lines = r.windows.map((w) => `  ${w.start} .. ${w.end}  ${w.location ? `${w.key}  ${w.bytes} bytes` : 'no data'}  ${(w.ms / 1000).toFixed(1)} s`);
  if (r.snapshot) lines.push(`  persons  ${r.snapshot.location ? `${r.snapshot.key}  ${r.snapshot.bytes} bytes` : 'none'}`);
  const bytes = r.windows.reduce((s, w) => s + w.bytes, 0) + (r.snapshot?.bytes ?? 0);
  const sent = r.imported.reduce((s, i) => s + i.sent, 0);
  lines.push(`${name}: ${r.windows.length} windows pulled (${r.windows.filter((w) => w.location).length} with data, ${bytes} bytes), watermark ${r.watermark ?? 'none'}` + (r.imported.length ? `; ${sent} events imported` : ''));
  return lines.join('\n');
}
