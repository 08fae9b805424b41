/** Where the log keeps its keys: the LevelDB store's database (same commits) or process memory. */

import type { KeyRange, LogBackend } from '../store/store.js';

export type { KeyRange, LogBackend } from '../store/store.js';

/** Keys of one bucket (the key up to its last U+0000), in order, with their values. */
class Bucket {
  readonly keys: (string | undefined)[] = [];
  readonly values: (Uint8Array | undefined)[] = [];
  /** Entries below `head` were deleted from the front (retention), without moving the rest. */
  head = 0;

  /** Index of the first key >= `key` (appends, the common case, check the last key first). */
  lowerBound(key: string): number {
    const last = this.keys[this.keys.length - 1];
    if (last === undefined || last < key) return this.keys.length;
    let lo = this.head;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  put(key: string, value: Uint8Array): void {
    const at = this.lowerBound(key);
    if (at === this.keys.length) {
      this.keys.push(key);
      this.values.push(value);
    } else if (this.keys[at] === key) {
      this.values[at] = value;
    } else {
      this.keys.splice(at, 0, key);
      this.values.splice(at, 0, value);
    }
  }

  del(key: string): void {
    const at = this.lowerBound(key);
    if (this.keys[at] !== key) return;
    if (at > this.head) {
      this.keys.splice(at, 1);
      this.values.splice(at, 1);
      return;
    }
    this.keys[at] = undefined;
    this.values[at] = undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.keys.length) {
      this.keys.splice(0, this.head);
      this.values.splice(0, this.head);
      this.head = 0;
    }
  }
}

const SEP = '\u0000';

/**
 * The log in memory, for the 'memory' store or a custom Store: same API, lost when the process
 * exits. Keys are kept sorted per bucket (one per stream's records), so an append is a push.
 */
export class MemoryBackend implements LogBackend {
  readonly durable = false;
  readonly #buckets = new Map<string, Bucket>();

  #bucket(key: string, create: boolean): Bucket | undefined {
    const name = key.slice(0, key.lastIndexOf(SEP));
    let bucket = this.#buckets.get(name);
    if (!bucket && create) this.#buckets.set(name, (bucket = new Bucket()));
    return bucket;
  }

  put(key: string, value: Uint8Array): void {
    (this.#bucket(key, true) as Bucket).put(key, value);
  }

  del(key: string): void {
    this.#bucket(key, false)?.del(key);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const bucket = this.#bucket(key, false);
    if (!bucket) return undefined;
    const at = bucket.lowerBound(key);
    return bucket.keys[at] === key ? bucket.values[at] : undefined;
  }

  async *entries(range: KeyRange): AsyncIterable<[string, Uint8Array]> {
    const out: [string, Uint8Array][] = [];
    const limit = range.limit ?? Number.POSITIVE_INFINITY;
    const names = [...this.#buckets.keys()].sort();
    for (const name of range.reverse ? names.reverse() : names) {
      this.#collect(this.#buckets.get(name) as Bucket, range, out, limit);
      if (out.length >= limit) break;
    }
    yield* out;
  }

  /** Adds the bucket's entries within `range` to `out`, up to `limit` in all. */
  #collect(bucket: Bucket, range: KeyRange, out: [string, Uint8Array][], limit: number): void {
    const start = Math.max(bucket.head, range.gte !== undefined ? bucket.lowerBound(range.gte) : range.gt !== undefined ? bucket.lowerBound(`${range.gt}\u0000`) : 0);
    const end = range.lt !== undefined ? bucket.lowerBound(range.lt) : bucket.keys.length;
    if (range.reverse) {
      for (let i = end - 1; i >= start && out.length < limit; i--) out.push([bucket.keys[i] as string, bucket.values[i] as Uint8Array]);
    } else {
      for (let i = start; i < end && out.length < limit; i++) out.push([bucket.keys[i] as string, bucket.values[i] as Uint8Array]);
    }
  }

  async flush(): Promise<void> {}
}
