import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IdentityLink } from '../../core/formats/types';
import { linkKey } from '../../core/links';
import type { IdentityLinks } from '../../pipeline/ports';

/** The sent-alias table for one machine: one JSON file shared by every import in a state dir. */
export class FileLinks implements IdentityLinks {
  private rows: Record<string, { owner: string; status: 'claimed' | 'sent' }> = {};
  private constructor(private readonly path: string) {}

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

  // Chunks finish concurrently; their writes go one after another, each with the latest state.
  private saving: Promise<void> = Promise.resolve();
  private save(): Promise<void> {
    const next = this.saving.then(() => this.write());
    this.saving = next.catch(() => undefined);
    return next;
  }

  private async write(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(`${this.path}.tmp`, JSON.stringify(this.rows));
    await rename(`${this.path}.tmp`, this.path);
  }
}
