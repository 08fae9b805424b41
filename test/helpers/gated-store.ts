import { MemoryStore } from '../../src/index.js';

/**
 * A durable Store whose commits complete only when the test says so: `release()` completes every
 * commit asked for so far, `fail()` fails them. The records themselves are kept in memory.
 */
export class GatedStore extends MemoryStore {
  override readonly durable = true as unknown as false;
  readonly #gates: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Set when the test is over, so broker.close() can flush. */
  gated = true;
  override flush(): Promise<void> {
    if (!this.gated) return Promise.resolve();
    return new Promise((resolve, reject) => this.#gates.push({ resolve, reject }));
  }
  get pending(): number {
    return this.#gates.length;
  }
  release(): void {
    for (const g of this.#gates.splice(0)) g.resolve();
  }
  fail(): void {
    for (const g of this.#gates.splice(0)) g.reject(new Error('disk full'));
  }
}
