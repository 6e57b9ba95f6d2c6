import { readFile } from 'node:fs/promises';
import { AtomicFile } from './atomic-file';
import type { IdentityLink } from '../../core/formats/types';
import { linkKey } from '../../core/links';
import type { IdentityLinks } from '../../pipeline/ports';

/** The sent-alias table for one machine: one JSON file shared by every import in a state dir. */
export class FileLinks implements IdentityLinks {
  private rows: Record<string, { owner: string; status: 'claimed' | 'sent' }> = {};
  private readonly file: AtomicFile;
  private constructor(path: string) {
    this.file = new AtomicFile(path);
  }

  static async load(path: string): Promise<FileLinks> {
    const f = new FileLinks(path);
    try {
      f.rows = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: unreadable sent-alias file: ${(err as Error).message}`);
    }
    return f;
  }

  async claim(links: IdentityLink[], owner: string): Promise<IdentityLink[]> {
    const mine = links.filter((l) => {
      const row = this.rows[linkKey(l)];
      if (!row) {
        this.rows[linkKey(l)] = { owner, status: 'claimed' };
        return true;
      }
      return row.owner === owner && row.status === 'claimed';
    });
    if (mine.length) await this.save();
    return mine;
  }

  async confirm(links: IdentityLink[], owner: string): Promise<void> {
    for (const l of links) {
      const row = this.rows[linkKey(l)];
      if (row?.owner === owner) row.status = 'sent';
    }
    await this.save();
  }

  private save(): Promise<void> {
    return this.file.save(() => JSON.stringify(this.rows));
  }
}
