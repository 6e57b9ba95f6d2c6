// The synthesized CloudFormation template of the real stack, for the tests to build their
// resources and roles from. Synthesized offline without bundling (the policies, queues and
// tables do not depend on the bundle), once per source state and context: the template is
// cached under the temp dir keyed by a hash of the sources, so test files after the first
// read JSON instead of loading aws-cdk-lib (about 7 s).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const STACK_NAME = 'PosthogBackfill';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The deploy-time context of cdk.json, as `npx cdk deploy` would use it, plus the test's. */
export function deployContext(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cdk = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return { ...cdk.context, ...extra };
}

const memo = new Map<string, CfnTemplate>();

export async function synthTemplate(context: Record<string, unknown> = {}): Promise<CfnTemplate> {
  const ctx = deployContext(context);
  const hash = createHash('sha256');
  for (const f of [...sourceFiles(join(ROOT, 'infra')), ...sourceFiles(join(ROOT, 'functions')), join(ROOT, 'package.json'), join(ROOT, 'cdk.json')]) {
    hash.update(f.slice(ROOT.length)).update(readFileSync(f));
  }
  hash.update(JSON.stringify(ctx));
  const id = hash.digest('hex').slice(0, 24);
  const cached = memo.get(id);
  if (cached) return cached;
  const dir = join(tmpdir(), 'posthog-backfill-templates');
  const file = join(dir, `${id}.json`);
  try {
    const t = JSON.parse(readFileSync(file, 'utf8')) as CfnTemplate;
    memo.set(id, t);
    return t;
  } catch {
    /* not cached yet */
  }
  const { App } = await import('aws-cdk-lib');
  const { BackfillStack } = await import('../../infra/stack');
  mkdirSync(dir, { recursive: true });
  const outdir = join(dir, `out-${id}-${process.pid}`);
  // No bundling: CDK skips it for stacks not listed here; the template is otherwise the same.
  const app = new App({ outdir, context: { ...ctx, 'aws:cdk:bundling-stacks': [] } });
  new BackfillStack(app, STACK_NAME);
  const template = app.synth().getStackByName(STACK_NAME).template as CfnTemplate;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(template));
  renameSync(tmp, file); // atomic: a test file running beside this one reads all or nothing
  memo.set(id, template);
  return template;
}
