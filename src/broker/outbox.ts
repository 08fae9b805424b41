import type { Delivery } from './inflight.js';
import type { CommitObserver } from './persistence/commit-gate.js';

/** A PUBLISH or PUBREL a session decided to send, waiting for the commit of what identifies it. */
export interface PendingSend {
  readonly delivery: Delivery;
  /** The packet id it had when it was decided; a different one now means it no longer applies. */
  readonly packetId: number;
  readonly pubrel: boolean;
  readonly dup: boolean;
  /** It may go once this commit (a CommitGate batch number) is done. */
  after: number;
}

/** What an Outbox needs from its session. */
export interface OutboxHost {
  /** Notes a write in the next commit; returns its batch number (CommitGate.note). */
  note(observer: CommitObserver): number;
  /** Writes the session's send frontier (the highest seq whose PUBLISH may have been sent). */
  writeFrontier(seq: number): void;
  /** Writes a delivery (and its message) again, after a failed commit. */
  rewrite(delivery: Delivery): void;
  /** Sends it now if it still applies (same connection, still in flight, same state). */
  transmit(send: PendingSend): void;
  /** The session's outbound window (maxInflight): sizes how far the frontier runs ahead. */
  readonly window: number;
}

/** The most the send frontier runs ahead of the sends, in windows (bounds the DUP=1 resends after a crash). */
const MAX_FRONTIER_LEAD = 8;
/** How long writes that failed to commit wait before they are written again. */
const RETRY_MS = 1000;

/**
 * One session's write-ahead with a durable store: no QoS 1/2 PUBLISH and no PUBREL leaves before
 * the commit of the records that identify it. A PUBLISH needs its delivery record (its seq, which
 * gives its packet id, see derivedPacketId) and a send frontier at or above its seq, so that after
 * a restart the broker knows it may have been sent and resends it with DUP=1. A PUBREL needs the
 * delivery's 'pubrel' state. Sends leave in the order they were decided: one that must wait keeps
 * the later ones behind it.
 *
 * The frontier is written ahead of the sends while acknowledgements flow, so a delivery that waited
 * in the queue (its record long committed) usually goes out at once; when nothing is acknowledged
 * it stays at the last send, so a crash brings back with DUP=1 only what may really have been sent.
 */
export class Outbox implements CommitObserver {
  readonly #host: OutboxHost;
  /** Decided sends waiting for their commit, oldest first. */
  #waiting: PendingSend[] = [];
  #committedBatch = 0;
  /** Uncommitted writes of delivery records: flat [batch, highest seq] pairs, oldest first. */
  #records: number[] = [];
  #committedSeq = 0;
  /** Uncommitted writes of the frontier: flat [batch, frontier] pairs, oldest first. */
  #frontiers: number[] = [];
  #frontier = 0;
  #committedFrontier = 0;
  /** The frontier read back at start: a delivery up to it may have been sent before the restart. */
  #restoredFrontier = 0;
  #acksSinceCommit = 0;
  /** Deliveries completed per commit, smoothed: rises at once, decays slowly. */
  #acksPerCommit = 0;
  #retry: NodeJS.Timeout | undefined;

  constructor(host: OutboxHost) {
    this.#host = host;
  }

  /** True when a delivery with this seq may have been sent before the restart (so it goes with DUP=1). */
  sentBeforeRestart(seq: number): boolean {
    return seq <= this.#restoredFrontier;
  }

  /** Puts back what was read at start: records up to `lastSeq` are on disk, and the frontier. */
  restore(lastSeq: number, frontier: number): void {
    if (lastSeq > this.#committedSeq) this.#committedSeq = lastSeq;
    if (frontier > this.#frontier) this.#frontier = this.#committedFrontier = this.#restoredFrontier = frontier;
  }

  /** The session wrote the record of delivery `seq` (mostly in increasing order: a commit covers the highest seq written in it). */
  recordWritten(seq: number): void {
    const batch = this.#host.note(this);
    const records = this.#records;
    if (records.length > 0 && records[records.length - 2] === batch) records[records.length - 1] = Math.max(records[records.length - 1] as number, seq);
    else records.push(batch, seq);
  }

  /** The session wrote something else a send depends on (a packet id, a 'pubrel' state); returns its commit. */
  stateWritten(): number {
    return this.#host.note(this);
  }

  /** A delivery completed: its removal is in the next commit, and the count sizes the frontier's lead. */
  completed(): void {
    this.#acksSinceCommit++;
    this.#host.note(this);
  }

  /** Sends a PUBLISH once its record and a frontier covering it are committed; `after` adds a dependency. */
  publish(delivery: Delivery, dup: boolean, after = 0): void {
    this.#advanceFrontier(delivery.seq);
    const seq = delivery.seq;
    const record = seq <= this.#committedSeq ? 0 : batchCovering(this.#records, seq);
    const frontier = seq <= this.#committedFrontier ? 0 : batchCovering(this.#frontiers, seq);
    const needed = Math.max(after, record, frontier);
    this.#decide({ delivery, packetId: delivery.packetId, pubrel: false, dup, after: needed });
  }

  /** Sends a PUBREL once the commit `after` (holding its 'pubrel' state) is done. */
  pubrel(delivery: Delivery, after: number): void {
    this.#decide({ delivery, packetId: delivery.packetId, pubrel: true, dup: false, after });
  }

  /** Forgets every decided send (the client went away: what is in flight is resent on the next attach). */
  clear(): void {
    this.#waiting = [];
  }

  /** From the CommitGate: `batch` and every earlier commit are done. */
  committed(batch: number): void {
    this.#committedBatch = batch;
    this.#committedSeq = Math.max(this.#committedSeq, settle(this.#records, batch));
    this.#committedFrontier = Math.max(this.#committedFrontier, settle(this.#frontiers, batch));
    this.#acksPerCommit = Math.max(this.#acksSinceCommit, Math.floor((this.#acksPerCommit * 7) / 8));
    this.#acksSinceCommit = 0;
    this.#drain();
  }

  /** From the CommitGate: `batch` failed. What waits for it is written again a little later, then waits for that commit. */
  failed(batch: number): void {
    if (this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      for (const send of this.#waiting) {
        if (send.after < batch) continue;
        if (!send.pubrel) this.#host.rewrite(send.delivery);
        send.after = this.#host.note(this);
      }
      if (this.#frontier > this.#committedFrontier) this.#writeFrontier(this.#frontier);
    }, RETRY_MS);
    this.#retry.unref();
  }

  /** Stops a pending retry (the session ended). */
  stop(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#waiting = [];
  }

  #decide(send: PendingSend): void {
    if (this.#waiting.length === 0 && send.after <= this.#committedBatch) this.#host.transmit(send);
    else this.#waiting.push(send);
  }

  #drain(): void {
    const waiting = this.#waiting;
    let i = 0;
    while (i < waiting.length && (waiting[i] as PendingSend).after <= this.#committedBatch) i++;
    if (i === 0) return;
    const ready = waiting.splice(0, i);
    for (const send of ready) this.#host.transmit(send);
  }

  /**
   * Keeps the frontier at or above `seq` and, while acknowledgements flow, a lead beyond it of
   * twice the deliveries completed per commit (at most MAX_FRONTIER_LEAD windows): a new frontier
   * takes up to two commits to become durable, and the window keeps refilling meanwhile. It is
   * written a quarter lead further, so one write serves several sends.
   */
  #advanceFrontier(seq: number): void {
    const lead = Math.min(2 * this.#acksPerCommit, MAX_FRONTIER_LEAD * this.#host.window);
    if (seq + lead <= this.#frontier) return;
    this.#writeFrontier(seq + lead + (lead >> 2));
  }

  #writeFrontier(frontier: number): void {
    this.#frontier = frontier;
    this.#host.writeFrontier(frontier);
    const batch = this.#host.note(this);
    const frontiers = this.#frontiers;
    if (frontiers.length > 0 && frontiers[frontiers.length - 2] === batch) frontiers[frontiers.length - 1] = frontier;
    else frontiers.push(batch, frontier);
  }
}

/** The commit that holds the first pending write reaching `seq` (one not yet committed). */
function batchCovering(pending: readonly number[], seq: number): number {
  for (let i = 0; i < pending.length; i += 2) if ((pending[i + 1] as number) >= seq) return pending[i] as number;
  return 0;
}

/** Removes the writes committed by `batch` from `pending` and returns the highest value they reached (0 if none). */
function settle(pending: number[], batch: number): number {
  let reached = 0;
  let i = 0;
  while (i < pending.length && (pending[i] as number) <= batch) {
    reached = Math.max(reached, pending[i + 1] as number);
    i += 2;
  }
  if (i > 0) pending.splice(0, i);
  return reached;
}
