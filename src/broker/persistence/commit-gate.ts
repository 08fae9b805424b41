import type { Store } from '../../store/store.js';

/** A session that holds outbound packets until the commit that makes them safe (see Session.release). */
export interface HoldTarget<T> {
  /** The commit that covers `held` is done: send it now, if it still applies. */
  release(held: T): void;
  /** That commit failed: write `held`'s records again and hold it once more. */
  retry(held: T): void;
}

/** How acknowledgements leave once their commit is done, and what happens to them when it fails. */
export interface AckSender<C, A> {
  send(connection: C, ack: A): void;
  refuse(connection: C, ack: A, err: unknown): void;
}

/** One group commit and everything that waits for it, in the order it arrived. */
interface Batch<C, A, T> {
  readonly committed: Promise<void>;
  readonly acks: [C, A][];
  readonly held: [HoldTarget<T>, T][];
}

/** How long a delivery whose commit failed waits before its records are written again. */
const RETRY_MS = 1000;

/**
 * Write-ahead for everything that leaves the broker about a QoS 1/2 message: acknowledgements to
 * publishers and PUBLISH/PUBREL to subscribers wait for the store commit that holds the records
 * identifying them (the message, the delivery with its packet id and state, the inbound QoS 2 id).
 * It adds no commit of its own: waiters join the store's next group commit, grouped by the
 * promise `flush()` returns for it. When a commit completes, its acknowledgements go first, then
 * its deliveries (so a publisher that also subscribes sees its PUBACK/PUBREC first, as with
 * Mosquitto). Only used with a durable store; otherwise packets go out at once.
 */
export class CommitGate<C, A, T> {
  readonly #store: Store;
  readonly #acks: AckSender<C, A>;
  #batch: Batch<C, A, T> | undefined;
  readonly #retries = new Set<NodeJS.Timeout>();

  constructor(store: Store, acks: AckSender<C, A>) {
    this.#store = store;
    this.#acks = acks;
  }

  /** Sends `ack` on `connection` once everything written so far is committed; refuses it if the commit fails. */
  ack(connection: C, ack: A): void {
    this.#current().acks.push([connection, ack]);
  }

  /** Hands `held` back to `target.release` once everything written so far is committed. */
  hold(target: HoldTarget<T>, held: T): void {
    this.#current().held.push([target, held]);
  }

  /** Stops pending retries (broker shutdown). */
  stop(): void {
    for (const timer of this.#retries) clearTimeout(timer);
    this.#retries.clear();
  }

  /** The batch of the commit that will hold what was written so far (one per flush promise). */
  #current(): Batch<C, A, T> {
    const committed = this.#store.flush();
    const batch = this.#batch;
    if (batch !== undefined && batch.committed === committed) return batch;
    const next: Batch<C, A, T> = { committed, acks: [], held: [] };
    this.#batch = next;
    committed.then(
      () => this.#release(next),
      (err: unknown) => this.#fail(next, err),
    );
    return next;
  }

  #release(batch: Batch<C, A, T>): void {
    if (this.#batch === batch) this.#batch = undefined;
    for (const [connection, ack] of batch.acks) this.#acks.send(connection, ack);
    for (const [target, held] of batch.held) target.release(held);
  }

  #fail(batch: Batch<C, A, T>, err: unknown): void {
    if (this.#batch === batch) this.#batch = undefined;
    for (const [connection, ack] of batch.acks) this.#acks.refuse(connection, ack, err);
    if (batch.held.length === 0) return;
    // The records of these deliveries may not be on disk: write them again later, never send unstored
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      for (const [target, held] of batch.held) target.retry(held);
    }, RETRY_MS);
    timer.unref();
    this.#retries.add(timer);
  }
}
