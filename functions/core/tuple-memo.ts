// Absent, null, objects: all one key, which is all the namers behind a memo read in them.
const OTHER = Symbol('other');

/**
 * A bounded memo keyed by a few field values, looked up through one Map per field instead of a
 * key string built per lookup (which was most of a transform's garbage for some formats).
 * Strings and numbers are told apart by value and type; anything else counts as absent.
 * Cleared whole when it holds `limit` entries.
 */
export class TupleMemo<V> {
  private root = new Map<unknown, unknown>();
  private size = 0;

  constructor(private readonly limit: number) {}

  get(key: readonly unknown[]): V | undefined {
    let node: unknown = this.root;
    for (let i = 0; i < key.length && node !== undefined; i++) node = (node as Map<unknown, unknown>).get(part(key[i]));
    return node as V | undefined;
  }

  set(key: readonly unknown[], value: V): void {
    if (this.size >= this.limit && this.get(key) === undefined) {
      this.root = new Map();
      this.size = 0;
    }
    let node = this.root;
    for (let i = 0; i < key.length - 1; i++) {
      const k = part(key[i]);
      let next = node.get(k) as Map<unknown, unknown> | undefined;
      if (!next) node.set(k, (next = new Map()));
      node = next;
    }
    const last = part(key[key.length - 1]);
    if (!node.has(last)) this.size++;
    node.set(last, value);
  }
}

function part(v: unknown): unknown {
  return typeof v === 'string' || typeof v === 'number' ? v : OTHER;
}
