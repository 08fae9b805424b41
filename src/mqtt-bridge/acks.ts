import type { CommitObserver } from '../broker/persistence/commit-gate.js';

/** When the acknowledgement of a message from the remote may go: once what it wrote is committed. */
export class AckTicket {
  state: 'pending' | 'ready' | 'failed' = 'pending';
  /** The MQTT 5 reason code of the acknowledgement (0: success). */
  reasonCode = 0;
  error: unknown;
  /** Runs once when this ticket settles (see follow). */
  #listener: (() => void) | undefined;

  /** A ticket that is ready (success) and stays so: for acknowledgements nothing holds. */
  static readonly READY = AckTicket.ready();

  /** A ticket that is ready now, with this reason code. */
  static ready(reasonCode = 0): AckTicket {
    const ticket = new AckTicket();
    ticket.settle(reasonCode);
    return ticket;
  }

  /** A ticket settled by a promise of a reason code (an asynchronous gate or barrier); `settled` runs after. */
  static after(promise: Promise<number | void>, settled: () => void): AckTicket {
    const ticket = new AckTicket();
    promise.then(
      (code) => ticket.settle(code ?? 0),
      (err: unknown) => ticket.fail(err),
    ).finally(settled);
    return ticket;
  }

  /** Settles this ticket as `other` settles (now, or when it does); `settled` runs after. */
  follow(other: AckTicket, settled: () => void): void {
    const copy = () => {
      if (other.state === 'ready') this.settle(other.reasonCode);
      else this.fail(other.error);
      settled();
    };
    if (other.state === 'pending') other.#listener = copy;
    else copy();
  }

  settle(reasonCode: number): void {
    this.state = 'ready';
    this.reasonCode = reasonCode;
    this.#notify();
  }

  fail(err: unknown): void {
    this.state = 'failed';
    this.error = err;
    this.#notify();
  }

  #notify(): void {
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.();
  }
}

/** The part of the CommitGate the bridge uses. */
export interface TicketGate {
  note(observer: CommitObserver): number;
}

/**
 * Tickets that wait for the store's group commit holding what was written so far: one observer of
 * the CommitGate for all of them, so a window of messages from the remote costs one commit and no
 * promise per message. Without a durable store (no gate) a ticket is ready at once.
 */
export class CommitTickets implements CommitObserver {
  readonly #gate: TicketGate | undefined;
  readonly #settled: () => void;
  /** Waiting tickets with the number of their commit, in order (commits complete in order). */
  #waiting: { ticket: AckTicket; batch: number }[] = [];

  constructor(gate: TicketGate | undefined, settled: () => void) {
    this.#gate = gate;
    this.#settled = settled;
  }

  /** A ticket ready (with `reasonCode`) once everything written so far is committed. */
  afterCommit(reasonCode = 0): AckTicket {
    if (this.#gate === undefined) return reasonCode === 0 ? AckTicket.READY : AckTicket.ready(reasonCode);
    const ticket = new AckTicket();
    ticket.reasonCode = reasonCode;
    this.#waiting.push({ ticket, batch: this.#gate.note(this) });
    return ticket;
  }

  committed(batch: number): void {
    this.#take(batch, (t) => t.settle(t.reasonCode));
  }

  failed(batch: number): void {
    this.#take(batch, (t) => t.fail(new Error(`store commit ${batch} failed`)));
  }

  #take(batch: number, settle: (ticket: AckTicket) => void): void {
    let n = 0;
    while (n < this.#waiting.length && (this.#waiting[n]?.batch ?? Infinity) <= batch) settle((this.#waiting[n++] as { ticket: AckTicket }).ticket);
    if (n === 0) return;
    this.#waiting = this.#waiting.slice(n);
    this.#settled();
  }
}
