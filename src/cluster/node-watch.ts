import type { KV, KvEntry } from 'nats';
import { HEARTBEAT_MS, type NodeRecord } from './node-registry.js';
import type { SharesSource } from './share-directory.js';

/** A record not rewritten for this long belongs to a dead process (as NodeRegistry judges). */
const LAPSED_MS = HEARTBEAT_MS * 3;
/** A dead process's shared filters count this long (a busy node may miss beats; counting them longer costs only batching). */
const SHARES_LAPSED_MS = HEARTBEAT_MS * 10;

/**
 * Follows the nodes bucket with a KV watch (an ordered consumer, not a durable one) and counts the
 * nodes whose heartbeat is recent. A watch sees every write; listing the keys on demand proved
 * unreliable while heartbeats were being written (it could end before the last key). It also keeps
 * the shared-subscription filters each node announces in its record (share-directory.ts).
 */
export class NodeWatch implements SharesSource {
  /** Node id → when its record was last written (ms), for records that are not deleted. */
  readonly #seen = new Map<string, number>();
  /** Node id → the filters of its shared groups, for records that announce some. */
  readonly #shares = new Map<string, string>();
  #stop: (() => void) | undefined;
  initialized = false;
  sharesGeneration = 0;

  /** Starts following `kv`; resolves once the watch is set up. */
  async start(kv: KV, onError: (err: unknown) => void): Promise<void> {
    const watch = await kv.watch({ initializedFn: () => (this.initialized = true) });
    this.#stop = () => watch.stop();
    void (async () => {
      for await (const entry of watch) this.#apply(entry);
    })().catch(onError);
  }

  #apply(entry: KvEntry): void {
    if (entry.operation === 'PUT') this.#seen.set(entry.key, entry.created.getTime());
    else this.#seen.delete(entry.key);
    let shares: string | undefined;
    try {
      const announced = entry.operation === 'PUT' ? entry.json<NodeRecord>().shares : undefined;
      shares = announced === undefined || announced.length === 0 ? undefined : JSON.stringify(announced);
    } catch {
      shares = undefined; // not a node record
    }
    if (shares === this.#shares.get(entry.key)) return;
    if (shares === undefined) this.#shares.delete(entry.key);
    else this.#shares.set(entry.key, shares);
    this.sharesGeneration++;
  }

  /** The filters announced by the nodes whose records are recent, each once, sorted. */
  sharedFilters(now = Date.now()): string[] {
    const filters = new Set<string>();
    for (const [node, shares] of this.#shares) {
      if (now - (this.#seen.get(node) ?? 0) < SHARES_LAPSED_MS) for (const f of JSON.parse(shares) as string[]) filters.add(f);
    }
    return [...filters].sort();
  }

  /** How many nodes have written their record within the lapse (a node that stopped cleanly deleted it). */
  live(now = Date.now()): number {
    let count = 0;
    for (const at of this.#seen.values()) if (now - at < LAPSED_MS) count++;
    return count;
  }

  /** Ends the watch. */
  stop(): void {
    this.#stop?.();
  }
}
