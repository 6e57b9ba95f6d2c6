import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A state file rewritten whole and atomically (write, then rename), so a crash leaves the old
 * or the new content, never half of one. Chunks finish concurrently: their saves run one after
 * another, each writing the state as it is when its turn comes.
 */
export class AtomicFile {
  private saving: Promise<void> = Promise.resolve();
  constructor(readonly path: string) {}

  save(content: () => string): Promise<void> {
    const next = this.saving.then(() => this.write(content()));
    this.saving = next.catch(() => undefined);
    return next;
  }

  private async write(text: string): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(`${this.path}.tmp`, text);
    await rename(`${this.path}.tmp`, this.path);
  }
}
