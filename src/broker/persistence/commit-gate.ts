import type { Store } from '../../store/store.js';

/** Hears when the commits it wrote to are done (see CommitGate.note). */
export interface CommitObserver {
  /** Every write noted in commit `batch`, and in every earlier commit, is durable. */
  committed(batch: number): void;
  /** Commit `batch` failed: what was written for it may not be on disk. */
  failed(batch: number): void;
}

/** How acknowledgements leave once their commit is done, and what happens to them when it fails. */
export interface AckSender<C, A> {
  send(connection: C, ack: A): void;
  refuse(connection: C, ack: A, err: unknown): void;
  /** A commit with no acknowledgement waiting failed: nobody else reports it. */
  failed(err: unknown): void;
}

/** One group commit and everything that waits for it, in the order it arrived. */
interface Batch<C, A> {
  /** Numbers increase with every batch, in commit order. */
  readonly id: number;
  readonly committed: Promise<void>;
  readonly acks: [C, A][];
  /** Observers that wrote to this batch; created with the first. */
  observers: Set<CommitObserver> | undefined;
}

/**
 * Write-ahead for what leaves the broker about a QoS 1/2 message: acknowledgements to publishers,
 * and PUBLISH/PUBREL to subscribers (through each session's Outbox), wait for the store commit
 * that holds the records identifying them. It adds no commit of its own: waiters join the store's
 * next group commit, grouped by the promise `flush()` returns for it. When a commit completes, its
 * acknowledgements go first, then its observers hear of it (so a publisher that also subscribes
 * sees its PUBACK/PUBREC before its own message, as with Mosquitto). Used with a durable store
 * only; otherwise packets go out at once.
 */
export class CommitGate<C, A> {
  readonly #store: Store;
  readonly #acks: AckSender<C, A>;
  #batch: Batch<C, A> | undefined;
  #lastId = 0;

  constructor(store: Store, acks: AckSender<C, A>) {
    this.#store = store;
    this.#acks = acks;
  }

  /** Sends `ack` on `connection` once everything written so far is committed; refuses it if the commit fails. */
  ack(connection: C, ack: A): void {
    this.#current().acks.push([connection, ack]);
  }

  /**
   * Records that `observer` has just written to the store, and returns the number of the commit
   * that will hold the write; `observer.committed` hears of that commit once, however many writes
   * it noted in it.
   */
  note(observer: CommitObserver): number {
    const batch = this.#current();
    (batch.observers ??= new Set()).add(observer);
    return batch.id;
  }

  /** The batch of the commit that will hold what was written so far (one per flush promise). */
  #current(): Batch<C, A> {
    const committed = this.#store.flush();
    const batch = this.#batch;
    if (batch !== undefined && batch.committed === committed) return batch;
    const next: Batch<C, A> = { id: ++this.#lastId, committed, acks: [], observers: undefined };
    this.#batch = next;
    committed.then(
      () => this.#release(next),
      (err: unknown) => this.#fail(next, err),
    );
    return next;
  }

  #release(batch: Batch<C, A>): void {
    if (this.#batch === batch) this.#batch = undefined;
    for (const [connection, ack] of batch.acks) this.#acks.send(connection, ack);
    if (batch.observers !== undefined) for (const observer of batch.observers) observer.committed(batch.id);
  }

  #fail(batch: Batch<C, A>, err: unknown): void {
    if (this.#batch === batch) this.#batch = undefined;
    if (batch.acks.length === 0) this.#acks.failed(err);
    for (const [connection, ack] of batch.acks) this.#acks.refuse(connection, ack, err);
    if (batch.observers !== undefined) for (const observer of batch.observers) observer.failed(batch.id);
  }
}
