import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { duration } from '../core/rate';
import { byImport, stateOf, type FileStatus } from './status';

export interface WatchOptions {
  load: () => Promise<FileStatus[]>;
  intervalMs: number;
  stream?: NodeJS.WriteStream;
  /** Stop once every file is finished (reported or cancelled). */
  untilDone?: boolean;
}

/**
 * `status --watch`: one progress bar per file and one per import, redrawn every interval.
 * Bars count records once a file's total is known, chunks before.
 */
export async function watchStatus(o: WatchOptions): Promise<FileStatus[]> {
  const stream = o.stream ?? process.stderr;
  const multi = new MultiBar(
    {
      format: '{name} [{bar}] {percentage}% | {done} | {rate} | {left} | {state}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 24,
      stream,
      noTTYOutput: !stream.isTTY,
      notTTYSchedule: o.intervalMs,
      autopadding: true,
    },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  const bar = (key: string, total: number, value: number, payload: Record<string, string>) => {
    const b = bars.get(key) ?? multi.create(total, value, payload);
    bars.set(key, b);
    b.setTotal(Math.max(1, total));
    b.update(value, payload);
  };
  let files: FileStatus[] = [];
  let stop = false;
  const onSignal = () => (stop = true);
  process.once('SIGINT', onSignal);
  try {
    for (;;) {
      files = await o.load();
      for (const f of files) {
        const p = f.progress;
        const byRecords = p.recordsTotal !== undefined;
        bar(f.manifest.fileId, byRecords ? p.recordsTotal! : (p.chunksTotal ?? p.chunksDone + 1), byRecords ? p.recordsDone : p.chunksDone, {
          name: short(f.manifest.file.key ?? f.manifest.file.uri),
          done: byRecords ? `${p.recordsDone}/${p.recordsTotal} records` : `${p.chunksDone} chunks`,
          rate: p.recordsPerSecond ? `${p.recordsPerSecond}/s` : '-',
          left: p.etaSeconds !== undefined ? `ETA ${duration(p.etaSeconds)}` : 'ETA -',
          state: f.stalled ? `STALLED (${f.stalled})` : stateOf(f.manifest),
        });
      }
      for (const i of byImport(files)) {
        bar(`import:${i.import}`, i.recordsTotal ?? i.files, i.recordsTotal !== undefined ? i.recordsDone : i.finished, {
          name: short(`all of ${i.import}/`),
          done: i.recordsTotal !== undefined ? `${i.recordsDone}/${i.recordsTotal} records` : `${i.finished}/${i.files} files`,
          rate: i.recordsPerSecond ? `${i.recordsPerSecond}/s` : '-',
          left: i.etaSeconds !== undefined ? `ETA ${duration(i.etaSeconds)}` : 'ETA -',
          state: `${i.finished}/${i.files} files finished${i.stalled ? `, ${i.stalled} stalled` : ''}`,
        });
      }
      const finished = files.length > 0 && files.every((f) => f.manifest.status === 'reported');
      if (stop || (o.untilDone && finished)) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, o.intervalMs);
        process.once('SIGINT', () => (clearTimeout(t), r()));
      });
      if (stop) break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    multi.stop();
  }
  return files;
}

/** Names fit one column: the end of a long key is what tells files apart. */
function short(name: string, width = 32): string {
  return name.length <= width ? name.padEnd(width) : `…${name.slice(-(width - 1))}`;
}
