import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A state file rewritten whole and atomically (write, then rename), so a crash leaves the old
 * or the new content, never half of one; or appended to. Chunks finish concurrently: their
 * writes run one after another, a save writing the state as it is when its turn comes.
 */
export class AtomicFile {
  private saving: Promise<void> = Promise.resolve();
  constructor(readonly path: string) {}

  save(content: () => string): Promise<void> {
    return this.then(async () => {
      await writeFile(`${this.path}.tmp`, content());
      await rename(`${this.path}.tmp`, this.path);
    });
  }

  append(text: string): Promise<void> {
    return this.then(() => appendFile(this.path, text));
  }

  private then(write: () => Promise<void>): Promise<void> {
    const next = this.saving.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      await write();
    });
    this.saving = next.catch(() => undefined);
    return next;
  }
}
