/**
 * What one continuation hop costs on gzipped input, and so the largest gzip file one splitter
 * chain handles. A gzip stream cannot be entered mid-way: hop k decodes (and passes over, without
 * planning or staging) the bytes earlier hops already split, then splits on until its time is up.
 *
 *   node --import tsx bench/gzip-hop.ts [raw MB, default 100] [CPU share of the Lambda, default 0.58] [split MB/s] [skip MB/s]
 *
 * The last two replace the measured one-core rates (e.g. figures from a quiet machine: on a
 * loaded one both drop, and not by the same factor).
 *
 * Measures, on one core: the split rate (gunzip + cut + gzip each chunk, as the splitter does
 * before uploading) and the skip rate (gunzip + pass over), in decoded MB/s. Then plays a chain
 * of 15-minute runs that hand over with 90 s left (810 s of work each), at most MAX_SPLIT_HOPS.
 * The CPU share scales both rates to the splitter Lambda (1024 MB gets about 0.58 of a vCPU).
 */
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import { Limits } from '../functions/core/settings';
import { decodeFrom } from '../functions/pipeline/split/decode';
import { planPart } from '../functions/pipeline/split/plan';
import { mulberry32 } from '../test/support/capture-stand-in';
import { bufferSource } from '../test/support/sources';
import { amplitudeRecord } from './data';

const gzipAsync = promisify(gzip);
const rawMb = Number(process.argv[2] ?? 100);
const cpuShare = Number(process.argv[3] ?? 0.58);
const limits = Limits.parse({});

const r = mulberry32(7);
const lines: string[] = [];
let size = 0;
for (let i = 0; size < rawMb * 1e6; i++) {
  const line = JSON.stringify(amplitudeRecord(i, r, 5_000));
  lines.push(line);
  size += line.length + 1;
}
const raw = Buffer.from(lines.join('\n') + '\n');
const gz = gzipSync(raw, { level: 6 });
console.log(`input: ${(raw.length / 1e6).toFixed(0)} MB raw, ${(gz.length / 1e6).toFixed(1)} MB gzipped (${(raw.length / gz.length).toFixed(1)}:1), ${lines.length} records`);

async function time(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const src = bufferSource(gz, 'mem://bench.gz', 1 << 20);
const splitSecs = await time(async () => {
  for await (const part of decodeFrom(src, { csv: 'never' })) {
    for await (const chunk of planPart(part, limits, 0)) await gzipAsync(chunk.body, { level: 1 });
  }
});
const skipSecs = await time(async () => {
  // A continuation at the very end: everything is decoded and passed over.
  for await (const part of decodeFrom(src, { csv: 'never' }, { chunk: 1e6, records: 0, line: lines.length, byte: raw.length })) {
    for await (const _ of planPart(part, limits, 1e6)) throw new Error('nothing should be left');
  }
});
const mb = raw.length / 1e6;
const split = Number(process.argv[4] ?? mb / splitSecs) * cpuShare;
const skip = Number(process.argv[5] ?? mb / skipSecs) * cpuShare;
console.log(`this machine, one core: split ${(mb / splitSecs).toFixed(0)} MB/s, skip ${(mb / skipSecs).toFixed(0)} MB/s (decoded)`);
console.log(`splitter Lambda (x${cpuShare} CPU): split ${split.toFixed(0)} MB/s, skip ${skip.toFixed(0)} MB/s; a hop at decoded offset D first spends D / ${skip.toFixed(0)} MB/s`);

// A chain of runs: 810 s of work each, at most 1000 hops.
const T = 810;
let offset = 0;
let hops = 0;
const marks: string[] = [];
for (; hops < 1000; hops++) {
  const skipping = offset / skip;
  if (skipping >= T - 1) break; // a hop that could not split anything more
  offset += (T - skipping) * split;
  if ([0, 1, 4, 9, 19, 49, 99].includes(hops)) marks.push(`after ${hops + 1} runs ${(offset / 1e3).toFixed(0)} GB`);
}
console.log(`chain: ${marks.join(', ')}; limit ${(offset / 1e3).toFixed(0)} GB decoded after ${hops} runs (asymptote ${((T * skip) / 1e3).toFixed(0)} GB)`);
