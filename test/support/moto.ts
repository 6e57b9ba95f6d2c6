import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { StrictAws } from './strict-aws';

const SERVER = join(import.meta.dirname, 'moto-server.py');

export interface Moto {
  /** Where clients go: the strict layer in front of moto (or moto itself with `strict: false`). */
  endpoint: string;
  /** moto itself, behind the strict layer. */
  motoEndpoint: string;
  /** The strict layer: role policies, 403 for hidden misses, the denials it answered. */
  strict?: StrictAws;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let active: StrictAws | undefined;
/** The strict layer of the running moto (createStack registers each role's credentials with it). */
export const strictLayer = () => active;

/**
 * Starts moto's server (through moto-server.py, which makes DynamoDB writes atomic) on 127.0.0.1 and a free port, and points the AWS SDK at it through the
 * environment (AWS_ENDPOINT_URL, dummy credentials, a region).
 */
export async function startMoto(opts: { strict?: boolean } = {}): Promise<Moto> {
  const port = await freePort();
  const motoEndpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('python3', [SERVER, '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error('python3 is not installed: the integration tests run moto_server with it')
          : err,
      ),
    ),
  );
  const deadline = Date.now() + 30_000;
  const ready = (async () => {
    for (;;) {
      try {
        const res = await fetch(`${motoEndpoint}/moto-api/`);
        if (res.ok) return;
      } catch {
        /* not up yet */
      }
      if (child.exitCode !== null) {
        if (stderr.includes("No module named 'moto'")) throw new Error('moto is not installed for python3: the integration tests need it. Install it with: pip install "moto[server]"');
        throw new Error(`moto_server exited (${child.exitCode}): ${stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`moto_server did not start within 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.race([ready, spawnError]);
  const strict = opts.strict === false ? undefined : await new StrictAws(motoEndpoint).start();
  active = strict;

  Object.assign(process.env, {
    AWS_ENDPOINT_URL: strict?.url ?? motoEndpoint,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  });
  // Handler logs are JSON on stdout; keep test output to warnings and errors unless asked.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  return {
    endpoint: strict?.url ?? motoEndpoint,
    motoEndpoint,
    ...(strict ? { strict } : {}),
    reset: async () => {
      await fetch(`${motoEndpoint}/moto-api/reset`, { method: 'POST' });
    },
    stop: async () => {
      await strict?.stop();
      if (active === strict) active = undefined;
      // A handler that swallowed an AccessDenied still fails the file it ran in.
      const denied = strict?.takeDenials() ?? [];
      await stopChild();
      if (denied.length) {
        throw new Error(`the strict AWS layer refused ${denied.length} call(s) no role in the template allows: ${[...new Set(denied.map((d) => `${d.role}: ${d.action} on ${d.resource}`))].join('; ')}`);
      }
    },
  };
  async function stopChild(): Promise<void> {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
