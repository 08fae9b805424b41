import type { Consumer, JetStreamClient, JsMsg } from 'nats';

/**
 * Bytes one consumer asks JetStream for at a time (what a read holds in memory per subject): above
 * twice the largest message NATS carries (its default max_payload is 1 MB; nats-server refuses a
 * pull whose byte bound a single message exceeds).
 */
const READ_BYTES = 4 * 1024 * 1024;
/** More subjects than this are read through one consumer on every subject, filtered in the node. */
const MAX_SUBJECTS = 8;

/** Where the stored messages are: the JetStream client, the MSGS stream's name and the subject prefix. */
export interface StoredSource {
  readonly js: JetStreamClient;
  /** The connection, for the largest message NATS carries (its max_payload). */
  readonly nc: { readonly info?: { readonly max_payload: number } | undefined };
  /** The MSGS stream's name. */
  readonly messages: string;
  readonly prefix: string;
}

/**
 * The stored messages of `subjects` (subjects of the MSGS stream, wildcards allowed) from sequence
 * `from` to `last`, in stream order, each once. nats-server 2.9 filters a consumer on one subject
 * only, so each subject gets an ordered (ephemeral) consumer of its own and their messages are
 * merged by stream sequence; a message two subjects match (`a` and `a.>` of `a/#` do not overlap,
 * `a.*` and `a.b` do) comes once. More than MAX_SUBJECTS subjects are read as one over all of
 * them (the caller matches each message against its filters anyway). Ends early once `signal`
 * aborts. No durable consumer is made.
 */
export async function* readStored(source: StoredSource, subjects: readonly string[], from: number, last: number, signal: AbortSignal): AsyncGenerator<JsMsg> {
  const filters = readSubjects(source.prefix, subjects);
  if (filters.length === 1) {
    yield* readSubject(source, filters[0] as string, from, last, signal);
    return;
  }
  const readers = filters.map((subject) => readSubject(source, subject, from, last, signal));
  try {
    const heads = await Promise.all(readers.map((r) => r.next()));
    let previous = from - 1;
    for (;;) {
      let next = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i] as IteratorResult<JsMsg>;
        if (!head.done && (next < 0 || head.value.seq < (heads[next] as IteratorYieldResult<JsMsg>).value.seq)) next = i;
      }
      if (next < 0) return;
      const m = (heads[next] as IteratorYieldResult<JsMsg>).value;
      heads[next] = await (readers[next] as AsyncGenerator<JsMsg>).next();
      if (m.seq <= previous) continue; // the same message through an overlapping subject
      previous = m.seq;
      yield m;
    }
  } finally {
    await Promise.all(readers.map((r) => r.return(undefined)));
  }
}

/** The subjects a read goes through: each one once, or every subject when there are many (or one is every subject). */
export function readSubjects(prefix: string, subjects: readonly string[]): string[] {
  const everything = `${prefix}.msgs.>`;
  const unique = [...new Set(subjects)];
  return unique.length > MAX_SUBJECTS || unique.includes(everything) ? [everything] : unique;
}

/** The byte bound of one pull: READ_BYTES, or twice NATS's largest message if that is more. */
function readBytes(source: StoredSource): number {
  return Math.max(READ_BYTES, 2 * (source.nc.info?.max_payload ?? 0));
}

/** One subject's stored messages from `from` to `last`, with an ordered consumer (deleted at the end, not left to lapse). */
async function* readSubject(source: StoredSource, subject: string, from: number, last: number, signal: AbortSignal): AsyncGenerator<JsMsg> {
  if (signal.aborted) return;
  const { DeliverPolicy } = await import('nats');
  const consumer = await source.js.consumers.get(source.messages, { filterSubjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
  try {
    // A consumer with nothing to read would wait for a message: its info, which creates it, says how many there are
    if ((await consumer.info()).num_pending === 0 || signal.aborted) return;
    const messages = await consumer.consume({ max_bytes: readBytes(source) });
    const stop = () => void messages.close();
    signal.addEventListener('abort', stop);
    try {
      for await (const m of messages) {
        if (m.seq > last || signal.aborted) return;
        yield m;
        if (m.seq >= last || m.info.pending === 0) return;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      await messages.close();
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

/** Messages fetched ahead per subject while the reader's caller has no room (what a read holds in memory at most per subject, within READ_BYTES). */
const PREFETCH = 256;
/** Messages of the first pull on a subject, before the size of its messages is known. */
const FIRST_FETCH = 16;
/** Longest wait for a fetch of messages the consumer said are there (the stream may have removed them meanwhile). */
const FETCH_EXPIRES_MS = 5000;

/** One subject's ordered consumer, kept between reads: the messages fetched and not taken yet, and how many more it holds. */
class SubjectCursor {
  readonly subject: string;
  readonly #consumer: Consumer;
  readonly buffer: JsMsg[] = [];
  /** Messages the consumer holds beyond the buffer, as of its last report. */
  pending: number;
  readonly #bytes: number;
  /** The largest message fetched so far (a pull's count is bounded so that its messages stay within #bytes). */
  #largest = 0;

  constructor(subject: string, consumer: Consumer, pending: number, bytes: number) {
    this.subject = subject;
    this.#consumer = consumer;
    this.pending = pending;
    this.#bytes = bytes;
  }

  /**
   * Fetches up to `max` of the messages the consumer said it holds (exactly those: nothing is
   * fetched that is not taken), as many as fit in the read's byte bound at the largest size seen.
   */
  async fill(max: number): Promise<void> {
    const fit = this.#largest === 0 ? FIRST_FETCH : Math.max(1, Math.floor(this.#bytes / this.#largest));
    const wanted = Math.min(max, this.pending, fit);
    if (wanted <= 0) return;
    const messages = await this.#consumer.fetch({ max_messages: wanted, expires: FETCH_EXPIRES_MS });
    let got = 0;
    for await (const m of messages) {
      this.buffer.push(m);
      this.pending = m.info.pending;
      this.#largest = Math.max(this.#largest, m.data.length);
      got++; // the pull asked for `wanted`: it ends by itself once they came (or after FETCH_EXPIRES_MS)
    }
    if (got === wanted) return;
    // A short pull is no sign of the end: JetStream stalled (a leader election), the ordered consumer
    // was reset, or the stream removed messages (max_age, max_bytes). Only its count says what is left
    await this.refresh();
    if (got === 0 && this.pending > 0) throw new Error(`JetStream delivered none of the ${this.pending} messages it holds on ${this.subject}`);
  }

  /** Asks the consumer how many messages it holds now. */
  async refresh(): Promise<void> {
    this.pending = (await this.#consumer.info()).num_pending;
  }

  close(): Promise<unknown> {
    return this.#consumer.delete().catch(() => undefined);
  }
}

/**
 * A read position in the MSGS stream on a set of subjects that lasts across reads: one ordered
 * (ephemeral) consumer per subject (or one over all subjects beyond MAX_SUBJECTS), created once,
 * each read a pull of only as many messages as it said it holds and as the caller can take, merged
 * by stream sequence, a message of overlapping subjects once. What was fetched and not taken stays
 * in memory (at most one read's worth) for the next read. The caller closes it (the consumers are
 * deleted; an idle one would also lapse on the server after 5 minutes).
 */
export class StoredCursor {
  readonly subjects: readonly string[];
  readonly #source: StoredSource;
  #cursors: SubjectCursor[] | undefined;
  /** A fetch started while the caller was full: the next read waits for it. */
  #prefetching: Promise<void> | undefined;
  /** The last sequence handed out: everything up to it on the subjects was handed out or skipped as a repeat. */
  #position: number;

  constructor(source: StoredSource, subjects: readonly string[], after: number) {
    this.subjects = readSubjects(source.prefix, subjects);
    this.#source = source;
    this.#position = after;
  }

  /**
   * Hands out the stored messages after the last one handed out, in stream order, to `take` until
   * it returns false (that message is kept for the next read) or the subjects hold no more as of
   * this read; `room` bounds how many are fetched at a time.
   */
  async read(room: number, take: (m: JsMsg) => boolean): Promise<void> {
    await this.#prefetching;
    const cursors = this.#cursors ?? (this.#cursors = await this.#open());
    // Subjects that had nothing left may have more now (one whose fetched messages wait in its
    // buffer too: its count is as old as that fetch, and the caller reads up to what is stored now)
    await Promise.all(cursors.filter((c) => c.pending === 0).map((c) => c.refresh()));
    for (;;) {
      await Promise.all(cursors.filter((c) => c.buffer.length === 0 && c.pending > 0).map((c) => c.fill(Math.max(PREFETCH, room))));
      let next: SubjectCursor | undefined;
      for (const c of cursors) {
        const head = c.buffer[0];
        if (head !== undefined && (next === undefined || head.seq < (next.buffer[0] as JsMsg).seq)) next = c;
      }
      if (next === undefined) return;
      const m = next.buffer[0] as JsMsg;
      if (m.seq > this.#position) {
        if (!take(m)) return this.#prefetch(cursors);
        this.#position = m.seq;
      }
      next.buffer.shift();
    }
  }

  /**
   * The caller is full for now: the next messages are fetched meanwhile (up to PREFETCH per subject),
   * so the next read starts without a round trip to JetStream.
   */
  #prefetch(cursors: readonly SubjectCursor[]): void {
    const fills = cursors.filter((c) => c.buffer.length < PREFETCH / 2 && c.pending > 0).map((c) => c.fill(PREFETCH - c.buffer.length));
    if (fills.length === 0) return;
    // A failed prefetch is the next read's failure (it reads from where the caller stands again,
    // with new consumers: the old ones are deleted)
    this.#prefetching = Promise.all(fills).then(
      () => undefined,
      (err: unknown) => {
        this.#cursors = undefined;
        void Promise.all(cursors.map((c) => c.close()));
        throw err;
      },
    );
    this.#prefetching.catch(() => undefined);
  }

  async #open(): Promise<SubjectCursor[]> {
    const { DeliverPolicy } = await import('nats');
    return Promise.all(
      this.subjects.map(async (subject) => {
        const consumer = await this.#source.js.consumers.get(this.#source.messages, { filterSubjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#position + 1 });
        return new SubjectCursor(subject, consumer, (await consumer.info()).num_pending, readBytes(this.#source));
      }),
    );
  }

  /** Deletes the consumers. */
  async close(): Promise<void> {
    const cursors = this.#cursors ?? [];
    this.#cursors = [];
    await Promise.all(cursors.map((c) => c.close()));
  }
}
