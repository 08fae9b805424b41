/** Where the log keeps its keys: the LevelDB store's database (same commits) or process memory. */

/** A key range; bounds as in abstract-level. */
export interface KeyRange {
  gte?: string;
  gt?: string;
  lt?: string;
  limit?: number;
  reverse?: boolean;
}

/**
 * A sorted key-value space. Writes are queued synchronously and committed with the owner's next
 * group commit; `flush()` resolves once everything queued so far is committed. Reads see
 * committed data only.
 */
export interface LogBackend {
  /** True when committed writes survive a crash. */
  readonly durable: boolean;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
  get(key: string): Promise<Uint8Array | undefined>;
  entries(range: KeyRange): AsyncIterable<[string, Uint8Array]>;
  flush(): Promise<void>;
}

/** The log in memory, for the 'memory' store or a custom Store: same API, lost when the process exits. */
export class MemoryBackend implements LogBackend {
  readonly durable = false;
  readonly #values = new Map<string, Uint8Array>();
  /** Keys in order; appends land at the end, retention removes from the front. */
  readonly #keys: string[] = [];

  put(key: string, value: Uint8Array): void {
    if (!this.#values.has(key)) this.#keys.splice(this.#lowerBound(key), 0, key);
    this.#values.set(key, value);
  }

  del(key: string): void {
    if (!this.#values.delete(key)) return;
    this.#keys.splice(this.#lowerBound(key), 1);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#values.get(key);
  }

  async *entries(range: KeyRange): AsyncIterable<[string, Uint8Array]> {
    const start = range.gte !== undefined ? this.#lowerBound(range.gte) : range.gt !== undefined ? this.#upperBound(range.gt) : 0;
    const end = range.lt !== undefined ? this.#lowerBound(range.lt) : this.#keys.length;
    const keys = this.#keys.slice(start, Math.max(start, end));
    if (range.reverse) keys.reverse();
    const limit = range.limit ?? Number.POSITIVE_INFINITY;
    for (let i = 0; i < keys.length && i < limit; i++) {
      const key = keys[i] as string;
      const value = this.#values.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  async flush(): Promise<void> {}

  /** Index of the first key >= `key`. Appends are the common case, so the last key is checked first. */
  #lowerBound(key: string): number {
    const keys = this.#keys;
    const last = keys[keys.length - 1];
    if (last === undefined || last < key) return keys.length;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #upperBound(key: string): number {
    const i = this.#lowerBound(key);
    return this.#keys[i] === key ? i + 1 : i;
  }
}
