import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileRef } from '../../core/messages';
import { rejectedNdjson, type FileReport } from '../../core/report';
import type { RejectedRecord } from '../../core/transform';
import type { Reports } from '../../pipeline/ports';

/** Reports and rejected records as files in a local directory. */
export class DirReports implements Reports {
  constructor(readonly dir: string) {}

  rejectedLocation(_file: FileRef, fileId: string): string {
    return join(this.dir, `${fileId}.rejected`);
  }

  async putRejected(file: FileRef, fileId: string, chunk: number, rows: RejectedRecord[], part?: string): Promise<string> {
    const dir = this.rejectedLocation(file, fileId);
    await mkdir(dir, { recursive: true });
    const path = join(dir, `chunk-${String(chunk).padStart(6, '0')}.ndjson`);
    await writeFile(path, rejectedNdjson(file.uri, part, rows));
    return path;
  }

  async putReport(_file: FileRef, report: FileReport): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `${report.fileId}.report.json`);
    await writeFile(path, JSON.stringify(report, null, 2));
    return path;
  }

  async read(fileId: string): Promise<FileReport | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, `${fileId}.report.json`), 'utf8')) as FileReport;
    } catch {
      return undefined;
    }
  }
}
