// `npm run bench`: measures the send path, the splitter and memory side by side in one run, on
// files it generates, against a capture stand-in on loopback; then prices 10 M events.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { build } from 'esbuild';
import { writeAmplitudeFile } from './data';
import { costModel, type CostInput } from './cost';
import { limits, sendersFor, type ModelInput } from './pipeline-model';
import type { Job, Measured } from './worker';
import { DEFAULT_WORKERS } from '../functions/cli/import';
import { DEFAULT_GZIP_LEVEL } from '../functions/core/settings';

const program = new Command()
  .option('--mb <n>', 'uncompressed MB of the file for the speed runs', Number, 100)
  .option('--memory-mb <n>', 'uncompressed MB of the smaller memory run (the larger is 10x)', Number, 100)
  .option('--rtt-ms <n>', 'round trip the capture stand-in adds to every request, as a WAN link to PostHog would', Number, 50)
  .option('--no-memory', 'skip the memory runs')
  .option('--pairs <n>', 'device↔user pairs in the sent-alias table case', Number, 10_000_000)
  .option('--pairs-ab <n>', 'pairs for the side-by-side run of the version-1 sent-alias table and today\'s (0: skip)', Number, 300_000)
  .option('--no-cost', 'skip the cost model (needs moto)')
  .option('--only <sections>', 'comma list of: send,floor,split,memory,pairs,cost,startup,model (memory includes pairs)')
  .option('--before <rev>', 'also run local mode as of this git revision (extracted and bundled beside the inputs), side by side')
  .option('--rounds <n>', 'rounds of the local-mode runs (median of each configuration)', Number, 3)
  .option('--dir <dir>', 'where generated inputs are kept between runs', join(tmpdir(), 'posthog-backfill-bench'));
const opts = program.parse().opts<{ rounds: number; mb: number; memoryMb: number; pairs: number; pairsAb: number; rttMs: number; memory: boolean; cost: boolean; only?: string; dir: string; before?: string }>();
// Checkouts whose CLI cliPeakRss has built in this run (each once).
const builtCli = new Set<string>();
const want = (s: string) => (opts.only ? opts.only.split(',').includes(s) : s !== 'memory' || opts.memory) && (s !== 'cost' || opts.cost);

const STAND_IN = join(import.meta.dirname, 'stand-in.ts');

// The measured code runs bundled by esbuild, as the Lambdas run it (tsx would add its own
// compiler's time and memory to every number).
mkdirSync(opts.dir, { recursive: true });
const WORKER = join(opts.dir, 'worker.cjs');
// Its local-mode runs name their send worker (SEND_WORKER), so import.meta, empty in CommonJS, is
// never read there: esbuild's warning about it is silenced.
await build({ entryPoints: [join(import.meta.dirname, 'worker.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: WORKER, logLevel: 'warning', logOverride: { 'empty-import-meta': 'silent' } });
// Local mode's send worker, bundled the same way (the CLI's own build is ESM beside dist/main.js).
const SEND_WORKER = join(opts.dir, 'send-worker.mjs');
await build({
  entryPoints: [join(import.meta.dirname, '..', 'functions', 'cli', 'send-worker.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile: SEND_WORKER,
  banner: { js: "import{createRequire}from'module';const require=createRequire(import.meta.url);" },
  logLevel: 'warning',
});
const CORES = availableParallelism();

// --before REV: that revision's own bench worker, bundled the same way, so its local mode is
// measured by the same harness in the same run ("before" and "after" side by side).
const before = opts.before ? await prepareBefore(opts.before) : undefined;
async function prepareBefore(rev: string): Promise<{ rev: string; worker: string; dir: string }> {
  const root = join(import.meta.dirname, '..');
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const short = git('rev-parse', '--short', rev);
  const dir = join(opts.dir, `before-${short}`);
  if (!existsSync(join(dir, 'bench', 'worker.ts'))) {
    mkdirSync(dir, { recursive: true });
    const tar = spawnSync('sh', ['-c', `git archive ${short} | tar -x -C "${dir}"`], { cwd: root, stdio: 'inherit' });
    if (tar.status !== 0) throw new Error(`cannot extract ${short}`);
  }
  // Its own package.json may pin other versions; the comparison is of our code, so say so if they differ.
  if (readFileSync(join(dir, 'package.json'), 'utf8') !== readFileSync(join(root, 'package.json'), 'utf8')) {
    process.stderr.write(`note: ${short}'s package.json differs; it runs with this checkout's node_modules\n`);
  }
  // A link left by an earlier run may point at a checkout that is gone (existsSync follows it).
  const modules = join(dir, 'node_modules');
  if (!existsSync(modules)) {
    rmSync(modules, { force: true });
    symlinkSync(join(root, 'node_modules'), modules);
  }
  const worker = join(opts.dir, `before-${short}-worker.cjs`);
  await build({ entryPoints: [join(dir, 'bench', 'worker.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: worker, logLevel: 'error' });
  return { rev: short, worker, dir };
}

// BENCH_PROFILE=dir writes a CPU profile of each measured run there (node --cpu-prof).
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];

function child(script: string, measured = false, flags: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const tsx = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const execArgv = [...tsx, ...(process.env.BENCH_V8 ? process.env.BENCH_V8.split(' ') : []), ...flags, ...(measured ? profile : [])];
  return fork(script, { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function run(job: Job, flags: string[] = [], script = WORKER): Promise<Measured> {
  const c = child(script, true, flags);
  return new Promise((resolve, reject) => {
    c.once('message', (m) => resolve(m as Measured));
    c.once('exit', (code) => code && reject(new Error(`${job.mode} worker exited ${code}`)));
    c.send(job);
  });
}

class StandIn {
  private c: ChildProcess;
  constructor(rttMs = 0) {
    this.c = child(STAND_IN, false, [], { BENCH_RTT_MS: String(rttMs) });
  }
  url = '';
  private ask<T>(op: string): Promise<T> {
    return new Promise((resolve) => {
      this.c.once('message', (m) => resolve(m as T));
      if (op !== 'start') this.c.send({ op });
    });
  }
  async start() {
    this.url = (await this.ask<{ url: string }>('start')).url;
    return this;
  }
  async reset() {
    this.url = (await this.ask<{ url: string }>('reset')).url;
  }
  stats() {
    return this.ask<{ unique: number; received: number; requests: number; rejected: number }>('stats');
  }
  /** Resolves once the process is gone, so it takes no CPU from the next measurement. */
  stop(): Promise<void> {
    const gone = new Promise<void>((r) => this.c.once('exit', () => r()));
    this.c.send({ op: 'stop' });
    return gone;
  }
}

async function input(mb: number): Promise<{ path: string; records: number; gzMb: number; rawMb: number }> {
  const path = join(opts.dir, `amplitude-${mb}mb.jsonl.gz`);
  const meta = `${path}.records`;
  if (!existsSync(meta)) {
    process.stderr.write(`generating ${mb} MB of Amplitude records… `);
    const { records, rawBytes } = await writeAmplitudeFile(path, mb * 1e6);
    writeFileSync(meta, `${records} ${rawBytes}`);
    process.stderr.write('done\n');
  }
  const [records, raw] = readFileSync(meta, 'utf8').trim().split(' ').map(Number);
  return { path, records: records!, gzMb: statSync(path).size / 1e6, rawMb: raw! / 1e6 };
}

const perSec = (n: number, ms: number) => (n / ms) * 1000;
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);
const verdicts: string[] = [];
/** The middle value (the upper one of an even count); leaves `xs` as it is. */
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const target = (ok: boolean, what: string) => verdicts.push(`${ok ? 'met   ' : 'MISSED'}  ${what}`);

const file = await input(opts.mb);
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${fmt(totalmem() / 2 ** 30, 1)} GiB, node ${process.version}, ${process.platform}/${process.arch}`);
console.log(`input: ${fmt(file.records)} Amplitude records, ${fmt(file.rawMb, 1)} MB raw, ${fmt(file.gzMb, 1)} MB gzipped\n`);

let sendRate = 0;
let bigHeapRate = 0;
let sender: Measured | undefined;
// Send workers' heap limit (--worker-heap-mb) large enough for V8 to let a heap grow 4x between
// full collections (below 2 GB it grows far less): speed bought with memory (sections 1, 2 and 4).
const BIG_HEAP = 2048;
// The one-core floor, run once per round beside local mode (at 0 ms), so the share of it that
// section 2 reports compares runs from the same minutes of a machine whose speed drifts.
const floorRates: number[] = [];
// The same with bodies gzipped at the sink's level (DEFAULT_GZIP_LEVEL) instead of zlib's default:
// what the floor would be had it been defined with the level the importer now sends at.
const floorLowRates: number[] = [];
const measureFloor = async () => {
  const floor = await run({ mode: 'floor', file: file.path });
  floorRates.push(perSec(floor.records, floor.ms));
  const low = await run({ mode: 'floor', file: file.path, gzipLevel: DEFAULT_GZIP_LEVEL });
  floorLowRates.push(perSec(low.records, low.ms));
};
let splitter: Measured | undefined;
if (want('send')) {
  // Twice: on bare loopback, and with the round trip a real link to PostHog adds (the naive
  // loop's one-request-at-a-time flushing only shows there).
  for (const rtt of [0, opts.rttMs]) {
    const standIn = await new StandIn(rtt).start();
    const naive = await run({ mode: 'naive', file: file.path, host: standIn.url });
    const naiveAt = await standIn.stats();
    await standIn.reset();
    // Local mode with its send work in this thread (0) and in 1, 2, … all cores' worker threads,
    // and --before's local mode: --rounds rounds, the configurations alternated within each, the
    // median rate of each (runs of the same configuration varied by up to 25 % on a shared VM).
    // At 0 ms also the default with send workers of BIG_HEAP MB (what per core is worth in memory).
    const configs: Array<number | 'before' | 'big'> = [...Array.from({ length: CORES + 1 }, (_, w) => w), ...(before ? ['before' as const] : []), ...(rtt === 0 ? ['big' as const] : [])];
    const runs = new Map<number | 'before' | 'big', Array<{ rate: number; lost: number }>>(configs.map((c) => [c, []]));
    for (let round = 0; round < opts.rounds; round++) {
      for (const c of configs) {
        const local =
          c === 'before'
            ? await run({ mode: 'local', file: file.path, host: standIn.url }, [], before!.worker)
            : await run({ mode: 'local', file: file.path, host: standIn.url, workers: c === 'big' ? DEFAULT_WORKERS : c, workerScript: SEND_WORKER, ...(c === 'big' ? { workerHeapMb: BIG_HEAP } : {}) });
        const at = await standIn.stats();
        await standIn.reset();
        runs.get(c)!.push({ rate: perSec(local.events, local.ms), lost: local.events + (local.links ?? 0) - at.unique });
      }
      if (rtt === 0 && want('floor')) await measureFloor();
    }
    const median = (c: number | 'before' | 'big') => {
      const rs = runs.get(c)!;
      return { rate: medianOf(rs.map((r) => r.rate)), lost: Math.max(...rs.map((r) => r.lost)) };
    };
    const scaling = Array.from({ length: CORES + 1 }, (_, workers) => ({ workers, ...median(workers) }));
    const was = before ? median('before') : undefined;
    const sent = await run({ mode: 'sender', file: file.path, host: standIn.url });
    const senderAt = await standIn.stats();
    await standIn.stop();

    const naiveRate = perSec(naiveAt.unique, naive.ms);
    const best = scaling.reduce((a, b) => (b.rate > a.rate ? b : a));
    const dflt = scaling.find((sc) => sc.workers === DEFAULT_WORKERS)!;
    const senderRate = perSec(sent.events, sent.ms);
    const senderLost = sent.events + (sent.links ?? 0) - senderAt.unique;
    const threads = (w: number) => (w ? `${w} send worker${w > 1 ? 's' : ''}` : 'send in the main thread');
    row(`1. send path, ${rtt} ms round trip`, 'events/s delivered', 'lost', 'ratio');
    row('naive posthog-node loop', fmt(naiveRate), `${fmt(naive.records - naiveAt.unique)} of ${fmt(naive.records)}`, '1.0×');
    if (was && before) row(`local mode before (${before.rev})`, fmt(was.rate), fmt(was.lost), `${fmt(was.rate / naiveRate, 1)}×`);
    for (const sc of scaling) row(`local mode, ${threads(sc.workers)}${sc.workers === DEFAULT_WORKERS ? ' (default)' : ''}`, fmt(sc.rate), fmt(sc.lost), `${fmt(sc.rate / naiveRate, 1)}×`);
    const big = rtt === 0 ? median('big') : undefined;
    if (big) row(`local mode, ${threads(DEFAULT_WORKERS)}, --worker-heap-mb ${BIG_HEAP}`, fmt(big.rate), fmt(big.lost), `${fmt(big.rate / naiveRate, 1)}×`);
    row('sender core (chunks, send)', fmt(senderRate), fmt(senderLost), `${fmt(senderRate / naiveRate, 1)}×`);
    if (rtt === 0) {
      sendRate = dflt.rate;
      bigHeapRate = big!.rate;
      sender = sent;
    }
    const noneLost = scaling.every((sc) => sc.lost === 0) && (big?.lost ?? 0) === 0;
    if (was && before) {
      // Judged on the default, which is what a user gets; the best configuration beside it.
      target(dflt.rate >= 1.7 * was.rate && noneLost, `local mode (default) on ${CORES} cores ≥ 1.7× local mode before (${before.rev}) at ${rtt} ms, nothing lost (${fmt(dflt.rate / was.rate, 2)}×; best ${fmt(best.rate / was.rate, 2)}× with ${threads(best.workers)}; medians of ${opts.rounds} rounds)`);
    }
    const one = scaling[0]!;
    verdicts.push(`note    ${rtt} ms: ${threads(best.workers)} ${fmt(best.rate / one.rate, 2)}× the main thread alone`);
    target(dflt.rate >= 10 * naiveRate && dflt.lost === 0 && senderLost === 0, `send path ≥ 10× the naive loop at ${rtt} ms, nothing lost (${fmt(dflt.rate / naiveRate, 1)}×, we lost ${dflt.lost + senderLost}, the naive loop ${fmt(naive.records - naiveAt.unique)})`);
  }
}

if (want('floor')) {
  while (floorRates.length < opts.rounds) await measureFloor();
  const floorRate = medianOf(floorRates);
  row('2. floor (one core)', 'events/s', '', 'share');
  row(`gunzip + parse + serialize + gzip (median of ${floorRates.length})`, fmt(floorRate), '', '100 %');
  const share = (rate: number) => `${fmt((rate / floorRate) * 100)} %`;
  const lowRate = medianOf(floorLowRates);
  row(`  the same, gzip at level ${DEFAULT_GZIP_LEVEL} as the sink sends`, fmt(lowRate), '', share(lowRate));
  if (sendRate) row('local mode (0 ms)', fmt(sendRate), '', share(sendRate));
  if (bigHeapRate) row(`  the same, --worker-heap-mb ${BIG_HEAP}`, fmt(bigHeapRate), '', share(bigHeapRate));
  if (sender) row('sender core (0 ms)', fmt(perSec(sender.events, sender.ms)), '', share(perSec(sender.events, sender.ms)));
  // Where the rest goes: our transform alone, and posthog-node's send of its output alone.
  const standIn = await new StandIn(0).start();
  const parts = await run({ mode: 'parts', file: file.path, host: standIn.url });
  await standIn.stop();
  row('  of which: transform (parse, map, validate)', fmt(perSec(parts.events, parts.transformMs!)), '', share(perSec(parts.events, parts.transformMs!)));
  row('  of which: posthog-node (queue, JSON, gzip, POST)', fmt(perSec(parts.events, parts.sendMs!)), '', share(perSec(parts.events, parts.sendMs!)));
  if (sendRate) target(sendRate >= 0.6 * floorRate, `send path ≥ 60 % of the floor (${share(sendRate)})`);
  if (sendRate) verdicts.push(`note    send path ${fmt((sendRate / lowRate) * 100)} % of the floor with its gzip at level ${DEFAULT_GZIP_LEVEL}`);
  if (bigHeapRate) verdicts.push(`note    send path ${share(bigHeapRate)} of the floor with --worker-heap-mb ${BIG_HEAP} (its memory: section 4)`);
}

if (want('split')) {
  // Three rounds, alternating, medians: both are short and the machine is noisy.
  const runs: Measured[] = [];
  const zcats: number[] = [];
  for (let i = 0; i < 3; i++) {
    runs.push(await run({ mode: 'split', file: file.path }));
    const t = performance.now();
    spawnSync('sh', ['-c', `zcat "${file.path}" > /dev/null`]);
    zcats.push(performance.now() - t);
  }
  splitter = runs.sort((a, b) => a.ms - b.ms)[1]!;
  const zcatMs = medianOf(zcats);
  const ours = file.gzMb / (splitter.ms / 1000);
  const zcat = file.gzMb / (zcatMs / 1000);
  row('3. splitter vs zcat', 'MB/s (gzipped)', 'MB/s (raw)', 'share');
  row('zcat > /dev/null', fmt(zcat, 1), fmt(file.rawMb / (zcatMs / 1000), 1), '100 %');
  row('splitter streaming path', fmt(ours, 1), fmt(file.rawMb / (splitter.ms / 1000), 1), `${fmt((ours / zcat) * 100)} %`);
  target(ours >= 0.7 * zcat, `splitter ≥ 70 % of zcat (${fmt((ours / zcat) * 100)} %)`);
}

if (want('memory')) {
  const small = await input(opts.memoryMb);
  const large = await input(opts.memoryMb * 10);
  const standIn = await new StandIn().start();
  // Local mode as a user runs it: the built CLI in a process of its own, V8's default heap (the
  // send workers size their own); and as of --before REV, built the same way. (The bench worker's
  // bundle holds every path's code, the AWS SDK among it, which the CLI never loads.)
  // Beside the default, send workers of BIG_HEAP MB: time for memory.
  const big = `local mode, --worker-heap-mb ${BIG_HEAP}`;
  const rss: Record<string, number[]> = { splitter: [], 'local mode, default heap': [], [big]: [] };
  const secs: Record<string, number[]> = { 'local mode, default heap': [], [big]: [] };
  const was = before ? `local mode before (${before.rev})` : undefined;
  if (was) {
    rss[was] = [];
    secs[was] = [];
  }
  const cli = (name: string, root: string, path: string, args: string[] = []) => {
    const r = cliPeakRss(root, path, standIn.url, args);
    rss[name]!.push(r.mb);
    secs[name]!.push(r.s);
  };
  for (const f of [small, large]) {
    rss.splitter!.push((await run({ mode: 'split', file: f.path })).maxRssMb);
    await standIn.reset();
    cli('local mode, default heap', join(import.meta.dirname, '..'), f.path);
    await standIn.reset();
    cli(big, join(import.meta.dirname, '..'), f.path, ['--worker-heap-mb', String(BIG_HEAP)]);
    await standIn.reset();
    if (was && before) {
      cli(was, before.dir, f.path);
      await standIn.reset();
    }
  }
  await standIn.stop();
  row('4. peak RSS (and wall time of the whole import)', `${fmt(small.rawMb)} MB raw`, `${fmt(large.rawMb)} MB raw`, 'growth');
  const time = (name: string, i: number) => (secs[name] ? ` (${fmt(secs[name]![i]!, 1)} s)` : '');
  for (const [name, [a, b]] of Object.entries(rss)) row(name, `${fmt(a!)} MB${time(name, 0)}`, `${fmt(b!)} MB${time(name, 1)}`, `${fmt((b! / a!) * 100 - 100)} %`);
  const ok = (name: string) => rss[name]![1]! <= rss[name]![0]! * 1.25 && Math.max(...rss[name]!) <= 256;
  target(ok('splitter'), `splitter: peak RSS flat across 10× input and ≤ 256 MB (max ${fmt(Math.max(...rss.splitter!))} MB)`);
  target(ok('local mode, default heap'), `local mode, default heap: flat and ≤ 256 MB (max ${fmt(Math.max(...rss['local mode, default heap']!))} MB)`);
  verdicts.push(`note    --worker-heap-mb ${BIG_HEAP}: ${fmt(secs['local mode, default heap']![1]! / secs[big]![1]!, 2)}× the default's speed on ${fmt(large.rawMb)} MB for ${fmt(rss[big]![1]! - rss['local mode, default heap']![1]!)} MB more RSS`);
  await pairsSection();
}

if (opts.only?.split(',').includes('pairs') && !want('memory')) await pairsSection();

/** Peak RSS (MB, all threads) and wall time (s) of `backfill import FILE --host HOST [args]` run from the checkout at `root`. */
function cliPeakRss(root: string, file: string, host: string, args: string[] = []): { mb: number; s: number } {
  if (!builtCli.has(root)) spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'ignore' });
  builtCli.add(root);
  const probe = join(opts.dir, 'rss-probe.mjs');
  writeFileSync(probe, "import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(process.env.BENCH_RSS_OUT, String(process.resourceUsage().maxRSS)));\n");
  const out = join(opts.dir, 'rss.out');
  const state = join(opts.dir, 'rss-state');
  rmSync(state, { recursive: true, force: true });
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', probe, join(root, 'bin', 'backfill.mjs'), 'import', file, '--host', host, '--api-key', 'phc_bench', '--state-dir', state, '--no-progress', ...args], {
    cwd: root,
    env: { ...process.env, BENCH_RSS_OUT: out },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`backfill import in ${root} exited ${r.status}`);
  return { mb: Number(readFileSync(out, 'utf8')) / 1024, s: (performance.now() - t) / 1000 };
}

/**
 * The local sent-alias table with a long history's worth of pairs, on disk: peak RSS and
 * claim+confirm pairs/s at a tenth of --pairs and at --pairs; then the table as it was before
 * (version 1) against today's on the same --pairs-ab pairs, one after the other in this run.
 */
async function pairsSection() {
  // Wall clock, and per second of CPU (what a busy shared machine does not distort).
  const rate = (m: Measured, n: number) => `${fmt(perSec(n, m.tableMs!))}/s`;
  const cpuRate = (m: Measured, n: number) => `${fmt(perSec(n, m.tableCpuMs!))}/CPU-s`;
  const few = await run({ mode: 'pairs', pairs: opts.pairs / 10 });
  const many = await run({ mode: 'pairs', pairs: opts.pairs });
  row(`sent-alias table, pairs (claim+confirm)`, `${fmt(opts.pairs / 10)}: ${fmt(few.maxRssMb)} MB, ${rate(few, opts.pairs / 10)}`, `${fmt(opts.pairs)}: ${fmt(many.maxRssMb)} MB`, `${rate(many, opts.pairs)}, ${cpuRate(many, opts.pairs)}`);
  target(many.maxRssMb <= 256, `local sent-alias table: ${fmt(opts.pairs)} pairs within 256 MB (${fmt(many.maxRssMb)} MB, ${fmt(many.ms / 1000, 1)} s)`);
  target(perSec(opts.pairs, many.tableMs!) >= 100_000, `local sent-alias table: ≥ 100,000 pairs/s at ${fmt(opts.pairs)} (${rate(many, opts.pairs)}, ${cpuRate(many, opts.pairs)})`);
  if (!opts.pairsAb) return;
  const old = await run({ mode: 'pairs', pairs: opts.pairsAb, table: 'v1' });
  const now = await run({ mode: 'pairs', pairs: opts.pairsAb });
  row(`  same ${fmt(opts.pairsAb)} pairs: version 1 / today`, `${fmt(old.maxRssMb)} / ${fmt(now.maxRssMb)} MB`, `${rate(old, opts.pairsAb)} / ${rate(now, opts.pairsAb)}`, `${fmt(old.tableMs! / now.tableMs!, 1)}x (CPU ${fmt(old.tableCpuMs! / now.tableCpuMs!, 1)}x)`);
}

if (want('startup')) {
  // The CLI as a user starts it: the compiled build (npm run build), against the TypeScript
  // sources run through tsx as before; medians of 7 whole-process runs each, alternated. The
  // one-record imports write an --out file, and post to the capture stand-in (no added round trip).
  const root = join(import.meta.dirname, '..');
  spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  const capture = await new StandIn(0).start();
  const tiny = join(opts.dir, 'one-record.jsonl');
  writeFileSync(tiny, '{"event":"signed up","distinct_id":"u1","timestamp":"2024-01-01T00:00:00Z"}\n');
  const state = join(opts.dir, 'startup-state');
  const out = join(opts.dir, 'one-record.posthog.ndjson');
  const time = (args: string[]) => {
    rmSync(state, { recursive: true, force: true });
    rmSync(out, { force: true });
    const t = performance.now();
    const r = spawnSync(args[0]!, args.slice(1), { cwd: root, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
    return performance.now() - t;
  };
  const bin = [process.execPath, 'bin/backfill.mjs'];
  const tsx = [process.execPath, '--import', 'tsx', 'functions/cli/main.ts'];
  const toOut = ['import', tiny, '--state-dir', state, '--out', out, '--no-progress'];
  const toHost = ['import', tiny, '--state-dir', state, '--host', capture.url, '--api-key', 'phc_bench', '--no-progress'];
  const cases: Array<[string, string[], string[]]> = [
    ['--help', [...bin, '--help'], [...tsx, '--help']],
    ['import of 1 record, --out', [...bin, ...toOut], [...tsx, ...toOut]],
    ['import of 1 record, --host', [...bin, ...toHost], [...tsx, ...toHost]],
    ['npx backfill --help', ['npx', 'backfill', '--help'], []],
    // npm exec's own part: in a checkout, npx first loads the whole installed tree (Arborist).
    ['npx -c true (npm alone)', ['npx', '-c', 'true'], []],
  ];
  row('6. CLI start (whole process)', 'compiled', 'tsx sources', 'ratio');
  for (const [name, built, tsx] of cases) {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 7; i++) {
      a.push(time(built));
      if (tsx.length) b.push(time(tsx));
    }
    const ma = medianOf(a);
    const mb = b.length ? medianOf(b) : NaN;
    row(name, `${fmt(ma / 1000, 2)} s`, b.length ? `${fmt(mb / 1000, 2)} s` : '', b.length ? `${fmt(mb / ma, 1)}×` : '');
    if (!name.startsWith('npx')) target(ma <= 400, `${name} within 0.4 s (${fmt(ma / 1000, 2)} s)`);
  }
  const node = medianOf(Array.from({ length: 7 }, () => time([process.execPath, '-e', '0'])));
  verdicts.push(`note    CLI start: node itself starts in ${fmt(node / 1000, 2)} s on this machine (node -e 0, median of 7)`);
  await capture.stop();
}

if (want('cost')) {
  const input: CostInput = {
    senderCpuMsPerChunk: sender ? sender.cpuMs / sender.chunkMs!.length : undefined,
    chunkRecords: sender?.chunkRecords ?? 5000,
    splitterCpuMsPerMbGz: splitter ? splitter.cpuMs / file.gzMb : undefined,
    gzBytesPerEvent: (file.gzMb * 1e6) / file.records,
  };
  const cost = await costModel(input);
  row('5. cost per 10 M events', cost.region, `Lambda ${cost.memoryMb} MB arm64`, 'USD');
  for (const [k, v] of cost.lines) row(k, v.detail, '', fmt(v.usd, 3));
  row('total', '', '', fmt(cost.total, 3));
  target(cost.total <= 0.5, `≤ $0.50 per 10 M events ($${fmt(cost.total, 2)})`);
  for (const n of cost.notes) verdicts.push(`note    ${n}`);
}

if (want('model')) {
  // Per-chunk CPU from the sender run when there was one (else a figure measured here before),
  // PostHog's round trip and ingestion rate assumed (printed).
  const base: ModelInput = {
    cpuMsPerChunk: sender ? sender.cpuMs / sender.chunkMs!.length : 260,
    chunkEvents: sender?.chunkRecords ?? 5000,
    batchSize: 1000,
    inFlight: 8,
    rttMs: 400,
    vcpu: 0.58,
    posthogEventsPerSec: 50_000,
    accountConcurrency: 1000,
  };
  row('7. 1 B events, deployed', 'hours', 'binding limit', 'events/s');
  for (const c of [4, 50, 500]) {
    const [first] = limits(base, c);
    row(`sender concurrency ${c}`, fmt(1e9 / first!.eventsPerSec / 3600, 1), first!.name, fmt(first!.eventsPerSec));
  }
  for (const rate of [5_000, 20_000, 50_000]) row(`  for PostHog at ${fmt(rate)} events/s set senderConcurrency`, String(sendersFor(base, rate)), '', '');
  // One sender on more than one vCPU: the sender sends one chunk at a time on one thread, so a
  // bigger function only shortens the CPU part of a chunk; compare the bill per 10 M events.
  const gbs = (memoryGb: number, vcpu: number) => {
    const m = { ...base, vcpu };
    const perSender = limits(m, 1).find((l) => l.name.startsWith('senders'))!.eventsPerSec;
    return ((1e7 / perSender) * memoryGb * 0.0000133334);
  };
  row('  Lambda compute per 10 M events', '1024 MB (0.58 vCPU)', '1769 MB (1 vCPU)', '3538 MB (2 vCPU)');
  row('', `$${fmt(gbs(1, 0.58), 3)}`, `$${fmt(gbs(1.728, 1), 3)}`, `$${fmt(gbs(3.455, 1), 3)}`);
  verdicts.push(`note    model: ${fmt(base.cpuMsPerChunk)} ms CPU per ${fmt(base.chunkEvents)}-event chunk on one core, ${base.rttMs} ms per /batch/ round trip, ${base.inFlight} in flight, PostHog taking ${fmt(base.posthogEventsPerSec)} events/s, ${base.accountConcurrency} Lambda concurrency`);
}

const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
for (const r of rows) {
  const heading = /^\d\./.test(r[0]!);
  if (heading) console.log('');
  console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
}
console.log('\ntargets:');
for (const v of verdicts) console.log(`  ${v}`);
