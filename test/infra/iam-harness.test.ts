// Every handler in the integration tests runs as its role from the synthesized template: built
// through `stack.splitter()` / `stack.sender()`, or given `stack.roles.<fn>.credentials`. A
// handler built without them would run as the test's admin and hide a missing grant.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const DIRS = ['integration'].map((d) => join(import.meta.dirname, '..', d));

test('integration tests build every handler with its role\'s credentials', () => {
  const offenders: string[] = [];
  for (const dir of DIRS) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      // Factories imported from a Lambda handler module: create<Name>(...)
      const factories = [...text.matchAll(/import \{([^}]*)\} from '\.\.\/\.\.\/functions\/[\w-]+\/handler'/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter((s) => /^create[A-Z]/.test(s)));
      text.split('\n').forEach((line, i) => {
        for (const name of factories) {
          if (line.includes(`${name}(`) && !line.startsWith('import') && !/credentials/.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
        }
      });
    }
  }
  assert.deepEqual(offenders, [], 'build handlers with stack.splitter() / stack.sender(), or pass { credentials: stack.roles.<fn>.credentials }');
});
