import type { KV, KvEntry } from 'nats';
import { HEARTBEAT_MS } from './node-registry.js';

/** A record not rewritten for this long belongs to a dead process (as NodeRegistry judges). */
const LAPSED_MS = HEARTBEAT_MS * 3;

/**
 * Follows the nodes bucket with a KV watch (an ordered consumer, not a durable one) and counts the
 * nodes whose heartbeat is recent. A watch sees every write; listing the keys on demand proved
 * unreliable while heartbeats were being written (it could end before the last key).
 */
export class NodeWatch {
  /** Node id → when its record was last written (ms), for records that are not deleted. */
  readonly #seen = new Map<string, number>();
  #stop: (() => void) | undefined;

  /** Starts following `kv`; resolves once the watch is set up. */
  async start(kv: KV, onError: (err: unknown) => void): Promise<void> {
    const watch = await kv.watch();
    this.#stop = () => watch.stop();
    void (async () => {
      for await (const entry of watch) this.#apply(entry);
    })().catch(onError);
  }

  #apply(entry: KvEntry): void {
    if (entry.operation === 'PUT') this.#seen.set(entry.key, entry.created.getTime());
    else this.#seen.delete(entry.key);
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
