/** A bounded set of the most recent keys: `add` is false for a key seen among the last `capacity`. */
export class RecentKeys<K extends string | number = string> {
  readonly #capacity: number;
  readonly #keys = new Set<K>();
  readonly #ring: K[] = [];
  #next = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Whether `key` is among the recent keys. */
  has(key: K): boolean {
    return this.#keys.has(key);
  }

  /** Adds `key`; false when it was already among the recent keys. */
  add(key: K): boolean {
    if (this.#keys.has(key)) return false;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#keys.delete(old);
    this.#ring[this.#next] = key;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#keys.add(key);
    return true;
  }
}
