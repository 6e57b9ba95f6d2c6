import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AtomicFile } from '../adapters/local/atomic-file';
import type { SourceType } from './types';

/** What is stored per source: where it stands and how its last runs went. */
export interface SourceState {
  name: string;
  type?: SourceType;
  schedule?: string;
  /** Everything before this instant has been written to the drop (ISO). */
  watermark?: string;
  lastRunAt?: string;
  lastSuccessAt?: string;
  lastError?: string;
  lastErrorAt?: string;
  personsAt?: string;
}

/** Another run of the same source holds the lock. */
export class LockBusy extends Error {
  constructor(name: string) {
    super(`another pull of source "${name}" is running; this run does nothing`);
    this.name = 'LockBusy';
  }
}

/**
 * Per-source state with a lock: only the run holding the lock may advance the watermark, so
 * two runs at once cannot both advance it. A lock left by a crashed run expires after its TTL.
 */
export interface StateStore {
  get(name: string): Promise<SourceState | undefined>;
  list(): Promise<SourceState[]>;
  /** Takes the lock or throws LockBusy; returns the state as it is. */
  lock(name: string, owner: string, ttlMs: number, info: Pick<SourceState, 'type' | 'schedule'>): Promise<SourceState>;
  /** Moves the watermark (never backwards) and/or notes a snapshot; throws if the lock is no longer this owner's. */
  advance(name: string, owner: string, patch: Pick<SourceState, 'watermark' | 'personsAt'>): Promise<void>;
  /** Records the outcome and frees the lock. */
  release(name: string, owner: string, outcome: { error?: string }): Promise<void>;
}

/** The fields to write: a watermark only ever moves forward. */
function moved(cur: SourceState | undefined, patch: Pick<SourceState, 'watermark' | 'personsAt'>): Partial<SourceState> {
  const out: Partial<SourceState> = {};
  if (patch.watermark) out.watermark = cur?.watermark && cur.watermark > patch.watermark ? cur.watermark : patch.watermark;
  if (patch.personsAt) out.personsAt = patch.personsAt;
  return out;
}

// ---- local: a JSON file per source, a lock file created exclusively --------------------------

export class FileStateStore implements StateStore {
  constructor(private readonly dir: string) {}

  private file = (name: string) => join(this.dir, `${name}.json`);
  private lockFile = (name: string) => join(this.dir, `${name}.lock`);

  async get(name: string): Promise<SourceState | undefined> {
    try {
      return JSON.parse(await readFile(this.file(name), 'utf8')) as SourceState;
    } catch {
      return undefined;
    }
  }

  async list(): Promise<SourceState[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: SourceState[] = [];
    for (const n of names.filter((f) => f.endsWith('.json')).sort()) {
      const s = await this.get(n.slice(0, -5));
      if (s) out.push(s);
    }
    return out;
  }

  private async put(name: string, patch: Partial<SourceState>): Promise<void> {
    const next = { ...((await this.get(name)) ?? { name }), ...patch };
    await new AtomicFile(this.file(name)).save(() => JSON.stringify(next, null, 2));
  }

  async lock(name: string, owner: string, ttlMs: number, info: Pick<SourceState, 'type' | 'schedule'>): Promise<SourceState> {
    const body = JSON.stringify({ owner, pid: process.pid, until: Date.now() + ttlMs });
    await mkdir(this.dir, { recursive: true });
    for (let tries = 0; ; tries++) {
      try {
        const fh = await open(this.lockFile(name), 'wx');
        await fh.writeFile(body);
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (tries > 0 || !(await this.stale(name))) throw new LockBusy(name);
        await rm(this.lockFile(name), { force: true }); // the holder died: take over
      }
    }
    await this.put(name, { name, ...info, lastRunAt: new Date().toISOString() });
    return (await this.get(name))!;
  }

  /** A lock whose process is gone or whose time is up. */
  private async stale(name: string): Promise<boolean> {
    try {
      const l = JSON.parse(await readFile(this.lockFile(name), 'utf8')) as { pid: number; until: number };
      if (l.until < Date.now()) return true;
      try {
        process.kill(l.pid, 0);
        return false;
      } catch {
        return true;
      }
    } catch {
      return false; // being written right now
    }
  }

  private async holds(name: string, owner: string): Promise<boolean> {
    try {
      return (JSON.parse(await readFile(this.lockFile(name), 'utf8')) as { owner: string }).owner === owner;
    } catch {
      return false;
    }
  }

  async advance(name: string, owner: string, patch: Pick<SourceState, 'watermark' | 'personsAt'>): Promise<void> {
    if (!(await this.holds(name, owner))) throw new LockBusy(name);
    await this.put(name, moved(await this.get(name), patch));
  }

  async release(name: string, owner: string, outcome: { error?: string }): Promise<void> {
    if (!(await this.holds(name, owner))) return;
    const now = new Date().toISOString();
    await this.put(name, outcome.error ? { lastError: outcome.error, lastErrorAt: now } : { lastSuccessAt: now });
    await rm(this.lockFile(name), { force: true });
  }
}

// ---- deployed: one item per source in the checkpoint table, conditional writes ----------------

const key = (name: string) => ({ pk: `source#${name}`, sk: 'state' });

export class DynamoStateStore implements StateStore {
  constructor(private readonly ddb: DynamoDBDocumentClient, private readonly table: string) {}

  async get(name: string): Promise<SourceState | undefined> {
    const res = await this.ddb.send(new GetCommand({ TableName: this.table, Key: key(name), ConsistentRead: true }));
    return res.Item ? strip(res.Item) : undefined;
  }

  async list(): Promise<SourceState[]> {
    const out: SourceState[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.ddb.send(
        new ScanCommand({ TableName: this.table, FilterExpression: 'sk = :s AND begins_with(pk, :p)', ExpressionAttributeValues: { ':s': 'state', ':p': 'source#' }, ExclusiveStartKey: start }),
      );
      for (const item of res.Items ?? []) out.push(strip(item));
      start = res.LastEvaluatedKey;
    } while (start);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async lock(name: string, owner: string, ttlMs: number, info: Pick<SourceState, 'type' | 'schedule'>): Promise<SourceState> {
    const now = Date.now();
    try {
      const res = await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(name),
          UpdateExpression: 'SET #name = :name, lockOwner = :me, lockUntil = :until, lastRunAt = :at' + (info.type ? ', #type = :type' : '') + (info.schedule ? ', schedule = :sched' : ''),
          ConditionExpression: 'attribute_not_exists(lockOwner) OR lockUntil < :now',
          ExpressionAttributeNames: { '#name': 'name', ...(info.type ? { '#type': 'type' } : {}) },
          ExpressionAttributeValues: {
            ':name': name,
            ':me': owner,
            ':until': now + ttlMs,
            ':now': now,
            ':at': new Date(now).toISOString(),
            ...(info.type ? { ':type': info.type } : {}),
            ...(info.schedule ? { ':sched': info.schedule } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip(res.Attributes!);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) throw new LockBusy(name);
      throw err;
    }
  }

  async advance(name: string, owner: string, patch: Pick<SourceState, 'watermark' | 'personsAt'>): Promise<void> {
    const fields = moved(await this.get(name), patch);
    const names = Object.keys(fields);
    if (!names.length) return;
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(name),
          UpdateExpression: `SET ${names.map((n, i) => `#f${i} = :v${i}`).join(', ')}`,
          ConditionExpression: 'lockOwner = :me',
          ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#f${i}`, n])),
          ExpressionAttributeValues: { ':me': owner, ...Object.fromEntries(names.map((n, i) => [`:v${i}`, (fields as Record<string, unknown>)[n]])) },
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) throw new LockBusy(name);
      throw err;
    }
  }

  async release(name: string, owner: string, outcome: { error?: string }): Promise<void> {
    const now = new Date().toISOString();
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(name),
          UpdateExpression: outcome.error ? 'SET lastError = :e, lastErrorAt = :at REMOVE lockOwner, lockUntil' : 'SET lastSuccessAt = :at REMOVE lockOwner, lockUntil',
          ConditionExpression: 'lockOwner = :me',
          ExpressionAttributeValues: { ':me': owner, ':at': now, ...(outcome.error ? { ':e': outcome.error } : {}) },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err; // lock already taken over: nothing of ours to free
    }
  }
}

function strip(item: Record<string, unknown>): SourceState {
  const { pk: _pk, sk: _sk, lockOwner: _o, lockUntil: _u, ...rest } = item;
  return rest as unknown as SourceState;
}
