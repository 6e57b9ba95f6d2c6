import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackfillStack } from '../../infra/stack';

interface NagReport {
  pluginReports: Array<{ violations: Array<{ ruleName: string; severity: string }> }>;
}

const SOURCES = [
  { name: 'amp-prod', type: 'amplitude', region: 'eu', schedule: 'rate(1 hour)', startDate: '2024-01-01', latenessHours: 48 },
  { name: 'ph-selfhosted', type: 'posthog', projectId: 42, baseUrl: 'https://posthog.example.com', schedule: 'cron(15 * * * ? *)', startDate: '2023-06-01T00:00:00Z', secretName: 'existing/posthog-source' },
];

function synth(context: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk-pull-'));
  // No esbuild here (the stack test bundles): template and cdk-nag only, so this suite stays fast.
  const app = new App({ outdir, context: { posthogHost: 'https://us.i.posthog.com', '@aws-cdk/core:validationReportJson': true, 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new BackfillStack(app, 'PosthogBackfill');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const report = JSON.parse(readFileSync(join(outdir, 'policy-validation-report.json'), 'utf8')) as NagReport;
  return { template: Template.fromStack(stack), violations: report.pluginReports.flatMap((p) => p.violations.map((v) => `${v.severity} ${v.ruleName}`)) };
}

describe('pullers from CDK context `sources` (offline synth)', () => {
  const { template, violations } = synth({ sources: JSON.stringify(SOURCES) });
  const pullers = () => template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { PULL_SOURCE: Match.anyValue() } } } });

  test('one puller Lambda per source, its config and secret in the environment (no credential in the template)', () => {
    const fns = Object.values(pullers());
    assert.equal(fns.length, 2);
    const envs = fns.map((f) => (f as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables);
    const cfgs = envs.map((e) => JSON.parse(e.PULL_SOURCE as string) as { name: string; latenessHours: number; region?: string });
    assert.deepEqual(cfgs.map((c) => c.name).sort(), ['amp-prod', 'ph-selfhosted']);
    assert.equal(cfgs.find((c) => c.name === 'amp-prod')!.latenessHours, 48);
    for (const e of envs) {
      assert.equal(e.DROP_PREFIX, 'posthog/');
      assert.ok(e.PULL_SECRET && e.DROP_BUCKET && e.CHECKPOINT_TABLE);
    }
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 900, Environment: { Variables: { PULL_SOURCE: Match.stringLikeRegexp('amp-prod') } } });
  });

  test('an EventBridge Scheduler schedule per source invokes its puller with the source name', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: Match.objectLike({ Input: JSON.stringify({ source: 'amp-prod' }), RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }) }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(15 * * * ? *)', Target: Match.objectLike({ Input: JSON.stringify({ source: 'ph-selfhosted' }) }) });
  });

  test('a secret is created for a source without secretName; an existing one is only referenced', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Description: Match.stringLikeRegexp('pull source "amp-prod"') });
    assert.equal(Object.keys(template.findResources('AWS::SecretsManager::Secret', { Properties: { Description: Match.stringLikeRegexp('ph-selfhosted') } })).length, 0);
  });

  test('each puller role: write under its own folder only, its state item, read its secret', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).map((p) => JSON.stringify(p));
    const amp = policies.find((p) => p.includes('posthog/amp-prod/*'));
    assert.ok(amp, 'a policy scoped to posthog/amp-prod/*');
    assert.match(amp!, /"s3:PutObject","s3:AbortMultipartUpload"/);
    assert.match(amp!, /"dynamodb:GetItem","dynamodb:UpdateItem"/);
    assert.match(amp!, /secretsmanager:GetSecretValue/);
    assert.doesNotMatch(amp!, /posthog\/ph-selfhosted|s3:GetObject|s3:DeleteObject|dynamodb:Scan/);
  });

  test('cdk-nag AwsSolutions: no unacknowledged finding with pullers', () => {
    assert.deepEqual(violations, []);
  });

  test('without `sources` there is no puller; a bad `sources` fails the synth', () => {
    const none = synth({}).template;
    none.resourceCountIs('AWS::Scheduler::Schedule', 0);
    assert.throws(() => synth({ sources: JSON.stringify([{ ...SOURCES[0], schedule: 'every hour' }]) }), /sources: 0\.schedule/);
    assert.throws(() => synth({ sources: JSON.stringify([SOURCES[0], SOURCES[0]]) }), /used twice/);
    assert.throws(() => synth({ sources: JSON.stringify([{ name: 'mp', type: 'mixpanel', startDate: '2024-01-01' }]) }), /projectId/);
  });
});
