// IAM identity-policy evaluation as AWS does it, for the few shapes a CDK template produces:
// explicit Deny wins, else any Allow, else an implicit deny. A condition whose key is missing
// from the request is false (unless ...IfExists), so a ListBucket granted only for some
// `s3:prefix` does not count for a GetObject, which has no `s3:prefix`.

export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
}
export interface PolicyDocument {
  Version?: string;
  Statement: Statement | Statement[];
}

/** What one request asks: an action on a resource, with its condition keys. */
export interface Request {
  action: string;
  resource: string;
  context?: Record<string, string>;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM wildcards: `*` any run, `?` one character. Actions compare case-insensitively. */
export function globMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`, ignoreCase ? 'is' : 's');
  return re.test(value);
}

const STRING_OPS: Record<string, (pattern: string, value: string) => boolean> = {
  StringEquals: (p, v) => p === v,
  StringNotEquals: (p, v) => p !== v,
  StringEqualsIgnoreCase: (p, v) => p.toLowerCase() === v.toLowerCase(),
  StringLike: (p, v) => globMatch(p, v),
  StringNotLike: (p, v) => !globMatch(p, v),
  ArnEquals: (p, v) => p === v,
  ArnLike: (p, v) => globMatch(p, v),
  Bool: (p, v) => String(p).toLowerCase() === v.toLowerCase(),
};

function conditionHolds(condition: Statement['Condition'], context: Record<string, string>): boolean {
  for (const [rawOp, keys] of Object.entries(condition ?? {})) {
    const ifExists = rawOp.endsWith('IfExists');
    const op = ifExists ? rawOp.slice(0, -'IfExists'.length) : rawOp;
    for (const [key, expected] of Object.entries(keys)) {
      const value = context[key];
      if (op === 'Null') {
        if ((value === undefined) !== (String(expected) === 'true')) return false;
        continue;
      }
      const test = STRING_OPS[op];
      if (!test) throw new Error(`strict AWS layer: condition operator ${rawOp} is not modelled; extend test/support/iam-policy.ts`);
      if (value === undefined) {
        if (ifExists) continue;
        return false;
      }
      const patterns = list(expected).map(String);
      // Negated operators hold when no pattern matches; the others when any does.
      const ok = op.includes('Not') ? patterns.every((p) => test(p, value)) : patterns.some((p) => test(p, value));
      if (!ok) return false;
    }
  }
  return true;
}

function statementApplies(s: Statement, req: Request): boolean {
  const actionHit = s.NotAction ? !list(s.NotAction).some((a) => globMatch(a, req.action, true)) : list(s.Action).some((a) => globMatch(a, req.action, true));
  if (!actionHit) return false;
  const resourceHit = s.NotResource ? !list(s.NotResource).some((r) => globMatch(r, req.resource)) : list(s.Resource).some((r) => globMatch(r, req.resource));
  if (!resourceHit) return false;
  return conditionHolds(s.Condition, req.context ?? {});
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

export function evaluate(policies: PolicyDocument[], req: Request): Decision {
  let allowed = false;
  for (const p of policies) {
    for (const s of list(p.Statement)) {
      if (!statementApplies(s, req)) continue;
      if (s.Effect === 'Deny') return 'explicit-deny';
      allowed = true;
    }
  }
  return allowed ? 'allow' : 'implicit-deny';
}

/** Every (action pattern, resource pattern) pair the policies allow: what a usage audit checks. */
export function grants(policies: PolicyDocument[]): Array<{ action: string; resource: string; conditional: boolean }> {
  return policies.flatMap((p) =>
    list(p.Statement)
      .filter((s) => s.Effect === 'Allow')
      .flatMap((s) => list(s.Action).flatMap((action) => list(s.Resource).map((resource) => ({ action, resource, conditional: Boolean(s.Condition) })))),
  );
}
