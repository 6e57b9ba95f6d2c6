import { createHash } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import type { IdentityLinks } from '../../pipeline/ports';
import { DiskTable } from './disk-table';

type Status = 'claimed' | 'sent' | 'refused';
const CODE: Record<Status, number> = { claimed: 1, sent: 2, refused: 3 };
const STATUS: Record<number, Status> = { 1: 'claimed', 2: 'sent', 3: 'refused' };
// The append-only log this table replaced: { k, o, s: c|s|r } per line (or one whole object).
const LOG_STATUS: Record<string, Status> = { c: 'claimed', s: 'sent', r: 'refused' };

/**
 * The sent-alias table for one machine, shared by every import in a state dir, in a file-backed
 * hash table (DiskTable): each key's owner (a digest) and status, so memory stays bounded however
 * many pairs a history holds (10 M pairs: a file of 512 MB, 16 MB of slot fingerprints, 17 MB of
 * buffers). Each call is one batch: in the table's journal when it returns. A capture refusal's
 * reason is in the rejected report, not here. Calls are synchronous underneath, so two chunks'
 * claims never interleave.
 */
export class FileLinks implements IdentityLinks {
  private constructor(private readonly table: DiskTable) {}

  /** Opens the table for `path` (`<path>.table`); an older log at `path` is taken over once. */
  static async load(path: string): Promise<FileLinks> {
    const table = DiskTable.open(`${path}.table`);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: unreadable sent-alias file: ${(err as Error).message}`);
    }
    if (text !== undefined) {
      const lines = text.split('\n').filter((l) => l.trim());
      const keys: string[] = [];
      const rows: Buffer[] = [];
      const set = (k: string, r: Buffer) => void (keys.push(k), rows.push(r));
      lines.forEach((l, i) => {
        let v: unknown;
        try {
          v = JSON.parse(l);
        } catch {
          if (i === lines.length - 1 && !text!.endsWith('\n')) return; // torn last append
          throw new Error(`${path}: line ${i + 1}: not valid JSON`);
        }
        const e = v as { k?: unknown; o?: unknown; s?: string };
        if (typeof e.k === 'string' && typeof e.o === 'string') set(e.k, row(ownerId(e.o), LOG_STATUS[e.s ?? 'c'] ?? 'claimed'));
        else for (const [k, r] of Object.entries(v as Record<string, { owner: string; status: Status }>)) set(k, row(ownerId(r.owner), r.status));
      });
      table.update(keys, (i) => rows[i]); // in log order: a later line overrides an earlier one
      await rename(path, `${path}.migrated`);
    }
    return new FileLinks(table);
  }

  async claim(keys: string[], owner: string): Promise<string[]> {
    const me = ownerId(owner);
    const claimed = row(me, 'claimed');
    const mine: string[] = [];
    this.table.update(keys, (i, r) => {
      if (!r) {
        mine.push(keys[i]!);
        return claimed;
      }
      if (claimedBy(r, me)) mine.push(keys[i]!); // our own retry
      return undefined;
    });
    return mine;
  }

  async confirm(keys: string[], owner: string): Promise<void> {
    this.settle(keys, owner, 'sent');
  }

  async refuse(refused: Array<{ key: string; reason: string }>, owner: string): Promise<void> {
    this.settle(
      refused.map((r) => r.key),
      owner,
      'refused',
    );
  }

  /** What the table holds for `key` (tests, status). */
  status(key: string): Status | undefined {
    const r = this.table.get(key);
    return r ? STATUS[r[8]!] : undefined;
  }

  get size(): number {
    return this.table.size;
  }

  close(): void {
    this.table.close();
  }

  private settle(keys: string[], owner: string, status: 'sent' | 'refused'): void {
    const me = ownerId(owner);
    const settled = row(me, status);
    this.table.update(keys, (_, r) => (r && claimedBy(r, me) ? settled : undefined));
  }
}

function ownerId(owner: string): Buffer {
  return createHash('sha256').update(owner).digest().subarray(0, 8);
}

/** A row still `claimed` by this owner (its first 8 bytes are the owner's id). */
function claimedBy(r: Buffer, owner: Buffer): boolean {
  return r.compare(owner, 0, 8, 0, 8) === 0 && STATUS[r[8]!] === 'claimed';
}

function row(owner: Buffer, status: Status): Buffer {
  const b = Buffer.alloc(9);
  owner.copy(b, 0);
  b[8] = CODE[status];
  return b;
}
