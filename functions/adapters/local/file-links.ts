import { readFile } from 'node:fs/promises';
import type { IdentityLinks } from '../../pipeline/ports';
import { AtomicFile } from './atomic-file';

type Row = { owner: string; status: 'claimed' | 'sent' | 'refused'; reason?: string };
type Entry = { k: string; o: string; s: 'c' | 's' | 'r'; r?: string };
const STATUS = { c: 'claimed', s: 'sent', r: 'refused' } as const;

/**
 * The sent-alias table for one machine, shared by every import in a state dir: an append-only
 * log (one line per claim or confirm), replayed on load. Appending keeps a chunk's cost to its
 * own links however many pairs the table holds; a torn last line (a crash mid-append) is
 * dropped, which at worst sends that chunk's links again, harmlessly (same uuids).
 */
export class FileLinks implements IdentityLinks {
  private readonly rows = new Map<string, Row>();
  private readonly file: AtomicFile;
  private constructor(path: string) {
    this.file = new AtomicFile(path);
  }

  static async load(path: string): Promise<FileLinks> {
    const f = new FileLinks(path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return f;
      throw new Error(`${path}: unreadable sent-alias file: ${(err as Error).message}`);
    }
    const lines = text.split('\n').filter((l) => l.trim());
    // A torn last line, or the earlier whole-file format, must not have lines appended to it.
    let rewrite = !text.endsWith('\n');
    lines.forEach((line, i) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        if (i === lines.length - 1 && !text.endsWith('\n')) return; // torn last append
        throw new Error(`${path}: line ${i + 1}: not valid JSON`);
      }
      const e = v as Partial<Entry>;
      if (typeof e.k === 'string' && typeof e.o === 'string') f.rows.set(e.k, { owner: e.o, status: STATUS[e.s ?? 'c'] ?? 'claimed', ...(e.r ? { reason: e.r } : {}) });
      else {
        for (const [k, row] of Object.entries(v as Record<string, Row>)) f.rows.set(k, row);
        rewrite = true;
      }
    });
    // Also rewritten compact when the log has grown well past the table.
    if (rewrite || lines.length > 2 * f.rows.size + 1000) {
      await f.file.save(() => [...f.rows].map(([k, r]) => line(k, r)).join(''));
    }
    return f;
  }

  async claim(keys: string[], owner: string): Promise<string[]> {
    const mine: string[] = [];
    const fresh: Array<[string, Row]> = [];
    for (const key of keys) {
      const row = this.rows.get(key);
      if (!row) {
        const claimed: Row = { owner, status: 'claimed' };
        this.rows.set(key, claimed);
        fresh.push([key, claimed]);
        mine.push(key);
      } else if (row.owner === owner && row.status === 'claimed') mine.push(key); // our own retry
    }
    await this.append(fresh);
    return mine;
  }

  async confirm(keys: string[], owner: string): Promise<void> {
    await this.settle(keys.map((key) => ({ key })), owner, 'sent');
  }

  async refuse(refused: Array<{ key: string; reason: string }>, owner: string): Promise<void> {
    await this.settle(refused, owner, 'refused');
  }

  private async settle(items: Array<{ key: string; reason?: string }>, owner: string, status: 'sent' | 'refused'): Promise<void> {
    const changed: Array<[string, Row]> = [];
    for (const { key, reason } of items) {
      const row = this.rows.get(key);
      if (row?.owner === owner && row.status === 'claimed') {
        row.status = status;
        if (reason) row.reason = reason.slice(0, 500);
        changed.push([key, row]);
      }
    }
    await this.append(changed);
  }

  private async append(rows: Array<[string, Row]>): Promise<void> {
    if (rows.length) await this.file.append(rows.map(([k, r]) => line(k, r)).join(''));
  }
}

function line(k: string, r: Row): string {
  const e: Entry = { k, o: r.owner, s: r.status === 'sent' ? 's' : r.status === 'refused' ? 'r' : 'c', ...(r.reason ? { r: r.reason } : {}) };
  return `${JSON.stringify(e)}\n`;
}
